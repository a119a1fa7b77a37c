"""Trials, their records, and a sweep's expansion into trials."""

import dataclasses
import json

import pytest

from launch import sweep
from launch import trials as trials_lib
from launch.trials import Trial
from research import config as config_lib
from research import run_index, search, train
from research.errors import ConfigError, DivergedError
from research.search import Discrete
from research.train.resolve import config_hash
from tests.test_runs_cli import fabricate

registry = trials_lib.load_registry()  # with the experiments registered
TINY = ('model.hidden=(16,)', 'train.num_epochs=1', 'tracking.wandb=disabled')


def test_trial_config_applies_overrides_extra_and_seed(tmp_path):
  trial = Trial('quickstart', ['optimizer.learning_rate=0.003'], 2)
  assert trial.overrides == ('optimizer.learning_rate=0.003',)  # a list becomes a tuple
  assert hash(trial) == hash(Trial('quickstart', ('optimizer.learning_rate=0.003',), 2))
  config = trial.config(tmp_path / '1e3', extra=['model.hidden=(16,)'])
  assert config.optimizer.learning_rate == 0.003
  assert config.model.hidden == (16,)
  assert config.seed == 2
  assert config.tracking.progress is False
  assert config.tracking.output_dir == str(tmp_path / '1e3')  # not parsed as a number
  assert config.experiment == 'quickstart'
  assert trial.label == 'optimizer.learning_rate=0.003 seed=2'


def test_run_trial_records_a_finished_run_and_skips_it_next_time(tmp_path):
  trial = Trial('quickstart', ('optimizer.learning_rate=0.01',), 1)
  record = trials_lib.run_trial(trial, tmp_path, TINY)
  assert record['status'] == 'done', record['error']
  run_dir = tmp_path / 'quickstart' / record['run_dir'].split('/')[-1]
  on_disk = json.loads((run_dir / 'trial.json').read_text())
  assert on_disk == record
  summary = json.loads((run_dir / 'summary.json').read_text())
  written_config = json.loads((run_dir / 'config.json').read_text())
  assert record['config'] == written_config
  assert record['config_hash'] == config_hash(written_config)
  assert record['final'] == summary['final'] and 0 < record['final']['test/accuracy'] <= 1
  assert record['wall_time_s'] == summary['wall_time_s'] > 0
  assert record['seed'] == 1 and record['overrides'] == ['optimizer.learning_rate=0.01']
  assert record['experiment'] == 'quickstart' and record['error'] is None
  assert len(record['git']['commit']) == 40
  assert record['hardware']['jax_backend'] == 'cpu' and 'packages' in record['hardware']

  assert trials_lib.finished_record(trial, tmp_path, TINY) == {**record, 'skipped': True}
  again = trials_lib.run_trial(trial, tmp_path, TINY)
  assert again == {**record, 'skipped': True}
  assert json.loads((run_dir / 'trial.json').read_text()) == record  # left alone


@pytest.mark.parametrize('error, status, text', [
    (RuntimeError('boom'), 'failed', 'RuntimeError: boom'),
    (DivergedError('Run diverged: the training loss is nan'), 'diverged', 'loss is nan'),
])
def test_run_trial_records_failures_and_never_raises(tmp_path, monkeypatch, error, status, text):
  def fail(config, workdir=None, **kwargs):
    del config, kwargs
    workdir.mkdir(parents=True)
    raise error

  monkeypatch.setattr(train, 'run', fail)
  trial = Trial('quickstart', (), 0)
  record = trials_lib.run_trial(trial, tmp_path, TINY)
  assert record['status'] == status
  assert text in record['error']
  if status == 'failed':
    assert 'Traceback' in record['error'] and 'fail' in record['error']
  assert trials_lib.read_record(record['run_dir']) == record
  assert trials_lib.finished_record(trial, tmp_path, TINY) is None


def test_a_bad_override_fails_the_trial_without_a_directory(tmp_path):
  record = trials_lib.run_trial(Trial('quickstart', ('optimizer.lr=1',), 0), tmp_path)
  assert record['status'] == 'failed' and record['run_dir'] is None
  assert 'optimizer.lr' in record['error']
  assert not any(tmp_path.iterdir())


def test_expand_is_points_times_seeds():
  trials = sweep.expand('quickstart', seeds=(0, 1, 2))
  assert [t.label for t in trials[:4]] == [
      'optimizer.learning_rate=0.003 seed=0', 'optimizer.learning_rate=0.003 seed=1',
      'optimizer.learning_rate=0.003 seed=2', 'optimizer.learning_rate=0.01 seed=0']
  assert len(trials) == 9 and len(set(trials)) == 9


