"""Tests for the MLP's DropConnect, stochastic depth and maxout options."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from research import config as config_lib
from research import layers
from research import models
from research.errors import ConfigError
from research.train.resolve import config_from_record

# Monte-Carlo averages: this many masks, and a mean may sit this many
# standard errors from its expectation (the keys are fixed, so no flakes).
_KEYS = 2000
_SIGMAS = 5.0


def _x(n=8, d=12, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(n, d)),
                     jnp.float32)


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _shapes(tree):
  return jax.tree.map(lambda a: tuple(a.shape), tree)


def _identity_output(model, x, bias=True):
  """Variables whose output layer is the identity: logits = last hidden h."""
  p = dict(model.init({'params': jax.random.key(0)}, x)['params'])
  d = model.hidden[-1]
  p[f'Dense_{len(model.hidden)}'] = {'kernel': jnp.eye(d),
                                     'bias': jnp.zeros(d)}
  if not bias:
    p['Dense_0'] = {**p['Dense_0'], 'bias': jnp.zeros(d)}
  return {'params': p}


def _over_keys(model, v, x, n=_KEYS, **kw):
  """Training outputs for n dropout keys, stacked: (n, N, C)."""
  keys = jax.random.split(jax.random.key(7), n)
  return np.asarray(jax.vmap(lambda k: model.apply(
      v, x, train=True, rngs={'dropout': k}, **kw))(keys))


# ----------------------------------------------------------- DropConnect


def test_dropconnect_is_off_in_evaluation():
  x = _x()
  model = models.MLP(num_classes=5, hidden=(16, 8), dropconnect_rate=0.5)
  v = model.init({'params': jax.random.key(0)}, x)
  plain = models.MLP(num_classes=5, hidden=(16, 8))
  # Same parameter tree as the plain model, and no rng needed to evaluate.
  assert _shapes(v) == _shapes(plain.init({'params': jax.random.key(0)}, x))
  np.testing.assert_array_equal(model.apply(v, x), plain.apply(v, x))
  # A static zero in training draws nothing either.
  np.testing.assert_array_equal(
      model.apply(v, x, train=True, dropconnect_rate=0.0), plain.apply(v, x))
  with pytest.raises(Exception, match='dropout'):
    model.apply(v, x, train=True)


def test_dropconnect_is_unbiased_with_the_variance_of_its_mask():
  """E[x W~ + b] = x W + b; Var = sum_k x_k^2 W_kj^2 p / (1 - p)."""
  rate, x = 0.4, _x()
  model = models.MLP(num_classes=16, hidden=(16,), activation='linear',
                     dropconnect_rate=rate)
  v = _identity_output(model, x)
  clean = np.asarray(model.apply(v, x))
  out = _over_keys(model, v, x)
  w = np.asarray(v['params']['Dense_0']['kernel'])
  var = (np.asarray(x) ** 2) @ (w ** 2) * rate / (1 - rate)
  assert not np.allclose(out[0], clean, atol=1e-3)  # The masks do act.
  err = np.abs(out.mean(0) - clean)
  assert np.all(err <= _SIGMAS * np.sqrt(var / _KEYS) + 1e-5)
  np.testing.assert_allclose(out.var(0), var, rtol=0.2)


def test_dropconnect_mask_drops_about_rate_once_per_batch():
  rate, d = 0.3, 64
  eye = jnp.eye(d)
  x = jnp.concatenate([eye, eye])  # Row i of a one-hot batch reads kernel row i.
  model = models.MLP(num_classes=d, hidden=(d,), activation='linear',
                     dropconnect_rate=rate)
  v = _identity_output(model, x, bias=False)
  w = np.asarray(v['params']['Dense_0']['kernel'])
  out = np.asarray(
      model.apply(v, x, train=True, rngs={'dropout': jax.random.key(3)}))
  # One mask for the whole batch: both copies of the identity see the same.
  np.testing.assert_array_equal(out[:d], out[d:])
  kept = out[:d] != 0
  np.testing.assert_allclose(out[:d][kept], w[kept] / (1 - rate), rtol=1e-5)
  assert abs((~kept).mean() - rate) < 0.03
  again = model.apply(v, x, train=True, rngs={'dropout': jax.random.key(3)})
  np.testing.assert_array_equal(out, again)
  other = model.apply(v, x, train=True, rngs={'dropout': jax.random.key(4)})
  assert not np.array_equal(out != 0, np.asarray(other) != 0)


def test_dropconnect_masks_hidden_kernels_only(monkeypatch):
  shapes = []

  def record(key, kernel, rate):
    shapes.append(kernel.shape)
    return kernel

  monkeypatch.setattr(layers, 'dropconnect', record)
  x = _x()
  model = models.MLP(num_classes=3, hidden=(16, 8), dropconnect_rate=0.5,
                     maxout_pieces=2)
  v = model.init({'params': jax.random.key(0)}, x)
  model.apply(v, x, train=True, rngs={'dropout': jax.random.key(0)})
  assert shapes == [(12, 32), (16, 16)]  # Not the (8, 3) output kernel.
  # No hidden layer: nothing to mask, the linear model is left whole.
  linear = models.MLP(num_classes=3, hidden=(), dropconnect_rate=0.5)
  v = linear.init({'params': jax.random.key(0)}, x)
  np.testing.assert_array_equal(
      linear.apply(v, x, train=True, rngs={'dropout': jax.random.key(0)}),
      linear.apply(v, x))


# ------------------------------------------------------ stochastic depth


def _two_layer_residual(rate, n=8):
  """12 -> 16 (plain) -> 16 (residual) -> 3, and the pieces by hand."""
  x = _x(n=n)
  model = models.MLP(num_classes=3, hidden=(16, 16), residual=True,
                     stochastic_depth_rate=rate)
  p = _np(model.init({'params': jax.random.key(1)}, x)['params'])
  relu = lambda z: np.maximum(z, 0)
  h1 = relu(np.asarray(x) @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  f = relu(h1 @ p['Dense_1']['kernel'] + p['Dense_1']['bias'])
  out = lambda h: h @ p['Dense_2']['kernel'] + p['Dense_2']['bias']
  return model, x, {'params': p}, h1, f, out


def test_stochastic_depth_rescales_the_branch_at_test():
  rate = 0.3
  model, x, v, h1, f, out = _two_layer_residual(rate)
  want = out(h1 + (1 - rate) * f)  # Layer 0 (12 -> 16) is not residual.
  np.testing.assert_allclose(model.apply(v, x), want, rtol=1e-5, atol=1e-5)
  plain = models.MLP(num_classes=3, hidden=(16, 16), residual=True)
  np.testing.assert_allclose(
      plain.apply(v, x, stochastic_depth_rate=jnp.float32(rate)), want,
      rtol=1e-5, atol=1e-5)


def test_stochastic_depth_drops_whole_blocks_per_example():
  rate, n = 0.3, 1000
  model, x, v, h1, f, out = _two_layer_residual(rate, n=n)
  logits = np.asarray(
      model.apply(v, x, train=True, rngs={'dropout': jax.random.key(0)}))
  kept = np.all(np.isclose(logits, out(h1 + f), rtol=1e-4, atol=1e-4), -1)
  dropped = np.all(np.isclose(logits, out(h1), rtol=1e-4, atol=1e-4), -1)
  assert np.all(kept ^ dropped)  # Each example: the whole block or none.
  assert abs(dropped.mean() - rate) < 0.05


def test_stochastic_depth_is_unbiased():
  """E_b[h + b f(h)] = h + (1 - p) f(h), b ~ Bernoulli(1 - p)."""
  rate, x = 0.4, _x(d=16)
  model = models.MLP(num_classes=16, hidden=(16,), residual=True,
                     activation='tanh', stochastic_depth_rate=rate)
  v = _identity_output(model, x)
  clean = np.asarray(model.apply(v, x))
  p = _np(v['params']['Dense_0'])
  f = np.tanh(np.asarray(x) @ p['kernel'] + p['bias'])
  np.testing.assert_allclose(clean, np.asarray(x) + (1 - rate) * f,
                             rtol=1e-5, atol=1e-5)
  out = _over_keys(model, v, x)
  se = np.sqrt(rate * (1 - rate) / _KEYS) * np.abs(f)
  assert np.all(np.abs(out.mean(0) - clean) <= _SIGMAS * se + 1e-5)


def test_stochastic_depth_zero_is_the_plain_residual_block():
  model, x, v, h1, f, out = _two_layer_residual(0.0)
  want = out(h1 + f)
  # Static zero: no rng; traced zero: drawn, but every block is kept.
  np.testing.assert_allclose(model.apply(v, x, train=True), want, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(
      model.apply(v, x, train=True, rngs={'dropout': jax.random.key(0)},
                  stochastic_depth_rate=jnp.float32(0.0)), want, rtol=1e-5,
      atol=1e-5)


@pytest.mark.parametrize('residual, hidden', [(False, (16, 16)),
                                              (True, (16, 8))])
def test_stochastic_depth_leaves_non_residual_layers_alone(residual, hidden):
  x = _x()
  model = models.MLP(num_classes=3, hidden=hidden, residual=residual,
                     stochastic_depth_rate=0.5)
  plain = models.MLP(num_classes=3, hidden=hidden, residual=residual)
  v = model.init({'params': jax.random.key(0)}, x)
  want = plain.apply(v, x)
  np.testing.assert_array_equal(model.apply(v, x), want)
  # Training draws nothing: no layer is residual, so no rng is needed.
  np.testing.assert_array_equal(model.apply(v, x, train=True), want)


# ---------------------------------------------------------------- maxout


@pytest.mark.parametrize('residual', [False, True])
def test_maxout_forward_matches_numpy(residual):
  k, x = 3, _x()
  model = models.MLP(num_classes=4, hidden=(8, 8), maxout_pieces=k,
                     initializer='he_uniform', residual=residual)
  p = _np(model.init({'params': jax.random.key(2)}, x)['params'])
  assert _shapes(p) == {
      'Dense_0': {'kernel': (12, 24), 'bias': (24,)},
      'Dense_1': {'kernel': (8, 24), 'bias': (24,)},
      'Dense_2': {'kernel': (8, 4), 'bias': (4,)},
  }

  def unit(h, layer):  # Unit j is the max over columns j*k ... j*k + k - 1.
    z = h @ p[layer]['kernel'] + p[layer]['bias']
    return z.reshape(len(h), -1, k).max(-1)

  h = unit(np.asarray(x), 'Dense_0')
  h = h + unit(h, 'Dense_1') if residual else unit(h, 'Dense_1')
  want = h @ p['Dense_2']['kernel'] + p['Dense_2']['bias']
  np.testing.assert_allclose(model.apply({'params': p}, x), want, rtol=1e-5,
                             atol=1e-5)
  # The activation is replaced, so 'linear' and the default 'relu' agree.
  linear = models.MLP(num_classes=4, hidden=(8, 8), maxout_pieces=k,
                      activation='linear', residual=residual)
  np.testing.assert_array_equal(linear.apply({'params': p}, x),
                                model.apply({'params': p}, x))


def test_one_maxout_piece_is_the_plain_layer():
  x = _x()
  model = models.MLP(num_classes=4, hidden=(8,), activation='tanh',
                     maxout_pieces=1)
  p = _np(model.init({'params': jax.random.key(0)}, x)['params'])
  h = np.tanh(np.asarray(x) @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  np.testing.assert_allclose(
      model.apply({'params': p}, x),
      h @ p['Dense_1']['kernel'] + p['Dense_1']['bias'], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('placement', ['before', 'after'])
def test_maxout_with_batchnorm(placement):
  """'before' normalizes the width*k pieces, 'after' the width units."""
  k, eps = 2, 1e-5
  x = _x()
  model = models.MLP(num_classes=3, hidden=(8,), maxout_pieces=k,
                     batchnorm=placement)
  v = _np(model.init({'params': jax.random.key(0)}, x))
  n = 16 if placement == 'before' else 8
  assert _shapes(v['batch_stats']) == {'BatchNorm_0': {'mean': (n,),
                                                       'var': (n,)}}
  rng = np.random.default_rng(1)
  v['batch_stats']['BatchNorm_0'] = {
      'mean': rng.normal(size=n).astype(np.float32),
      'var': rng.uniform(0.5, 2, n).astype(np.float32)}
  s, p = v['batch_stats']['BatchNorm_0'], v['params']
  bn = lambda z: (z - s['mean']) / np.sqrt(s['var'] + eps)
  z = np.asarray(x) @ p['Dense_0']['kernel']
  if placement == 'before':
    h = bn(z).reshape(-1, 8, k).max(-1)
  else:
    h = bn((z + p['Dense_0']['bias']).reshape(-1, 8, k).max(-1))
  want = h @ p['Dense_1']['kernel'] + p['Dense_1']['bias']
  np.testing.assert_allclose(model.apply(v, x), want, rtol=1e-4, atol=1e-5)


def test_maxout_config_rejects_an_activation_it_would_ignore():
  # Checked once, with the rest of the model section, before anything builds.
  with pytest.raises(ConfigError, match='model.activation'):
    models.validate_model_config(_model_config(activation='tanh', maxout_pieces=2))
  with pytest.raises(ConfigError, match='model.maxout_pieces'):
    models.validate_model_config(_model_config(maxout_pieces=0))


# ---------------------------------------------------------- traced rates


def test_all_rates_traced_compile_once():
  x = _x(d=16)
  model = models.MLP(num_classes=3, hidden=(16, 16), residual=True,
                     maxout_pieces=2)
  v = model.init({'params': jax.random.key(0)}, x)

  @jax.jit
  def train(v, x, key, r_hidden, r_input, r_connect, r_depth):
    return model.apply(v, x, train=True, rngs={'dropout': key},
                       dropout_rate=r_hidden, input_dropout_rate=r_input,
                       dropconnect_rate=r_connect,
                       stochastic_depth_rate=r_depth)

  @jax.jit
  def evaluate(v, x, r_depth):
    return model.apply(v, x, stochastic_depth_rate=r_depth)

  rates = [(0.0, 0.0, 0.0, 0.0), (0.5, 0.2, 0.3, 0.4), (0.1, 0.6, 0.7, 0.9)]
  outs = [np.asarray(train(v, x, jax.random.key(0),
                           *map(jnp.float32, r))) for r in rates]
  evals = [np.asarray(evaluate(v, x, jnp.float32(r[3]))) for r in rates]
  assert train._cache_size() == 1 and evaluate._cache_size() == 1
  # Traced zeros draw masks that keep everything: the evaluation output.
  np.testing.assert_allclose(outs[0], model.apply(v, x), rtol=1e-5, atol=1e-5)
  assert not np.allclose(outs[1], outs[0]) and not np.allclose(outs[2],
                                                               outs[1])
  assert not np.allclose(evals[1], evals[0])
  # A population of rates runs as one vmapped program.
  grid = jnp.asarray(rates, jnp.float32)
  stacked = jax.vmap(train, in_axes=(None, None, None, 0, 0, 0, 0))(
      v, x, jax.random.key(0), *grid.T)
  np.testing.assert_allclose(stacked, np.stack(outs), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- config


def _model_config(**overrides) -> ml_collections.ConfigDict:
  """The base config's model section with `overrides`."""
  config = config_lib.base_config().model
  config.update(overrides)
  return config


