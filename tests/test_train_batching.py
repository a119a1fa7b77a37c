"""Full-batch and fixed-batch training, and penalties in the train step."""

import jax
import numpy as np

from research import losses, penalties
from research.train import make_train_step, run
from research.train.epoch import make_train_epoch
from train_helpers import model_state_and_step, tiny_config


def test_full_batch_steps_see_the_whole_split(tmp_path):
  summary = run(tiny_config('train.batching=full', 'train.num_epochs=3', 'optimizer.name=sgd',
                            'optimizer.learning_rate=0.1'), workdir=tmp_path)
  assert summary['steps'] == 3 and summary['steps_per_epoch'] == 1
  assert summary['status'] == 'done'


def test_full_and_fixed_batching_match_a_plain_step():
  model, state, step, (x, y) = model_state_and_step('optimizer.name=sgd', batch_size=64)
  for batching, rows in (('full', 64), ('fixed', 16)):
    epoch = jax.jit(make_train_epoch(step, num_examples=64, batch_size=16, shuffle=True,
                                     batching=batching))
    by_epoch, metrics = epoch(state, x, y)
    by_step, m = step(state, (x[:rows], y[:rows]))
    assert metrics['loss'].shape == (1,)
    np.testing.assert_array_equal(metrics['loss'][0], m['loss'])
    for a, b in zip(jax.tree.leaves(by_epoch.params), jax.tree.leaves(by_step.params)):
      np.testing.assert_array_equal(a, b)


def test_the_penalty_enters_the_gradient_not_the_reported_loss():
  config = tiny_config('optimizer.name=sgd', 'optimizer.learning_rate=1.0',
                       'regularization.l2=0.5')
  model, state, _, (x, y) = model_state_and_step('optimizer.name=sgd',
                                                 'optimizer.learning_rate=1.0')
  from research.optim import build_optimizer
  tx = build_optimizer(config)
  penalty = penalties.penalty_fn(config.regularization)
  plain = jax.jit(make_train_step(model, tx, losses.get('cross_entropy')))
  with_l2 = jax.jit(make_train_step(model, tx, losses.get('cross_entropy'), penalty=penalty))
  s1, m1 = plain(state, (x, y))
  s2, m2 = with_l2(state, (x, y))
  assert m1['loss'] == m2['loss']
  np.testing.assert_allclose(m2['objective'], m2['loss'] + penalty(state.params), rtol=1e-6)
  # SGD with lr 1: the L2 term (0.5 * 0.5 * ||W||^2) adds -0.5 W to each kernel's step.
  k = 'Dense_0'
  np.testing.assert_allclose(s2.params[k]['kernel'] - s1.params[k]['kernel'],
                             -0.5 * state.params[k]['kernel'], rtol=1e-4, atol=1e-6)
  np.testing.assert_array_equal(s2.params[k]['bias'], s1.params[k]['bias'])
