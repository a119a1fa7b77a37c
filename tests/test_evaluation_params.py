"""Evaluation on the parameters the optimizer keeps to evaluate: a parameter
EMA's average, Schedule-Free's x; the trained point otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import models
from research.errors import ConfigError
from research.optim import build_optimizer
from research.optim.averaging import ema_params
from research.optim.evaluation import evaluation_params
from research.optim.schedule_free import schedule_free_eval_params
from research.train import create_train_state, run
from research.train.resolve import resolve
from research.train.restore import load_trained
from research.train.steps import make_logits_fn
from train_helpers import tiny_config


def _trained_state(*overrides, steps=5):
  """A state after `steps` updates with random gradients."""
  config = resolve(tiny_config(*overrides))
  model = models.build_model(config.model, 10)
  tx = build_optimizer(config, steps_per_epoch=10)
  x = jax.random.normal(jax.random.key(0), (8, 40))
  state = create_train_state(0, model, tx, x[:1])
  for i in range(steps):
    grads = jax.tree.map(lambda p: jax.random.normal(jax.random.key(i), p.shape),
                         state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    state = state.replace(params=jax.tree.map(jnp.add, state.params, updates),
                          opt_state=opt_state)
  return model, state, x


def _logits(model, params, state, x):
  return model.apply({'params': params, 'batch_stats': state.batch_stats}, x,
                     train=False)


@pytest.mark.parametrize('overrides, average', [
    (('optimizer.ema_decay=0.9',), ema_params),
    (('optimizer.name=schedule_free_sgd', 'optimizer.learning_rate=0.1'),
     schedule_free_eval_params),
    (('optimizer.name=schedule_free_adamw',), schedule_free_eval_params),
])
def test_evaluation_sees_the_average(overrides, average):
  model, state, x = _trained_state(*overrides)
  want = average(state.opt_state, state.params)
  got = evaluation_params(state.opt_state, state.params)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b)
  logits = make_logits_fn(model)(state, x)
  np.testing.assert_allclose(logits, _logits(model, want, state, x), rtol=1e-6)
  # The average is not the trained point: evaluating that would differ.
  assert not np.allclose(logits, _logits(model, state.params, state, x))


def test_without_an_average_evaluation_sees_the_trained_point():
  model, state, x = _trained_state()
  assert evaluation_params(state.opt_state, state.params) is state.params
  np.testing.assert_array_equal(make_logits_fn(model)(state, x),
                                _logits(model, state.params, state, x))


def test_an_ema_over_schedule_free_is_refused():
  with pytest.raises(ConfigError, match=r'^optimizer.ema_decay: .*own average'):
    resolve(tiny_config('optimizer.name=schedule_free_adamw',
                        'optimizer.ema_decay=0.9'))


@pytest.mark.slow
def test_a_run_reports_the_accuracy_of_its_average(tmp_path):
  summary = run(tiny_config('optimizer.ema_decay=0.95', 'train.num_epochs=2'),
                workdir=tmp_path)
  trained = load_trained(tmp_path)
  state, (x, y) = trained.state, (trained.dataset.x_test, trained.dataset.y_test)

  def accuracy(params):
    logits = _logits(trained.model, params, state, x)
    return float(np.mean(np.argmax(logits, -1) == y))

  averaged = accuracy(ema_params(state.opt_state, state.params))
  assert summary['final']['test/accuracy'] == pytest.approx(averaged, abs=1e-6)
  assert averaged != accuracy(state.params)
