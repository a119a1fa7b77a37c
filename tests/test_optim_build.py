"""The optimizer chain built from config: schedule, scaling rule, clipping,
decoupled weight decay, max-norm; and their config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import config as config_lib
from research.errors import ConfigError
from research.optim import build_optimizer
from research.optim.build import learning_rate_schedule
from research.optim.masks import weights_mask
from research.optim.weight_decay import decoupled_weight_decay
from research.train.resolve import resolve
from train_helpers import tiny_config


def params_tree(key=0):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(key), 3)
  return {'Dense_0': {'kernel': jax.random.normal(k1, (6, 4)), 'bias': jax.random.normal(k2, (4,))},
          'BatchNorm_0': {'scale': jnp.ones(4) * 1.5, 'bias': jax.random.normal(k3, (4,))}}


def test_decoupled_decay_follows_the_schedule_and_spares_biases():
  schedule = lambda count: 0.1 / (1.0 + count)
  tx = decoupled_weight_decay(0.5, schedule, mask=weights_mask)
  params = params_tree()
  state = tx.init(params)
  zeros = jax.tree.map(jnp.zeros_like, params)
  for t in range(3):
    updates, state = tx.update(zeros, state, params)
    expected = -schedule(t) * 0.5 * params['Dense_0']['kernel']
    np.testing.assert_allclose(updates['Dense_0']['kernel'], expected, rtol=1e-6)
    assert not np.any(updates['Dense_0']['bias'])
    assert not np.any(updates['BatchNorm_0']['scale']) and not np.any(updates['BatchNorm_0']['bias'])


def test_adam_with_decoupled_decay_equals_optax_adamw():
  params = params_tree()
  config = config_lib.apply_overrides(tiny_config(), [
      'optimizer.name=adam', 'optimizer.learning_rate=0.01', 'optimizer.weight_decay=0.1',
      'optimizer.schedule.name=cosine'])
  ours = build_optimizer(config, steps_per_epoch=10)
  schedule = learning_rate_schedule(config, steps_per_epoch=10)
  theirs = optax.adamw(schedule, weight_decay=0.1, mask=weights_mask)
  s1, s2 = ours.init(params), theirs.init(params)
  p1 = p2 = params
  for t in range(30):
    g = jax.tree.map(lambda p: jax.random.normal(jax.random.PRNGKey(t), p.shape), params)
    u1, s1 = ours.update(g, s1, p1)
    u2, s2 = theirs.update(g, s2, p2)
    p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
  for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_clipping_bounds_the_first_sgd_step():
  config = config_lib.apply_overrides(tiny_config(), [
      'optimizer.name=sgd', 'optimizer.learning_rate=1.0', 'optimizer.grad_clip_norm=0.5'])
  tx = build_optimizer(config)
  params = params_tree()
  grads = jax.tree.map(lambda p: 10 * jnp.ones_like(p), params)
  updates, _ = tx.update(grads, tx.init(params), params)
  assert float(optax.tree.norm(updates)) == pytest.approx(0.5, rel=1e-5)


def test_max_norm_in_the_chain_keeps_incoming_norms_below_c():
  config = config_lib.apply_overrides(tiny_config(), [
      'optimizer.name=sgd', 'optimizer.learning_rate=1.0', 'regularization.max_norm=2.0'])
  tx = build_optimizer(config)
  params = params_tree()
  state = tx.init(params)
  for t in range(5):
    g = jax.tree.map(lambda p: -5 * jax.random.normal(jax.random.PRNGKey(t), p.shape), params)
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
  assert float(jnp.linalg.norm(params['Dense_0']['kernel'], axis=0).max()) <= 2.0 + 1e-5


def test_linear_scaling_rule_scales_the_rate_with_batch_size():
  config = config_lib.apply_overrides(tiny_config(), [
      'optimizer.learning_rate=0.1', 'optimizer.reference_batch_size=256', 'train.batch_size=1024'])
  lr = learning_rate_schedule(config, steps_per_epoch=4)
  value = lr(0) if callable(lr) else lr
  assert float(value) == pytest.approx(0.4)
  inverse = config_lib.apply_overrides(config, ['optimizer.batch_scaling=inverse'])
  lr = learning_rate_schedule(inverse, steps_per_epoch=4)
  assert float(lr(0) if callable(lr) else lr) == pytest.approx(0.025)


@pytest.mark.parametrize('overrides, key', [
    (['optimizer.grad_clip_norm=-1'], 'optimizer.grad_clip_norm'),
    (['optimizer.weight_decay=-0.1'], 'optimizer.weight_decay'),
    (['optimizer.reference_batch_size=-1'], 'optimizer.reference_batch_size'),
    (['optimizer.batch_scaling=sqrt'], 'optimizer.batch_scaling'),
    (['optimizer.schedule.name=cosin'], 'optimizer.schedule.name'),
    (['regularization.l2=-1'], 'regularization.l2'),
    (['optimizer.name=lbfgs', 'optimizer.weight_decay=0.1'], 'optimizer.name'),
    (['optimizer.name=lbfgs', 'regularization.max_norm=3'], 'regularization.max_norm'),
    (['optimizer.name=sgd', 'optimizer.hparams.bias_correction=false'],
     'optimizer.hparams.bias_correction'),
])
def test_chain_config_errors_name_the_key(overrides, key):
  config = config_lib.apply_overrides(tiny_config(), overrides)
  with pytest.raises(ConfigError, match=key.replace('.', r'\.')):
    resolve(config)