def test_build_model_reads_the_new_keys():
  model = models.build_model(
      _model_config(hidden=(32, 32), residual=True, dropconnect=0.2,
                    stochastic_depth=0.1, maxout_pieces=3), num_classes=10)
  assert model == models.MLP(num_classes=10, hidden=(32, 32), residual=True,
                             dropconnect_rate=0.2, stochastic_depth_rate=0.1,
                             maxout_pieces=3)
  assert models.build_model(_model_config(), 10) == models.MLP(num_classes=10)


def test_config_without_the_new_keys_means_their_defaults():
  # A config.json written before these keys reads back with their defaults.
  record = config_lib.base_config().to_dict()
  for key in ('dropconnect', 'stochastic_depth', 'maxout_pieces'):
    del record['model'][key]
  config = config_from_record(record)
  assert models.build_model(config.model, 10) == models.MLP(num_classes=10)


@pytest.mark.parametrize('key, value, extra', [
    ('dropconnect', 1.0, {}),
    ('dropconnect', -0.1, {}),
    ('dropconnect', '0.1', {}),
    ('dropconnect', True, {}),
    ('stochastic_depth', 1.0, {'residual': True}),
    ('stochastic_depth', -0.1, {'residual': True}),
    ('stochastic_depth', 0.2, {}),  # Without residual it would do nothing.
    ('maxout_pieces', 0, {}),
    ('maxout_pieces', 1.5, {}),
    ('maxout_pieces', 2.0, {}),
    ('maxout_pieces', True, {}),
    ('maxout_pieces', '2', {}),
    ('activation', 'tanh', {'maxout_pieces': 2}),
])
def test_validate_rejects_new_keys(key, value, extra):
  config = _model_config(**extra)
  with config.unlocked(), config.ignore_type():
    config[key] = value
  with pytest.raises(ConfigError, match=f'model.{key}'):
    models.validate_model_config(config)


def test_new_key_messages():
  with pytest.raises(ConfigError) as e:
    models.validate_model_config(_model_config(dropconnect=1.0))
  assert str(e.value) == 'model.dropconnect: 1.0 is outside [0, 1)'
  with pytest.raises(ConfigError, match='without model.residual=True'):
    models.validate_model_config(_model_config(stochastic_depth=0.5))
  with pytest.raises(ConfigError, match='maxout_pieces=2'):
    models.validate_model_config(
        _model_config(activation='sigmoid', maxout_pieces=2))
  # 'linear' and the default 'relu' go with maxout; stochastic depth with
  # residual blocks.
  models.validate_model_config(
      _model_config(activation='linear', maxout_pieces=2))
  models.validate_model_config(
      _model_config(residual=True, stochastic_depth=0.5))
