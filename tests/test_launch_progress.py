"""A sweep's progress (launch.progress): a bar on a terminal, a line per trial
in a log, failures only when quiet; through the local launcher and the CLI."""

import io
import re
import threading

import pytest

from launch import local
from launch.cli import main
from launch.progress import SweepProgress
from launch.trials import Trial


class Terminal(io.StringIO):
  """A stream that says it is a terminal (tqdm then draws its bar)."""

  def isatty(self):
    return True


def test_counts_running_and_statuses_other_than_done():
  progress = SweepProgress(12, desc='sweep quickstart', file=io.StringIO())
  for label in 'abcdefgh':
    progress.started(label)
  for label in 'abcd':
    progress.finished(label, 'done')
  progress.finished('e', 'failed')
  progress.finished('f', 'early_stopped')
  assert progress.describe() == (
      'sweep quickstart: 6/12 done · 2 running · 1 early_stopped · 1 failed')
  progress.finished('never started', 'cancelled')  # not running: no change
  assert progress.describe().endswith('· 2 running · 1 cancelled · 1 early_stopped · 1 failed')
  assert SweepProgress(2, desc='sweep x', skipped=3, file=io.StringIO()).describe() == (
      'sweep x: 0/2 done · 3 already finished')


def test_not_a_terminal_prints_a_line_per_trial_and_no_bar():
  stream = io.StringIO()
  with SweepProgress(3, desc='sweep quickstart', file=stream) as progress:
    progress.started('lr=0.1 seed=0')
    progress.started('lr=0.3 seed=0')
    assert stream.getvalue() == ''  # starts say nothing
    progress.finished('lr=0.3 seed=0', 'done')
    progress.finished('lr=0.1 seed=0', 'failed')
    progress.finished('lr=1 seed=0', 'cancelled')
  assert stream.getvalue().splitlines() == [
      '[1/3] done: lr=0.3 seed=0', '[2/3] failed: lr=0.1 seed=0',
      '[3/3] cancelled: lr=1 seed=0']


@pytest.mark.parametrize('stream', [io.StringIO(), Terminal()], ids=['log', 'terminal'])
def test_quiet_prints_only_failures(stream):
  with SweepProgress(3, desc='sweep quickstart', quiet=True, file=stream) as progress:
    for label, status in (('a', 'done'), ('b', 'failed'), ('c', 'diverged')):
      progress.started(label)
      progress.finished(label, status)
  assert stream.getvalue() == '[2/3] failed: b\n'


def test_a_terminal_gets_a_bar_with_the_counts_and_failures_above_it():
  stream = Terminal()
  with SweepProgress(4, desc='sweep quickstart', file=stream, skipped=1) as progress:
    progress.started('a')
    progress.started('b')
    assert 'sweep quickstart: 0/4 done · 2 running · 1 already finished' in stream.getvalue()
    progress.finished('a', 'done')
    progress.finished('b', 'failed')
    # Its own line, the bar cleared before and drawn again after it:
    assert re.search(r'\r\[2/4\] failed: b\n\rsweep quickstart: 2/4 done · 1 failed · '
                     r'1 already finished \|#+ *\| \[[0-9:<]+\]$', stream.getvalue())
    progress.started('c')
    progress.finished('c', 'done')
  text = stream.getvalue()
  assert '[1/4] done' not in text and '[3/4] done' not in text  # the bar shows those
  last = text.rsplit('\r', 1)[-1]  # what stays on the screen
  assert last.startswith('sweep quickstart: 3/4 done · 1 failed · 1 already finished |')
  assert '\x1b' not in text.replace('\x1b[A', '')  # no colours, only cursor moves


def test_nothing_to_run_draws_no_bar():
  stream = Terminal()
  SweepProgress(0, desc='sweep quickstart', file=stream, skipped=5).close()
  assert stream.getvalue() == ''


def test_threads_report_at_once():
  stream = io.StringIO()
  progress = SweepProgress(400, desc='sweep x', file=stream)

  def trials(k):
    for i in range(100):
      progress.started(f'{k}-{i}')
      progress.finished(f'{k}-{i}', 'done' if i % 10 else 'failed')

  threads = [threading.Thread(target=trials, args=(k,)) for k in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  progress.close()
  assert progress.describe() == 'sweep x: 400/400 done · 40 failed'
  lines = stream.getvalue().splitlines()
  assert [l.split(']')[0] for l in lines] == [f'[{n}/400' for n in range(1, 401)]


def in_this_process(worker, trial, output_dir, extra):
  return worker(trial, output_dir, extra)


def fails_on_seed_1(trial, output_dir, extra):
  del output_dir, extra
  return {'status': 'failed' if trial.seed == 1 else 'done', 'label': trial.label}


@pytest.mark.parametrize('quiet', [False, True])
def test_the_local_launcher_reports_each_trial(tmp_path, monkeypatch, capsys, quiet):
  monkeypatch.setattr(local, '_in_new_process', in_this_process)
  trials = [Trial('quickstart', ('optimizer.learning_rate=0.1',), seed) for seed in range(3)]
  lines = []
  records = local.launch(trials, output_dir=str(tmp_path), workers=1, log=lines.append,
                         worker=fails_on_seed_1, quiet=quiet)
  assert [r['status'] for r in records] == ['done', 'failed', 'done']
  err = capsys.readouterr().err.splitlines()
  if quiet:
    assert err == [f'[2/3] failed: {trials[1].label}'] and lines == []
  else:
    assert err == [f'[{n}/3] {r["status"]}: {t.label}'
                   for n, (t, r) in enumerate(zip(trials, records), start=1)]
    assert lines == ['running 3 trial(s), 1 at a time']


def test_research_sweep_and_run_take_quiet(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  given = []
  monkeypatch.setattr(local, 'launch', lambda trials, **options: given.append(options) or [
      {'status': 'done', 'overrides': list(t.overrides), 'seed': t.seed} for t in trials])
  assert main(['sweep', 'quickstart']) == 0
  assert main(['sweep', 'quickstart', '--quiet']) == 0
  assert [options['quiet'] for options in given] == [False, True]

  from research import train  # pylint: disable=g-import-not-at-top
  configs = []
  monkeypatch.setattr(train, 'run', lambda config, **kw: configs.append(config) or {
      'status': 'done', 'epochs': 1, 'steps': 1, 'wall_time_s': 0.0})
  for quiet in ([], ['--quiet']):
    assert main(['run', 'quickstart', '--workdir', str(tmp_path / 'run'), *quiet]) == 0
  assert [c.tracking.progress for c in configs] == [True, False]
