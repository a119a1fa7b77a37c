"""Orbax checkpoints: BatchNorm state survives, a damaged latest falls back."""

import pathlib

import jax
import numpy as np
import pytest

from research.train import Checkpointer
from train_helpers import assert_trees_equal, model_state_and_step


def trained_state(steps=3):
  model, state, step, (x, y) = model_state_and_step(
      'model.batchnorm=before', 'model.dropout=0.1', batch_size=32)
  states = [state]
  for _ in range(steps):
    state, _ = step(state, (x, y))
    states.append(state)
  return model, states, x


def test_batchnorm_statistics_survive_a_round_trip(tmp_path):
  model, states, x = trained_state()
  state = states[-1]
  ckpt = Checkpointer(tmp_path)
  ckpt.save_latest(3, state, {'epoch': 1})
  restored, meta = ckpt.restore_latest(states[0])  # any state of the same shape
  ckpt.close()
  assert meta == {'epoch': 1}
  assert_trees_equal(jax.device_get(state), jax.device_get(restored))
  assert float(np.abs(np.asarray(restored.batch_stats['BatchNorm_0']['var']) - 1).max()) > 0
  apply = lambda s: model.apply({'params': s.params, 'batch_stats': s.batch_stats}, x)
  np.testing.assert_array_equal(apply(state), apply(restored))


def _damage(step_dir: pathlib.Path):
  """Truncates every data file of a checkpoint, as a full disk or a bad copy would."""
  damaged = 0
  for f in step_dir.rglob('*'):
    if f.is_file() and f.stat().st_size > 0 and 'commit_success' not in f.name:
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
      damaged += 1
  assert damaged


def test_damaged_latest_falls_back_to_previous_with_a_warning(tmp_path):
  _, states, _ = trained_state()
  ckpt = Checkpointer(tmp_path, keep=2)
  for i in (1, 2, 3):
    ckpt.save_latest(i, states[i], {'epoch': i})
  assert ckpt.latest_steps() == [2, 3]
  ckpt.close()
  _damage(tmp_path / 'latest' / '3')
  ckpt = Checkpointer(tmp_path, keep=2)
  with pytest.warns(RuntimeWarning, match='step 3.*falling back'):
    restored, meta = ckpt.restore_latest(states[0])
  ckpt.close()
  assert meta == {'epoch': 2}
  assert_trees_equal(jax.device_get(states[2]), jax.device_get(restored))


def test_no_checkpoint_restores_none(tmp_path):
  _, states, _ = trained_state(0)
  ckpt = Checkpointer(tmp_path)
  assert ckpt.restore_latest(states[0]) is None
  ckpt.close()
