"""Post-training int8 quantization and float16 / bfloat16 inference, checked
against NumPy (exact int64 products, max / percentile, error bounds) and
against the float model's own predictions on MNIST."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import config as config_lib
from research import quantization
from research import quantized_mlp
from research.errors import ConfigError
from research.models import build_model
from research.train.restore import load_trained
import experiments  # pylint: disable=unused-import  (registers them)
from experiments import quantization_run as quantization_experiment
import xla_flags

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


def _kernel(shape, seed, zero_channel=None, outlier=None):
  w = np.random.default_rng(seed).normal(0.0, 0.05, shape).astype(np.float32)
  if zero_channel is not None:
    w[:, zero_channel] = 0.0
  if outlier is not None:
    w[outlier] = 40.0  # thousands of times the others: its channel gets a coarse scale
  return w


@pytest.mark.parametrize('kernel', [
    _kernel((1, 1), 0), _kernel((37, 5), 1), _kernel((784, 512), 2),
    _kernel((64, 10), 3, zero_channel=4), _kernel((128, 16), 4, outlier=(7, 3)),
    -np.abs(_kernel((20, 6), 5)),  # a channel's extreme is negative
], ids=['1x1', '37x5', '784x512', 'zero_channel', 'outlier', 'negative'])
def test_round_trip_error_is_at_most_half_the_channel_scale(kernel):
  q, scale = quantization.quantize_per_channel(kernel)
  q, scale = np.asarray(q), np.asarray(scale)
  assert q.dtype == np.int8 and scale.dtype == np.float32
  assert q.shape == kernel.shape and scale.shape == (kernel.shape[1],)
  largest = np.abs(kernel).max(axis=0)
  np.testing.assert_allclose(scale, np.where(largest > 0, largest / 127, 1.0), rtol=1e-6)
  assert np.abs(q).max() <= 127
  error = np.abs(np.asarray(quantization.dequantize(q, scale)) - kernel)
  # Half a step, up to float32 rounding of W / scale (~127 * 2^-24 steps).
  assert np.all(error <= scale * (0.5 + 1e-5))
  # Each nonzero channel's extreme lands on +-127: the whole int8 range is used.
  nonzero = largest > 0
  np.testing.assert_array_equal(np.abs(q).max(axis=0)[nonzero], 127)
  np.testing.assert_array_equal(q[:, ~nonzero], 0)


def test_int8_product_equals_exact_int64_matmul():
  rng = np.random.default_rng(0)
  x = rng.integers(-127, 128, (64, 784), dtype=np.int8)
  w = rng.integers(-127, 128, (784, 512), dtype=np.int8)
  product = np.asarray(quantization.int8_matmul(x, w))
  assert product.dtype == np.int32
  np.testing.assert_array_equal(product, x.astype(np.int64) @ w.astype(np.int64))
  # The largest possible sum still fits the int32 accumulator.
  extreme = quantization.int8_matmul(np.full((1, 784), 127, np.int8),
                                     np.full((784, 1), -127, np.int8))
  assert int(extreme[0, 0]) == -784 * 127 * 127
  with pytest.raises(TypeError, match='int8'):
    quantization.int8_matmul(x.astype(np.float32), w)


def test_quantized_dense_is_within_its_error_bound():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(50, 300)).astype(np.float32)
  kernel = _kernel((300, 40), 2, zero_channel=7)
  bias = rng.normal(size=40).astype(np.float32)
  s_x = np.float32(np.abs(x).max() / 127)
  layer = quantization.quantize_dense(kernel, bias, s_x)
  s_w = np.asarray(layer.kernel_scale, np.float64)
  y = np.asarray(quantization.quantized_dense(layer, x))
  # The same integers multiplied in int64 and rescaled in float64.
  q_x = np.clip(np.rint(x / s_x), -127, 127).astype(np.int64)
  exact = (q_x @ np.asarray(layer.kernel, np.int64)) * (s_x * s_w) + bias
  np.testing.assert_allclose(y, exact, rtol=1e-5, atol=1e-5)
  # |x^ W^ - x W| <= sum_i (|dx_i| |W_ij| + |x_i| |dW_ij| + |dx_i| |dW_ij|),
  # |dx_i| <= s_x / 2, |dW_ij| <= s_j / 2.
  bound = (s_x / 2 * np.abs(kernel).sum(0) + np.abs(x).sum(1, keepdims=True) * s_w / 2
           + x.shape[1] * s_x * s_w / 4)
  float_output = x.astype(np.float64) @ kernel + bias
  assert np.all(np.abs(y - float_output) <= bound + 1e-4)
  # Weights only: the input stays float, so only the kernel's error remains.
  weights_only = np.asarray(quantization.quantized_dense(
      quantization.quantize_dense(kernel, bias), x))
  assert np.all(np.abs(weights_only - float_output)
                <= np.abs(x).sum(1, keepdims=True) * s_w / 2 + 1e-4)


def test_activation_quantization_saturates_and_zero_scale_is_one():
  scale = quantization.activation_scale(np.zeros((4, 3)))
  assert float(scale) == 1.0
  q = np.asarray(quantization.quantize(np.array([-5.0, -0.26, 0.24, 0.5, 300.0]), 0.5))
  np.testing.assert_array_equal(q, [-10, -1, 0, 1, 127])


def _small_model(**model):
  config = config_lib.base_config()
  config.model.hidden = (16, 12)
  for key, value in model.items():
    config.model[key] = value
  return build_model(config.model, num_classes=5)


def _relu(a):
  return np.maximum(a, 0.0)


@pytest.mark.parametrize('method,percentile', [('max', 99.99), ('percentile', 99.0),
                                               ('percentile', 99.99)])
def test_calibration_scales_match_numpy(method, percentile):
  model = _small_model(dropout=0.3)
  x = np.random.default_rng(2).normal(size=(300, 8)).astype(np.float32)
  variables = model.init(jax.random.key(0), x[:1])
  # The inputs of the three Dense layers, by a NumPy forward of the same weights.
  p = jax.tree.map(np.asarray, variables['params'])
  h1 = _relu(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  h2 = _relu(h1 @ p['Dense_1']['kernel'] + p['Dense_1']['bias'])
  # The activations calibration reads are the model's own, equal to NumPy's.
  inputs = quantized_mlp.dense_inputs(model, variables, x)
  for got, expected in zip(inputs, (x, h1, h2)):
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  scales = quantized_mlp.calibrate(model, variables, x, method, percentile,
                                   batch_size=128)  # three unequal chunks
  assert len(scales) == 3
  for got, activations in zip(scales, inputs):
    magnitudes = np.abs(np.asarray(activations, np.float64))
    expected = (magnitudes.max() if method == 'max'
                else np.percentile(magnitudes, percentile)) / 127
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_fold_computes_what_the_model_computes():
  """BatchNorm 'before' folded into its Dense, residual layers, stochastic
  depth's (1 - p) at test, dropout off: the folded float forward is the
  model's own evaluation."""
  model = _small_model(hidden=(16, 16, 16), batchnorm='before', residual=True,
                       stochastic_depth=0.3, dropout=0.2, activation='tanh')
  x = np.random.default_rng(3).normal(size=(64, 8)).astype(np.float32)
  variables = model.init(jax.random.key(1), x[:1])
  rng = np.random.default_rng(4)
  # Running statistics and affine parameters away from their initial values.
  variables = {
      'params': jax.tree.map(lambda a: a + 0.3 * rng.normal(size=a.shape).astype(np.float32),
                             variables['params']),
      'batch_stats': jax.tree.map(lambda a: a + rng.uniform(size=a.shape).astype(np.float32),
                                  variables['batch_stats'])}
  folded = quantized_mlp.fold(model, variables)
  assert folded.residual_keep == (None, 0.7, 0.7)
  forward = jax.jit(quantized_mlp.forward)
  np.testing.assert_allclose(forward(folded, x),
                             jax.jit(model.apply)(variables, x),
                             rtol=1e-5, atol=1e-5)
  int8 = quantized_mlp.quantize_mlp(model, variables, x)
  assert all(layer.kernel.dtype == jnp.int8 for layer in int8.layers)
  np.testing.assert_allclose(forward(int8, x), forward(folded, x),
                             rtol=0.05, atol=0.05)


