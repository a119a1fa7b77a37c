"""Tests for the max-norm constraint (research.optim.constraints)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.optim import constraints

C = 1.5


def _params(seed=0):
  """Kernels whose columns straddle C (some inside, some outside), big biases."""
  rng = np.random.default_rng(seed)
  def kernel(fan_in, fan_out):
    w = rng.normal(0.0, 1.0, (fan_in, fan_out))
    w /= np.linalg.norm(w, axis=0)  # unit columns, then norms in [0.3, 3]
    return jnp.asarray(w * rng.uniform(0.3, 3.0, fan_out), jnp.float32)
  return {
      'Dense_0': {'kernel': kernel(12, 9),
                  'bias': jnp.asarray(rng.normal(0, 5, 9), jnp.float32)},
      'BatchNorm_0': {'scale': jnp.asarray(rng.uniform(2, 4, 9), jnp.float32),
                      'bias': jnp.asarray(rng.normal(0, 5, 9), jnp.float32)},
      'Dense_1': {'kernel': kernel(9, 4),
                  'bias': jnp.asarray(rng.normal(0, 5, 4), jnp.float32)},
  }


def _column_norms(w):
  return np.linalg.norm(np.asarray(w, np.float64), axis=0)


def _assert_within(params, c=C):
  for layer in ('Dense_0', 'Dense_1'):
    assert np.all(_column_norms(params[layer]['kernel']) <= c + 1e-6), layer


def _assert_untouched_non_weights(new, old):
  for layer, leaves in old.items():
    for name, value in leaves.items():
      if name != 'kernel':
        np.testing.assert_array_equal(new[layer][name], value)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_project_max_norm(seed):
  params = _params(seed)
  new = constraints.project_max_norm(params, C)
  _assert_within(new)
  _assert_untouched_non_weights(new, params)
  for layer in ('Dense_0', 'Dense_1'):
    w, q = np.asarray(params[layer]['kernel']), np.asarray(new[layer]['kernel'])
    norms = _column_norms(w)
    inside, outside = norms <= C, norms > C
    assert inside.any() and outside.any(), 'the test needs both kinds'
    np.testing.assert_array_equal(q[:, inside], w[:, inside])  # bit-for-bit
    # Columns outside are scaled onto the sphere, keeping their direction.
    np.testing.assert_allclose(_column_norms(q[:, outside]), C, rtol=1e-6)
    np.testing.assert_allclose(q[:, outside], w[:, outside] * C / norms[outside],
                               rtol=1e-5)


def test_project_max_norm_is_jittable_and_idempotent():
  params = _params(3)
  once = jax.jit(constraints.project_max_norm)(params, C)
  twice = constraints.project_max_norm(once, C)
  _assert_within(twice)
  for layer in ('Dense_0', 'Dense_1'):
    np.testing.assert_allclose(twice[layer]['kernel'], once[layer]['kernel'],
                               rtol=1e-6)


def test_max_norm_after_many_random_sgd_steps():
  params = _params(4)
  tx = optax.chain(optax.sgd(0.3), constraints.max_norm(C))
  state = tx.init(params)
  step = jax.jit(tx.update)
  key = jax.random.PRNGKey(0)
  biases_moved = False
  for i in range(50):
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, i), len(leaves))
    grads = jax.tree.unflatten(
        tree, [3.0 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    updates, state = step(grads, state, params)
    new = optax.apply_updates(params, updates)
    _assert_within(new)
    # Biases and BatchNorm follow plain SGD, unconstrained.
    for layer in ('Dense_0', 'BatchNorm_0'):
      np.testing.assert_allclose(
          new[layer]['bias'], params[layer]['bias'] - 0.3 * grads[layer]['bias'],
          rtol=1e-6, atol=1e-6)
      biases_moved |= bool(np.any(np.abs(new[layer]['bias']) > C))
    params = new
  assert biases_moved  # the bound never applied to them


def test_max_norm_passes_updates_through_inside_the_ball():
  """With a bound no column reaches, the chain is exactly plain SGD."""
  params = _params(5)
  grads = jax.tree.map(lambda p: 0.1 * jnp.cos(p), params)
  plain, _ = optax.sgd(0.1).update(grads, optax.sgd(0.1).init(params))
  tx = optax.chain(optax.sgd(0.1), constraints.max_norm(1e6))
  chained, _ = tx.update(grads, tx.init(params), params)
  for a, b in zip(jax.tree.leaves(chained), jax.tree.leaves(plain)):
    np.testing.assert_array_equal(a, b)


def test_max_norm_needs_params():
  params = _params(6)
  tx = constraints.max_norm(C)
  state = tx.init(params)
  assert state == optax.EmptyState()
  with pytest.raises(ValueError, match='needs them'):
    tx.update(params, state)


@pytest.mark.parametrize('c', [0.0, -1.0])
def test_max_norm_rejects_a_non_positive_bound(c):
  with pytest.raises(ValueError, match='must be > 0'):
    constraints.max_norm(c)
