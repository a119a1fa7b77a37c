"""Tests for research.penalties against NumPy and the analytic gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import penalties
from research.errors import ConfigError


def _params(seed=0):
  """A random MLP-shaped tree: kernels, biases and BatchNorm parameters."""
  rng = np.random.default_rng(seed)
  normal = lambda *shape: jnp.asarray(rng.normal(0.0, 1.5, shape), jnp.float32)
  return {
      'Dense_0': {'kernel': normal(7, 5), 'bias': normal(5)},
      'BatchNorm_0': {'scale': normal(5), 'bias': normal(5)},
      'Dense_1': {'kernel': normal(5, 3), 'bias': normal(3)},
  }


def _kernels(params):
  return [np.asarray(params[layer]['kernel'], np.float64)
          for layer in ('Dense_0', 'Dense_1')]


def _np_l2(params):
  return 0.5 * sum(np.sum(w**2) for w in _kernels(params))


def _np_l1(params):
  return sum(np.sum(np.abs(w)) for w in _kernels(params))


def _np_weight_elimination(params, w0):
  return sum(np.sum((w / w0)**2 / (1 + (w / w0)**2)) for w in _kernels(params))


def _assert_grad(grads, params, analytic):
  """Kernels get `analytic(w)`; every other leaf gets exactly zero."""
  for layer, leaves in grads.items():
    for name, g in leaves.items():
      if name == 'kernel' and layer.startswith('Dense'):
        np.testing.assert_allclose(g, analytic(np.asarray(params[layer][name])),
                                   rtol=1e-5, atol=1e-6)
      else:
        np.testing.assert_array_equal(g, np.zeros_like(g))


@pytest.mark.parametrize('seed', [0, 1])
def test_l2(seed):
  params = _params(seed)
  assert float(penalties.l2(params)) == pytest.approx(_np_l2(params), rel=1e-5)
  _assert_grad(jax.grad(penalties.l2)(params), params, lambda w: w)


@pytest.mark.parametrize('seed', [0, 1])
def test_l1(seed):
  params = _params(seed)
  assert float(penalties.l1(params)) == pytest.approx(_np_l1(params), rel=1e-5)
  _assert_grad(jax.grad(penalties.l1)(params), params, np.sign)


def test_elastic_net():
  params = _params(2)
  got = penalties.elastic_net(params, 0.3, 0.7)
  assert float(got) == pytest.approx(0.3 * _np_l1(params) + 0.7 * _np_l2(params),
                                     rel=1e-5)
  grads = jax.grad(lambda p: penalties.elastic_net(p, 0.3, 0.7))(params)
  _assert_grad(grads, params, lambda w: 0.3 * np.sign(w) + 0.7 * w)


@pytest.mark.parametrize('w0', [0.5, 2.0])
def test_weight_elimination(w0):
  params = _params(3)
  got = penalties.weight_elimination(params, w0)
  assert float(got) == pytest.approx(_np_weight_elimination(params, w0), rel=1e-5)
  grads = jax.grad(lambda p: penalties.weight_elimination(p, w0))(params)
  _assert_grad(grads, params,
               lambda w: 2 * w * w0**2 / (w0**2 + w**2)**2)


def test_weight_elimination_limits():
  """About (w/w0)^2 for small weights, about 1 per weight for large ones."""
  small = {'k': jnp.full((4, 4), 1e-3)}
  large = {'k': jnp.full((4, 4), 1e3)}
  assert float(penalties.weight_elimination(small, 1.0)) == pytest.approx(16e-6, rel=1e-3)
  assert float(penalties.weight_elimination(large, 1.0)) == pytest.approx(16.0, rel=1e-5)


def test_penalties_are_jittable():
  params = _params(4)
  for fn in (penalties.l2, penalties.l1):
    assert float(jax.jit(fn)(params)) == pytest.approx(float(fn(params)), rel=1e-6)


# --------------------------------------------------------------------------
# The `regularization` section


def _config(**values):
  c = penalties.default_penalty_config()
  for key, value in values.items():
    c[key] = value
  return c


def test_defaults_are_off():
  c = penalties.default_penalty_config()
  assert dict(c) == {'l2': 0.0, 'l1': 0.0, 'weight_elimination': 0.0,
                     'weight_elimination_scale': 1.0, 'max_norm': 0.0}
  penalties.validate_penalty_config(c)
  assert penalties.penalty_fn(c) is None
  # max_norm is a constraint, not a loss term.
  assert penalties.penalty_fn(_config(max_norm=3.0)) is None


@pytest.mark.parametrize('values,want', [
    ({'l2': 0.01}, lambda p: 0.01 * _np_l2(p)),
    ({'l1': 0.02}, lambda p: 0.02 * _np_l1(p)),
    ({'l1': 0.02, 'l2': 0.05}, lambda p: 0.02 * _np_l1(p) + 0.05 * _np_l2(p)),
    ({'weight_elimination': 0.1, 'weight_elimination_scale': 0.7},
     lambda p: 0.1 * _np_weight_elimination(p, 0.7)),
    ({'l2': 0.01, 'l1': 0.02, 'weight_elimination': 0.1, 'max_norm': 2.0},
     lambda p: 0.01 * _np_l2(p) + 0.02 * _np_l1(p)
     + 0.1 * _np_weight_elimination(p, 1.0)),
])
def test_penalty_fn_sums_the_configured_terms(values, want):
  params = _params(5)
  fn = penalties.penalty_fn(_config(**values))
  assert float(fn(params)) == pytest.approx(want(params), rel=1e-5)
  assert float(jax.jit(fn)(params)) == pytest.approx(want(params), rel=1e-5)


def test_penalty_fn_l2_gradient_is_weight_decay():
  params = _params(6)
  grads = jax.grad(penalties.penalty_fn(_config(l2=0.3)))(params)
  _assert_grad(grads, params, lambda w: 0.3 * w)


@pytest.mark.parametrize('values,key', [
    ({'l2': -0.1}, 'l2'),
    ({'l1': -1e-4}, 'l1'),
    ({'weight_elimination': -1.0}, 'weight_elimination'),
    ({'weight_elimination_scale': 0.0}, 'weight_elimination_scale'),
    ({'weight_elimination_scale': -2.0}, 'weight_elimination_scale'),
    ({'max_norm': -3.0}, 'max_norm'),
    ({'l2': float('nan')}, 'l2'),
])
def test_validation_names_the_key(values, key):
  c = _config(**values)
  # Checked once, when the run's config is resolved; penalty_fn trusts it.
  with pytest.raises(ConfigError, match=rf'^regularization\.{key}:'):
    penalties.validate_penalty_config(c)


def test_unknown_key():
  c = _config()
  c.l3 = 0.1
  with pytest.raises(ConfigError, match=r'^regularization\.l3: unknown key'):
    penalties.validate_penalty_config(c)
