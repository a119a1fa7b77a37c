"""Activation functions of the lectures, looked up by name."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from research.errors import ConfigError

Activation = Callable[[jax.Array], jax.Array]


def linear(x: jax.Array) -> jax.Array:
  """Identity: a network of linear layers collapses to one linear map."""
  return x


def binary_step(x: jax.Array) -> jax.Array:
  """1 where x > 0 else 0; its gradient is zero everywhere: nothing learns."""
  return jnp.where(x > 0, jnp.ones_like(x), jnp.zeros_like(x))


def leaky_relu(x: jax.Array) -> jax.Array:
  """ReLU with negative slope 0.01."""
  return jax.nn.leaky_relu(x, negative_slope=0.01)


def elu(x: jax.Array) -> jax.Array:
  """ELU with alpha 1."""
  return jax.nn.elu(x, alpha=1.0)


_ACTIVATIONS: dict[str, Activation] = {
    'binary_step': binary_step,
    'elu': elu,
    'leaky_relu': leaky_relu,
    'linear': linear,
    'relu': jax.nn.relu,
    'sigmoid': jax.nn.sigmoid,
    'softplus': jax.nn.softplus,
    'tanh': jnp.tanh,
}

NAMES: tuple[str, ...] = tuple(sorted(_ACTIVATIONS))


def get(name: str) -> Activation:
  """Returns the activation called `name` (config key `model.activation`)."""
  try:
    return _ACTIVATIONS[name]
  except (KeyError, TypeError):
    raise ConfigError(
        f'model.activation: unknown activation {name!r}; '
        f'known: {", ".join(NAMES)}') from None