def test_model_bytes_follow_the_stored_dtypes():
  model = _small_model()
  variables = model.init(jax.random.key(0), np.zeros((1, 8), np.float32))
  shapes = [(8, 16), (16, 12), (12, 5)]
  count = sum(i * o + o for i, o in shapes)
  assert quantized_mlp.model_bytes(variables) == 4 * count
  for dtype in quantized_mlp.HALF_DTYPES:
    assert quantized_mlp.model_bytes(quantized_mlp.cast_variables(variables, dtype)) == 2 * count
  x = np.random.default_rng(0).normal(size=(10, 8)).astype(np.float32)
  # int8: a byte a weight; float32 channel scales, biases and input scales.
  assert quantized_mlp.model_bytes(quantized_mlp.quantize_mlp(model, variables, x)) == sum(
      i * o + 4 * (o + o + 1) for i, o in shapes)
  assert quantized_mlp.model_bytes(quantized_mlp.quantize_mlp(model, variables)) == sum(
      i * o + 4 * (o + o) for i, o in shapes)


def test_half_precision_computes_in_its_dtype():
  model = _small_model()
  x = np.random.default_rng(4).normal(size=(32, 8)).astype(np.float32)
  variables = model.init(jax.random.key(0), x[:1])
  full = model.apply(variables, x)
  for dtype, tolerance in (('float16', 5e-3), ('bfloat16', 5e-2)):
    half = quantized_mlp.cast_variables(variables, dtype)
    logits = quantized_mlp.half_precision_logits(model, half, x, dtype)
    assert logits.dtype == jnp.float32
    jaxpr = str(jax.make_jaxpr(
        lambda v, d=dtype: quantized_mlp.half_precision_logits(model, v, x, d))(half))
    dots = [line for line in jaxpr.splitlines() if 'dot_general' in line]
    assert dots and all({'float16': 'f16', 'bfloat16': 'bf16'}[dtype] in line
                        for line in dots)
    np.testing.assert_allclose(logits, full, rtol=tolerance, atol=tolerance)


