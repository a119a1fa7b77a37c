"""Gradient clipping by global norm: against its formula and optax's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import optim
from research.config import base_config


def _tree(seed, scale):
  rng = np.random.default_rng(seed)
  return {'w': jnp.asarray(scale * rng.normal(size=(5, 3)), jnp.float32),
          'b': jnp.asarray(scale * rng.normal(size=3), jnp.float32),
          'deep': {'v': jnp.asarray(scale * rng.normal(size=7), jnp.float32)}}


@pytest.mark.parametrize('scale', [1e-3, 0.3, 1.0, 50.0])
@pytest.mark.parametrize('seed', [0, 1])
def test_clip_matches_its_formula_and_optax(seed, scale):
  g, c = _tree(seed, scale), 1.5
  flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)]).astype(np.float64)
  norm = np.sqrt(np.sum(flat ** 2))
  np.testing.assert_allclose(optim.global_norm(g), norm, rtol=1e-6)
  ours, _ = optim.clip_by_global_norm(c).update(g, optax.EmptyState())
  theirs, _ = optax.clip_by_global_norm(c).update(g, optax.EmptyState())
  expected = jax.tree.map(lambda x: np.asarray(x, np.float64) * min(1.0, c / norm), g)
  jax.tree.map(lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-6), ours, expected)
  jax.tree.map(lambda a, t: np.testing.assert_allclose(a, t, rtol=1e-6), ours, theirs)
  clipped = float(optim.global_norm(ours))
  assert clipped <= c * (1 + 1e-6)
  if norm <= c:  # left exactly as it was
    jax.tree.map(np.testing.assert_array_equal, ours, g)


def test_zero_gradient_stays_zero_and_dtypes_are_kept():
  g = {'w': jnp.zeros((3, 2), jnp.bfloat16), 'b': jnp.zeros(2, jnp.float32)}
  out, state = optim.clip_by_global_norm(1.0).update(g, optax.EmptyState())
  assert state == optax.EmptyState()
  assert out['w'].dtype == jnp.bfloat16 and not np.any(np.isnan(out['b']))
  np.testing.assert_array_equal(out['b'], 0.0)


def test_a_run_clips_with_it():
  # The config's grad_clip_norm builds this transform first in the chain.
  c = base_config()
  c.optimizer.name, c.optimizer.grad_clip_norm = 'sgd', 0.5
  tx = optim.build_optimizer(c)
  g = _tree(0, 10.0)
  updates, _ = tx.update(g, tx.init(g), g)
  np.testing.assert_allclose(optim.global_norm(updates),
                             0.5 * c.optimizer.learning_rate, rtol=1e-5)
