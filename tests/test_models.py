"""Tests for research.models: the MLP, its dropout, BatchNorm and config."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import models
from research.config.sections import model_config
from research.errors import ConfigError

_RNG = np.random.default_rng(0)


def _x(n=8, d=12, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(n, d)),
                     jnp.float32)


def _shapes(tree):
  return jax.tree.map(lambda a: tuple(a.shape), tree)


def _count(tree):
  return sum(a.size for a in jax.tree.leaves(tree))


# ---------------------------------------------------------------- shapes


def test_output_shape_and_flattening_of_images():
  model = models.MLP(num_classes=10, hidden=(32, 16))
  x = jnp.asarray(_RNG.normal(size=(5, 28, 28, 1)), jnp.float32)
  variables = model.init({'params': jax.random.key(0)}, x)
  assert set(variables) == {'params'}  # No batch_stats without BatchNorm.
  logits = model.apply(variables, x)
  assert logits.shape == (5, 10)
  np.testing.assert_allclose(
      logits, model.apply(variables, x.reshape(5, 784)), rtol=1e-6)
  assert _shapes(variables['params']) == {
      'Dense_0': {'kernel': (784, 32), 'bias': (32,)},
      'Dense_1': {'kernel': (32, 16), 'bias': (16,)},
      'Dense_2': {'kernel': (16, 10), 'bias': (10,)},
  }


def test_no_hidden_layers_is_a_linear_model():
  model = models.MLP(num_classes=3, hidden=())
  x = _x()
  params = model.init({'params': jax.random.key(0)}, x)['params']
  assert _shapes(params) == {'Dense_0': {'kernel': (12, 3), 'bias': (3,)}}
  np.testing.assert_allclose(
      model.apply({'params': params}, x),
      x @ params['Dense_0']['kernel'] + params['Dense_0']['bias'], rtol=1e-5)


def test_forward_matches_numpy():
  model = models.MLP(num_classes=4, hidden=(16, 8), activation='tanh',
                     initializer='he_uniform')
  x = _x()
  p = model.init({'params': jax.random.key(1)}, x)['params']
  x, p = np.asarray(x), jax.tree.map(np.asarray, p)
  h = np.tanh(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  h = np.tanh(h @ p['Dense_1']['kernel'] + p['Dense_1']['bias'])
  want = h @ p['Dense_2']['kernel'] + p['Dense_2']['bias']
  np.testing.assert_allclose(model.apply({'params': p}, x), want, rtol=1e-5,
                             atol=1e-6)


def test_integer_inputs_become_float():
  model = models.MLP(num_classes=3, hidden=(4,))
  x = jnp.asarray(_RNG.integers(0, 255, size=(2, 6, 6, 1)), jnp.uint8)
  variables = model.init({'params': jax.random.key(0)}, x)
  assert model.apply(variables, x).dtype == jnp.float32


# ------------------------------------------------------------- BatchNorm


def _bn_model(placement, **kw):
  return models.MLP(num_classes=3, hidden=(16,), activation='tanh',
                    batchnorm=placement, **kw)


def _numpy_bn(y, mean, var, scale, bias, eps):
  return (y - mean) / np.sqrt(var + eps) * scale + bias


@pytest.mark.parametrize('placement', ['before', 'after'])
def test_batchnorm_param_tree(placement):
  model = _bn_model(placement)
  variables = model.init({'params': jax.random.key(0)}, _x())
  hidden = {'kernel': (12, 16)}
  if placement == 'after':
    hidden['bias'] = (16,)  # Only a Dense that feeds BN drops its bias.
  assert _shapes(variables['params']) == {
      'Dense_0': hidden,
      'BatchNorm_0': {'scale': (16,), 'bias': (16,)},
      'Dense_1': {'kernel': (16, 3), 'bias': (3,)},
  }
  assert _shapes(variables['batch_stats']) == {
      'BatchNorm_0': {'mean': (16,), 'var': (16,)}}


@pytest.mark.parametrize('placement', ['before', 'after'])
def test_batchnorm_layer_order(placement):
  """The call order is Dense -> BN and the activation sits where documented."""
  model = _bn_model(placement, bn_epsilon=1e-3)
  x = _x(n=32)
  variables = model.init({'params': jax.random.key(0)}, x)
  p = variables['params']
  # Non-trivial BN parameters so that the placement matters numerically.
  p['BatchNorm_0'] = {
      'scale': jnp.asarray(_RNG.uniform(0.5, 2.0, 16), jnp.float32),
      'bias': jnp.asarray(_RNG.normal(size=16), jnp.float32)}

  calls = []

  def record(next_fun, args, kwargs, context):
    if context.method_name == '__call__' and context.module.name:
      calls.append(context.module.name)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    logits, _ = model.apply(
        {'params': p, 'batch_stats': variables['batch_stats']}, x, train=True,
        mutable=['batch_stats'])
  assert calls == ['Dense_0', 'BatchNorm_0', 'Dense_1']

  y = np.asarray(x @ p['Dense_0']['kernel'])
  if placement == 'after':
    y = y + np.asarray(p['Dense_0']['bias'])
  bn = lambda v: _numpy_bn(v, v.mean(0), v.var(0), np.asarray(
      p['BatchNorm_0']['scale']), np.asarray(p['BatchNorm_0']['bias']), 1e-3)
  h = np.tanh(bn(y)) if placement == 'before' else bn(np.tanh(y))
  out = jax.tree.map(np.asarray, p['Dense_1'])
  want = h @ out['kernel'] + out['bias']
  np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('placement', ['before', 'after'])
def test_batchnorm_train_uses_and_updates_batch_statistics(placement):
  momentum = 0.8
  model = _bn_model(placement, bn_momentum=momentum)
  x = _x(n=32)
  variables = model.init({'params': jax.random.key(0)}, x)
  p = variables['params']
  old = {'mean': jnp.asarray(_RNG.normal(size=16), jnp.float32),
         'var': jnp.asarray(_RNG.uniform(0.5, 2.0, 16), jnp.float32)}
  v = {'params': p, 'batch_stats': {'BatchNorm_0': old}}

  logits, updates = model.apply(v, x, train=True, mutable=['batch_stats'])
  # What BN sees: the Dense output ('before') or the activation ('after').
  y = np.asarray(x @ p['Dense_0']['kernel'])
  if placement == 'after':
    y = np.tanh(y + np.asarray(p['Dense_0']['bias']))
  new = updates['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(
      new['mean'], momentum * old['mean'] + (1 - momentum) * y.mean(0),
      rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(
      new['var'], momentum * old['var'] + (1 - momentum) * y.var(0),
      rtol=1e-4, atol=1e-5)

  # Train mode: example 0's output depends on the rest of the batch.
  other = jnp.concatenate([x[:1], _x(n=31, seed=5)])
  logits2, _ = model.apply(v, other, train=True, mutable=['batch_stats'])
  assert not np.allclose(logits[0], logits2[0], atol=1e-4)


@pytest.mark.parametrize('placement', ['before', 'after'])
def test_batchnorm_eval_uses_running_statistics_and_does_not_update(placement):
  model = _bn_model(placement)
  x = _x(n=32)
  variables = model.init({'params': jax.random.key(0)}, x)
  stats = {'BatchNorm_0': {
      'mean': jnp.asarray(_RNG.normal(size=16), jnp.float32),
      'var': jnp.asarray(_RNG.uniform(0.5, 2.0, 16), jnp.float32)}}
  v = {'params': variables['params'], 'batch_stats': stats}
  logits, updates = model.apply(v, x, train=False, mutable=['batch_stats'])
  jax.tree.map(np.testing.assert_array_equal, updates['batch_stats'], stats)
  # One example's output does not depend on the rest of the batch.
  np.testing.assert_allclose(logits[:1], model.apply(v, x[:1]), rtol=1e-5,
                             atol=1e-6)
  other = jnp.concatenate([x[:1], _x(n=31, seed=5)])
  np.testing.assert_allclose(logits[0], model.apply(v, other)[0], rtol=1e-5,
                             atol=1e-6)
  # ...and uses the running statistics, as computed by hand.
  p = variables['params']
  y = np.asarray(x @ p['Dense_0']['kernel'])
  s = {k: np.asarray(a) for k, a in stats['BatchNorm_0'].items()}
  bn = lambda u: _numpy_bn(u, s['mean'], s['var'], 1.0, 0.0, 1e-5)
  if placement == 'before':
    h = np.tanh(bn(y))
  else:
    h = bn(np.tanh(y + np.asarray(p['Dense_0']['bias'])))
  out = jax.tree.map(np.asarray, p['Dense_1'])
  want = h @ out['kernel'] + out['bias']
  np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------- dropout


def test_dropout_scales_kept_units_and_drops_about_rate():
  x = jnp.asarray(_RNG.uniform(1.0, 2.0, size=(200, 500)), jnp.float32)
  rate = 0.3
  out = np.asarray(models.dropout(jax.random.key(0), x, rate))
  kept = out != 0
  np.testing.assert_allclose(out[kept], np.asarray(x)[kept] / (1 - rate),
                             rtol=1e-6)
  assert abs((~kept).mean() - rate) < 0.01


def test_dropout_mask_depends_only_on_key():
  x = jnp.asarray(_RNG.uniform(1.0, 2.0, size=(1000,)), jnp.float32)
  a = models.dropout(jax.random.key(0), x, 0.5)
  np.testing.assert_array_equal(a, models.dropout(jax.random.key(0), x, 0.5))
  assert not np.array_equal(a, models.dropout(jax.random.key(1), x, 0.5))


def test_dropout_traced_rate_compiles_once():
  x = jnp.asarray(_RNG.uniform(1.0, 2.0, size=(100_000,)), jnp.float32)
  f = jax.jit(models.dropout)
  for rate in (0.2, 0.6, 0.0):
    out = np.asarray(f(jax.random.key(0), x, jnp.float32(rate)))
    assert abs((out == 0).mean() - rate) < 0.01
    if rate == 0.0:
      np.testing.assert_array_equal(out, x)
  if hasattr(f, '_cache_size'):
    assert f._cache_size() == 1


def _identity_output(model, d):
  """Params whose output layer is the identity, so logits = last hidden."""
  x = _x(d=d)
  variables = model.init({'params': jax.random.key(0)}, x)
  p = jax.tree.map(lambda a: a, variables['params'])
  output = f'Dense_{len(model.hidden)}'
  p[output] = {'kernel': jnp.eye(d), 'bias': jnp.zeros(d)}
  return x, {'params': p}


@pytest.mark.parametrize('site', ['hidden', 'input'])
def test_model_dropout_only_in_training(site):
  d, rate = 64, 0.25
  kw = ({'hidden': (d,), 'dropout_rate': rate} if site == 'hidden'
        else {'hidden': (), 'input_dropout_rate': rate})
  model = models.MLP(num_classes=d, activation='softplus', **kw)
  x, v = _identity_output(model, d)
  clean = np.asarray(model.apply(v, x, train=False))  # No rng needed.
  before = clean if site == 'hidden' else np.asarray(x)
  assert np.all(before != 0)  # So every zero below is a dropped unit.
  out = np.asarray(
      model.apply(v, x, train=True, rngs={'dropout': jax.random.key(3)}))
  kept = out != 0
  np.testing.assert_allclose(out[kept], before[kept] / (1 - rate), rtol=1e-5)
  assert 0.15 < (~kept).mean() < 0.35
  again = model.apply(v, x, train=True, rngs={'dropout': jax.random.key(3)})
  np.testing.assert_array_equal(out, again)
  other = model.apply(v, x, train=True, rngs={'dropout': jax.random.key(4)})
  assert not np.array_equal(out, other)


def test_model_dropout_sites_use_different_masks(monkeypatch):
  d = 256
  model = models.MLP(num_classes=d, hidden=(d,), activation='softplus',
                     dropout_rate=0.5, input_dropout_rate=0.5)
  x, v = _identity_output(model, d)
  calls = []

  def record(key, x, rate):
    calls.append(jax.random.key_data(key))
    return x

  monkeypatch.setattr(models, 'dropout', record)
  model.apply(v, x, train=True, rngs={'dropout': jax.random.key(0)})
  assert len(calls) == 2 and not np.array_equal(calls[0], calls[1])


def test_input_and_hidden_dropout_rates_are_separate(monkeypatch):
  """`input_dropout_rate` drops inputs, `dropout_rate` hidden units; each
  has its own default and its own call-time override."""
  d = 16
  model = models.MLP(num_classes=3, hidden=(d,), dropout_rate=0.1,
                     input_dropout_rate=0.4)
  x = _x(d=12)
  v = model.init({'params': jax.random.key(0)}, x)
  calls = []

  def record(key, x, rate):
    calls.append((x.shape[-1], float(rate)))
    return x

  monkeypatch.setattr(models, 'dropout', record)

  def sites(**rates):
    calls.clear()
    model.apply(v, x, train=True, rngs={'dropout': jax.random.key(0)},
                **rates)
    return calls[:]

  # Input (12 features) first, then the hidden layer (16 units).
  assert sites() == [(12, 0.4), (d, 0.1)]
  assert sites(input_dropout_rate=0.2) == [(12, 0.2), (d, 0.1)]
  assert sites(dropout_rate=0.3) == [(12, 0.4), (d, 0.3)]
  assert sites(input_dropout_rate=0.0) == [(d, 0.1)]
  assert sites(dropout_rate=0) == [(12, 0.4)]


def test_model_call_time_rate_overrides_and_zero_needs_no_rng():
  d = 32
  model = models.MLP(num_classes=d, hidden=(d,), activation='softplus',
                     dropout_rate=0.5, input_dropout_rate=0.5)
  x, v = _identity_output(model, d)
  clean = model.apply(v, x, train=False)
  # Python zeros switch dropout off: train=True with no 'dropout' rng works.
  np.testing.assert_allclose(
      model.apply(v, x, train=True, dropout_rate=0.0, input_dropout_rate=0),
      clean, rtol=1e-6)
  with pytest.raises(Exception, match='dropout'):
    model.apply(v, x, train=True)


def test_model_traced_rate_under_jit_compiles_once():
  d = 128
  model = models.MLP(num_classes=d, hidden=(d,), activation='softplus')
  x, v = _identity_output(model, d)
  clean = np.asarray(model.apply(v, x))

  @jax.jit
  def f(v, x, key, rate):
    return model.apply(v, x, train=True, rngs={'dropout': key},
                       dropout_rate=rate)

  for rate in (0.1, 0.5):
    out = np.asarray(f(v, x, jax.random.key(0), jnp.float32(rate)))
    kept = out != 0
    np.testing.assert_allclose(out[kept], clean[kept] / (1 - rate), rtol=1e-5)
    assert abs((~kept).mean() - rate) < 0.05
  if hasattr(f, '_cache_size'):
    assert f._cache_size() == 1


# -------------------------------------------------------------- residual


def test_mnist1d_residual_mlp_matches_hand_computation():
  model = models.MLP(num_classes=10, hidden=(100, 100), residual=True,
                     initializer='pytorch')
  x = _x(n=16, d=40)
  p = model.init({'params': jax.random.key(0)}, x)['params']
  x, p = np.asarray(x), jax.tree.map(np.asarray, p)
  assert _count(p) == 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
  relu = lambda z: np.maximum(z, 0)
  h1 = relu(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  h = h1 + relu(h1 @ p['Dense_1']['kernel'] + p['Dense_1']['bias'])
  want = h @ p['Dense_2']['kernel'] + p['Dense_2']['bias']
  np.testing.assert_allclose(model.apply({'params': p}, x), want, rtol=1e-5,
                             atol=1e-5)
  # And it differs from the same network without the skip connection.
  plain = models.MLP(num_classes=10, hidden=(100, 100), initializer='pytorch')
  assert not np.allclose(plain.apply({'params': p}, x), want, atol=1e-3)
  # PyTorch-style biases are bounded by 1/sqrt(fan_in) and not zero.
  for name, fan_in in [('Dense_0', 40), ('Dense_1', 100), ('Dense_2', 100)]:
    b = np.asarray(p[name]['bias'])
    assert np.all(np.abs(b) <= 1 / np.sqrt(fan_in)) and np.any(b != 0)


def test_residual_first_layer_when_widths_match():
  model = models.MLP(num_classes=2, hidden=(12,), residual=True,
                     activation='tanh')
  x = _x(d=12)
  p = model.init({'params': jax.random.key(0)}, x)['params']
  x, p = np.asarray(x), jax.tree.map(np.asarray, p)
  h = x + np.tanh(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  np.testing.assert_allclose(
      model.apply({'params': p}, x),
      h @ p['Dense_1']['kernel'] + p['Dense_1']['bias'], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- config


def _config(**overrides):
  config = model_config()  # the section's defaults
  config.update(overrides)
  return config


def test_build_model_from_config():
  model = models.build_model(
      _config(hidden=[64, 32], init='small_normal', init_std=0.05,
              batchnorm='after', dropout=0.2, residual=True), num_classes=7)
  assert model == models.MLP(
      num_classes=7, hidden=(64, 32), initializer='small_normal', init_std=0.05,
      batchnorm='after', dropout_rate=0.2, residual=True)
  default = models.build_model(_config(hidden=()), num_classes=3)
  assert default.init_std is None and default.hidden == ()
  variables = default.init({'params': jax.random.key(0)}, _x())
  assert default.apply(variables, _x()).shape == (8, 3)


@pytest.mark.parametrize('key, value', [
    ('hidden', (0,)),
    ('hidden', (100, -5)),
    ('hidden', (1.5,)),
    ('hidden', (True,)),
    ('hidden', 100),
    ('hidden', '100'),
    ('activation', 'relux'),
    ('init', 'he'),
    ('init_std', -0.1),
    ('batchnorm', 'middle'),
    ('bn_momentum', 0.0),
    ('bn_momentum', 1.0),
    ('bn_epsilon', 0.0),
    ('dropout', 1.0),
    ('dropout', -0.1),
    ('input_dropout', 1.0),
    ('residual', 'yes'),
    ('dropconnect', 1.0),
    ('stochastic_depth', 1.0),
    ('maxout_pieces', 0),
])
def test_validate_model_config_rejects(key, value):
  config = _config()
  with config.unlocked(), config.ignore_type():
    config[key] = value
  with pytest.raises(ConfigError, match=f'model.{key}'):
    models.validate_model_config(config)


def test_validate_model_config_messages():
  with pytest.raises(ConfigError) as e:
    models.validate_model_config(_config(dropout=1.0))
  assert str(e.value) == 'model.dropout: 1.0 is outside [0, 1)'
  with pytest.raises(ConfigError, match='known: binary_step, elu'):
    models.validate_model_config(_config(activation='relux'))


def test_init_std_only_with_fixed_normals():
  models.validate_model_config(_config(init='large_normal', init_std=2.0))
  with pytest.raises(ConfigError, match='model.init_std'):
    models.validate_model_config(_config(init='he_normal', init_std=2.0))


def test_missing_key_named():
  config = _config()
  del config['residual']
  with pytest.raises(ConfigError, match='model.residual'):
    models.validate_model_config(config)
