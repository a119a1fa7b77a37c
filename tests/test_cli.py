"""The `research` command: listing, running, and its errors."""

import json
import time

import pytest

from launch.cli import main

QUIET = ['--set', 'tracking.wandb=disabled', '--set', 'tracking.progress=false']


def test_list_shows_the_experiments(capsys):
  assert main(['list']) == 0
  out = capsys.readouterr().out
  assert 'quickstart' in out and 'mnist_mlp' in out and 'REFERENCES.md' in out


@pytest.mark.parametrize('args, words', [
    (['run', 'nosuch'], ['unknown experiment', 'quickstart', 'mnist_mlp']),
    (['run', 'quickstart', '--set', 'optimizer.learning_rate=-1'], ['optimizer.learning_rate']),
    (['run', 'quickstart', '--set', 'model.dropout=1'], ['model.dropout', '[0, 1)']),
    (['run', 'quickstart', '--set', 'model.activation=swishy'], ['model.activation', 'relu']),
    (['run', 'quickstart', '--set', 'optimizer.lr=1'], ['optimizer.lr', 'optimizer.learning_rate']),
    (['run', 'quickstart', '--set', 'train.batch_size=100000'], ['train.batch_size', 'larger than']),
])
def test_bad_input_exits_2_with_the_key(args, words, capsys, tmp_path):
  assert main(args + QUIET + ['--workdir', str(tmp_path)]) == 2
  err = capsys.readouterr().err
  for w in words:
    assert w in err, err


def test_missing_data_fails_fast_with_where_it_looked(capsys, tmp_path, monkeypatch):
  monkeypatch.delenv('RESEARCH_DATA_DIR', raising=False)
  empty_tfds = tmp_path / 'tfds'
  empty_tfds.mkdir()
  started = time.perf_counter()
  code = main(['run', 'mnist_mlp', '--set', f'data.dir={tmp_path / "nowhere"}',
               '--set', f'data.tfds_dir={empty_tfds}', '--workdir', str(tmp_path / 'run')] + QUIET)
  elapsed = time.perf_counter() - started
  err = capsys.readouterr().err
  assert code == 2
  assert str(tmp_path / 'nowhere') in err and 'train-images-idx3-ubyte' in err
  assert 'RESEARCH_DATA_DIR' in err or 'data.dir' in err
  assert elapsed < 10, f'took {elapsed:.1f} s to say the data is missing'


@pytest.mark.slow
def test_default_run_directory_is_relative_to_where_it_runs(capsys, tmp_path, monkeypatch):
  # What the README's quickstart command does: no --workdir, runs/ under the cwd.
  monkeypatch.chdir(tmp_path)
  assert main(['run', 'quickstart', '--set', 'train.num_epochs=10'] + QUIET) == 0
  out = capsys.readouterr().out
  [run_dir] = (tmp_path / 'runs' / 'quickstart').iterdir()
  assert f'run directory: runs/quickstart/{run_dir.name}' in out
  assert (run_dir / 'checkpoints' / 'latest' / '400').is_dir()
  assert json.loads((run_dir / 'summary.json').read_text())['status'] == 'done'


def test_run_prints_directory_and_accuracy(capsys, tmp_path):
  assert main(['run', 'quickstart', '--set', 'train.num_epochs=2', '--workdir', str(tmp_path)]
              + QUIET) == 0
  out = capsys.readouterr().out
  assert f'run directory: {tmp_path}' in out and 'test accuracy' in out
  assert json.loads((tmp_path / 'summary.json').read_text())['status'] == 'done'
