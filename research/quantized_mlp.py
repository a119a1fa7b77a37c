"""A trained MLP run in lower precision: int8 post-training quantization
(weights per output channel, activations calibrated on training data) and
float16 / bfloat16 inference.

The int8 path does not go through flax: `fold` reads the trained variables
into an `InferenceMLP` (one float kernel and bias per Dense, BatchNorm placed
'before' the activation folded into its Dense, every regularizer in its
evaluation form), `quantize_mlp` turns its kernels into int8, and `forward`
runs either. Calibration reads the float model's own activations (`apply`
with `mutable=['intermediates']`), so the scales do not depend on this
file's forward. The half-precision path is the flax model itself, applied
with `compute_dtype` and the variables cast.
"""

from collections.abc import Callable, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from research import activations
from research import quantization
from research.errors import ConfigError
from research.models import MLP

HALF_DTYPES = ('float16', 'bfloat16')


@flax.struct.dataclass
class FloatDense:
  kernel: jax.Array  # (fan_in, features) float32
  bias: jax.Array  # (features,) float32


Dense = FloatDense | quantization.QuantizedDense


@flax.struct.dataclass
class InferenceMLP:
  """The evaluation-mode MLP as plain arrays: hidden layers, then the output.

  `residual_keep[i]` is None for a plain hidden layer (h -> act(Dense(h)))
  and 1 - stochastic_depth_rate for a residual one (h -> h + keep *
  act(Dense(h))); dropout, input dropout and DropConnect are the identity.
  """
  layers: tuple[Dense, ...]
  activation: str = flax.struct.field(pytree_node=False)
  residual_keep: tuple[float | None, ...] = flax.struct.field(pytree_node=False)


def check_supported(model: MLP) -> None:
  """Raises ConfigError, naming the model key, for a model whose int8 form
  would not compute what the float model computes."""
  if model.maxout_pieces > 1:
    raise ConfigError(
        f'model.maxout_pieces: {model.maxout_pieces} is not supported by int8 '
        'quantization (a maxout unit is a max over several Dense columns, not '
        'an elementwise activation); use 1')
  if model.batchnorm == 'after':
    raise ConfigError(
        "model.batchnorm: 'after' is not supported by int8 quantization (it "
        "cannot be folded into the Dense before the activation); supported: "
        "'none', 'before' (folded into its Dense)")
  if model.batchnorm != 'none' and model.batchnorm != 'before':
    raise ConfigError(f'model.batchnorm: unknown placement {model.batchnorm!r}')


def fold(model: MLP, variables) -> InferenceMLP:
  """The trained model as float32 kernels and biases.

  BatchNorm 'before' (y = (xW - mean) / sqrt(var + eps) * gamma + beta, with
  its running statistics) becomes the Dense x W' + b' with
  W' = W * g, b' = beta - mean * g, g = gamma / sqrt(var + eps) per column.
  """
  check_supported(model)
  params = variables['params']
  stats = variables.get('batch_stats', {})
  layers, residual_keep = [], []
  for i in range(len(model.hidden) + 1):
    dense = params[f'Dense_{i}']
    kernel = jnp.asarray(dense['kernel'], jnp.float32)
    bias = jnp.asarray(dense.get('bias', jnp.zeros(kernel.shape[1])), jnp.float32)
    hidden = i < len(model.hidden)
    if hidden and model.batchnorm == 'before':
      bn, running = params[f'BatchNorm_{i}'], stats[f'BatchNorm_{i}']
      gain = bn['scale'] / jnp.sqrt(running['var'] + model.bn_epsilon)
      kernel = kernel * gain
      bias = (bias - running['mean']) * gain + bn['bias']
    layers.append(FloatDense(kernel, bias))
    if hidden:
      residual = model.residual and kernel.shape[0] == kernel.shape[1]
      residual_keep.append(1.0 - float(model.stochastic_depth_rate)
                           if residual else None)
  return InferenceMLP(tuple(layers), model.activation, tuple(residual_keep))


def _dense(layer: Dense, h: jax.Array) -> jax.Array:
  if isinstance(layer, quantization.QuantizedDense):
    return quantization.quantized_dense(layer, h)
  return h @ layer.kernel + layer.bias


