"""`research runs` and `research compare`: recorded runs listed and compared.

Most run directories are written here by hand (config.json from the
quickstart's own config, summary.json, metrics.jsonl, trial.json); one is a
real one-epoch run, so the reader is checked against what training writes.
"""

import csv
import io
import json
import pathlib
import subprocess
import sys

import pytest

from launch.cli import main
from launch.registry import load_registry
from research import config as config_lib
from research.tracking.run_dir import RunDir

NAME = 'quickstart'
QUIET = ['--set', 'tracking.wandb=disabled', '--set', 'tracking.progress=false']


def _write(path, obj):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(obj))


def fabricate(root, name, *, seed, lr, status='done', test=0.8, best=None,
              epochs=3):
  """A run directory of the quickstart with `seed` and learning rate `lr`."""
  run = root / NAME / name
  config = load_registry().get(NAME).config()
  config = config_lib.merge(config, {
      'seed': seed, 'optimizer.learning_rate': lr,
      'tracking.output_dir': str(root)}).to_dict()
  config['optimizer']['hparams'] = {'b1': 0.9}  # as resolving fills it in
  _write(run / 'config.json', config)
  final = {'train/loss': 0.1, 'test/accuracy': test}
  _write(run / 'summary.json', {
      'status': status, 'experiment': NAME, 'seed': seed, 'epochs': epochs,
      'steps': 10 * epochs, 'wall_time_s': 2.5, 'final': final, 'best': best})
  _write(run / 'trial.json', {
      'status': status, 'experiment': NAME, 'seed': seed,
      'overrides': [f'optimizer.learning_rate={lr}']})
  rows = [{'epoch': e, 'step': 10 * e, 'train/loss': 1.0 / e,
           'test/accuracy': test * e / epochs} for e in range(1, epochs + 1)]
  (run / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in rows))
  return run


@pytest.fixture
def runs(tmp_path):
  """Four runs: two seeds of lr 0.01 (the quickstart's own), one of 0.03
  that diverged, one of 0.003 that monitored dev accuracy."""
  made = {
      'a': fabricate(tmp_path, 'seed0-aaaa', seed=0, lr=0.01, test=0.81),
      'b': fabricate(tmp_path, 'seed1-bbbb', seed=1, lr=0.01, test=0.83),
      'c': fabricate(tmp_path, 'seed0-cccc', seed=0, lr=0.03,
                     status='diverged', test=0.1),
      'd': fabricate(tmp_path, 'seed0-dddd', seed=0, lr=0.003, test=0.85,
                     best={'monitor': 'dev/accuracy', 'epoch': 2,
                           'dev/accuracy': 0.9, 'test/accuracy': 0.84}),
  }
  (tmp_path / NAME / 'sweeps').mkdir()  # not a run directory
  return tmp_path, made


def _runs_json(capsys, *args):
  assert main(['runs', *args, '--format', 'json']) == 0
  return json.loads(capsys.readouterr().out)


def test_runs_table_lists_each_run_with_overrides_and_metrics(runs, capsys):
  root, _ = runs
  assert main(['runs', NAME, '--output-dir', str(root)]) == 0
  out = capsys.readouterr().out
  lines = out.splitlines()
  assert lines[0].split() == ['experiment', 'run', 'status', 'seed', 'epochs',
                              'test_acc', 'best_dev_acc', 'wall_s', 'overrides']
  by_run = {line.split()[1]: line for line in lines[2:-1]}
  assert set(by_run) == {'seed0-aaaa', 'seed1-bbbb', 'seed0-cccc', 'seed0-dddd'}
  assert 'diverged' in by_run['seed0-cccc']
  assert 'optimizer.learning_rate=0.03' in by_run['seed0-cccc']
  assert 'optimizer.learning_rate' not in by_run['seed0-aaaa']  # the default
  assert '85.00%' in by_run['seed0-dddd'] and '90.00%' in by_run['seed0-dddd']
  # The hyperparameters that resolving filled in are not overrides.
  assert 'hparams' not in out and 'output_dir' not in out
  assert lines[-1].startswith('4 run(s) under')


