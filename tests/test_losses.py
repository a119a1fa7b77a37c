"""Tests for research.losses against optax and NumPy formulas."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from research import losses
from research.errors import ConfigError

N, C = 64, 10


def _data(seed=0, scale=3.0):
  rng = np.random.default_rng(seed)
  logits = rng.normal(0.0, scale, size=(N, C)).astype(np.float32)
  labels = rng.integers(0, C, size=(N,)).astype(np.int32)
  soft = rng.dirichlet(np.ones(C), size=N).astype(np.float32)
  return logits, labels, soft


def _one_hot(labels):
  return np.eye(C, dtype=np.float32)[labels]


def test_names():
  assert losses.NAMES == ('binary_cross_entropy', 'cross_entropy', 'hinge',
                          'mae', 'mse')


def test_cross_entropy_hard_matches_optax():
  logits, labels, _ = _data()
  got = losses.get('cross_entropy')(jnp.asarray(logits), jnp.asarray(labels))
  want = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  assert got.shape == (N,)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # And against NumPy.
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(got, -log_p[np.arange(N), labels], rtol=1e-4,
                             atol=1e-5)


def test_cross_entropy_soft_matches_optax_and_one_hot_equals_hard():
  logits, labels, soft = _data()
  loss = losses.get('cross_entropy')
  np.testing.assert_allclose(
      loss(jnp.asarray(logits), jnp.asarray(soft)),
      optax.softmax_cross_entropy(logits, soft), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      loss(jnp.asarray(logits), jnp.asarray(_one_hot(labels))),
      loss(jnp.asarray(logits), jnp.asarray(labels)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('soft_labels', [False, True])
def test_binary_cross_entropy_matches_numpy(soft_labels):
  logits, labels, soft = _data()
  targets = soft if soft_labels else _one_hot(labels)
  y = jnp.asarray(soft if soft_labels else labels)
  got = losses.get('binary_cross_entropy')(jnp.asarray(logits), y)
  p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  want = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean(-1)
  assert got.shape == (N,)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      got, optax.sigmoid_binary_cross_entropy(logits, targets).mean(-1),
      rtol=1e-6)


@pytest.mark.parametrize('soft_labels', [False, True])
def test_mse_mae_match_numpy(soft_labels):
  outputs, labels, soft = _data()
  targets = soft if soft_labels else _one_hot(labels)
  y = jnp.asarray(soft if soft_labels else labels)
  np.testing.assert_allclose(
      losses.get('mse')(jnp.asarray(outputs), y),
      ((outputs - targets) ** 2).mean(-1), rtol=1e-5)
  np.testing.assert_allclose(
      losses.get('mae')(jnp.asarray(outputs), y),
      np.abs(outputs - targets).mean(-1), rtol=1e-5)


def test_hinge_matches_numpy_loop():
  scores, labels, _ = _data()
  want = np.zeros(N)
  for i in range(N):
    for j in range(C):
      if j != labels[i]:
        want[i] += max(0.0, scores[i, j] - scores[i, labels[i]] + 1.0)
  got = losses.get('hinge')(jnp.asarray(scores), jnp.asarray(labels))
  assert got.shape == (N,)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_hinge_is_zero_with_margin_and_rejects_soft_labels():
  labels = np.arange(C) % C
  scores = 5.0 * _one_hot(labels)
  np.testing.assert_array_equal(
      losses.get('hinge')(jnp.asarray(scores), jnp.asarray(labels)), 0.0)
  _, _, soft = _data()
  with pytest.raises(ValueError, match='hard'):
    losses.get('hinge')(jnp.zeros((N, C)), jnp.asarray(soft))


@pytest.mark.parametrize('name', losses.NAMES)
def test_large_logits_give_finite_losses_and_gradients(name):
  logits, labels, soft = _data(scale=1e4)
  loss = losses.get(name)
  y = jnp.asarray(labels)
  value, grad = jax.value_and_grad(lambda z: loss(z, y).mean())(
      jnp.asarray(logits))
  assert np.isfinite(value) and np.all(np.isfinite(grad))
  if name != 'hinge':
    value, grad = jax.value_and_grad(
        lambda z: loss(z, jnp.asarray(soft)).mean())(jnp.asarray(logits))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize('name', losses.NAMES)
def test_losses_jit(name):
  logits, labels, _ = _data()
  loss = losses.get(name)
  np.testing.assert_allclose(
      jax.jit(loss)(logits, labels), loss(jnp.asarray(logits),
                                          jnp.asarray(labels)), rtol=1e-6)


def test_unknown_name_lists_known():
  with pytest.raises(ConfigError, match='loss.name') as e:
    losses.get('crossentropy')
  assert ', '.join(losses.NAMES) in str(e.value)


def test_validate_loss_config():
  losses.validate_loss_config(ml_collections.ConfigDict({'name': 'hinge'}))
  with pytest.raises(ConfigError, match='loss.name'):
    losses.validate_loss_config(ml_collections.ConfigDict({'name': 'l2'}))
  with pytest.raises(ConfigError, match='loss.name'):
    losses.validate_loss_config(ml_collections.ConfigDict({}))
