"""The fully-connected classifier (flax.linen) and its config handling."""

from collections.abc import Sequence
import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research import activations
from research import initializers
from research.errors import ConfigError

Rate = float | jax.Array

BATCHNORM_PLACEMENTS = ('none', 'before', 'after')


def dropout(key: jax.Array, x: jax.Array, rate: Rate) -> jax.Array:
  """Inverted dropout: keeps a unit with probability 1 - rate, scaled up.

  Unlike `flax.linen.Dropout`, `rate` may be a traced array, so a sweep over
  rates compiles once. `rate` must be < 1.
  """
  keep_prob = 1.0 - jnp.asarray(rate, x.dtype)
  keep = jax.random.bernoulli(key, keep_prob, x.shape)
  return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))


def _is_static_zero(rate: Rate) -> bool:
  """True for a Python/NumPy number equal to 0 (never for a jax array)."""
  return isinstance(rate, (numbers.Number, np.generic)) and rate == 0


class MLP(nn.Module):
  """Multilayer perceptron: hidden Dense layers, then Dense(num_classes).

  Each hidden layer is Dense -> [BN] -> activation -> [BN] -> dropout, BN
  placed by `batchnorm` ('before' or 'after' the activation). With
  `residual`, a hidden layer whose input width equals its width computes
  h + layer(h). Layers carry flax's default names: Dense_0 ... Dense_{L-1}
  for the hidden layers, Dense_L for the output, BatchNorm_i beside Dense_i.
  """
  num_classes: int
  hidden: Sequence[int] = (100,)
  activation: str = 'relu'
  # Not `init`: that name is nn.Module.init, which callers need.
  initializer: str = 'lecun_normal'
  init_std: float | None = None
  batchnorm: str = 'none'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dropout_rate: float = 0.0
  input_dropout_rate: float = 0.0
  residual: bool = False
  # Set under pmap to average batch statistics across devices.
  bn_axis_name: str | None = None

  def _dense(self, features: int, fan_in: int, name: str,
             use_bias: bool = True) -> nn.Dense:
    kernel_init, bias_init = initializers.get(
        self.initializer, self.init_std, fan_in=fan_in)
    return nn.Dense(features, use_bias=use_bias, kernel_init=kernel_init,
                    bias_init=bias_init, name=name)

  def _dropout(self, x: jax.Array, rate: Rate, train: bool) -> jax.Array:
    if not train or _is_static_zero(rate):
      return x
    return dropout(self.make_rng('dropout'), x, rate)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False,
               dropout_rate: Rate | None = None,
               input_dropout_rate: Rate | None = None) -> jax.Array:
    """Returns logits of shape (N, num_classes).

    Args:
      x: inputs (N, ...); flattened to (N, -1).
      train: use batch statistics (and update them) and apply dropout.
      dropout_rate: overrides `self.dropout_rate`; may be a traced array.
      input_dropout_rate: overrides `self.input_dropout_rate`; likewise.
    """
    if dropout_rate is None:
      dropout_rate = self.dropout_rate
    if input_dropout_rate is None:
      input_dropout_rate = self.input_dropout_rate
    act = activations.get(self.activation)
    if self.batchnorm not in BATCHNORM_PLACEMENTS:
      raise ConfigError(
          f'model.batchnorm: unknown placement {self.batchnorm!r}; '
          f'known: {", ".join(BATCHNORM_PLACEMENTS)}')

    h = x.reshape((x.shape[0], -1))
    if not jnp.issubdtype(h.dtype, jnp.floating):
      h = h.astype(jnp.float32)
    h = self._dropout(h, input_dropout_rate, train)
    for i, width in enumerate(self.hidden):
      fan_in = h.shape[-1]
      # The BN shift replaces the bias of a Dense that feeds it.
      y = self._dense(width, fan_in, f'Dense_{i}',
                      use_bias=self.batchnorm != 'before')(h)
      if self.batchnorm == 'before':
        y = self._batchnorm(y, train, i)
      y = act(y)
      if self.batchnorm == 'after':
        y = self._batchnorm(y, train, i)
      y = self._dropout(y, dropout_rate, train)
      h = h + y if self.residual and fan_in == width else y
    output = self._dense(self.num_classes, h.shape[-1],
                         f'Dense_{len(self.hidden)}')
    return output(h)

  def _batchnorm(self, x: jax.Array, train: bool, i: int) -> jax.Array:
    return nn.BatchNorm(
        use_running_average=not train, momentum=self.bn_momentum,
        epsilon=self.bn_epsilon, axis_name=self.bn_axis_name,
        name=f'BatchNorm_{i}')(x)


def _get(model_config: ml_collections.ConfigDict, key: str):
  try:
    return model_config[key]
  except KeyError:
    raise ConfigError(f'model.{key}: missing from the model config') from None


def _is_int(v) -> bool:
  return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(
      v, bool)


def _is_real(v) -> bool:
  return isinstance(v, (numbers.Real, np.floating)) and not isinstance(v, bool)


def validate_model_config(model_config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError, naming the key, for the first bad value found."""
  hidden = _get(model_config, 'hidden')
  if not isinstance(hidden, (tuple, list)) or not all(
      _is_int(w) and w > 0 for w in hidden):
    raise ConfigError(
        f'model.hidden: {hidden!r} must be a tuple of positive ints')
  activations.get(_get(model_config, 'activation'))
  init = _get(model_config, 'init')
  init_std = _get(model_config, 'init_std')
  if not _is_real(init_std) or init_std < 0:
    raise ConfigError(f'model.init_std: {init_std!r} must be a number >= 0')
  initializers.get(init, init_std, fan_in=1)
  batchnorm = _get(model_config, 'batchnorm')
  if batchnorm not in BATCHNORM_PLACEMENTS:
    raise ConfigError(
        f'model.batchnorm: unknown placement {batchnorm!r}; '
        f'known: {", ".join(BATCHNORM_PLACEMENTS)}')
  for key in ('dropout', 'input_dropout'):
    rate = _get(model_config, key)
    if not _is_real(rate) or not 0 <= rate < 1:
      raise ConfigError(f'model.{key}: {rate!r} is outside [0, 1)')
  momentum = _get(model_config, 'bn_momentum')
  if not _is_real(momentum) or not 0 < momentum < 1:
    raise ConfigError(f'model.bn_momentum: {momentum!r} is outside (0, 1)')
  epsilon = _get(model_config, 'bn_epsilon')
  if not _is_real(epsilon) or not epsilon > 0:
    raise ConfigError(f'model.bn_epsilon: {epsilon!r} must be > 0')
  residual = _get(model_config, 'residual')
  if not isinstance(residual, (bool, np.bool_)):
    raise ConfigError(f'model.residual: {residual!r} must be True or False')


def build_model(model_config: ml_collections.ConfigDict,
                num_classes: int) -> MLP:
  """Validates the `model` config section and returns the MLP it describes."""
  validate_model_config(model_config)
  return MLP(
      num_classes=num_classes,
      hidden=tuple(int(w) for w in model_config.hidden),
      activation=model_config.activation,
      initializer=model_config.init,
      init_std=float(model_config.init_std) or None,
      batchnorm=model_config.batchnorm,
      bn_momentum=float(model_config.bn_momentum),
      bn_epsilon=float(model_config.bn_epsilon),
      dropout_rate=float(model_config.dropout),
      input_dropout_rate=float(model_config.input_dropout),
      residual=bool(model_config.residual),
  )