def test_runs_json_and_csv_carry_the_raw_values(runs, capsys):
  root, made = runs
  rows = _runs_json(capsys, '--output-dir', str(root))  # every experiment
  by_run = {r['run']: r for r in rows}
  assert by_run['seed0-dddd']['overrides'] == {'optimizer.learning_rate': 0.003}
  assert by_run['seed0-dddd']['best_dev_accuracy'] == 0.9
  assert by_run['seed1-bbbb']['overrides'] == {}
  assert by_run['seed1-bbbb']['seed'] == 1
  assert by_run['seed0-aaaa']['path'] == str(made['a'])
  # Seeds of one configuration next to each other.
  assert [r['run'] for r in rows][:2] == ['seed0-aaaa', 'seed1-bbbb']

  assert main(['runs', NAME, '--output-dir', str(root), '--format', 'csv']) == 0
  table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
  assert len(table) == 4
  row = next(r for r in table if r['run'] == 'seed0-cccc')
  assert row['status'] == 'diverged'
  assert float(row['final_test_accuracy']) == 0.1
  assert row['best_dev_accuracy'] == ''


def test_runs_status_filter(runs, capsys):
  root, _ = runs
  rows = _runs_json(capsys, NAME, '--output-dir', str(root),
                    '--status', 'diverged')
  assert [r['run'] for r in rows] == ['seed0-cccc']
  rows = _runs_json(capsys, NAME, '--output-dir', str(root),
                    '--status', 'done, diverged')
  assert len(rows) == 4
  assert main(['runs', NAME, '--output-dir', str(root),
               '--status', 'interrupted']) == 0
  assert 'no runs under' in capsys.readouterr().out


def test_a_damaged_or_unfinished_run_is_listed_not_a_traceback(runs, capsys):
  root, made = runs
  (made['b'] / 'summary.json').write_text('{"status": "do')  # torn
  (made['c'] / 'config.json').write_text('[1, 2]')  # not an object
  half = root / NAME / 'seed2-eeee'  # started, nothing trains it now
  half.mkdir()
  (half / 'config.json').write_text('{"seed": 2, "experiment": "quickstart"}')
  (half / 'metrics.jsonl').write_text(  # torn by a kill
      '{"epoch": 1, "step": 5}\n{"epoch": 2, "st')
  rows = {r['run']: r for r in _runs_json(capsys, NAME, '--output-dir',
                                          str(root))}
  assert rows['seed1-bbbb']['status'] == 'damaged'
  assert 'summary.json is damaged' in rows['seed1-bbbb']['problem']
  assert rows['seed0-cccc']['status'] == 'damaged'
  assert rows['seed2-eeee']['status'] == 'incomplete'
  assert rows['seed2-eeee']['epochs'] == 1  # the torn line is skipped
  assert main(['runs', NAME, '--output-dir', str(root)]) == 0
  captured = capsys.readouterr()
  assert 'warning:' in captured.err and 'summary.json' in captured.err
  assert 'damaged' in captured.out
  # A run that a process trains now (it holds run.lock).
  with RunDir(half).lock():
    rows = _runs_json(capsys, NAME, '--output-dir', str(root), '--status',
                      'running')
  assert [r['run'] for r in rows] == ['seed2-eeee']
  # compare names the damaged file and goes on.
  assert main(['compare', str(made['a']), str(made['b'])]) == 0
  captured = capsys.readouterr()
  assert 'summary.json is damaged' in captured.err
  assert 'damaged' in captured.out
  # A damaged config decides no difference: its column is '-'.
  assert main(['compare', str(made['a']), str(made['c']), str(made['d']),
               '--format', 'json']) == 0
  captured = capsys.readouterr()
  assert 'config.json is damaged' in captured.err
  out = json.loads(captured.out)
  assert out[0]['config'] == {'optimizer.learning_rate': 0.01}
  assert out[1]['config'] == {'optimizer.learning_rate': None}


