"""The optimizer registry and builder."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import config as config_lib
from research import optim, search
from research.errors import ConfigError
from research.optim import registry
from research.train.hparams import TRACED
from research.train.resolve import resolve
from train_helpers import tiny_config


def test_unknown_name_lists_known():
  with pytest.raises(ConfigError) as e:
    optim.get('adamm', 0.1)
  for name in ('adam', 'sgd', 'rmsprop', 'momentum'):
    assert name in str(e.value)


def test_unknown_hparam_is_rejected():
  with pytest.raises(ConfigError, match='momentum'):
    optim.get('sgd', 0.1, momentum=0.9)


def test_unknown_hparam_message_names_it_and_the_accepted_ones():
  with pytest.raises(ConfigError) as e:
    optim.get('adam', 0.1, beta1=0.9)
  for word in ('beta1', 'learning_rate', 'b1', 'b2', 'eps', 'bias_correction'):
    assert word in str(e.value)


@pytest.mark.parametrize('name', optim.names())
def test_entry_hparams_are_the_factorys_defaulted_arguments(name):
  # The builder passes optimizer.hparams.<name> to the factory by name; the
  # defaults are the factory's own (one place).
  entry = optim.entry(name)
  params = inspect.signature(entry.factory).parameters
  assert set(entry.hparams) <= set(params), entry.hparams
  assert 'learning_rate' not in entry.hparams
  assert entry.defaults == {k: params[k].default for k in entry.hparams}
  for key in entry.ranges:
    assert key in entry.hparams
    assert entry.defaults[key] in entry.ranges[key]  # a default is valid


def test_register_rejects_what_a_config_could_not_express():
  with pytest.raises(TypeError, match='learning_rate'):
    optim.register('bad', lambda lr: None)
  with pytest.raises(TypeError, match='need defaults'):
    optim.register('bad', lambda learning_rate, beta: None)
  with pytest.raises(TypeError, match='ranges'):
    optim.register('bad', lambda learning_rate, beta=0.5: None,
                   ranges={'gamma': '[0, 1)'})
  with pytest.raises(ValueError, match='already registered'):
    optim.register('adam', lambda learning_rate: None)
  assert 'bad' not in optim.names()


@pytest.mark.parametrize('text, inside, outside', [
    ('[0, 1)', (0.0, 0.5), (1.0, -0.1, float('nan'))),
    ('(0, inf)', (1e-12, 1e9), (0.0, -1.0)),
    ('[1, inf)', (1, 10), (0, 0.5)),
    ('(0, 1]', (1.0, 0.3), (0.0, 1.1)),
])
def test_interval(text, inside, outside):
  interval = registry.Interval.parse(text)
  assert str(interval) == text
  assert all(v in interval for v in inside)
  assert not any(v in interval for v in outside)


@pytest.mark.parametrize('name', ['sgd', 'momentum', 'nesterov', 'adagrad',
                                  'rmsprop', 'adam', 'nadam'])
def test_registry_serves_the_project_factories(name):
  # get(name) with no hparams is the public factory at its defaults.
  g = {'w': jnp.array([[0.5, -1.0], [2.0, 0.1]]), 'b': jnp.array([1.0, -3.0])}
  by_name = optim.get(name, 0.1)
  direct = getattr(optim, name)(0.1)
  state_a, state_b = by_name.init(g), direct.init(g)
  for _ in range(3):
    u_a, state_a = by_name.update(g, state_a, g, value=0.0, grad=g, value_fn=None)
    u_b, state_b = direct.update(g, state_b, g)
    jax.tree.map(np.testing.assert_array_equal, u_a, u_b)
  assert registry.REGISTRY[name].factory is getattr(optim, name)


@pytest.mark.parametrize('name', optim.names())
def test_every_optimizer_takes_extra_args_and_descends(name):
  # A convex quadratic: a few steps must lower it, through the extra-args path.
  tx = optim.get(name, 0.05)
  target = jnp.array([1.0, -2.0, 3.0])
  loss = lambda p: jnp.sum((p - target) ** 2)
  params = jnp.zeros(3)
  state = tx.init(params)
  for _ in range(20):
    value, grad = jax.value_and_grad(loss)(params)
    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=loss)
    params = optax.apply_updates(params, updates)
  assert loss(params) < loss(jnp.zeros(3))


def test_rmsprop_puts_eps_outside_the_root():
  # p -= lr g / (sqrt(E[g^2]) + eps): with decay 0 the first step is lr g/(|g| + eps).
  g = jnp.array([1e-4, 2.0])
  tx = optim.get('rmsprop', 1.0, decay=0.0, eps=1e-3)
  updates, _ = tx.update(g, tx.init(g))
  np.testing.assert_allclose(updates, -g / (jnp.abs(g) + 1e-3), rtol=1e-6)


def test_builder_passes_config_hparams():
  config = config_lib.base_config()
  config = config_lib.apply_overrides(config, [
      'optimizer.name=momentum', 'optimizer.learning_rate=0.5',
      'optimizer.hparams.momentum=0.5'])
  tx = optim.build_optimizer(config)
  g = jnp.ones(2)
  state = tx.init(g)
  u1, state = tx.update(g, state)
  u2, _ = tx.update(g, state)
  np.testing.assert_allclose(u1, -0.5 * g)
  np.testing.assert_allclose(u2, -0.5 * (0.5 * g + g))


@pytest.mark.parametrize('name', optim.names())
def test_every_optimizer_declares_a_tuning_space_a_population_can_train(name):
  """Its search space sits beside its registration, over the keys a
  population trains as data; its quasi-random points are runnable configs."""
  entry = optim.entry(name)
  if entry.line_search:  # its learning rate is its first trial step
    assert entry.tuning == {}
    return
  varied = {k: axis for k, axis in entry.tuning.items() if not registry.is_fixed(axis)}
  assert varied and set(search.config_keys(varied)) <= set(registry.TUNABLE)
  for point in search.halton(entry.tuning, 4, seed=0):
    config = resolve(config_lib.merge(tiny_config(f'optimizer.name={name}'), point))
    lr = entry.tuning['optimizer.learning_rate']
    assert lr.low <= config.optimizer.learning_rate <= lr.high


def test_tunable_keys_are_trained_as_data():
  assert set(registry.TUNABLE) <= set(TRACED.values())
  with pytest.raises(TypeError, match=r"tuning over \['optimizer.hparams.b1'\]"):
    optim.register('bad', lambda learning_rate, b1=0.9: None,
                   tuning={'optimizer.hparams.b1': search.Discrete((0.9, 0.95))})
  # Any key may be fixed to one value for every trial.
  optim.register('fixed', lambda learning_rate, b1=0.9: None,
                 tuning={'optimizer.hparams.b1': search.Discrete((0.95,)),
                         **optim.learning_rates(1e-3, 1e-1)})
  optim.registry.REGISTRY.pop('fixed')
  with pytest.raises(ConfigError, match='optimizer.learning_rate'):
    optim.register('bad', lambda learning_rate: None,
                   tuning={'optimizer.learning_rate': search.LogUniform(1.0, 0.1)})
  assert 'bad' not in optim.names()
