"""W&B sweeps: the sweep configuration, and the agent's function run offline."""

import dataclasses
import json
import warnings

import pytest
import wandb
import yaml

from launch import trials as trials_lib
from launch import wandb_sweep
from launch.trials import LaunchError
from research.errors import ConfigError
from research.search import Discrete, LogUniform, Uniform
from research.tracking import find_offline_runs, read_offline_run

registry = trials_lib.load_registry()  # with the experiments registered
TINY = ('model.hidden=(16,)', 'train.num_epochs=1')


@pytest.fixture
def every_axis_type(monkeypatch):
  """A registered experiment with one axis of each kind."""
  monkeypatch.setitem(registry._REGISTRY, '_wandb_axes', dataclasses.replace(
      registry.get('quickstart'), name='_wandb_axes', axes={
          'optimizer.learning_rate': LogUniform(1e-3, 1e-1, grid=(1e-3, 1e-2)),
          'model.dropout': Uniform(0.0, 0.5, grid=(0.0, 0.25, 0.5)),
          'model.hidden': Discrete(((16,), (32, 32))),
      }))
  return '_wandb_axes'


def test_grid_sweep_config_lists_grid_points(every_axis_type):
  config = wandb_sweep.sweep_config(every_axis_type, 'grid', seeds=(0, 1))
  assert config['method'] == 'grid'
  assert config['metric'] == {'name': 'test/accuracy', 'goal': 'maximize'}
  assert config['parameters'] == {
      'optimizer.learning_rate': {'values': [1e-3, 1e-2]},
      'model.dropout': {'values': [0.0, 0.25, 0.5]},
      'model.hidden': {'values': [[16], [32, 32]]},
      'seed': {'values': [0, 1]},
  }
  json.dumps(config)  # plain data only


@pytest.mark.parametrize('method', ['random', 'bayes'])
def test_random_and_bayes_sweep_configs_use_distributions(every_axis_type, method):
  config = wandb_sweep.sweep_config(every_axis_type, method, metric='dev/loss')
  assert config['method'] == method
  assert config['metric'] == {'name': 'dev/loss', 'goal': 'minimize'}
  params = config['parameters']
  assert params['optimizer.learning_rate'] == {
      'distribution': 'log_uniform_values', 'min': 1e-3, 'max': 1e-1}
  assert params['model.dropout'] == {'distribution': 'uniform', 'min': 0.0, 'max': 0.5}
  assert params['model.hidden'] == {'values': [[16], [32, 32]]}
  assert params['seed'] == {'values': [0]}


def test_sweep_config_errors_name_what_is_wrong(monkeypatch):
  with pytest.raises(ConfigError, match='grid, random, bayes'):
    wandb_sweep.sweep_config('quickstart', 'halton')
  monkeypatch.setitem(registry._REGISTRY, '_no_grid', dataclasses.replace(
      registry.get('quickstart'), name='_no_grid',
      axes={'model.dropout': Uniform(0.0, 0.5)}))
  with pytest.raises(ConfigError, match='model.dropout'):
    wandb_sweep.sweep_config('_no_grid', 'grid')


@pytest.mark.parametrize('suffix', ['.yaml', '.json'])
def test_write_sweep_config(tmp_path, suffix):
  path = tmp_path / f'sweep{suffix}'
  config = wandb_sweep.write_sweep_config(path, 'quickstart', 'random', seeds=(0, 1, 2))
  read = yaml.safe_load(path.read_text()) if suffix == '.yaml' else json.loads(path.read_text())
  assert read == config
  assert read['parameters']['optimizer.learning_rate']['distribution'] == 'log_uniform_values'


def test_trial_from_wandb_values():
  trial = wandb_sweep.trial_from_values(
      'quickstart', {'_wandb': {}, 'seed': 2, 'optimizer.learning_rate': 0.012345678901234567},
      overrides=('train.num_epochs=3',))
  assert trial == trials_lib.Trial(
      'quickstart', ('train.num_epochs=3', 'optimizer.learning_rate=0.012345678901234567'), 2)


def test_a_choice_goes_to_wandb_as_option_names_and_comes_back_as_its_keys(monkeypatch):
  from research.search import Choice  # pylint: disable=g-import-not-at-top
  choice = Choice({'cosine': {'optimizer.schedule.name': 'cosine'},
                   'step': {'optimizer.schedule.name': 'step',
                            'optimizer.schedule.step_epochs': (30, 45)}})
  monkeypatch.setitem(registry._REGISTRY, '_wandb_choice', dataclasses.replace(
      registry.get('quickstart'), name='_wandb_choice', axes={'schedule': choice}))
  config = wandb_sweep.sweep_config('_wandb_choice', search='grid', seeds=(0,))
  assert config['parameters']['schedule'] == {'values': ['cosine', 'step']}
  trial = wandb_sweep.trial_from_values('_wandb_choice', {'schedule': 'step', 'seed': 1})
  assert trial == trials_lib.Trial('_wandb_choice', (
      "optimizer.schedule.name='step'", 'optimizer.schedule.step_epochs=(30, 45)'), 1)


