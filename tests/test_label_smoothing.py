"""Label smoothing (`loss.label_smoothing`) against optax.smooth_labels and a
NumPy formula, with hard labels and mixup's soft targets; its validation."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from research import config as config_lib
from research import losses
from research.errors import ConfigError
from research.parallel import Parallel
from research.train import loop
from research.train.resolve import resolve
from train_helpers import tiny_config

N, C = 64, 10


def _data(seed=0):
  rng = np.random.default_rng(seed)
  logits = rng.normal(0.0, 3.0, size=(N, C)).astype(np.float32)
  labels = rng.integers(0, C, size=(N,)).astype(np.int32)
  # Mixup's targets: lam one_hot(y) + (1 - lam) one_hot(y[perm]).
  lam = rng.uniform(size=(N, 1)).astype(np.float32)
  one_hot = np.eye(C, dtype=np.float32)
  soft = lam * one_hot[labels] + (1 - lam) * one_hot[rng.permutation(labels)]
  return logits, labels, soft


def _config(alpha, name='cross_entropy'):
  return ml_collections.ConfigDict({'name': name, 'label_smoothing': alpha})


def test_default_is_off_and_the_plain_loss():
  config = resolve(tiny_config())
  assert config.loss.label_smoothing == 0.0
  assert losses.training_loss(config.loss) is losses.cross_entropy


@pytest.mark.parametrize('alpha', [0.05, 0.1, 0.4])
def test_smooth_labels_matches_optax(alpha):
  _, labels, soft = _data()
  one_hot = np.eye(C, dtype=np.float32)[labels]
  for targets in (one_hot, soft):
    np.testing.assert_allclose(
        losses.smooth_labels(jnp.asarray(targets), alpha),
        optax.smooth_labels(targets, alpha), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('alpha', [0.1, 0.3])
def test_smoothed_cross_entropy_matches_optax_and_numpy(alpha):
  logits, labels, soft = _data()
  loss = losses.training_loss(_config(alpha))
  log_p = logits - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
  for targets, one_hot in ((labels, np.eye(C)[labels]), (soft, soft)):
    got = loss(jnp.asarray(logits), jnp.asarray(targets))
    want = optax.softmax_cross_entropy(
        logits, optax.smooth_labels(jnp.asarray(one_hot, jnp.float32), alpha))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # NumPy: -sum_c ((1 - a) y_c + a / C) log p_c.
    smooth = (1 - alpha) * np.asarray(one_hot, np.float64) + alpha / C
    np.testing.assert_allclose(got, -(smooth * log_p).sum(-1), rtol=1e-5,
                               atol=1e-5)
  # Hard labels smooth exactly as their one-hot targets.
  np.testing.assert_allclose(
      loss(jnp.asarray(logits), jnp.asarray(labels)),
      loss(jnp.asarray(logits), jnp.asarray(np.eye(C, dtype=np.float32)[labels])),
      rtol=1e-6)


@pytest.mark.parametrize('name', ['mse', 'mae', 'binary_cross_entropy'])
def test_other_losses_see_the_smoothed_targets(name):
  logits, labels, soft = _data(1)
  smoothed = losses.training_loss(_config(0.2, name))
  plain = losses.get(name)
  for targets, one_hot in ((labels, np.eye(C, dtype=np.float32)[labels]),
                           (soft, soft)):
    np.testing.assert_allclose(
        smoothed(jnp.asarray(logits), jnp.asarray(targets)),
        plain(jnp.asarray(logits), 0.8 * jnp.asarray(one_hot) + 0.02),
        rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('alpha', [-0.1, 1.0, 1.5, float('nan')])
def test_out_of_range_names_the_key(alpha):
  with pytest.raises(ConfigError, match=r'^loss\.label_smoothing:'):
    losses.validate_loss_config(_config(alpha))
  config = tiny_config()
  config.loss.label_smoothing = alpha
  with pytest.raises(ConfigError, match=r'^loss\.label_smoothing:'):
    resolve(config)


def test_hinge_cannot_smooth():
  losses.validate_loss_config(_config(0.0, 'hinge'))
  with pytest.raises(ConfigError, match=r'^loss\.label_smoothing:.*hinge'):
    losses.validate_loss_config(_config(0.1, 'hinge'))


def test_distillation_with_smoothing_is_refused_when_the_config_resolves():
  config = config_lib.apply_overrides(tiny_config(), [
      'loss.label_smoothing=0.1', 'distill.teacher=/nonexistent/run'])
  with pytest.raises(ConfigError, match=r'^distill\.teacher:.*loss\.label_smoothing'):
    resolve(config)


class _Stop(Exception):
  pass


def test_the_train_step_smooths_and_evaluation_keeps_the_plain_loss(
    monkeypatch):
  seen = {}

  def train_step(model, tx, loss_fn, **kwargs):
    seen['train'] = loss_fn
    return lambda state, batch: (state, {})

  def eval_step(model, loss_fn, **kwargs):
    seen['eval'] = loss_fn
    raise _Stop

  monkeypatch.setattr(loop, 'make_train_step', train_step)
  monkeypatch.setattr(loop, 'make_eval_step', eval_step)
  config = resolve(tiny_config('loss.label_smoothing=0.25'))
  with pytest.raises(_Stop):
    loop.build(config, Parallel('jit'))
  logits, labels, _ = _data(2)
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  want = optax.softmax_cross_entropy(
      logits, optax.smooth_labels(jnp.eye(C)[labels], 0.25))
  np.testing.assert_allclose(seen['train'](logits, labels), want, rtol=1e-5)
  np.testing.assert_allclose(
      seen['eval'](logits, labels),
      optax.softmax_cross_entropy_with_integer_labels(logits, labels), rtol=1e-6)