def test_compare_shows_only_the_keys_that_differ(runs, capsys):
  root, made = runs
  assert main(['compare', str(made['a']), str(made['c']), str(made['d']),
               '--format', 'json']) == 0
  runs_out = json.loads(capsys.readouterr().out)
  assert [r['config'] for r in runs_out] == [
      {'optimizer.learning_rate': lr} for lr in (0.01, 0.03, 0.003)]
  assert runs_out[1]['metrics']['status'] == 'diverged'
  assert runs_out[2]['metrics']['best/dev/accuracy'] == 0.9
  assert runs_out[0]['metrics']['final/test/accuracy'] == 0.81

  assert main(['compare', str(made['a']), str(made['b'])]) == 0
  out = capsys.readouterr().out
  lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()
           if line.strip() and not line.startswith('-')}
  assert lines['key'] == ['seed0-aaaa', 'seed1-bbbb']
  assert lines['seed'] == ['0', '1']
  assert lines['final/test/accuracy'] == ['81.00%', '83.00%']
  assert 'optimizer.learning_rate' not in lines  # the same in both

  assert main(['compare', str(made['a']), str(made['d']), '--format',
               'csv']) == 0
  table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
  assert table[0] == ['key', 'seed0-aaaa', 'seed0-dddd']
  assert ['optimizer.learning_rate', '0.01', '0.003'] in table


def test_compare_refuses_a_directory_without_a_run(runs, capsys):
  root, made = runs
  assert main(['compare', str(made['a']), str(root / 'nosuch')]) == 2
  err = capsys.readouterr().err
  assert 'not a run directory' in err and 'nosuch' in err
  assert main(['compare', str(root / NAME)]) == 2  # the experiment's folder


def test_compare_curves_writes_a_png(runs, capsys, tmp_path):
  _, made = runs
  figure = tmp_path / 'figs' / 'curves.png'
  assert main(['compare', str(made['a']), str(made['c']), str(made['d']),
               '--curves', str(figure)]) == 0
  assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert str(figure) in capsys.readouterr().err


def test_a_real_run_is_listed_and_compared(runs, capsys):
  root, made = runs
  assert main(['run', NAME, *QUIET, '--set', 'train.num_epochs=1',
               '--set', 'model.hidden=(8,)', '--set', 'seed=3',
               '--set', f'tracking.output_dir={root}']) == 0
  capsys.readouterr()
  rows = _runs_json(capsys, NAME, '--output-dir', str(root))
  real = next(r for r in rows if r['seed'] == 3)
  assert real['status'] == 'done' and real['epochs'] == 1
  assert real['overrides'] == {'model.hidden': [8], 'train.num_epochs': 1}
  assert 0 < real['final_test_accuracy'] <= 1 and real['wall_time_s'] > 0
  assert main(['compare', str(made['a']), real['path'], '--format',
               'json']) == 0
  out = json.loads(capsys.readouterr().out)
  assert out[1]['config']['model.hidden'] == [8]
  assert out[1]['config']['seed'] == 3
  assert out[1]['metrics']['epochs'] == 1


def test_runs_and_compare_import_no_jax(runs):
  root, made = runs
  a, b = str(made['a']), str(made['b'])
  code = ('import sys\nfrom launch.cli import main\n'
          f'assert main(["runs", "--output-dir", {str(root)!r}]) == 0\n'
          f'assert main(["compare", {a!r}, {b!r}]) == 0\n'
          'print("heavy:", [m for m in ("jax", "optax", "flax", "matplotlib") '
          'if m in sys.modules])')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True, timeout=120,
                          cwd=pathlib.Path(__file__).resolve().parents[1])
  assert 'heavy: []' in result.stdout, result.stdout + result.stderr
