"""Orbax checkpoints: BatchNorm state survives, a damaged latest falls back."""

import json
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


def _flip_one_bit(step_dir: pathlib.Path) -> pathlib.Path:
  """Flips one bit in the middle of the largest data file of the state."""
  data = max((f for f in (step_dir / 'state').rglob('*') if f.is_file()),
             key=lambda f: f.stat().st_size)
  raw = bytearray(data.read_bytes())
  raw[len(raw) // 2] ^= 0x10
  data.write_bytes(bytes(raw))
  return data


def test_one_flipped_bit_is_caught_and_set_aside(tmp_path):
  _, states, _ = trained_state()
  ckpt = Checkpointer(tmp_path, keep=2)
  for i in (1, 2):
    ckpt.save_latest(i, states[i], {'epoch': i})
  ckpt.close()
  _flip_one_bit(tmp_path / 'latest' / '2')
  ckpt = Checkpointer(tmp_path, keep=2)
  with pytest.warns(RuntimeWarning, match=r'latest checkpoint at step 2 .* is '
                    r'damaged .*checksum.*moved to .*damaged'):
    restored, meta = ckpt.restore_latest(states[0])
  assert meta == {'epoch': 1}
  assert_trees_equal(jax.device_get(states[1]), jax.device_get(restored))
  assert ckpt.latest_steps() == [1]
  assert [p.name.split('-')[:2] for p in (tmp_path / 'damaged').iterdir()] == [
      ['latest', '2']]
  ckpt.close()


def test_saving_a_step_again_replaces_it(tmp_path):
  """A kill between a round's best and latest saves, or a damaged latest
  trained again, saves a step that exists: orbax alone refuses that forever."""
  _, states, _ = trained_state()
  ckpt = Checkpointer(tmp_path, keep=2)
  ckpt.save_best(2, states[1], {'epoch': 2})
  ckpt.save_best(2, states[2], {'epoch': 2, 'again': True})
  ckpt.save_latest(2, states[1], {'epoch': 2})
  ckpt.save_latest(2, states[2], {'epoch': 2, 'again': True})
  for restore in (ckpt.restore_best, ckpt.restore_latest):
    restored, meta = restore(states[0])
    assert meta == {'epoch': 2, 'again': True}
    assert_trees_equal(jax.device_get(states[2]), jax.device_get(restored))
  ckpt.close()


def test_the_checksum_covers_the_meta(tmp_path):
  _, states, _ = trained_state(1)
  ckpt = Checkpointer(tmp_path, keep=2)
  ckpt.save_latest(1, states[1], {'epoch': 1})
  ckpt.close()
  meta_file = tmp_path / 'latest' / '1' / 'meta' / 'metadata'
  meta = json.loads(meta_file.read_text())
  meta['epoch'] = 7  # a plausible value: only the checksum can tell
  meta_file.write_text(json.dumps(meta))
  ckpt = Checkpointer(tmp_path, keep=2)
  with pytest.warns(RuntimeWarning, match='checksum'):
    assert ckpt.restore_latest(states[0]) is None
  ckpt.close()
