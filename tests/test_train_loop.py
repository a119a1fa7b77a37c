"""The training loop end to end on MNIST-1D: reproducibility, resume, divergence,
early stopping, best checkpoint."""

import errno
import json
import os
import signal

import optax
import jax.numpy as jnp
import pytest

from research import config as config_lib, registry
from research.errors import DivergedError
from research.train import run
from research.train.checkpointing import Checkpointer
from research.train.resolve import resolve
from research.train.runner import run_name
import research.train.loop as loop_module
from train_helpers import Capture, assert_trees_equal, metric_rows, tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


def test_same_seed_is_bit_identical(tmp_path):
  config = tiny_config('model.dropout=0.3', 'model.batchnorm=after', 'train.shuffle=true',
                       'train.num_epochs=2')
  a, b = Capture(), Capture()
  sa = run(config, workdir=tmp_path / 'a', epoch_end_hook=a)
  sb = run(config, workdir=tmp_path / 'b', epoch_end_hook=b)
  assert_trees_equal(a.states[2], b.states[2])
  assert sa['final'] == sb['final']
  assert metric_rows(tmp_path / 'a') == metric_rows(tmp_path / 'b')
  # And another seed is a different run.
  c = Capture()
  run(tiny_config('model.dropout=0.3', 'model.batchnorm=after', 'train.shuffle=true',
                  'train.num_epochs=2', 'seed=1'), workdir=tmp_path / 'c', epoch_end_hook=c)
  assert not jnp.array_equal(a.states[2].params['Dense_0']['kernel'],
                             c.states[2].params['Dense_0']['kernel'])


def test_summary_and_run_directory(tmp_path):
  config = tiny_config('data.dev_size=500', 'train.num_epochs=2', 'train.monitor=dev/accuracy')
  summary = run(config, workdir=tmp_path)
  assert summary['status'] == 'done' and summary['epochs'] == 2 and summary['steps'] == 2 * 35
  for key in ('train/accuracy', 'dev/accuracy', 'test/accuracy', 'test/loss'):
    assert 0 <= summary['final'][key] or key.endswith('loss')
  assert summary['best']['epoch'] in (1, 2)
  assert summary['environment']['packages']['jax']
  assert summary['steps_per_second'] > 0 and summary['compile_time_s'] > 0
  on_disk = json.loads((tmp_path / 'summary.json').read_text())
  assert on_disk['final'] == summary['final']
  written = json.loads((tmp_path / 'config.json').read_text())
  assert written['data']['dev_size'] == 500
  rows = metric_rows(tmp_path)
  assert [r['epoch'] for r in rows] == [1, 2]
  assert {'train/loss', 'dev/accuracy', 'test/accuracy', 'step'} <= set(rows[0])
  # A finished run is left alone when run again.
  assert run(config, workdir=tmp_path)['already_finished']


def test_sigterm_saves_and_resume_matches_uninterrupted(tmp_path):
  config = tiny_config('model.dropout=0.2', 'train.shuffle=true', 'train.checkpoint_every_epochs=3')
  full = Capture()
  run(config, workdir=tmp_path / 'full', epoch_end_hook=full)

  def preempt(epoch, state):
    del state
    if epoch == 2:  # a scheduler's SIGTERM, delivered mid-run
      os.kill(os.getpid(), signal.SIGTERM)

  summary = run(config, workdir=tmp_path / 'cut', epoch_end_hook=preempt)
  assert summary['status'] == 'interrupted' and summary['epochs'] == 2
  assert summary['stopped_by'] == 'SIGTERM'
  resumed = Capture()
  summary = run(config, workdir=tmp_path / 'cut', epoch_end_hook=resumed)
  assert summary['status'] == 'done' and summary['resumed_from_epoch'] == 2
  assert sorted(resumed.states) == [3, 4]
  assert_trees_equal(full.states[4], resumed.states[4])
  assert metric_rows(tmp_path / 'full') == metric_rows(tmp_path / 'cut')


