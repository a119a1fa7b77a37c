"""The fully-connected classifier (flax.linen) and its config handling."""

from collections.abc import Sequence
import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research import activations
from research import batchnorm as batchnorm_lib
from research import initializers
from research import layers
from research.errors import ConfigError
from research.layers import (DROPOUT_SCALINGS, Rate, dropout, is_static_zero,
                             vanilla_dropout)

BATCHNORM_PLACEMENTS = ('none', 'before', 'after')
# Mixed precision: the dtype of the layers' computation. Parameters, the
# optimizer and the loss stay float32 (the logits are cast back).
COMPUTE_DTYPES = ('float32', 'bfloat16')

# Activations accepted beside maxout, which replaces them in hidden layers:
# the default (so turning maxout on needs one key) and the explicit 'linear'.
MAXOUT_ACTIVATIONS = ('relu', 'linear')


def check_maxout(pieces, activation: str) -> None:
  """Raises ConfigError unless `pieces` is an int >= 1 that fits `activation`."""
  if not _is_int(pieces) or pieces < 1:
    raise ConfigError(
        f'model.maxout_pieces: {pieces!r} must be an integer >= 1')
  if pieces > 1 and activation not in MAXOUT_ACTIVATIONS:
    raise ConfigError(
        f'model.activation: {activation!r} has no effect with '
        f'model.maxout_pieces={pieces} (maxout units replace the activation); '
        f'use one of {", ".join(MAXOUT_ACTIVATIONS)}')


