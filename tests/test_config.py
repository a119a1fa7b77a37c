"""Config overrides, validation messages, and run identity."""

import pytest

from research import config as config_lib
from research import registry
from research.errors import ConfigError
import experiments  # pylint: disable=unused-import  (registers them)


def quickstart():
  return registry.get('quickstart').config()


@pytest.mark.parametrize('text, expected', [
    ('1e-3', 1e-3), ('3', 3), ('(512, 512)', (512, 512)), ('[3, 5]', (3, 5)),
    ('true', True), ('False', False), ('relu', 'relu'), ('/a/b', '/a/b'),
    ('()', ())])
def test_parse_value(text, expected):
  assert config_lib.parse_value(text) == expected


def test_overrides_set_values_and_keep_types():
  c = config_lib.apply_overrides(quickstart(), [
      'optimizer.learning_rate=3', 'model.hidden=(64, 32)', 'model.hidden=64',
      'data.classes=[3,5]', 'train.shuffle=true'])
  assert c.optimizer.learning_rate == 3.0 and isinstance(c.optimizer.learning_rate, float)
  assert c.model.hidden == (64,)
  assert c.data.classes == (3, 5)
  assert c.train.shuffle is True


def test_overrides_do_not_touch_the_original():
  base = quickstart()
  config_lib.apply_overrides(base, ['seed=7'])
  assert base.seed == 0


@pytest.mark.parametrize('override, words', [
    ('optimizer.learnig_rate=0.1', ['optimizer.learnig_rate', 'unknown',
                                    'optimizer.learning_rate']),
    ('nosuch=1', ['nosuch', 'unknown', 'seed']),
    ('model=3', ['model', 'section']),
    ('optimizer.learning_rate=fast', ['optimizer.learning_rate', 'float']),
    ('train.shuffle=1', ['train.shuffle', 'bool']),
    ('seed', ['key=value']),
])
def test_bad_overrides_name_the_key(override, words):
  with pytest.raises(ConfigError) as e:
    config_lib.apply_overrides(quickstart(), [override])
  for w in words:
    assert w in str(e.value)


@pytest.mark.parametrize('override, words', [
    ('optimizer.learning_rate=-0.1', ['optimizer.learning_rate', '> 0']),
    ('optimizer.learning_rate=0', ['optimizer.learning_rate']),
    ('model.dropout=1.0', ['model.dropout', '[0, 1)']),
    ('model.dropout=-0.1', ['model.dropout']),
    ('model.input_dropout=1.5', ['model.input_dropout']),
    ('model.activation=relux', ['model.activation', 'relu', 'tanh']),
    ('model.init=magic', ['model.init', 'xavier_normal']),
    ('model.batchnorm=middle', ['model.batchnorm']),
    ('loss.name=l3', ['loss.name', 'cross_entropy']),
    ('optimizer.name=adamw2', ['optimizer.name', 'adam', 'sgd']),
    ('optimizer.b1=0.5', ['optimizer.b1', 'does not use']),  # quickstart uses adam: b1 is fine
    ('train.batch_size=0', ['train.batch_size']),
    ('train.num_epochs=-1', ['train.num_epochs']),
    ('train.keep_checkpoints=1', ['train.keep_checkpoints']),
    ('train.monitor=test/accuracy', ['train.monitor', 'test set']),
    ('train.monitor=dev/f1', ['train.monitor']),
    ('train.patience=3', ['train.patience', 'train.monitor']),
    ('data.normalization=zscore', ['data.normalization']),
    ('data.dev_size=-5', ['data.dev_size']),
    ('tracking.wandb=maybe', ['tracking.wandb']),
])
def test_validate_rejects_bad_values(override, words):
  config = config_lib.apply_overrides(quickstart(), [override])
  if override == 'optimizer.b1=0.5':
    config_lib.validate(config)  # adam takes b1
    config = config_lib.apply_overrides(config, ['optimizer.name=sgd'])
  with pytest.raises(ConfigError) as e:
    config_lib.validate(config)
  for w in words:
    assert w in str(e.value), str(e.value)


def test_validate_rejects_keys_an_experiment_added():
  config = quickstart()
  config.model.widht = 3  # a typo in an experiment file
  with pytest.raises(ConfigError, match='model.widht'):
    config_lib.validate(config)


def test_every_registered_experiment_validates():
  computed = []
  for name in registry.names():
    experiment = registry.get(name)
    if not experiment.trainable:
      computed.append(name)
      with pytest.raises(ConfigError, match=f'research table {name}'):
        experiment.config()
      continue
    config_lib.validate(experiment.config())
  assert {'test_set_size', 'universal_approximation'} <= set(computed)


def test_unknown_experiment_lists_known():
  with pytest.raises(ConfigError) as e:
    registry.get('quickstrat')
  assert 'quickstart' in str(e.value) and 'mnist_mlp' in str(e.value)


def test_hash_ignores_tracking_and_survives_json():
  import json
  a = quickstart()
  b = config_lib.apply_overrides(a, ['tracking.wandb=disabled', 'tracking.output_dir=/x'])
  assert config_lib.config_hash(a) == config_lib.config_hash(b)
  c = config_lib.apply_overrides(a, ['seed=1'])
  assert config_lib.config_hash(a) != config_lib.config_hash(c)
  assert config_lib.config_hash(json.loads(config_lib.to_json(a))) == config_lib.config_hash(a)


def test_hash_of_recorded_configs_is_pinned():
  # Recorded runs are found again by their hash: keys added later must leave
  # it unchanged at their defaults (research.config._ADDED_KEY_DEFAULTS).
  assert config_lib.config_hash(config_lib.base_config()) == '2b1f9831d5'
  recorded = config_lib.apply_overrides(registry.get('mnist_mlp').config(),
                                       ['data.dir=../shared/data', 'seed=0'])
  assert config_lib.config_hash(recorded) == '6ab80263ae'  # runs/mnist_mlp/seed0-6ab80263ae


def test_early_stopping_on_dev_needs_a_dev_set():
  config = config_lib.apply_overrides(quickstart(), ['train.monitor=dev/accuracy',
                                                     'train.patience=3'])
  with pytest.raises(ConfigError, match='train.patience.*data.dev_size'):
    config_lib.validate(config)
  config_lib.validate(config_lib.apply_overrides(config, ['data.dev_size=500']))
