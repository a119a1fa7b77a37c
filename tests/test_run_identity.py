"""A run's identity: what its config changes from the defaults.

Recorded runs are found again by their hash (their directory's name, a
sweep's skip test), so a key added later with a default must leave every
recorded run's hash as it was, and any change of value must change it.
"""

import json

import ml_collections
import pytest

from research import config as config_lib
from research import registry
from research.config import sections
from research.errors import ConfigError
from research.optim import registry as optim_registry
from research.train.resolve import (config_from_record, config_hash, overrides,
                                    resolve)
import experiments  # pylint: disable=unused-import  (registers them)


def mnist_mlp():
  return config_lib.apply_overrides(registry.get('mnist_mlp').config(),
                                    ['data.dir=../shared/data', 'seed=0'])


def test_hashes_are_pinned():
  # The hash of the base config (no overrides) and of the recorded mnist_mlp
  # run; a change here renames every run directory: it needs a reason.
  assert config_hash(config_lib.base_config()) == '44136fa355'
  assert config_hash(mnist_mlp()) == '3ca46738b3'


def test_identity_is_the_overrides():
  assert overrides(mnist_mlp()) == {
      'experiment': 'mnist_mlp', 'data.dir': '../shared/data',
      'data.name': 'mnist', 'data.normalization': 'unit_interval',
      'model.hidden': (512, 512), 'model.init': 'xavier_uniform',
      'model.dropout': 0.2, 'optimizer.name': 'rmsprop',
      'optimizer.hparams.eps': 1e-7, 'train.num_epochs': 20,
      'train.monitor': ''}


def test_hash_ignores_presentation_and_survives_json_and_resolving():
  a = mnist_mlp()
  b = config_lib.apply_overrides(a, ['tracking.wandb=disabled',
                                     'tracking.output_dir=/x',
                                     'parallel.mode=sharded'])
  assert config_hash(a) == config_hash(b)
  resolved = resolve(a)
  assert config_hash(resolved) == config_hash(a)
  assert config_hash(json.loads(json.dumps(resolved.to_dict()))) == config_hash(a)
  # A value set to its default is no override.
  same = config_lib.apply_overrides(a, ['optimizer.hparams.decay=0.9',
                                        'model.activation=relu'])
  assert config_hash(same) == config_hash(a)


def _changed(value):
  if isinstance(value, bool):
    return not value
  if isinstance(value, int):
    return value + 1
  if isinstance(value, float):
    return value * 0.5 + 0.25
  if isinstance(value, tuple):
    return (*value, 7)
  return value + '_x'


def test_every_value_that_changes_changes_the_hash():
  base = config_lib.base_config()
  reference = config_hash(base)
  seen = {reference}
  for key, value in config_lib.flatten(base).items():
    if key.split('.')[0] in config_lib.PRESENTATION_SECTIONS or key.startswith(
        'optimizer.'):
      continue  # presentation; the optimizer's keys are checked below
    changed = config_lib.merge(base, {key: _changed(value)})
    digest = config_hash(changed)
    assert digest not in seen, key
    seen.add(digest)
  for override in ('optimizer.name=sgd', 'optimizer.learning_rate=0.1',
                   'optimizer.hparams.b2=0.99', 'optimizer.weight_decay=0.1',
                   'optimizer.grad_clip_norm=1', 'optimizer.schedule.name=cosine',
                   'optimizer.reference_batch_size=256'):
    digest = config_hash(config_lib.apply_overrides(base, [override]))
    assert digest not in seen, override
    seen.add(digest)


def test_a_key_added_with_a_default_keeps_every_identity(monkeypatch):
  before = {name: config_hash(c) for name, c in (
      ('mnist_mlp', mnist_mlp()), ('quickstart', registry.get('quickstart').config()))}
  model_config = sections.model_config

  def with_new_key():
    c = model_config()
    c.new_knob = 0.5
    return c

  monkeypatch.setattr(sections, 'model_config', with_new_key)
  assert 'new_knob' in config_lib.base_config().model
  after = {name: config_hash(c) for name, c in (
      ('mnist_mlp', mnist_mlp()), ('quickstart', registry.get('quickstart').config()))}
  assert after == before
  # A recorded config.json without the key reads back with its default.
  record = mnist_mlp().to_dict()
  del record['model']['new_knob']
  assert config_hash(record) == before['mnist_mlp']
  # And a value other than its default is a new run.
  assert config_hash(config_lib.apply_overrides(
      mnist_mlp(), ['model.new_knob=0.75'])) != before['mnist_mlp']


def test_a_hyperparameter_added_to_a_factory_keeps_every_identity(monkeypatch):
  def probe(learning_rate, a=1.0):
    return optim_registry.REGISTRY['sgd'].factory(learning_rate)

  def probe_v2(learning_rate, a=1.0, new=2.0):
    return probe(learning_rate, a)

  monkeypatch.setitem(optim_registry.REGISTRY, 'probe',
                      optim_registry.OptimizerEntry('probe', probe, ''))
  config = config_lib.apply_overrides(config_lib.base_config(),
                                      ['optimizer.name=probe',
                                       'optimizer.hparams.a=3.0'])
  before = config_hash(config)
  recorded = resolve(config).to_dict()
  monkeypatch.setitem(optim_registry.REGISTRY, 'probe',
                      optim_registry.OptimizerEntry('probe', probe_v2, ''))
  assert resolve(config).optimizer.hparams.new == 2.0
  assert config_hash(config) == before
  assert config_hash(recorded) == before  # config.json written before `new`
  assert config_hash(config_lib.apply_overrides(
      config, ['optimizer.hparams.new=3.0'])) != before


def test_a_config_json_of_the_flat_optimizer_section_still_reads():
  # Before optimizer.hparams, the section held every optimizer's keys.
  record = resolve(mnist_mlp()).to_dict()
  optimizer = record['optimizer']
  old_keys = optimizer.pop('hparams')
  old_keys.pop('eps_in_sqrt')  # added after the flat section was gone
  optimizer.update(old_keys)
  optimizer.update({'momentum': 0.9, 'nesterov': False, 'b1': 0.9, 'b2': 0.999,
                    'bias_correction': True, 'initial_accumulator': 0.0,
                    'memory_size': 10})
  config = config_from_record(record)
  assert config.optimizer.hparams.to_dict() == {'decay': 0.9, 'eps': 1e-7}
  assert config_hash(record) == config_hash(mnist_mlp())


def test_open_section_is_empty_in_the_base_and_holds_any_name():
  base = config_lib.base_config()
  assert base.optimizer.hparams == ml_collections.ConfigDict()
  config = config_lib.apply_overrides(base, ['optimizer.hparams.anything=1'])
  assert config.optimizer.hparams.anything == 1
  with pytest.raises(ConfigError, match='optimizer.hparams.anything'):
    resolve(config)
