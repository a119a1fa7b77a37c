"""Symmetric int8 arithmetic for post-training quantization of Dense layers.

A real value v is stored as q = clip(round(v / s), -127, 127) in int8 with a
float32 scale s, and read back as q * s. -128 is left unused so the range is
symmetric and negation never overflows. Weights get one scale per output
channel (column of the kernel), s_j = max_i |W_ij| / 127; a layer's input
gets one scale for the whole tensor, calibrated on training data (see
research/quantized_mlp.py). A quantized Dense then computes

  x W + b  ~  (s_x * s_w) * (q_x @ q_W) + b,

where q_x @ q_W multiplies int8 by int8 and sums in int32: exact, since
784 * 127^2 (about 1.3e7) is far below 2^31.
"""

import flax.struct
import jax
import jax.numpy as jnp

INT8_MAX = 127
CALIBRATION_METHODS = ('max', 'percentile')


def _safe_scale(largest: jax.Array) -> jax.Array:
  """largest / 127, or 1 where largest is 0 (all-zero values: any scale
  represents them exactly, and 1 avoids a division by zero)."""
  largest = jnp.asarray(largest, jnp.float32)
  return jnp.where(largest > 0, largest / INT8_MAX, 1.0).astype(jnp.float32)


def quantize(x: jax.Array, scale: jax.Array) -> jax.Array:
  """int8 q = clip(round(x / scale), -127, 127); `scale` broadcasts to x."""
  q = jnp.round(jnp.asarray(x, jnp.float32) / scale)
  return jnp.clip(q, -INT8_MAX, INT8_MAX).astype(jnp.int8)


def dequantize(q: jax.Array, scale: jax.Array) -> jax.Array:
  """q * scale in float32 (a kernel's scale broadcasts over its rows)."""
  return q.astype(jnp.float32) * scale


def quantize_per_channel(kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(q int8 (fan_in, features), scale float32 (features,)) of a kernel.

  Symmetric per output channel: scale_j = max_i |W_ij| / 127, so every
  weight lies within half a scale of its dequantized value.
  """
  kernel = jnp.asarray(kernel, jnp.float32)
  if kernel.ndim != 2:
    raise ValueError(f'quantize_per_channel: expected a (fan_in, features) '
                     f'kernel, got shape {kernel.shape}')
  scale = _safe_scale(jnp.max(jnp.abs(kernel), axis=0))
  return quantize(kernel, scale), scale


def check_calibration(method: str, percentile: float) -> None:
  """Raises ValueError for an unknown method or a percentile outside (0, 100]."""
  if method not in CALIBRATION_METHODS:
    raise ValueError(f'calibration method {method!r} is unknown; known: '
                     f'{", ".join(CALIBRATION_METHODS)}')
  if method == 'percentile' and not 0 < percentile <= 100:
    raise ValueError(f'calibration percentile {percentile!r} must be in (0, 100]')


def activation_scale(values: jax.Array, method: str = 'max',
                     percentile: float = 99.99) -> jax.Array:
  """One symmetric scale for a tensor: max |v| / 127, or that percentile of
  |v| / 127 (linear interpolation, as np.percentile). The percentile clips
  the rare outliers so the common values get finer steps."""
  check_calibration(method, percentile)
  magnitudes = jnp.abs(jnp.asarray(values, jnp.float32)).ravel()
  if method == 'max':
    return _safe_scale(jnp.max(magnitudes))
  return _safe_scale(_percentile(magnitudes, percentile))


def _percentile(values: jax.Array, percentile: float) -> jax.Array:
  """np.percentile's default ('linear'): the sorted values interpolated at
  rank p / 100 * (n - 1). The rank is computed in float64 on the host
  (jnp.percentile's float32 rank is off by ~n * 1e-7 ranks)."""
  ordered = jnp.sort(values)
  rank = percentile / 100 * (values.size - 1)
  below = min(int(rank), values.size - 1)
  above = min(below + 1, values.size - 1)
  fraction = rank - below
  return ordered[below] + fraction * (ordered[above] - ordered[below])


def int8_matmul(x_q: jax.Array, kernel_q: jax.Array) -> jax.Array:
  """x_q @ kernel_q for int8 operands, accumulated and returned in int32."""
  if x_q.dtype != jnp.int8 or kernel_q.dtype != jnp.int8:
    raise TypeError(f'int8_matmul: expected int8 operands, got {x_q.dtype} '
                    f'and {kernel_q.dtype}')
  return jax.lax.dot_general(x_q, kernel_q, (((x_q.ndim - 1,), (0,)), ((), ())),
                             preferred_element_type=jnp.int32)


@flax.struct.dataclass
class QuantizedDense:
  """A Dense layer stored in int8: kernel (fan_in, features) int8 with one
  float32 scale per output channel, a float32 bias, and the float32 scale of
  its input (None: the input stays float, "weights-only" quantization)."""
  kernel: jax.Array
  kernel_scale: jax.Array
  bias: jax.Array
  input_scale: jax.Array | None = None


def quantize_dense(kernel: jax.Array, bias: jax.Array,
                   input_scale: jax.Array | None = None) -> QuantizedDense:
  """The Dense x @ kernel + bias with its kernel quantized per channel; with
  `input_scale`, its input is quantized too (else weights only)."""
  q, scale = quantize_per_channel(kernel)
  return QuantizedDense(q, scale, jnp.asarray(bias, jnp.float32),
                        None if input_scale is None
                        else jnp.asarray(input_scale, jnp.float32))


def quantized_dense(layer: QuantizedDense, x: jax.Array) -> jax.Array:
  """The layer's float32 output for float input `x` (N, fan_in).

  With an input scale: x is quantized to int8, multiplied by the int8
  kernel in int32, and rescaled by input scale * channel scales. Without:
  x (float32) times the dequantized kernel.
  """
  x = jnp.asarray(x, jnp.float32)
  if layer.input_scale is None:
    return x @ dequantize(layer.kernel, layer.kernel_scale) + layer.bias
  accumulated = int8_matmul(quantize(x, layer.input_scale), layer.kernel)
  return (accumulated.astype(jnp.float32) * (layer.input_scale * layer.kernel_scale)
          + layer.bias)
