"""Tests for research/batchnorm.py and the MLP's `bn_train_stats` /
`bias_before_bn`: what BatchNorm normalizes with in training, and which
gradient that gives (checked against NumPy formulas written out by hand)."""

import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import batchnorm_batch_gap_report as report
from experiments.batchnorm_running_run import growth_hook
from research import batchnorm, models
from research.config.sections import model_config
from research.errors import ConfigError
from research.train.state import create_train_state

EPS = 1e-5
MOMENTUM = 0.9


def _data(n=16, d=6, classes=3, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d)).astype(np.float32)
  return x, rng.integers(0, classes, n)


def _model(stats, **kw):
  return models.MLP(num_classes=3, hidden=(5,), batchnorm='before',
                    bn_train_stats=stats, bn_momentum=MOMENTUM, bn_epsilon=EPS,
                    **kw)


def _variables(model, x, seed=1):
  """Initialized variables with non-trivial BN parameters, running
  statistics and pre-BN bias, so that every term of the formulas counts."""
  variables = model.init(jax.random.key(0), x)
  rng = np.random.default_rng(seed)
  params = jax.tree.map(np.asarray, variables['params'])
  params['BatchNorm_0'] = {'scale': rng.uniform(0.5, 2.0, 5).astype(np.float32),
                           'bias': rng.normal(size=5).astype(np.float32)}
  if 'bias' in params['Dense_0']:
    params['Dense_0']['bias'] = rng.normal(size=5).astype(np.float32)
  stats = {'BatchNorm_0': {'mean': rng.normal(size=5).astype(np.float32),
                           'var': rng.uniform(0.5, 3.0, 5).astype(np.float32)}}
  return params, stats


def _loss_and_grads(model, params, stats, x, y):
  def loss(p):
    logits, updates = model.apply({'params': p, 'batch_stats': stats}, x,
                                  train=True, mutable=['batch_stats'])
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(log_p[jnp.arange(len(y)), y]), updates
  (value, updates), grads = jax.value_and_grad(loss, has_aux=True)(params)
  return value, updates['batch_stats'], grads


def _numpy_fixed_affine(params, x, y, mu, var):
  """Loss and gradients of Dense -> (h - mu) / sqrt(var + eps) * g + beta ->
  ReLU -> Dense -> cross-entropy, with mu and var constants: by hand."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  w, b = p['Dense_0']['kernel'], p['Dense_0'].get('bias', 0.0)
  g, beta = p['BatchNorm_0']['scale'], p['BatchNorm_0']['bias']
  v, c = p['Dense_1']['kernel'], p['Dense_1']['bias']
  n = len(y)
  h = x @ w + b
  s = np.sqrt(var + EPS)
  z = (h - mu) / s * g + beta
  a = np.maximum(z, 0)
  logits = a @ v + c
  prob = np.exp(logits - logits.max(1, keepdims=True))
  prob /= prob.sum(1, keepdims=True)
  loss = -np.mean(np.log(prob[np.arange(n), y]))
  d_logits = (prob - np.eye(3)[y]) / n
  dz = (d_logits @ v.T) * (z > 0)
  dh = dz * g / s
  grads = {'Dense_0': {'kernel': x.T @ dh, 'bias': dh.sum(0)},
           'BatchNorm_0': {'scale': (dz * (h - mu) / s).sum(0),
                           'bias': dz.sum(0)},
           'Dense_1': {'kernel': a.T @ d_logits, 'bias': d_logits.sum(0)}}
  return loss, grads, h


def _assert_tree_close(actual, expected, **tol):
  for path, value in jax.tree_util.tree_leaves_with_path(actual):
    want = expected
    for key in path:
      want = want[key.key]
    np.testing.assert_allclose(value, want, err_msg=str(path), **tol)


# ------------------------------------------------- the module against flax's


@pytest.mark.parametrize('use_running_average', [False, True])
def test_batch_mode_matches_flax_batchnorm(use_running_average):
  x = jnp.asarray(np.random.default_rng(3).normal(2.0, 3.0, (32, 7)),
                  jnp.float32)
  ours = batchnorm.BatchNorm(momentum=MOMENTUM, epsilon=EPS)
  theirs = nn.BatchNorm(momentum=MOMENTUM, epsilon=EPS)
  variables = theirs.init(jax.random.key(0), x, use_running_average=False)
  rng = np.random.default_rng(4)
  variables = {
      'params': {'scale': rng.uniform(0.5, 2, 7), 'bias': rng.normal(size=7)},
      'batch_stats': {'mean': rng.normal(size=7),
                      'var': rng.uniform(0.5, 2, 7)}}
  variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), variables)

  def apply(module, variables, x):
    out, updates = module.apply(variables, x, use_running_average,
                                mutable=['batch_stats'])
    return jnp.sum(jnp.sin(out)), (out, updates)

  grad = jax.grad(apply, argnums=(1, 2), has_aux=True)
  (g_ours, (o_ours, u_ours)) = grad(ours, variables, x)
  (g_theirs, (o_theirs, u_theirs)) = grad(theirs, variables, x)
  np.testing.assert_allclose(o_ours, o_theirs, rtol=1e-5, atol=1e-5)
  _assert_tree_close(u_ours, u_theirs, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_theirs)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_unknown_train_stats_is_refused():
  with pytest.raises(ValueError, match='known: batch, batch_no_grad, running'):
    batchnorm.BatchNorm(train_stats='ema').init(
        jax.random.key(0), jnp.ones((4, 3)), False)


# ------------------------------------------------------ the MLP's three modes


def test_batch_mode_is_unchanged():
  """The default model: BN by flax (batch statistics, gradient through them),
  no pre-BN bias; its output is the hand formula with this batch's numbers."""
  x, y = _data()
  model = _model('batch')
  assert models.MLP(num_classes=3, hidden=(5,), batchnorm='before',
                    bn_momentum=MOMENTUM, bn_epsilon=EPS) == model
  params, stats = _variables(model, x)
  assert set(params['Dense_0']) == {'kernel'}
  value, new_stats, _ = _loss_and_grads(model, params, stats, x, y)
  h = x.astype(np.float64) @ params['Dense_0']['kernel']
  mu, var = h.mean(0), h.var(0)
  expected, _, _ = _numpy_fixed_affine(params, x, y, mu, var)
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  np.testing.assert_allclose(new_stats['BatchNorm_0']['mean'],
                             MOMENTUM * stats['BatchNorm_0']['mean']
                             + (1 - MOMENTUM) * mu, rtol=1e-5, atol=1e-6)


