"""Weight initialization schemes of the lectures, looked up by name.

Each scheme is a pair of flax-style initializers `(key, shape, dtype) -> array`
for a Dense kernel of shape (fan_in, fan_out) and its bias. The normal forms
are the textbook untruncated normals (in jax, `distribution='normal'` is
untruncated; jax's own `he_normal` etc. truncate at two standard deviations).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from research.errors import ConfigError

Initializer = Callable[..., jax.Array]

_vs = jax.nn.initializers.variance_scaling
_zeros = jax.nn.initializers.zeros

# Default std of the two fixed-scale normals; `std` overrides it.
_FIXED_STD = {'small_normal': 0.01, 'large_normal': 1.0}

# scale, mode, distribution for jax.nn.initializers.variance_scaling.
_VARIANCE_SCALING = {
    'xavier_normal': (1.0, 'fan_avg', 'normal'),
    'xavier_uniform': (1.0, 'fan_avg', 'uniform'),
    'he_normal': (2.0, 'fan_in', 'normal'),
    'he_uniform': (2.0, 'fan_in', 'uniform'),
    'lecun_normal': (1.0, 'fan_in', 'normal'),
    'lecun_uniform': (1.0, 'fan_in', 'uniform'),
    # Var of U(±1/sqrt(fan_in)) is 1/(3 fan_in): PyTorch's nn.Linear kernel.
    'pytorch': (1.0 / 3.0, 'fan_in', 'uniform'),
}

_ALIASES = {
    'glorot_normal': 'xavier_normal',
    'glorot_uniform': 'xavier_uniform',
    'kaiming_normal': 'he_normal',
}

NAMES: tuple[str, ...] = tuple(
    sorted([*_FIXED_STD, *_VARIANCE_SCALING, *_ALIASES]))


def uniform_bias(fan_in: int) -> Initializer:
  """U(±1/sqrt(fan_in)) for a bias: PyTorch's nn.Linear default.

  The bias shape (fan_out,) does not carry fan_in, so it is bound here.
  """
  bound = 1.0 / float(fan_in) ** 0.5

  def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def get(name: str, std: float | None = None, *,
        fan_in: int | None = None) -> tuple[Initializer, Initializer]:
  """Returns `(kernel_init, bias_init)` for the scheme called `name`.

  Args:
    name: one of NAMES (config key `model.init`).
    std: standard deviation for `small_normal` / `large_normal`; None or 0
      means the scheme's default (config key `model.init_std`).
    fan_in: the layer's input width; needed only by `pytorch`, whose bias
      initializer depends on it.

  Returns:
    Kernel and bias initializers; biases are zeros except for `pytorch`.
  """
  if not isinstance(name, str) or name not in NAMES:
    raise ConfigError(
        f'model.init: unknown initializer {name!r}; known: {", ".join(NAMES)}')
  name = _ALIASES.get(name, name)
  if std is not None and std < 0:
    raise ConfigError(f'model.init_std: {std} must be >= 0')
  if name in _FIXED_STD:
    return jax.nn.initializers.normal(std or _FIXED_STD[name]), _zeros
  if std:
    raise ConfigError(
        f'model.init_std: {std} is only used by '
        f'{" and ".join(sorted(_FIXED_STD))}, not {name!r}')
  kernel_init = _vs(*_VARIANCE_SCALING[name])
  if name != 'pytorch':
    return kernel_init, _zeros
  if fan_in is None:
    raise ValueError("initializer 'pytorch' needs fan_in for its bias")
  return kernel_init, uniform_bias(fan_in)