def forward(mlp: InferenceMLP, x: jax.Array) -> jax.Array:
  """float32 logits (N, num_classes) of inputs (N, ...)."""
  act = activations.get(mlp.activation)
  h = jnp.asarray(x, jnp.float32).reshape((x.shape[0], -1))
  for layer, keep in zip(mlp.layers[:-1], mlp.residual_keep):
    y = act(_dense(layer, h))
    h = y if keep is None else h + keep * y
  return _dense(mlp.layers[-1], h)


def dense_inputs(model: MLP, variables, x: jax.Array) -> list[jax.Array]:
  """What enters each Dense of the float model in evaluation mode: the
  flattened input, then each hidden layer's sown `output_i`."""
  _, state = model.apply(variables, x, train=False, mutable=['intermediates'])
  sown = state['intermediates']
  hidden = [sown[f'output_{i}'][0] for i in range(len(model.hidden))]
  return [jnp.asarray(a, jnp.float32)
          for a in [x.reshape((x.shape[0], -1)), *hidden]]


def calibrate(model: MLP, variables, x_calibration: np.ndarray,
              method: str = 'max', percentile: float = 99.99,
              batch_size: int = 1000) -> tuple[jax.Array, ...]:
  """One symmetric int8 scale per Dense input (see
  `quantization.activation_scale`), over the float model's activations on
  `x_calibration` (training images), computed `batch_size` at a time."""
  quantization.check_calibration(method, percentile)
  check_supported(model)
  if len(x_calibration) == 0:
    raise ValueError('calibrate: x_calibration is empty')
  inputs_of = jax.jit(lambda v, x: dense_inputs(model, v, x))
  chunks = [inputs_of(variables, x_calibration[i:i + batch_size])
            for i in range(0, len(x_calibration), batch_size)]
  return tuple(quantization.activation_scale(jnp.concatenate(per_layer),
                                             method, percentile)
               for per_layer in zip(*chunks))


def quantize_mlp(model: MLP, variables, x_calibration: np.ndarray | None = None,
                 method: str = 'max', percentile: float = 99.99) -> InferenceMLP:
  """int8 kernels (per output channel) and int8 inputs with calibrated
  scales; without `x_calibration`, int8 weights only (float activations)."""
  folded = fold(model, variables)
  if x_calibration is None:
    scales = (None,) * len(folded.layers)
  else:
    scales = calibrate(model, variables, x_calibration, method, percentile)
  return folded.replace(layers=tuple(
      quantization.quantize_dense(layer.kernel, layer.bias, scale)
      for layer, scale in zip(folded.layers, scales)))


def check_half_dtype(dtype: str) -> None:
  if dtype not in HALF_DTYPES:
    raise ValueError(f'half-precision dtype {dtype!r} is unknown; known: '
                     f'{", ".join(HALF_DTYPES)}')


def cast_variables(variables, dtype: str):
  """Every floating leaf (parameters, BatchNorm statistics) cast to `dtype`."""
  def cast(leaf):
    leaf = jnp.asarray(leaf)
    return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf
  return jax.tree.map(cast, variables)


def half_precision_logits(model: MLP, variables, x: jax.Array,
                          dtype: str) -> jax.Array:
  """The flax model computing in `dtype` on `variables` already cast to it
  (see `cast_variables`); the logits come back as float32."""
  check_half_dtype(dtype)
  logits = model.clone(compute_dtype=dtype).apply(
      variables, jnp.asarray(x).astype(dtype), train=False)
  return logits.astype(jnp.float32)


def model_bytes(tree) -> int:
  """Stored size of a model's arrays: the sum over leaves of size * itemsize
  (float32 4 bytes a value, float16 / bfloat16 2, int8 1)."""
  return int(sum(np.size(leaf) * jnp.dtype(leaf.dtype).itemsize
                 for leaf in jax.tree.leaves(tree)))


def predict_logits(logits_fn: Callable[[jax.Array], jax.Array], x: np.ndarray,
                   batch_size: int = 1000) -> np.ndarray:
  """float32 logits of a jitted `logits_fn` over `x`, `batch_size` at a time."""
  return np.concatenate([np.asarray(logits_fn(x[i:i + batch_size]), np.float32)
                         for i in range(0, len(x), batch_size)])


def agreement(predictions: Sequence[int] | np.ndarray,
              reference: Sequence[int] | np.ndarray) -> float:
  """Fraction of examples with the same predicted class."""
  return float(np.mean(np.asarray(predictions) == np.asarray(reference)))
