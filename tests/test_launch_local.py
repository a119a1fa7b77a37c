"""The local launcher: spawned processes, one a trial, skipping finished ones."""

import json
import os
import pathlib
import time

from launch import local
from launch import trials as trials_lib
from launch.trials import Trial
import pytest

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

TINY = ('model.hidden=(16,)', 'train.num_epochs=1', 'tracking.wandb=disabled')


def test_a_trial_trains_in_a_spawned_process_then_is_skipped(tmp_path, capsys):
  trials = [Trial('quickstart', ('optimizer.learning_rate=0.03',), 0)]
  lines = []
  [record] = local.launch(trials, output_dir=str(tmp_path), extra=TINY, log=lines.append)
  assert record['status'] == 'done', record['error']
  assert record['label'] == trials[0].label and 0 < record['final']['test/accuracy'] <= 1
  assert json.loads((tmp_path / 'quickstart' / record['run_dir'].split('/')[-1]
                     / 'trial.json').read_text()) == record
  # Progress (launch.progress) is on stderr: not a terminal, a line a trial.
  assert capsys.readouterr().err.splitlines()[-1] == f'[1/1] done: {trials[0].label}'

  started = time.perf_counter()
  again = local.launch(trials, output_dir=str(tmp_path), extra=TINY, log=lines.append)
  assert time.perf_counter() - started < 5  # no process was started
  assert again == [{**record, 'skipped': True}]
  assert lines[-1].startswith('skipped (already done)')


def meet_or_die(trial, output_dir, extra):
  """A worker (runs in the spawned process): dies hard on seed 2; seeds 0 and
  1 each wait (up to 60 s) until the other has started."""
  del extra
  if trial.seed == 2:
    os._exit(3)  # like a segfault or the OOM killer: no exception, no record
  folder = pathlib.Path(output_dir)
  (folder / f'started-{trial.seed}').touch()
  deadline = time.time() + 60
  while not (folder / f'started-{1 - trial.seed}').exists() and time.time() < deadline:
    time.sleep(0.05)
  return {'status': 'done', 'label': trial.label, 'pid': os.getpid(),
          'met': (folder / f'started-{1 - trial.seed}').exists()}


def test_workers_run_together_and_a_dying_one_fails_its_trial_only(tmp_path):
  trials = [Trial('quickstart', (), seed) for seed in range(3)]
  records = local.launch(trials, output_dir=str(tmp_path), extra=TINY, workers=2,
                         worker=meet_or_die)
  assert [r['status'] for r in records] == ['done', 'done', 'failed']
  assert records[0]['met'] and records[1]['met']  # two at a time
  assert 'process died' in records[2]['error']
  written = trials_lib.read_record(records[2]['run_dir'])
  assert written['status'] == 'failed' and written['seed'] == 2
  # A fresh process per trial, none of them this one.
  assert len({records[0]['pid'], records[1]['pid'], os.getpid()}) == 3