@pytest.mark.slow
def test_agent_function_runs_the_trial_into_the_agents_run(tmp_path, monkeypatch):
  """What wandb.agent does, offline: the run's config holds the sweep's point."""
  monkeypatch.setenv('WANDB_MODE', 'offline')
  real_init = wandb.init
  monkeypatch.setattr(wandb, 'init', lambda **kwargs: real_init(
      config={'optimizer.learning_rate': 0.01, 'seed': 1}, **kwargs))
  records = []
  fn = wandb_sweep.agent_function('quickstart', tmp_path, TINY, records=records)
  fn()
  [record] = records
  assert record['status'] == 'done', record['error']
  assert record['overrides'] == ['optimizer.learning_rate=0.01'] and record['seed'] == 1
  assert trials_lib.read_record(record['run_dir']) == record
  config = json.loads((tmp_path / 'quickstart' / record['run_dir'].split('/')[-1]
                       / 'config.json').read_text())
  assert config['tracking']['wandb'] == 'disabled'  # the trial opened no run of its own

  [run_file] = find_offline_runs(tmp_path)  # one W&B run: the agent's
  logged = read_offline_run(run_file, wait_s=30)
  assert logged['config']['optimizer.learning_rate'] == 0.01
  assert logged['summary']['test/accuracy'] == record['final']['test/accuracy']
  assert logged['summary']['status'] == 'done'
  assert [h['epoch'] for h in logged['history'] if 'epoch' in h] == [1]


class BrokenRun:
  """A run whose every call fails (after init)."""
  config = {'optimizer.learning_rate': 0.01, 'seed': 0}

  def log(self, *args, **kwargs):
    raise ConnectionError('W&B is down')

  finish = log
  summary = property(lambda self: self.log())


def test_a_wandb_failure_never_fails_the_trial(tmp_path, monkeypatch):
  ran = []

  def fake_run_trial(trial, output_dir, extra):
    ran.append(trial)
    return {'status': 'done', 'label': trial.label, 'run_dir': None, 'final': {}}

  monkeypatch.setattr(trials_lib, 'run_trial', fake_run_trial)
  monkeypatch.setattr(wandb, 'init', lambda **kwargs: BrokenRun())
  records = []
  with pytest.warns(RuntimeWarning, match='W&B is down'):
    wandb_sweep.agent_function('quickstart', tmp_path, records=records)()
  assert [r['status'] for r in records] == ['done']

  def no_init(**kwargs):
    raise wandb.errors.CommError('no network')

  monkeypatch.setattr(wandb, 'init', no_init)
  with pytest.warns(RuntimeWarning, match='no network'):
    wandb_sweep.agent_function('quickstart', tmp_path, records=records)()
  assert len(ran) == 1  # without the run's config there is no point to train


def test_launch_needs_wandb_online(tmp_path, monkeypatch):
  monkeypatch.setenv('WANDB_MODE', 'offline')
  with pytest.raises(LaunchError, match='online'):
    wandb_sweep.launch('quickstart', output_dir=str(tmp_path))
  with pytest.raises(ConfigError, match='optimizer.learning_rate'):
    wandb_sweep.launch('quickstart', output_dir=str(tmp_path),
                       overrides=['optimizer.learning_rate=0.1'])


def test_launch_creates_a_sweep_and_runs_an_agent(tmp_path, monkeypatch):
  created, agents = [], []
  monkeypatch.setattr(wandb_sweep, 'resolve_wandb_mode', lambda mode: 'online')
  monkeypatch.setattr(wandb, 'sweep', lambda config, **kw: created.append(config) or 'abc123')
  monkeypatch.setattr(trials_lib, 'run_trial', lambda trial, output_dir, extra: {
      'status': 'done', 'label': trial.label, 'run_dir': None, 'final': {}, 'extra': extra})

  class Run:
    def __init__(self, config):
      self.config, self.summary = config, {}

    def log(self, *a, **k):
      pass

    def finish(self):
      pass

  def agent(sweep_id, function, count=None, **kwargs):
    agents.append((sweep_id, count))
    for lr in (3e-3, 1e-2):
      monkeypatch.setattr(wandb, 'init', lambda **kw: Run({'optimizer.learning_rate': lr, 'seed': 0}))
      function()

  monkeypatch.setattr(wandb, 'agent', agent)
  with warnings.catch_warnings():
    warnings.simplefilter('error')  # nothing failed
    records = wandb_sweep.launch('quickstart', output_dir=str(tmp_path), seeds=(0,),
                                 overrides=['train.num_epochs=2'])
  assert created[0]['method'] == 'grid' and agents == [('abc123', None)]
  assert [r['label'] for r in records] == [
      'train.num_epochs=2 optimizer.learning_rate=0.003 seed=0',
      'train.num_epochs=2 optimizer.learning_rate=0.01 seed=0']
  assert records[0]['extra'] == ('tracking.wandb=disabled',)
