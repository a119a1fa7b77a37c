"""model.compute_dtype='bfloat16': layers compute in bfloat16, while the
parameters, their gradients and the logits stay float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import config as config_lib
from research import layers
from research.errors import ConfigError
from research.models import build_model, validate_model_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


def _model(compute_dtype, **model):
  config = config_lib.base_config()
  config.model.hidden = (64, 64)
  config.model.compute_dtype = compute_dtype
  for key, value in model.items():
    config.model[key] = value
  return build_model(config.model, num_classes=10)


def _data():
  kx, ky = jax.random.split(jax.random.key(0))
  return jax.random.normal(kx, (32, 20)), jax.random.randint(ky, (32,), 0, 10)


@pytest.mark.parametrize('model', [{}, {'batchnorm': 'before'}, {'dropconnect': 0.3}])
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_parameters(model):
  x, y = _data()
  full, mixed = _model('float32', **model), _model('bfloat16', **model)
  variables = full.init(jax.random.key(1), x)
  # The same parameters: the dtype changes the computation, not the init.
  jax.tree.map(np.testing.assert_array_equal, variables,
               mixed.init(jax.random.key(1), x))
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))

  def loss(params, module):
    logits, _ = module.apply({**variables, 'params': params}, x, train=True,
                             rngs={'dropout': jax.random.key(2)},
                             mutable=['batch_stats'])
    return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(len(y)), y]), logits

  (value, logits), grads = jax.value_and_grad(loss, has_aux=True)(
      variables['params'], mixed)
  assert logits.dtype == jnp.float32 and value.dtype == jnp.float32
  assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
  # Every matmul of the mixed model runs on bfloat16 operands.
  jaxpr = str(jax.make_jaxpr(lambda p: loss(p, mixed))(variables['params']))
  dots = [line for line in jaxpr.splitlines() if 'dot_general' in line]
  assert dots and all('bf16' in line for line in dots)
  # ... and agrees with float32 to bfloat16's precision (8 bits of mantissa;
  # a gradient sums many rounded products, so it is held to 10%).
  (full_value, full_logits), full_grads = jax.value_and_grad(loss, has_aux=True)(
      variables['params'], full)
  np.testing.assert_allclose(logits, full_logits, rtol=0.05, atol=0.05)
  np.testing.assert_allclose(value, full_value, rtol=0.02)
  for g, f in zip(jax.tree.leaves(grads), jax.tree.leaves(full_grads)):
    assert np.linalg.norm(g - f) <= 0.1 * np.linalg.norm(f) + 1e-6


def test_dropout_masks_do_not_depend_on_the_dtype():
  x = jax.random.normal(jax.random.key(0), (64, 128))
  rate = jnp.asarray(0.3)  # traced, float32
  full = layers.dropout(jax.random.key(1), x, rate)
  mixed = layers.dropout(jax.random.key(1), x.astype(jnp.bfloat16), rate)
  assert mixed.dtype == jnp.bfloat16
  np.testing.assert_array_equal(full == 0, mixed == 0)
  np.testing.assert_allclose(mixed.astype(jnp.float32), full, rtol=1e-2)


def test_unknown_compute_dtype_lists_the_known_ones():
  with pytest.raises(ConfigError, match="model.compute_dtype: unknown dtype 'float16'; "
                                        'known: float32, bfloat16'):
    validate_model_config(config_lib.merge(config_lib.base_config(), {
        'model.compute_dtype': 'float16'}).model)