def test_refusals_name_the_key_or_the_choices():
  x = np.zeros((4, 8), np.float32)
  for model_keys, key in (({'maxout_pieces': 2}, 'model.maxout_pieces'),
                          ({'batchnorm': 'after'}, 'model.batchnorm')):
    model = _small_model(**model_keys)
    # Refused from the model alone, before any parameter is read.
    with pytest.raises(ConfigError, match=key):
      quantized_mlp.quantize_mlp(model, {}, x)
    with pytest.raises(ConfigError, match=key):
      quantized_mlp.calibrate(model, {}, x)
  model = _small_model()
  variables = model.init(jax.random.key(0), x)
  with pytest.raises(ValueError, match='known: max, percentile'):
    quantized_mlp.calibrate(model, variables, x, method='mean')
  for bad in (0.0, -1.0, 100.5):
    with pytest.raises(ValueError, match=r'percentile .* must be in \(0, 100\]'):
      quantized_mlp.calibrate(model, variables, x, method='percentile', percentile=bad)
  with pytest.raises(ValueError, match='empty'):
    quantized_mlp.calibrate(model, variables, x[:0])
  with pytest.raises(ValueError, match='known: float16, bfloat16'):
    quantized_mlp.half_precision_logits(model, variables, x, 'float8')
  with pytest.raises(ValueError, match='kernel'):
    quantization.quantize_per_channel(np.ones(5))


@pytest.mark.slow
@xla_flags.compiled_as_users_are  # runtime-bound: 2 epochs of a 784-512-512 net
def test_int8_and_half_precision_agree_with_float32_on_mnist(tmp_path, mnist_dir):
  """The mnist_mlp model (784-512-512-10) trained for 2 epochs by the
  experiment's own command (1 seed; it writes its table): int8 (either
  calibration), float16 and bfloat16 predict the float32 class on >= 99% of
  the 10,000 test images."""
  assert quantization_experiment.main([
      '--data-dir', str(mnist_dir), '--seeds', '1', '--epochs', '2', '--repeats', '1',
      '--calibration-size', '2000', '--output-dir', str(tmp_path / 'runs'),
      '--results-dir', str(tmp_path)]) == 0
  table = (tmp_path / 'quantization.md').read_text()
  assert table.count('\n| int8 weights') == 3 and '\n| float16 |' in table
  assert 'GPU throughput: not measured' in table

  (run_dir,) = (tmp_path / 'runs' / 'mnist_mlp').glob('seed0-*')
  trained = load_trained(run_dir)
  model, data = trained.model, trained.dataset
  variables = {'params': trained.state.params, 'batch_stats': trained.state.batch_stats}
  x_test = data.x_test
  float32 = jax.jit(lambda v, x: model.apply(v, x, train=False))
  reference = quantized_mlp.predict_logits(lambda x: float32(variables, x), x_test).argmax(-1)
  assert np.mean(reference == data.y_test) >= 0.97

  forward = jax.jit(quantized_mlp.forward)
  calibration = data.x_train[np.random.default_rng(0).choice(len(data.x_train), 2000,
                                                             replace=False)]
  for method in ('max', 'percentile'):
    int8 = quantized_mlp.quantize_mlp(model, variables, calibration, method)
    predicted = quantized_mlp.predict_logits(lambda x, q=int8: forward(q, x), x_test)
    assert quantized_mlp.agreement(predicted.argmax(-1), reference) >= 0.99, method
  for dtype in quantized_mlp.HALF_DTYPES:
    half = quantized_mlp.cast_variables(variables, dtype)
    logits = jax.jit(lambda v, x, d=dtype: quantized_mlp.half_precision_logits(model, v, x, d))
    predicted = quantized_mlp.predict_logits(lambda x, h=half, f=logits: f(h, x), x_test)
    assert quantized_mlp.agreement(predicted.argmax(-1), reference) >= 0.99, dtype
