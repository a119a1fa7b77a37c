"""`research sweep`: dispatch to launchers, the printed table, exit codes."""

import sys
import types

import pytest

from launch import local
from launch import trials as trials_lib
from launch.cli import main

TINY = ['--set', 'model.hidden=(16,)', '--set', 'train.num_epochs=1',
        '--set', 'tracking.wandb=disabled']


def fake_record(trial, status='done', accuracy=0.5, error=None):
  return {'status': status, 'label': trial.label, 'overrides': list(trial.overrides),
          'seed': trial.seed, 'final': {'test/accuracy': accuracy} if accuracy else {},
          'wall_time_s': 1.25, 'run_dir': f'/runs/quickstart/seed{trial.seed}-x',
          'error': error}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
  """`research sweep` writes a sweep record under its output directory
  (default ./runs): keep it in the test's own directory."""
  monkeypatch.chdir(tmp_path)


@pytest.fixture
def launched(monkeypatch):
  """Replaces the local launcher; records what it was given."""
  calls = []

  def fake_launch(trials, *, output_dir, **options):
    calls.append((trials, output_dir, options))
    return [fake_record(t, accuracy=0.5 + 0.01 * i) for i, t in enumerate(trials)]

  monkeypatch.setattr(local, 'launch', fake_launch)
  return calls


def test_grid_sweep_over_seeds_prints_a_line_per_trial(launched, capsys, tmp_path):
  code = main(['sweep', 'quickstart', '--seeds', '2', '--output-dir', str(tmp_path / 'out'),
               '--workers', '3', '--set', 'train.num_epochs=2'])
  assert code == 0
  [(trials, output_dir, options)] = launched
  assert len(trials) == 6 and output_dir == str(tmp_path / 'out') and options['workers'] == 3
  assert all(t.overrides[0] == 'train.num_epochs=2' for t in trials)
  out = capsys.readouterr().out
  lines = out.splitlines()
  assert '6 trial(s), grid search over optimizer.learning_rate, seeds 0-1' in lines[0]
  assert 'common overrides: train.num_epochs=2' in out
  rows = [l for l in lines if l.startswith('optimizer.learning_rate=')]
  assert len(rows) == 6  # the common override is left out of the labels
  assert rows[0].split()[:2] == ['optimizer.learning_rate=0.003', 'seed=0']
  assert '50.00%' in rows[0] and '1.2 s' in rows[0] and 'done' in rows[0]
  assert 'optimizer.learning_rate=0.003  50.50 ± 0.71  (2 runs)' in out
  assert 'optimizer.learning_rate=0.01   52.50 ± 0.71  (2 runs)' in out  # mean over seeds
  assert '6 trial(s): 6 done' in out
  assert 'records: /runs/quickstart/*/trial.json' in out


def test_a_failed_trial_makes_the_exit_code_nonzero(monkeypatch, capsys):
  def fake_launch(trials, *, output_dir, **options):
    return [fake_record(trials[0]),
            fake_record(trials[1], 'diverged', None, 'Run diverged: loss is nan'),
            fake_record(trials[2], 'failed', None, 'Traceback ...\nRuntimeError: boom')]

  monkeypatch.setattr(local, 'launch', fake_launch)
  assert main(['sweep', 'quickstart']) == 1
  out = capsys.readouterr().out
  assert '1 diverged, 1 done, 1 failed' in out
  assert 'failed: optimizer.learning_rate=0.03 seed=0: RuntimeError: boom' in out

  monkeypatch.setattr(local, 'launch', lambda trials, **kw: [
      fake_record(trials[0]), fake_record(trials[1], 'diverged', None), fake_record(trials[2])])
  assert main(['sweep', 'quickstart']) == 0  # a diverged run is a result, not a failure


def test_random_and_halton_searches_need_a_number_of_trials(launched, capsys):
  assert main(['sweep', 'quickstart', '--search', 'halton', '--trials', '4']) == 0
  assert len(launched[0][0]) == 4
  assert main(['sweep', 'quickstart', '--search', 'random']) == 2
  assert '--trials' in capsys.readouterr().err
  assert main(['sweep', 'quickstart', '--trials', '4']) == 2  # grid runs every point


@pytest.mark.parametrize('args, words', [
    (['--launcher', 'cloud'], ['unknown launcher', 'local, population, slurm, wandb']),
    (['--search', 'sobol'], ['unknown search', 'grid, random, halton']),
    (['--launcher', 'wandb', '--search', 'halton'], ['grid, random, bayes']),
    (['--set', 'optimizer.learning_rate=0.1'], ['optimizer.learning_rate', 'varies']),
    (['--set', 'optimizer.lr=0.1'], ['optimizer.lr', 'optimizer.learning_rate']),
    (['--seeds', '0'], ['--seeds']),
])
def test_bad_input_exits_2_and_says_what_is_known(launched, capsys, args, words):
  assert main(['sweep', 'quickstart', *args]) == 2
  err = capsys.readouterr().err
  for w in words:
    assert w in err, err
  assert not launched


def test_population_launcher_is_imported_lazily(monkeypatch, capsys):
  calls = []
  fake = types.ModuleType('launch.population')
  fake.launch = lambda trials, *, output_dir, **options: (
      calls.append((trials, output_dir, options)) or [fake_record(t) for t in trials])
  # `from launch import population` reads the package attribute first (set
  # when another test imported the real module), then sys.modules.
  import launch  # pylint: disable=g-import-not-at-top
  monkeypatch.setitem(sys.modules, 'launch.population', fake)
  monkeypatch.setattr(launch, 'population', fake, raising=False)
  assert main(['sweep', 'quickstart', '--launcher', 'population', '--seeds', '2']) == 0
  assert len(calls[0][0]) == 6 and calls[0][1] == 'runs'

  monkeypatch.setitem(sys.modules, 'launch.population', None)  # not importable
  monkeypatch.delattr(launch, 'population')
  assert main(['sweep', 'quickstart', '--launcher', 'population']) == 2
  assert 'population launcher is not available' in capsys.readouterr().err


def test_end_to_end_in_process_then_skipped(tmp_path, monkeypatch, capsys):
  # The local launcher's path without its processes (tests/test_launch_local.py
  # covers those): one tiny trial trained here.
  monkeypatch.setattr(local, '_in_new_process', lambda worker, trial, output_dir, extra:
                      worker(trial, output_dir, extra))
  args = ['sweep', 'quickstart', '--search', 'halton', '--trials', '1',
          '--output-dir', str(tmp_path), *TINY]
  assert main(args) == 0
  out = capsys.readouterr().out
  [record_path] = (tmp_path / 'quickstart').glob('*/trial.json')
  assert trials_lib.read_record(record_path.parent)['status'] == 'done'
  assert f'records: {tmp_path}/quickstart/*/trial.json' in out

  assert main(args) == 0
  captured = capsys.readouterr()
  assert 'done (skipped)' in captured.out and '(1 already finished)' in captured.out
  assert 'skipped (already done)' in captured.err
