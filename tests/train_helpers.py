"""Small configs and utilities shared by the training tests."""

import jax
import numpy as np

from research import config as config_lib
from research import losses, models, optim, registry
from research.train import create_train_state, make_train_step
from research.train.hparams import initial_hparams
import experiments  # pylint: disable=unused-import  (registers them)


def tiny_config(*overrides: str):
  """MNIST-1D, a small MLP, 40 steps an epoch, nothing sent anywhere."""
  base = registry.get('quickstart').config()
  return config_lib.apply_overrides(base, [
      'model.hidden=(32, 32)', 'train.num_epochs=4', 'train.checkpoint_every_epochs=1',
      'tracking.wandb=disabled', 'tracking.progress=false', *overrides])


class Capture:
  """An epoch hook that keeps host copies of the state after each epoch (the
  device state is donated to the next epoch's call)."""

  def __init__(self):
    self.states = {}

  def __call__(self, epoch, state):
    self.states[epoch] = jax.device_get(state)


def assert_trees_equal(a, b):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def metric_rows(run_dir):
  """metrics.jsonl without the wall-clock column."""
  import json
  rows = [json.loads(l) for l in (run_dir / 'metrics.jsonl').read_text().splitlines() if l]
  for r in rows:
    r.pop('time_s', None)
  return rows


def model_state_and_step(*overrides: str, batch_size: int = 64):
  """(model, fresh state, jitted train step, one random MNIST-1D-shaped batch)."""
  config = tiny_config(*overrides)
  model = models.build_model(config.model, 10)
  tx = optim.build_optimizer(config)
  x = jax.random.normal(jax.random.PRNGKey(1), (batch_size, 40))
  y = jax.random.randint(jax.random.PRNGKey(2), (batch_size,), 0, 10)
  state = create_train_state(0, model, tx, x[:1], hparams=initial_hparams(config))
  step = jax.jit(make_train_step(model, tx, losses.get('cross_entropy'), num_classes=10))
  return model, state, step, (x, y)
