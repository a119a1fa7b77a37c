"""The pure steps: dropout keys per step, BatchNorm state through a step."""

import jax
import jax.numpy as jnp
import numpy as np

from research import losses
from research.train import make_eval_step
from research.train.steps import make_logits_fn
from train_helpers import model_state_and_step


def setup(*overrides):
  return model_state_and_step(*overrides)


def test_dropout_mask_depends_on_seed_and_step_only():
  _, state, step, batch = setup('model.dropout=0.5')
  _, m1 = step(state, batch)
  _, m2 = step(state, batch)  # same (seed, step): same mask, same loss
  assert m1['loss'] == m2['loss']
  _, m3 = step(state.replace(step=state.step + 1), batch)  # next step: new mask
  assert m1['loss'] != m3['loss']
  _, m4 = step(state.replace(rng=jax.random.PRNGKey(7)), batch)  # other seed: new mask
  assert m1['loss'] != m4['loss']


def test_without_dropout_the_step_index_does_not_matter():
  _, state, step, batch = setup('model.dropout=0.0')
  _, m1 = step(state, batch)
  _, m3 = step(state.replace(step=state.step + 5), batch)
  assert m1['loss'] == m3['loss']


def test_batchnorm_statistics_update_in_training_and_freeze_in_eval():
  model, state, step, (x, y) = setup('model.batchnorm=before', 'model.bn_momentum=0.5')
  new_state, _ = step(state, (x, y))
  before = jax.tree.leaves(state.batch_stats)
  after = jax.tree.leaves(new_state.batch_stats)
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  # The first layer's running mean moved halfway to the batch mean of W x.
  kernel = state.params['Dense_0']['kernel']
  batch_mean = np.asarray(x @ kernel).mean(0)
  np.testing.assert_allclose(new_state.batch_stats['BatchNorm_0']['mean'],
                             0.5 * 0 + 0.5 * batch_mean, rtol=1e-4, atol=1e-5)
  eval_step = jax.jit(make_eval_step(model, losses.get('cross_entropy')))
  out1 = eval_step(new_state, x, y, jnp.ones(len(x)))
  out2 = eval_step(new_state, x, y, jnp.ones(len(x)))
  assert out1 == out2  # evaluation does not touch the statistics


def test_train_step_is_pure():
  _, state, step, batch = setup('model.batchnorm=after', 'model.dropout=0.1')
  copy = jax.device_get(state)
  step(state, batch)
  for a, b in zip(jax.tree.leaves(copy), jax.tree.leaves(jax.device_get(state))):
    np.testing.assert_array_equal(a, b)


def test_evaluation_scales_by_the_states_own_rates():
  # Vanilla dropout and stochastic depth scale the units by their keep
  # probability at test: the rate must be the state's (a population member
  # sweeps it as data), with running or batch BatchNorm statistics alike.
  model, state, _, (x, _) = setup(
      'model.hidden=(16,16,16)', 'model.residual=true', 'model.dropout=0.5',
      'model.dropout_scaling=vanilla', 'model.stochastic_depth=0.5')
  member = state.replace(hparams={**state.hparams,
                                  'dropout': jnp.float32(0.2),
                                  'stochastic_depth': jnp.float32(0.1)})
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  expected = model.apply(variables, x, train=False, dropout_rate=0.2,
                         stochastic_depth_rate=0.1)
  own = model.apply(variables, x, train=False)  # the attributes' 0.5 and 0.5
  assert not np.allclose(expected, own, atol=1e-4)
  for bn_batch_statistics in (False, True):  # no BatchNorm: the same logits
    logits = make_logits_fn(model, bn_batch_statistics=bn_batch_statistics)(member, x)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
