"""Activation functions of the lectures, looked up by name."""

import functools
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


LEAKY_SLOPE = 0.01  # the default; the lecture's slides use 0.1


def leaky_relu(x: jax.Array, negative_slope: float = LEAKY_SLOPE) -> jax.Array:
  """max(x, slope x) for a slope in [0, 1): x, or slope * x below zero."""
  return jnp.where(x >= 0, x, negative_slope * x)


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


def get(name: str, leaky_slope: float = LEAKY_SLOPE) -> Activation:
  """Returns the activation called `name` (config key `model.activation`);
  leaky ReLU's negative slope is `leaky_slope` (`model.leaky_slope`)."""
  try:
    activation = _ACTIVATIONS[name]
  except (KeyError, TypeError):
    raise ConfigError(
        f'model.activation: unknown activation {name!r}; '
        f'known: {", ".join(NAMES)}') from None
  if name == 'leaky_relu' and leaky_slope != LEAKY_SLOPE:
    return functools.partial(leaky_relu, negative_slope=leaky_slope)
  return activation