def test_crash_between_checkpoints_resumes_exactly(tmp_path):
  # Killed after epoch 3 with the last checkpoint at epoch 2: epoch 3 is
  # trained (and logged) again, with the same result.
  config = tiny_config('train.checkpoint_every_epochs=2', 'train.shuffle=true')
  full = Capture()
  run(config, workdir=tmp_path / 'full', epoch_end_hook=full)

  def crash(epoch, state):
    del state
    if epoch == 3:
      raise KeyboardInterrupt('simulated kill')

  with pytest.raises(KeyboardInterrupt):
    run(config, workdir=tmp_path / 'cut', epoch_end_hook=crash)
  assert [r['epoch'] for r in metric_rows(tmp_path / 'cut')] == [1, 2, 3]
  resumed = Capture()
  run(config, workdir=tmp_path / 'cut', epoch_end_hook=resumed)
  assert sorted(resumed.states) == [3, 4]
  assert_trees_equal(full.states[4], resumed.states[4])
  assert metric_rows(tmp_path / 'full') == metric_rows(tmp_path / 'cut')


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  k = 85  # an update in epoch 3 (steps 80..119) makes the parameters NaN
  real_build = loop_module.build_optimizer

  def poisoned(config, **kwargs):
    def update(updates, state, params=None):
      scale = jnp.where(state.count >= k, jnp.nan, 1.0)
      return optax.tree.scale(scale, updates), optax.ScaleByScheduleState(count=state.count + 1)

    poison = optax.GradientTransformation(
        lambda p: optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32)), update)
    return optax.with_extra_args_support(optax.chain(real_build(config, **kwargs), poison))

  monkeypatch.setattr(loop_module, 'build_optimizer', poisoned)
  with pytest.raises(DivergedError) as e:
    run(tiny_config(), workdir=tmp_path)
  message = str(e.value)
  assert 'step 86' in message and 'epoch 3' in message and 'step 80' in message
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert summary['status'] == 'diverged' and 'step 86' in summary['error']
  latest = sorted(int(p.name) for p in (tmp_path / 'checkpoints' / 'latest').iterdir()
                  if p.name.isdigit())
  assert latest[-1] == 80  # nothing from the diverged epoch was saved


def test_early_stopping_and_best_checkpoint(tmp_path):
  # min_delta 1.0 on accuracy: no epoch after the first can improve.
  summary = run(tiny_config('data.dev_size=400', 'train.monitor=dev/accuracy', 'train.patience=2', 'train.min_delta=1.0',
                            'train.num_epochs=10'), workdir=tmp_path)
  assert summary['status'] == 'early_stopped' and summary['epochs'] == 3
  assert summary['best']['epoch'] == 1 and summary['best']['monitor'] == 'dev/accuracy'
  best = [p.name for p in (tmp_path / 'checkpoints' / 'best').iterdir() if p.name.isdigit()]
  assert best == [str(summary['best']['step'])]


def test_batch_larger_than_dataset_is_rejected_before_compiling(tmp_path, monkeypatch):
  from research.errors import ConfigError

  def must_not_run(*a, **k):
    raise AssertionError('the model was built before the config was checked')

  monkeypatch.setattr(loop_module, 'create_train_state', must_not_run)
  with pytest.raises(ConfigError, match='train.batch_size: 5000 is larger than the training split'):
    run(tiny_config('train.batch_size=5000'), workdir=tmp_path)


def test_restart_replaces_a_run_of_another_config_in_the_same_directory(tmp_path):
  run(tiny_config('train.num_epochs=1', 'model.hidden=(8,)'), workdir=tmp_path)
  other = tiny_config('train.num_epochs=1', 'model.hidden=(16,)')
  with pytest.raises(ValueError, match='different config'):
    run(other, workdir=tmp_path)
  summary = run(other, workdir=tmp_path, restart=True)
  assert summary['status'] == 'done' and summary['num_params'] == 40 * 16 + 16 + 16 * 10 + 10
  assert json.loads((tmp_path / 'config.json').read_text())['model']['hidden'] == [16]


