"""Config overrides, the one validation pass, and messages that name the key."""

import pytest

from research import config as config_lib
from research import optim
from research import registry
from research.errors import ConfigError
from research.train.resolve import resolve
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
    # An optimizer's own hyperparameter set where the chain's keys are.
    ('optimizer.b1=0.5', ['optimizer.b1', 'unknown', 'optimizer.hparams.b1']),
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
    ('optimizer.hparams.beta1=0.5', ['optimizer.hparams.beta1', "'adam' takes no",
                                     'b1', 'b2', 'eps']),
    ('optimizer.hparams.b1=1.0', ['optimizer.hparams.b1', '[0, 1)']),
    ('optimizer.hparams.eps=0', ['optimizer.hparams.eps', '(0, inf)']),
    ('optimizer.hparams.bias_correction=1', ['optimizer.hparams.bias_correction',
                                             'bool']),
    ('train.batch_size=0', ['train.batch_size']),
    ('train.num_epochs=-1', ['train.num_epochs']),
    ('train.keep_checkpoints=1', ['train.keep_checkpoints']),
    ('train.monitor=test/accuracy', ['train.monitor', 'test set']),
    ('train.monitor=dev/f1', ['train.monitor']),
    ('train.patience=3', ['train.patience', 'train.monitor']),
    ('data.normalization=zscore', ['data.normalization']),
    ('data.dev_size=-5', ['data.dev_size']),
    ('tracking.wandb=maybe', ['tracking.wandb']),
    ('parallel.mode=pmapp', ['parallel.mode']),
])
def test_resolve_rejects_bad_values(override, words):
  config = config_lib.apply_overrides(quickstart(), [override])
  with pytest.raises(ConfigError) as e:
    resolve(config)
  for w in words:
    assert w in str(e.value), str(e.value)


def test_resolve_rejects_keys_an_experiment_added():
  config = quickstart()
  config.model.widht = 3  # a typo in an experiment file
  with pytest.raises(ConfigError, match='model.widht'):
    resolve(config)


def test_every_registered_experiment_resolves():
  computed = []
  for name in registry.names():
    experiment = registry.get(name)
    if not experiment.trainable:
      computed.append(name)
      with pytest.raises(ConfigError, match=f'research table {name}'):
        experiment.config()
      continue
    resolve(experiment.config())
  assert {'test_set_size', 'universal_approximation'} <= set(computed)


def test_unknown_experiment_lists_known():
  with pytest.raises(ConfigError) as e:
    registry.get('quickstrat')
  assert 'quickstart' in str(e.value) and 'mnist_mlp' in str(e.value)


def test_early_stopping_on_dev_needs_a_dev_set():
  config = config_lib.apply_overrides(quickstart(), ['train.monitor=dev/accuracy',
                                                     'train.patience=3'])
  with pytest.raises(ConfigError, match='train.patience.*data.dev_size'):
    resolve(config)
  resolve(config_lib.apply_overrides(config, ['data.dev_size=500']))


def test_resolved_config_is_frozen_and_resolving_it_again_returns_it():
  resolved = resolve(quickstart())
  assert resolve(resolved) is resolved
  with pytest.raises((AttributeError, TypeError, ValueError)):
    resolved.seed = 3  # checked once: it cannot change afterwards


# --------------------------------------------------------------------------
# Each optimizer owns its hyperparameters


def test_resolve_fills_the_optimizers_hyperparameters_from_its_factory():
  resolved = resolve(quickstart())  # adam
  assert resolved.optimizer.hparams.to_dict() == {
      'b1': 0.9, 'b2': 0.999, 'eps': 1e-8, 'bias_correction': True}
  mnist = resolve(registry.get('mnist_mlp').config())  # rmsprop, Keras' eps
  assert mnist.optimizer.hparams.to_dict() == {'decay': 0.9, 'eps': 1e-7,
                                               'eps_in_sqrt': False}


@pytest.mark.parametrize('experiment', ['mnist_mlp', 'quickstart', 'dropout_mnist'])
def test_switching_optimizer_drops_the_previous_ones_hyperparameters(experiment):
  # mnist_mlp sets rmsprop's eps, dropout_mnist momentum's momentum: neither
  # follows the run to another optimizer.
  own = registry.get(experiment).config().optimizer.name
  for name in {'sgd', 'momentum', 'adadelta', 'lbfgs'} - {own}:
    config = config_lib.apply_overrides(registry.get(experiment).config(),
                                        [f'optimizer.name={name}'])
    resolved = resolve(config)
    assert resolved.optimizer.hparams.to_dict() == optim.entry(name).defaults


def test_an_optimizers_hyperparameter_holds_before_or_after_its_name():
  for order in (['optimizer.hparams.momentum=0.5', 'optimizer.name=momentum'],
                ['optimizer.name=momentum', 'optimizer.hparams.momentum=0.5']):
    resolved = resolve(config_lib.apply_overrides(quickstart(), order))
    assert resolved.optimizer.hparams.momentum == 0.5
    assert resolved.optimizer.hparams.nesterov is False


def test_setting_the_same_optimizer_keeps_its_hyperparameters():
  config = config_lib.apply_overrides(registry.get('mnist_mlp').config(),
                                      ['optimizer.name=rmsprop'])
  assert resolve(config).optimizer.hparams.eps == 1e-7