def test_batch_no_grad_gradient_is_the_fixed_affine_ones():
  """stop_gradient on the batch mean / variance: the gradient of a fixed
  affine normalization by the same numbers, which the batch mode's is not."""
  x, y = _data()
  for stats_mode in ('batch_no_grad', 'batch'):
    model = _model(stats_mode, bias_before_bn=True)
    params, stats = _variables(model, x)
    value, new_stats, grads = _loss_and_grads(model, params, stats, x, y)
    h = x.astype(np.float64) @ params['Dense_0']['kernel'] + params['Dense_0']['bias']
    expected_loss, expected, _ = _numpy_fixed_affine(params, x, y, h.mean(0),
                                                     h.var(0))
    np.testing.assert_allclose(value, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(new_stats['BatchNorm_0']['var'],
                               MOMENTUM * stats['BatchNorm_0']['var']
                               + (1 - MOMENTUM) * h.var(0), rtol=1e-5)
    if stats_mode == 'batch_no_grad':
      _assert_tree_close(grads, expected, rtol=1e-4, atol=1e-6)
    else:  # the mean subtraction's gradient changes the kernel's
      assert not np.allclose(grads['Dense_0']['kernel'],
                             expected['Dense_0']['kernel'], atol=1e-4)


def test_pre_bn_bias_gradient_vanishes_only_with_batch_statistics():
  """With the batch mean differentiated through, b cancels in h - E[h]: its
  gradient is 0. Under stop_gradient it is (g / s) * dL/dbeta, not 0 (BN
  paper §2), though the output does not depend on b at all."""
  x, y = _data()
  no_grad, batch = _model('batch_no_grad', bias_before_bn=True), _model(
      'batch', bias_before_bn=True)
  params, stats = _variables(no_grad, x)
  _, _, g_batch = _loss_and_grads(batch, params, stats, x, y)
  _, _, g_no_grad = _loss_and_grads(no_grad, params, stats, x, y)
  np.testing.assert_allclose(g_batch['Dense_0']['bias'], 0.0, atol=1e-6)
  h = x @ params['Dense_0']['kernel'] + params['Dense_0']['bias']
  s = np.sqrt(h.var(0) + EPS)
  expected = (params['BatchNorm_0']['scale'] / s
              * np.asarray(g_no_grad['BatchNorm_0']['bias']))
  np.testing.assert_allclose(g_no_grad['Dense_0']['bias'], expected, rtol=1e-4,
                             atol=1e-7)
  assert np.abs(expected).max() > 1e-3
  # The forward pass ignores b: any shift gives the same loss.
  shifted = jax.tree.map(np.copy, params)
  shifted['Dense_0']['bias'] = shifted['Dense_0']['bias'] + 10.0
  np.testing.assert_allclose(
      _loss_and_grads(no_grad, shifted, stats, x, y)[0],
      _loss_and_grads(no_grad, params, stats, x, y)[0], rtol=1e-4)


def test_running_mode_normalizes_by_the_updated_running_averages():
  """Training normalizes by m * running + (1 - m) * batch, held constant:
  the gradient is the fixed affine one with those numbers."""
  x, y = _data()
  model = _model('running', bias_before_bn=True)
  params, stats = _variables(model, x)
  value, new_stats, grads = _loss_and_grads(model, params, stats, x, y)
  h = x.astype(np.float64) @ params['Dense_0']['kernel'] + params['Dense_0']['bias']
  mu = MOMENTUM * stats['BatchNorm_0']['mean'] + (1 - MOMENTUM) * h.mean(0)
  var = MOMENTUM * stats['BatchNorm_0']['var'] + (1 - MOMENTUM) * h.var(0)
  expected_loss, expected, _ = _numpy_fixed_affine(params, x, y, mu, var)
  np.testing.assert_allclose(value, expected_loss, rtol=1e-5)
  _assert_tree_close(new_stats, {'BatchNorm_0': {'mean': mu, 'var': var}},
                     rtol=1e-5, atol=1e-6)
  _assert_tree_close(grads, expected, rtol=1e-4, atol=1e-6)


def test_every_mode_evaluates_with_the_running_averages():
  x, _ = _data()
  params, stats = _variables(_model('batch', bias_before_bn=True), x)
  outputs = [_model(m, bias_before_bn=True).apply(
      {'params': params, 'batch_stats': stats}, x)
             for m in batchnorm.TRAIN_STATS]
  for out in outputs[1:]:
    np.testing.assert_allclose(out, outputs[0], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- config


def _config(**kw):
  c = model_config()
  c.batchnorm = 'before'
  c.update(kw)
  return c


def test_build_model_passes_the_options():
  model = models.build_model(
      _config(batchnorm_train_stats='running', bias_before_bn=True), 3)
  assert model.bn_train_stats == 'running' and model.bias_before_bn
  variables = model.init(jax.random.key(0), jnp.ones((2, 4)))
  assert set(variables['params']['Dense_0']) == {'kernel', 'bias'}


@pytest.mark.parametrize('changes, message', [
    ({'batchnorm_train_stats': 'ema'},
     "model.batchnorm_train_stats: unknown statistics 'ema'; known: batch, "
     'batch_no_grad, running'),
    ({'batchnorm_train_stats': 'running', 'batchnorm': 'none'},
     "model.batchnorm_train_stats: 'running' has no effect with "
     "model.batchnorm='none'"),
    ({'bias_before_bn': 'yes'}, "model.bias_before_bn: 'yes' must be True or False"),
    ({'bias_before_bn': True, 'batchnorm': 'after'},
     'model.bias_before_bn: True has no effect'),
])
def test_validation(changes, message):
  config = _config()
  with config.ignore_type():
    config.update(changes)
  with pytest.raises(ConfigError, match=message.replace('(', r'\(')):
    models.validate_model_config(config)
  models.validate_model_config(_config())


# ------------------------------------------------------ the two experiments


def test_growth_hook_reads_each_members_norms():
  rng = np.random.default_rng(5)
  k = 3  # a population's member axis first
  params = {'Dense_0': {'kernel': rng.normal(size=(k, 4, 5)),
                        'bias': rng.normal(size=(k, 5))},
            'BatchNorm_0': {'scale': rng.normal(size=(k, 5)),
                            'bias': rng.normal(size=(k, 5))}}
  stats = {'BatchNorm_0': {'mean': rng.normal(size=(k, 5)),
                           'var': rng.uniform(1, 2, (k, 5))}}

  state = types.SimpleNamespace(params=params, batch_stats=stats)
  log = {}
  growth_hook(1, log)(7, state)
  assert log['epoch'] == [7]
  for m in range(k):
    np.testing.assert_allclose(log['kernel_norm'][0][0][m],
                               np.sqrt(np.sum(params['Dense_0']['kernel'][m]**2)))
    np.testing.assert_allclose(log['bias_norm'][0][0][m],
                               np.sqrt(np.sum(params['Dense_0']['bias'][m]**2)))
    np.testing.assert_allclose(log['running_mean_max'][0][0][m],
                               np.max(np.abs(stats['BatchNorm_0']['mean'][m])))
    np.testing.assert_allclose(log['running_var_max'][0][0][m],
                               np.max(stats['BatchNorm_0']['var'][m]))


def test_batch_statistics_accuracy_uses_whole_chunks_of_their_own():
  """The gap report's accuracy with batch statistics: each chunk of k
  examples normalized by itself, the ragged end left out; checked against
  the model applied chunk by chunk in training mode."""
  x, y = _data(n=22)
  model = _model('batch')
  params, stats = _variables(model, x)
  state = create_train_state(0, model, optax.sgd(0.1), x[:1]).replace(
      params=params, batch_stats=stats)
  run = types.SimpleNamespace(model=model, state=state)
  for chunk, batch_statistics in ((4, True), (22, True), (5, False)):
    got = report.accuracy(run, x, y, chunk, batch_statistics)
    n = len(x) // chunk * chunk
    correct = 0
    for start in range(0, n, chunk):
      xs = x[start:start + chunk]
      if batch_statistics:
        logits, _ = model.apply({'params': params, 'batch_stats': stats}, xs,
                                train=True, mutable=['batch_stats'])
      else:
        logits = model.apply({'params': params, 'batch_stats': stats}, xs)
      correct += int(np.sum(np.argmax(logits, -1) == y[start:start + chunk]))
    np.testing.assert_allclose(got, correct / n, rtol=1e-6)