class MLP(nn.Module):
  """Multilayer perceptron: hidden Dense layers, then Dense(num_classes).

  Hidden layer i maps h to

    y = dropout(act(BN(DropConnect-Dense(h))))       (BN 'before'), or
    y = dropout(BN(act(DropConnect-Dense(h))))       (BN 'after'),

  and outputs y, or h + y for a residual layer (`residual` and input width ==
  width); under stochastic depth a residual layer outputs h + b * y in
  training, b ~ Bernoulli(1 - p) per example, and h + (1 - p) * y at test.
  With `maxout_pieces` = k > 1, the Dense has width * k outputs and the
  activation is replaced by the max over each unit's k pieces (BN 'before'
  normalizes the width * k pieces, 'after' the width maxout units).

  Regularizers and where they apply:
    input_dropout_rate: the input features, before the first Dense.
    dropout_rate: each hidden layer's units, after the activation.
    dropconnect_rate: each hidden layer's kernel, one mask per batch; the
      output layer is left whole, like the softmax layer on top of Wan et
      al.'s DropConnect layer (masking it would inject noise into the logits
      directly), and like `dropout_rate`, which drops hidden units only.
    stochastic_depth_rate: residual layers only; others are unaffected.
    dropout_scaling: how both dropouts keep their expectation: 'inverted'
      (kept units / (1 - p) in training, nothing at test) or 'vanilla'
      (unscaled in training, every unit * (1 - p) at test).
  Every rate is a default that `__call__` can override with a traced array.

  Layers carry flax's default names: Dense_0 ... Dense_{L-1} for the hidden
  layers, Dense_L for the output, BatchNorm_i beside Dense_i; each has the
  parameters of `nn.Dense` whatever the regularizers.

  With `mutable=['intermediates']`, `apply` also returns each hidden layer's
  `pre_activation_i` (what enters the activation, after BN 'before'),
  `activation_i` (what leaves it) and `output_i` (the layer's output, after
  BN 'after', dropout and the residual sum), for research/diagnostics.py;
  otherwise sowing is a no-op and `init` leaves them out.
  """
  num_classes: int
  hidden: Sequence[int] = (100,)
  activation: str = 'relu'
  leaky_slope: float = activations.LEAKY_SLOPE  # leaky ReLU's, below zero
  # Not `init`: that name is nn.Module.init, which callers need.
  initializer: str = 'lecun_normal'
  init_std: float | None = None
  batchnorm: str = 'none'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  # What training normalizes with: one of batchnorm_lib.TRAIN_STATS.
  bn_train_stats: str = 'batch'
  # Keep the bias of a Dense that feeds BN 'before' (the BN paper's b, §2).
  bias_before_bn: bool = False
  dropout_rate: float = 0.0
  input_dropout_rate: float = 0.0
  dropout_scaling: str = 'inverted'  # one of layers.DROPOUT_SCALINGS
  residual: bool = False
  dropconnect_rate: float = 0.0
  stochastic_depth_rate: float = 0.0
  maxout_pieces: int = 1
  compute_dtype: str = 'float32'  # one of COMPUTE_DTYPES
  # Set under pmap to average batch statistics across devices.
  bn_axis_name: str | None = None

  def _initializers(self, fan_in: int):
    return initializers.get(self.initializer, self.init_std, fan_in=fan_in)

  def _dropout(self, x: jax.Array, rate: Rate, train: bool) -> jax.Array:
    vanilla = self.dropout_scaling == 'vanilla'
    if is_static_zero(rate):
      return x
    if not train:  # vanilla: the expectation of its unscaled training units
      return (1.0 - jnp.asarray(rate, x.dtype)) * x if vanilla else x
    return (vanilla_dropout if vanilla else dropout)(
        self.make_rng('dropout'), x, rate)

  def _stochastic_depth(self, branch: jax.Array, rate: Rate,
                        train: bool) -> jax.Array:
    if is_static_zero(rate):
      return branch
    key = self.make_rng('dropout') if train else None
    return layers.stochastic_depth(branch, rate, key)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False,
               dropout_rate: Rate | None = None,
               input_dropout_rate: Rate | None = None,
               dropconnect_rate: Rate | None = None,
               stochastic_depth_rate: Rate | None = None,
               sample_masks: bool | None = None) -> jax.Array:
    """Returns logits of shape (N, num_classes).

    Each rate argument overrides the attribute of the same name and may be a
    traced array (a jitted step taking rates as arguments compiles once).

    Args:
      x: inputs (N, ...); flattened to (N, -1).
      train: use batch statistics (and update them), draw the dropout,
        DropConnect and stochastic-depth masks (rng stream 'dropout').
      dropout_rate: overrides `self.dropout_rate` (hidden units).
      input_dropout_rate: overrides `self.input_dropout_rate` (inputs).
      dropconnect_rate: overrides `self.dropconnect_rate` (hidden kernels).
      stochastic_depth_rate: overrides `self.stochastic_depth_rate`.
      sample_masks: draw the dropout, DropConnect and stochastic-depth masks;
        None: as `train`. True with train=False is Monte-Carlo dropout's
        forward: sampled masks, BatchNorm's running statistics
        (research/mc_dropout.py).
    """
    if sample_masks is None:
      sample_masks = train
    if dropout_rate is None:
      dropout_rate = self.dropout_rate
    if input_dropout_rate is None:
      input_dropout_rate = self.input_dropout_rate
    if dropconnect_rate is None:
      dropconnect_rate = self.dropconnect_rate
    if stochastic_depth_rate is None:
      stochastic_depth_rate = self.stochastic_depth_rate
    act = activations.get(self.activation, self.leaky_slope)
    pieces = self.maxout_pieces

    dtype = jnp.dtype(self.compute_dtype)
    h = x.reshape((x.shape[0], -1)).astype(dtype)
    h = self._dropout(h, input_dropout_rate, sample_masks)
    for i, width in enumerate(self.hidden):
      fan_in = h.shape[-1]
      kernel_init, bias_init = self._initializers(fan_in)
      # The BN shift replaces the bias of a Dense that feeds it.
      dense = layers.DropConnectDense(
          width * pieces,
          use_bias=self.batchnorm != 'before' or self.bias_before_bn,
          kernel_init=kernel_init, bias_init=bias_init, dtype=dtype,
          name=f'Dense_{i}')
      y = dense(h, dropconnect_rate, deterministic=not sample_masks)
      if self.batchnorm == 'before':
        y = self._batchnorm(y, train, i)
      self.sow('intermediates', f'pre_activation_{i}', y)
      y = layers.maxout(y, pieces) if pieces > 1 else act(y)
      self.sow('intermediates', f'activation_{i}', y)
      if self.batchnorm == 'after':
        y = self._batchnorm(y, train, i)
      y = self._dropout(y, dropout_rate, sample_masks)
      if self.residual and fan_in == width:
        h = h + self._stochastic_depth(y, stochastic_depth_rate, sample_masks)
      else:
        h = y
      self.sow('intermediates', f'output_{i}', h)
    kernel_init, bias_init = self._initializers(h.shape[-1])
    output = nn.Dense(self.num_classes, kernel_init=kernel_init,
                      bias_init=bias_init, dtype=dtype,
                      name=f'Dense_{len(self.hidden)}')
    # float32 logits from bfloat16 layers; float64 stays (gradient checks).
    return output(h).astype(jnp.promote_types(dtype, jnp.float32))

  def _batchnorm(self, x: jax.Array, train: bool, i: int) -> jax.Array:
    if self.bn_train_stats != 'batch':  # statistics hidden from the gradient
      return batchnorm_lib.BatchNorm(
          train_stats=self.bn_train_stats, momentum=self.bn_momentum,
          epsilon=self.bn_epsilon, axis_name=self.bn_axis_name,
          dtype=x.dtype, name=f'BatchNorm_{i}')(x, not train)
    return nn.BatchNorm(
        use_running_average=not train, momentum=self.bn_momentum,
        epsilon=self.bn_epsilon, axis_name=self.bn_axis_name,
        dtype=x.dtype, name=f'BatchNorm_{i}')(x)


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


