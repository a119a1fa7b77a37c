"""Where `research run` takes its config from: a registered experiment, a
Python file (`--config`), or a recorded run (`--from`); and switching the
optimizer of any experiment."""

import json

import pytest

from launch.cli import main
from research import config as config_lib
from research import optim, registry
from research.train.resolve import config_hash, overrides, resolve
import experiments  # pylint: disable=unused-import  (registers them)

QUIET = ['--set', 'tracking.wandb=disabled', '--set', 'tracking.progress=false']
CONFIG_FILE = '''
from research.config import base_config


def get_config():
  c = base_config()
  c.model.hidden = (32,)
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 0.05
  c.optimizer.hparams.momentum = 0.8
  c.train.num_epochs = 2
  return c
'''


def _summary(run_dir):
  return json.loads((run_dir / 'summary.json').read_text())


def test_run_a_config_file(tmp_path, capsys):
  path = tmp_path / 'small.py'
  path.write_text(CONFIG_FILE)
  workdir = tmp_path / 'run'
  assert main(['run', '--config', str(path), '--set', 'seed=3',
               '--workdir', str(workdir)] + QUIET) == 0
  written = json.loads((workdir / 'config.json').read_text())
  assert written['experiment'] == 'small'  # named after the file
  assert written['seed'] == 3
  assert written['optimizer']['hparams'] == {'momentum': 0.8, 'nesterov': False}
  assert _summary(workdir)['status'] == 'done'


@pytest.mark.parametrize('source, words', [
    ('def get_config():\n  return 3\n', ['get_config()', 'ConfigDict']),
    ('x = 1\n', ['defines no get_config']),
    ('from research.config import base_config\n\ndef get_config():\n'
     '  c = base_config()\n  c.model.widht = 3\n  return c\n', ['model.widht']),
])
def test_a_bad_config_file_is_refused_with_why(tmp_path, capsys, source, words):
  path = tmp_path / 'bad.py'
  path.write_text(source)
  assert main(['run', '--config', str(path), '--workdir', str(tmp_path / 'r')]
              + QUIET) == 2
  err = capsys.readouterr().err
  for w in words:
    assert w in err, err


@pytest.mark.parametrize('args', [
    [], ['quickstart', '--config', 'x.py'], ['--config', 'x.py', '--from', 'runs/x'],
])
def test_run_takes_exactly_one_source(args, capsys):
  assert main(['run', *args]) == 2
  assert 'one of EXPERIMENT, --config FILE or --from RUN_DIR' in capsys.readouterr().err


def test_run_from_a_recorded_run_with_changes(tmp_path, capsys):
  first = tmp_path / 'first'
  assert main(['run', 'quickstart', '--set', 'train.num_epochs=2',
               '--workdir', str(first)] + QUIET) == 0
  # The same config again: its own identity, so the recorded run is found.
  recorded = json.loads((first / 'config.json').read_text())
  assert main(['run', '--from', str(first), '--workdir', str(first)] + QUIET) == 0
  assert 'had already finished' in capsys.readouterr().out
  # Changed: a new run whose overrides are the recorded ones plus the change.
  second = tmp_path / 'second'
  assert main(['run', '--from', str(first), '--set', 'optimizer.name=sgd',
               '--set', 'optimizer.learning_rate=0.1', '--workdir', str(second)]
              + QUIET) == 0
  changed = json.loads((second / 'config.json').read_text())
  assert overrides(changed) == {**overrides(recorded), 'optimizer.name': 'sgd',
                                'optimizer.learning_rate': 0.1}
  assert _summary(second)['status'] == 'done'


def test_from_a_directory_without_a_run(tmp_path, capsys):
  assert main(['run', '--from', str(tmp_path)] + QUIET) == 2
  assert 'config.json' in capsys.readouterr().err


# --------------------------------------------------------------------------
# Every registered optimizer, from experiments that use other ones


@pytest.mark.parametrize('experiment', ['mnist_mlp', 'dropout_mnist', 'quickstart'])
@pytest.mark.parametrize('name', optim.names())
def test_every_optimizer_resolves_from_every_experiment(experiment, name):
  overrides_ = [f'optimizer.name={name}']
  if optim.entry(name).needs_value_fn:
    overrides_ += ['train.batching=full']
  base = registry.get(experiment).config()
  config = resolve(config_lib.apply_overrides(base, overrides_))
  if name != base.optimizer.name:  # another optimizer: its own defaults alone
    assert config.optimizer.hparams.to_dict() == optim.entry(name).defaults


@pytest.mark.slow
@pytest.mark.parametrize('name', optim.names())
def test_every_optimizer_trains_from_quickstart(name, tmp_path):
  overrides_ = [f'optimizer.name={name}', 'train.num_epochs=2']
  if optim.entry(name).needs_value_fn:
    overrides_ += ['train.batching=full', 'optimizer.learning_rate=1.0']
  args = ['run', 'quickstart', '--workdir', str(tmp_path)]
  for item in overrides_:
    args += ['--set', item]
  assert main(args + QUIET) == 0
  assert _summary(tmp_path)['status'] == 'done'


@pytest.mark.slow
@pytest.mark.parametrize('extra', [
    ['optimizer.name=sgd', 'optimizer.learning_rate=0.1'],
    ['optimizer.name=momentum', 'optimizer.learning_rate=0.01'],
    ['optimizer.name=lbfgs', 'train.batching=full', 'optimizer.learning_rate=1.0'],
], ids=['sgd', 'momentum', 'lbfgs'])
def test_mnist_mlp_runs_with_another_optimizer(extra, mnist_dir, tmp_path):
  # README's example of a run that the flat optimizer section refused.
  args = ['run', 'mnist_mlp', '--workdir', str(tmp_path), '--set',
          f'data.dir={mnist_dir.parent}', '--set', 'train.num_epochs=1',
          '--set', 'model.hidden=(64,)']
  for item in extra:
    args += ['--set', item]
  assert main(args + QUIET) == 0
  written = json.loads((tmp_path / 'config.json').read_text())
  name = extra[0].split('=')[1]
  assert written['optimizer']['hparams'] == optim.entry(name).defaults
  assert _summary(tmp_path)['status'] == 'done'
  assert config_hash(written) == config_hash(config_lib.apply_overrides(
      registry.get('mnist_mlp').config(),
      [f'data.dir={mnist_dir.parent}', 'train.num_epochs=1',
       'model.hidden=(64,)', *extra]))