def test_expand_values_parse_back_exactly_and_common_overrides_come_first(tmp_path):
  trials = sweep.expand('quickstart', search='halton', num_trials=5,
                        overrides=['train.num_epochs=3'])
  assert len(trials) == 5
  points = search.halton(trials_lib.load_registry().get('quickstart').axes, 5, seed=0)
  for trial, point in zip(trials, points):
    assert trial.overrides[0] == 'train.num_epochs=3'
    config = trial.config(tmp_path)
    assert config.optimizer.learning_rate == point['optimizer.learning_rate']  # exact
    assert config.train.num_epochs == 3


def test_expand_rejects_a_set_on_a_swept_key_and_bad_input():
  with pytest.raises(ConfigError, match='optimizer.learning_rate'):
    sweep.expand('quickstart', overrides=['optimizer.learning_rate=0.1'])
  with pytest.raises(ConfigError, match='seed'):
    sweep.expand('quickstart', overrides=['seed=3'])
  with pytest.raises(ConfigError, match='model.dropout'):
    sweep.expand('quickstart', overrides=['model.dropout=2'])  # validated up front
  with pytest.raises(ConfigError, match='num_trials'):
    sweep.expand('quickstart', search='random')
  with pytest.raises(ConfigError, match='seeds'):
    sweep.expand('quickstart', seeds=())
  with pytest.raises(ConfigError, match='unknown experiment'):
    sweep.expand('nosuch')


def test_expand_without_axes_runs_seeds_and_drops_repeated_points(monkeypatch):
  assert [t.label for t in sweep.expand('mnist_mlp', seeds=(0, 1))] == ['seed=0', 'seed=1']
  # Random search over a 3-value axis with 20 draws repeats points: each runs once.
  monkeypatch.setitem(registry._REGISTRY, '_sweep_test', dataclasses.replace(
      registry.get('quickstart'), name='_sweep_test',
      axes={'model.activation': Discrete(('relu', 'tanh', 'elu'))}))
  trials = sweep.expand('_sweep_test', search='random', num_trials=20)
  assert sorted(t.label for t in trials) == [
      "model.activation='elu' seed=0", "model.activation='relu' seed=0",
      "model.activation='tanh' seed=0"]


def test_format_override_round_trips():
  for key, value in [('optimizer.learning_rate', 0.1 + 0.2), ('model.hidden', [16, 16]),
                     ('model.activation', 'tanh'), ('model.residual', True),
                     ('train.batch_size', 64)]:
    text = sweep.format_override(key, value)
    config = config_lib.apply_overrides(config_lib.base_config(), [text])
    expected = tuple(value) if isinstance(value, list) else value
    got = config
    for part in key.split('.'):
      got = got[part]
    assert got == expected and type(got) is type(expected), text


def test_expand_turns_a_choice_into_its_keys_and_rejects_setting_them(monkeypatch):
  choice = search.Choice({
      'cosine': {'optimizer.schedule.name': 'cosine'},
      'step': {'optimizer.schedule.name': 'step',
               'optimizer.schedule.step_epochs': (30, 45)}})
  monkeypatch.setitem(registry._REGISTRY, '_choice_test', dataclasses.replace(
      registry.get('quickstart'), name='_choice_test', axes={'schedule': choice}))
  trials = sweep.expand('_choice_test', seeds=(0,))
  assert [t.overrides for t in trials] == [
      ("optimizer.schedule.name='cosine'",),
      ("optimizer.schedule.name='step'", 'optimizer.schedule.step_epochs=(30, 45)')]
  with pytest.raises(ConfigError, match='optimizer.schedule.step_epochs: the sweep varies'):
    sweep.expand('_choice_test', overrides=['optimizer.schedule.step_epochs=(10,)'])
  # Different search seeds draw different random points.
  first, second = (sweep.expand('quickstart', search='random', num_trials=3,
                                search_seed=s) for s in (0, 1))
  assert first != second


def test_a_plain_runs_record_fills_keys_added_since_it_was_written(tmp_path):
  # `research run` leaves no trial.json; its record is made from config.json,
  # which a run written before a key existed lacks.
  run_dir = fabricate(tmp_path, 'seed0-old', seed=0, lr=0.03)
  (run_dir / 'trial.json').unlink()
  config = json.loads((run_dir / 'config.json').read_text())
  del config['optimizer']['batch_scaling'], config['data']['label_noise']
  (run_dir / 'config.json').write_text(json.dumps(config))
  experiment = trials_lib.load_registry().get('quickstart')
  record = trials_lib.plain_run_record(run_index.read_run(run_dir), experiment.config(),
                                       experiment.axes)
  assert record['overrides'] == ['optimizer.learning_rate=0.03']
  assert record['config_hash'] == config_hash(config_lib.apply_overrides(
      experiment.config(), ['optimizer.learning_rate=0.03']))