def check_batchnorm_training(model_config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for a bad `batchnorm_train_stats` / `bias_before_bn`,
  or one that has no effect with the BatchNorm placement."""
  stats = _get(model_config, 'batchnorm_train_stats')
  if stats not in batchnorm_lib.TRAIN_STATS:
    raise ConfigError(
        f'model.batchnorm_train_stats: unknown statistics {stats!r}; '
        f'known: {", ".join(batchnorm_lib.TRAIN_STATS)}')
  if stats != 'batch' and model_config.batchnorm == 'none':
    raise ConfigError(
        f'model.batchnorm_train_stats: {stats!r} has no effect with '
        "model.batchnorm='none'")
  pre_bias = _get(model_config, 'bias_before_bn')
  if not isinstance(pre_bias, (bool, np.bool_)):
    raise ConfigError(
        f'model.bias_before_bn: {pre_bias!r} must be True or False')
  if pre_bias and model_config.batchnorm != 'before':
    raise ConfigError(
        f'model.bias_before_bn: True has no effect with model.batchnorm='
        f'{model_config.batchnorm!r} (a Dense keeps its bias unless BN '
        "'before' follows it)")


def validate_model_config(model_config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError, naming the key, for the first bad value found."""
  hidden = _get(model_config, 'hidden')
  if not isinstance(hidden, (tuple, list)) or not all(
      _is_int(w) and w > 0 for w in hidden):
    raise ConfigError(
        f'model.hidden: {hidden!r} must be a tuple of positive ints')
  activations.get(_get(model_config, 'activation'))
  slope = _get(model_config, 'leaky_slope')
  if not _is_real(slope) or not 0 <= slope < 1:
    raise ConfigError(f'model.leaky_slope: {slope!r} is outside [0, 1)')
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
  scaling = _get(model_config, 'dropout_scaling')
  if scaling not in DROPOUT_SCALINGS:
    raise ConfigError(f'model.dropout_scaling: unknown scaling {scaling!r}; '
                      f'known: {", ".join(DROPOUT_SCALINGS)}')
  for key in ('dropout', 'input_dropout', 'dropconnect', 'stochastic_depth'):
    rate = _get(model_config, key)
    if not _is_real(rate) or not 0 <= rate < 1:
      raise ConfigError(f'model.{key}: {rate!r} is outside [0, 1)')
  momentum = _get(model_config, 'bn_momentum')
  if not _is_real(momentum) or not 0 < momentum < 1:
    raise ConfigError(f'model.bn_momentum: {momentum!r} is outside (0, 1)')
  epsilon = _get(model_config, 'bn_epsilon')
  if not _is_real(epsilon) or not epsilon > 0:
    raise ConfigError(f'model.bn_epsilon: {epsilon!r} must be > 0')
  check_batchnorm_training(model_config)
  residual = _get(model_config, 'residual')
  if not isinstance(residual, (bool, np.bool_)):
    raise ConfigError(f'model.residual: {residual!r} must be True or False')
  depth_rate = _get(model_config, 'stochastic_depth')
  if depth_rate and not residual:
    raise ConfigError(
        f'model.stochastic_depth: {depth_rate!r} has no effect without '
        'model.residual=True (it drops residual blocks only)')
  check_maxout(_get(model_config, 'maxout_pieces'),
               model_config.activation)
  compute_dtype = _get(model_config, 'compute_dtype')
  if compute_dtype not in COMPUTE_DTYPES:
    raise ConfigError(f'model.compute_dtype: unknown dtype {compute_dtype!r}; '
                      f'known: {", ".join(COMPUTE_DTYPES)}')


def build_model(model_config: ml_collections.ConfigDict,
                num_classes: int) -> MLP:
  """The MLP that a (validated) `model` config section describes."""
  return MLP(
      num_classes=num_classes,
      hidden=tuple(int(w) for w in model_config.hidden),
      activation=model_config.activation,
      leaky_slope=float(_get(model_config, 'leaky_slope')),
      initializer=model_config.init,
      init_std=float(model_config.init_std) or None,
      batchnorm=model_config.batchnorm,
      bn_momentum=float(model_config.bn_momentum),
      bn_epsilon=float(model_config.bn_epsilon),
      bn_train_stats=_get(model_config, 'batchnorm_train_stats'),
      bias_before_bn=bool(_get(model_config, 'bias_before_bn')),
      dropout_rate=float(model_config.dropout),
      input_dropout_rate=float(model_config.input_dropout),
      dropout_scaling=_get(model_config, 'dropout_scaling'),
      residual=bool(model_config.residual),
      dropconnect_rate=float(_get(model_config, 'dropconnect')),
      stochastic_depth_rate=float(_get(model_config, 'stochastic_depth')),
      maxout_pieces=int(_get(model_config, 'maxout_pieces')),
      compute_dtype=_get(model_config, 'compute_dtype'),
  )
