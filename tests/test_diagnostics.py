"""Per-layer statistics at init against a NumPy forward pass and jax.grad of a
hand-written loss, and the textbook effects of the initialization."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.special

from research import activations
from research import diagnostics
from research.config import base_config
from research.models import build_model
from research.train.state import create_train_state

# MNIST-1D's shapes and the tiny network of the experiments' report tests:
# the operations that initialize it compile once for both files.
FEATURES, CLASSES, HIDDEN = 40, 10, (8, 8)

_NUMPY_ACTIVATIONS = {
    'tanh': np.tanh,
    'relu': lambda z: np.maximum(z, 0.0),
    'sigmoid': scipy.special.expit,
}


def _config(hidden, activation, init, **model):
  c = base_config()
  c.model.hidden = tuple(hidden)
  c.model.activation = activation
  c.model.init = init
  for key, value in model.items():
    c.model[key] = value
  return c


def _random_batch(n, d, num_classes, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d)).astype(np.float32)
  return x, rng.integers(0, num_classes, n).astype(np.int32)


def _numpy_layers(params, x, activation, residual):
  """(pre-activation, activation, output) of each hidden layer, then the
  logits, recomputed from the parameters."""
  act = _NUMPY_ACTIVATIONS[activation]
  h, layers = np.asarray(x, np.float64), []
  num_hidden = len(params) - 1
  for i in range(num_hidden):
    w = np.asarray(params[f'Dense_{i}']['kernel'], np.float64)
    b = np.asarray(params[f'Dense_{i}']['bias'], np.float64)
    pre = h @ w + b
    a = act(pre)
    h = h + a if residual and h.shape[1] == a.shape[1] else a
    layers.append((pre, a, h))
  w = np.asarray(params[f'Dense_{num_hidden}']['kernel'], np.float64)
  b = np.asarray(params[f'Dense_{num_hidden}']['bias'], np.float64)
  logits = h @ w + b
  layers.append((logits, logits, logits))
  return layers


def _hand_loss(params, x, y, activation, residual):
  """Mean softmax cross-entropy of the MLP written out in jnp."""
  act = activations.get(activation)
  h = x
  num_hidden = len(params) - 1
  for i in range(num_hidden):
    a = act(h @ params[f'Dense_{i}']['kernel'] + params[f'Dense_{i}']['bias'])
    h = h + a if residual and h.shape[1] == a.shape[1] else a
  logits = h @ params[f'Dense_{num_hidden}']['kernel'] + params[f'Dense_{num_hidden}']['bias']
  log_probs = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
  return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


def test_statistics_match_numpy_and_jax_grad():
  # N(0, 1) weights: about a third of the tanh values saturate. Only the
  # second hidden layer (8 -> 8) is residual.
  activation, init, residual = 'tanh', 'large_normal', True
  config = _config(HIDDEN, activation, init, residual=residual)
  x, y = _random_batch(16, FEATURES, num_classes=CLASSES)
  stats = diagnostics.layer_statistics(config, x, y, seed=3, num_classes=CLASSES)

  model = build_model(config.model, CLASSES)
  params = diagnostics.init_variables(model, 3, jnp.asarray(x))['params']
  expected = _numpy_layers(params, x, activation, residual)
  hand_grad = jax.jit(jax.grad(_hand_loss), static_argnums=(3, 4))
  grads = hand_grad(params, jnp.asarray(x), jnp.asarray(y), activation, residual)
  assert [s['name'] for s in stats] == ['hidden 1', 'hidden 2', 'output']
  assert [s['width'] for s in stats] == [*HIDDEN, CLASSES]
  for i, (s, (pre, a, out)) in enumerate(zip(stats, expected)):
    np.testing.assert_allclose(s['pre_activation_mean'], pre.mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(s['pre_activation_std'], pre.std(), rtol=1e-4)
    np.testing.assert_allclose(s['activation_mean'], a.mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(s['activation_std'], a.std(), rtol=1e-4)
    np.testing.assert_allclose(s['output_std'], out.std(), rtol=1e-4)
    kernel = np.asarray(params[f'Dense_{i}']['kernel'], np.float64)
    grad_norm = np.linalg.norm(np.asarray(grads[f'Dense_{i}']['kernel'], np.float64))
    np.testing.assert_allclose(s['grad_norm'], grad_norm, rtol=1e-4)
    np.testing.assert_allclose(s['weight_norm'], np.linalg.norm(kernel), rtol=1e-5)
    np.testing.assert_allclose(s['grad_to_weight'], grad_norm / np.linalg.norm(kernel),
                               rtol=1e-4)
    # The sample holds values of the layer's activation (all of them here).
    np.testing.assert_allclose(np.sort(s['activation_sample']), np.sort(a.ravel()),
                               rtol=1e-4, atol=1e-6)
    if s['name'] == 'output':
      assert np.isnan(s['inactive_fraction']) and s['inactive_label'] == ''
    else:
      assert s['inactive_label'] == 'saturated'
      np.testing.assert_allclose(s['inactive_fraction'], np.mean(np.abs(a) > 0.99))
  assert 0 < stats[0]['inactive_fraction'] < 1  # not trivially unsaturated
  # The residual layer's output is its input plus its activation.
  assert stats[1]['output_std'] != pytest.approx(stats[1]['activation_std'], rel=1e-3)


_NUMPY_ALL = {
    **_NUMPY_ACTIVATIONS,
    'leaky_relu': lambda z: np.where(z > 0, z, 0.01 * z),
    'elu': lambda z: np.where(z > 0, z, np.expm1(z)),
    'softplus': lambda z: np.logaddexp(0.0, z),
    'binary_step': lambda z: (z > 0).astype(z.dtype),
}


@pytest.mark.parametrize('activation', sorted(diagnostics.INACTIVITY))
def test_inactivity_rules_against_numpy(activation):
  rng = np.random.default_rng(1)
  pre = rng.normal(0.0, 4.0, (64, 9)).astype(np.float32)
  pre[:, 0] = -np.abs(pre[:, 0]) - 0.1  # a unit below 0 on the whole batch
  a = _NUMPY_ALL[activation](pre).astype(np.float32)
  rule = diagnostics.inactivity_of(activation)
  fraction = jax.jit(diagnostics.inactive_fraction, static_argnums=0)
  got = float(fraction(rule, pre, a))
  per_value = {
      'sigmoid': (a < 0.01) | (a > 0.99),
      'tanh': np.abs(a) > 0.99,
      'elu': a < -0.99,
      'softplus': a < 0.01,
      'binary_step': np.ones_like(a, bool),
  }
  per_unit = {'relu': a == 0, 'leaky_relu': pre <= 0}
  if activation in per_value:
    assert not rule.per_unit
    np.testing.assert_allclose(got, per_value[activation].mean())
  else:
    assert rule.per_unit and rule.label == 'dead'
    np.testing.assert_allclose(got, np.all(per_unit[activation], axis=0).mean())
    assert got >= 1 / 9  # the unit made dead
  # softplus and elu: the rule is where the derivative drops below 0.01.
  if activation in ('softplus', 'elu'):
    slope = jax.jit(jax.vmap(jax.grad(activations.get(activation))))(pre.ravel())
    flat = per_value[activation].ravel()
    assert np.all(np.asarray(slope)[flat] < 0.0101)
    assert np.all(np.asarray(slope)[~flat] >= 0.0099)


def test_no_inactivity_for_linear_and_maxout():
  assert diagnostics.inactivity_of('linear') is None
  assert diagnostics.inactivity_of('relu', maxout_pieces=2) is None


def test_init_is_that_of_the_trial():
  config = _config(HIDDEN, 'tanh', 'he_normal')
  x, _ = _random_batch(16, FEATURES, num_classes=CLASSES)
  model = build_model(config.model, CLASSES)
  state = create_train_state(11, model, optax.sgd(0.1), jnp.asarray(x))
  variables = diagnostics.init_variables(model, 11, jnp.asarray(x))
  jax.tree.map(np.testing.assert_array_equal, variables['params'], state.params)


def test_batchnorm_before_uses_batch_statistics():
  config = _config(HIDDEN, 'tanh', 'large_normal', batchnorm='before')
  x, y = _random_batch(16, FEATURES, num_classes=CLASSES)
  stats = diagnostics.layer_statistics(config, 3.0 * x + 1.0, y, seed=0,
                                       num_classes=CLASSES)
  for s in stats[:-1]:  # normalized by the batch, not by running (0, 1)
    np.testing.assert_allclose(s['pre_activation_mean'], 0.0, atol=1e-5)
    np.testing.assert_allclose(s['pre_activation_std'], 1.0, rtol=1e-3)


def _depth_profile(activation, init):
  config = _config((128,) * 4, activation, init)
  x, y = _random_batch(128, 128, num_classes=CLASSES)
  return diagnostics.layer_statistics(config, x, y, seed=0, num_classes=CLASSES)[:-1]


def test_small_normal_tanh_activations_shrink_with_depth():
  stds = [s['activation_std'] for s in _depth_profile('tanh', 'small_normal')]
  # Each layer multiplies the scale by about 0.01 * sqrt(128) ~ 0.11.
  assert all(b < 0.2 * a for a, b in zip(stds, stds[1:]))
  assert stds[-1] < 1e-2 * stds[0]


def test_he_normal_relu_keeps_the_activation_scale():
  stds = [s['activation_std'] for s in _depth_profile('relu', 'he_normal')]
  assert max(stds) < 2.0 * min(stds)


def test_large_normal_sigmoid_saturates_xavier_does_not():
  large = [s['inactive_fraction'] for s in _depth_profile('sigmoid', 'large_normal')]
  xavier = [s['inactive_fraction'] for s in _depth_profile('sigmoid', 'xavier_normal')]
  # sigmoid(pre) < 0.01 or > 0.99 where |pre| > 4.6, and the pre-activation
  # std is sqrt(fan_in * E[input^2]) ~ 7-11 here: half or more of the values.
  assert min(large) > 0.4
  assert max(xavier) < 0.05
