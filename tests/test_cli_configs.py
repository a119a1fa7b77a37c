"""Where `research run` takes its config from: a registered experiment, a
Python file (`--config`), or a recorded run (`--from`); and switching the
optimizer of any experiment."""

import json

import pytest

from launch import sweep
from launch.cli import main
from research import config as config_lib
from research import optim, registry
from research.train.resolve import config_hash, overrides, resolve
import experiments  # pylint: disable=unused-import  (registers them)

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

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
  if optim.entry(name).line_search:
    overrides_ += ['train.batching=full']
  base = registry.get(experiment).config()
  config = resolve(config_lib.apply_overrides(base, overrides_))
  if name != base.optimizer.name:  # another optimizer: its own defaults alone
    assert config.optimizer.hparams.to_dict() == optim.entry(name).defaults


LEARNING_RATES = {'sgd': 0.1, 'momentum': 0.01, 'nesterov': 0.01, 'adadelta': 1.0,
                  'lbfgs': 1.0}  # the others at the experiment's own


def _optimizer_overrides(name: str) -> list[str]:
  overrides_ = [f'optimizer.name={name}']
  if name in LEARNING_RATES:
    overrides_.append(f'optimizer.learning_rate={LEARNING_RATES[name]}')
  if optim.entry(name).line_search:  # one batch per step, no noise
    overrides_ += ['train.batching=full', 'model.dropout=0.0']
  return overrides_


def _run(experiment: str, overrides_: list[str], workdir) -> dict:
  args = ['run', experiment, '--workdir', str(workdir)]
  for item in overrides_:
    args += ['--set', item]
  assert main(args + QUIET) == 0
  return json.loads((workdir / 'config.json').read_text())


# Trained in the default run: one of each kind of update (RMSProp with the
# experiment's own eps, plain SGD, a line search, a dense second-order method
# that refuses the net, LAPACK preconditioning, two gradients a step, an
# orthogonalized update, schedule-free evaluation); the others are exhaustive.
TRAINED_BY_DEFAULT = ('rmsprop', 'sgd', 'lbfgs', 'newton', 'soap', 'sam', 'muon',
                      'schedule_free_adamw')


@pytest.mark.slow
@pytest.mark.parametrize('name', [
    pytest.param(n, marks=() if n in TRAINED_BY_DEFAULT else pytest.mark.exhaustive)
    for n in optim.names()])
def test_every_optimizer_trains_from_mnist_mlp(name, mnist_dir, tmp_path):
  # mnist_mlp uses RMSProp with Keras' eps: `--set optimizer.name=X` leaves it
  # behind (the flat optimizer section refused sgd for it). Its 784-512-512
  # net cut to 64 units and two steps on one batch, to keep the test short
  # (every optimizer resolves from three experiments above).
  shorter = [f'data.dir={mnist_dir.parent}', 'train.num_epochs=2',
             'model.hidden=(64,)', 'train.batching=fixed']
  if 'max_params' in optim.entry(name).hparams:  # dense: small problems only
    args = ['run', 'mnist_mlp', '--workdir', str(tmp_path)]
    for item in [*shorter, *_optimizer_overrides(name)]:
      args += ['--set', item]
    assert main(args + QUIET) == 2  # refused with the parameter count
    return
  written = _run('mnist_mlp', [*shorter, *_optimizer_overrides(name)], tmp_path)
  assert written['optimizer']['hparams'] == optim.entry(name).defaults or (
      name == 'rmsprop' and written['optimizer']['hparams']['eps'] == 1e-7)
  assert _summary(tmp_path)['status'] == 'done'
  assert config_hash(written) == config_hash(config_lib.apply_overrides(
      registry.get('mnist_mlp').config(),
      [*shorter, *_optimizer_overrides(name)]))


def test_a_choice_axis_over_optimizers_gives_each_its_own_hyperparameters():
  # adam_mnist sweeps five optimizers; AdaDelta's option sets its decay and eps.
  trials = sweep.expand('adam_mnist', search='grid', seeds=(0,))
  by_name = {}
  for trial in trials:
    config = resolve(trial.config('runs'))
    by_name.setdefault(config.optimizer.name, []).append(
        config.optimizer.hparams.to_dict())
  assert set(by_name) == {'adagrad', 'rmsprop', 'nesterov', 'adadelta', 'adam'}
  assert all(h == {'decay': 0.95, 'eps': 1e-6} for h in by_name['adadelta'])
  for name in ('adagrad', 'rmsprop', 'nesterov', 'adam'):
    assert all(h == optim.entry(name).defaults for h in by_name[name]), name