def test_a_finite_loss_explosion_stops_the_run_as_diverged(tmp_path, monkeypatch):
  """One update 1e4 times too large at step 85: the loss stays finite (no NaN
  for the old check to see) but far above the first step's."""
  k = 85
  real_build = loop_module.build_optimizer

  def kicked(config, **kwargs):
    def update(updates, state, params=None):
      scale = jnp.where(state.count == k, 1e4, 1.0)
      return optax.tree.scale(scale, updates), optax.ScaleByScheduleState(count=state.count + 1)

    kick = optax.GradientTransformation(
        lambda p: optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32)), update)
    return optax.with_extra_args_support(optax.chain(real_build(config, **kwargs), kick))

  monkeypatch.setattr(loop_module, 'build_optimizer', kicked)
  with pytest.raises(DivergedError, match=r'at step 8[6-9].*above .*divergence_factor'):
    run(tiny_config(), workdir=tmp_path / 'checked')
  summary = run(tiny_config('train.divergence_factor=0'), workdir=tmp_path / 'unchecked')
  assert summary['status'] == 'done'  # what the run said before the check
  assert max(r['train/loss'] for r in metric_rows(tmp_path / 'unchecked')) > 1000


def _kill_at_call(monkeypatch, owner, name, call):
  """Makes `owner.name` raise KeyboardInterrupt (a kill) on its `call`-th call."""
  real, calls = getattr(owner, name), []

  def killed(*args, **kwargs):
    calls.append(1)
    if len(calls) == call:
      raise KeyboardInterrupt(f'killed at {name} #{call}')
    return real(*args, **kwargs)

  monkeypatch.setattr(owner, name, killed)


@pytest.mark.parametrize('where,call', [
    ('save_latest', 2),  # after epoch 2's best checkpoint, before its latest
    ('save_best', 1),  # after the first record, before any checkpoint
])
def test_a_kill_in_a_round_resumes_to_the_uninterrupted_result(
    tmp_path, monkeypatch, where, call):
  config = tiny_config('data.dev_size=400', 'train.monitor=dev/accuracy')
  full = Capture()
  run(config, workdir=tmp_path / 'full', epoch_end_hook=full)
  with monkeypatch.context() as patch:
    _kill_at_call(patch, Checkpointer, where, call)
    with pytest.raises(KeyboardInterrupt):
      run(config, workdir=tmp_path / 'cut')
  resumed = Capture()
  summary = run(config, workdir=tmp_path / 'cut', epoch_end_hook=resumed)
  assert summary['status'] == 'done'
  assert_trees_equal(full.states[4], resumed.states[4])
  assert metric_rows(tmp_path / 'full') == metric_rows(tmp_path / 'cut')


def test_a_run_that_fails_leaves_a_failed_summary(tmp_path, monkeypatch):

  def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(Checkpointer, 'save_latest', full_disk)
  with pytest.raises(OSError, match='No space'):
    run(tiny_config(), workdir=tmp_path)
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert summary['status'] == 'failed' and 'No space left' in summary['error']
  assert summary['epochs'] == 1


def test_a_wandb_run_is_named_after_what_it_changes():
  quickstart = registry.get('quickstart').config()
  changed = config_lib.apply_overrides(quickstart, [
      'optimizer.learning_rate=0.003', 'model.hidden=(8,)', 'seed=1',
      'tracking.wandb=disabled'])
  assert run_name(resolve(changed), 'dir') == 'hidden=(8,) learning_rate=0.003 seed1'
  assert run_name(resolve(quickstart), 'dir') == 'seed0'
  assert run_name(resolve(config_lib.base_config()), 'dir') == 'dir'  # no experiment
