"""Search spaces: grid, random and Halton points, validation, and the registry's axes."""

import importlib
import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from research import config as config_lib
from research import registry, search
from research.errors import ConfigError
from research.search import Discrete, LogUniform, Uniform

importlib.import_module('experiments')  # registers them

AXES = {
    'optimizer.learning_rate': LogUniform(1e-4, 1e-1, grid=(1e-4, 1e-3, 1e-2)),
    'model.dropout': Uniform(0.0, 0.5, grid=(0.0, 0.25)),
    'model.activation': Discrete(('relu', 'tanh', 'elu', 'sigmoid')),
}


def test_grid_is_the_cartesian_product_in_order():
  points = search.grid(AXES)
  assert len(points) == 3 * 2 * 4
  expected = [dict(zip(AXES, values)) for values in itertools.product(
      (1e-4, 1e-3, 1e-2), (0.0, 0.25), ('relu', 'tanh', 'elu', 'sigmoid'))]
  assert points == expected
  assert search.grid(AXES) == points  # deterministic


def test_grid_needs_grid_points_and_names_the_key():
  with pytest.raises(ConfigError, match='model.dropout'):
    search.grid({'model.dropout': Uniform(0.0, 0.5)})


def test_empty_axes_give_one_point():
  assert search.grid({}) == [{}]
  assert search.random({}, 3, seed=0) == [{}, {}, {}]


def _map_independently(unit, axes):
  """The inverse CDFs written out with NumPy, one axis at a time."""
  lr, dropout, act = axes.values()
  return [{
      'optimizer.learning_rate': float(np.exp(np.log(lr.low) + u[0] * (np.log(lr.high) - np.log(lr.low)))),
      'model.dropout': dropout.low + u[1] * (dropout.high - dropout.low),
      'model.activation': act.values[int(np.floor(u[2] * len(act.values)))],
  } for u in unit]


def test_halton_points_are_scipys_mapped_through_each_axis():
  points = search.halton(AXES, 16, seed=3)
  unit = qmc.Halton(d=3, scramble=True, rng=3).random(16)
  expected = _map_independently(unit, AXES)
  assert len(points) == 16
  for p, e in zip(points, expected):
    assert p['optimizer.learning_rate'] == pytest.approx(e['optimizer.learning_rate'], rel=1e-12)
    assert p['model.dropout'] == pytest.approx(e['model.dropout'], rel=1e-12)
    assert p['model.activation'] == e['model.activation']
  assert search.halton(AXES, 16, seed=3) == points
  assert search.halton(AXES, 16, seed=4) != points


def test_halton_covers_a_discrete_axis_evenly():
  # Halton's first coordinate is base 2: 8 points put 2 in each of 4 quarters.
  points = search.halton({'model.activation': AXES['model.activation']}, 8, seed=0)
  counts = {v: sum(p['model.activation'] == v for p in points)
            for v in AXES['model.activation'].values}
  assert set(counts.values()) == {2}


def test_random_matches_numpy_generator_mapped():
  points = search.random(AXES, 10, seed=7)
  unit = np.random.default_rng(7).random((10, 3))
  for p, e in zip(points, _map_independently(unit, AXES)):
    assert p['optimizer.learning_rate'] == pytest.approx(e['optimizer.learning_rate'], rel=1e-12)
    assert p['model.activation'] == e['model.activation']
  assert search.random(AXES, 10, seed=7) == points
  assert search.random(AXES, 10, seed=8) != points


def test_random_log_uniform_is_uniform_in_log_space():
  axis = LogUniform(1e-5, 1.0)
  values = np.array([p['x'] for p in search.random({'x': axis}, 4000, seed=0)])
  assert values.min() >= 1e-5 and values.max() <= 1.0
  logs = np.log10(values)
  # Uniform on [-5, 0]: each decade holds about a fifth of the draws.
  counts, _ = np.histogram(logs, bins=5, range=(-5, 0))
  assert np.all(np.abs(counts / 4000 - 0.2) < 0.03), counts
  assert stats.kstest(logs, stats.uniform(loc=-5, scale=5).cdf).pvalue > 1e-3
  assert all(type(v) is float for v in values.tolist())


def test_random_uniform_and_discrete_stay_in_range():
  points = search.random({'a': Uniform(-2.0, 3.0), 'b': Discrete((1, 2, 3))}, 3000, seed=1)
  a = np.array([p['a'] for p in points])
  assert a.min() >= -2.0 and a.max() <= 3.0 and abs(a.mean() - 0.5) < 0.1
  counts = [sum(p['b'] == v for p in points) for v in (1, 2, 3)]
  assert all(abs(c / 3000 - 1 / 3) < 0.03 for c in counts), counts


@pytest.mark.parametrize('axis, words', [
    (Uniform(1.0, 1.0), ['low < high']),
    (Uniform(2.0, 1.0), ['low < high']),
    (Uniform(0.0, math.inf), ['finite']),
    (Uniform(0.0, 1.0, grid=(0.5, 2.0)), ['2.0', 'outside']),
    (LogUniform(0.0, 1.0), ['low > 0']),
    (LogUniform(-1.0, 1.0), ['low > 0']),
    (Discrete(()), ['at least one']),
])
def test_bad_axes_raise_naming_the_key(axis, words):
  with pytest.raises(ConfigError) as info:
    search.random({'optimizer.learning_rate': axis}, 2, seed=0)
  message = str(info.value)
  assert 'optimizer.learning_rate' in message
  for w in words:
    assert w in message, message


def test_unknown_keys_and_bad_values_are_caught_against_a_config():
  config = registry.get('quickstart').config()
  with pytest.raises(ConfigError, match='optimizer.learning_rat'):
    search.validate({'optimizer.learning_rat': LogUniform(1e-3, 1e-1)}, config)
  with pytest.raises(ConfigError, match='model.activation'):
    search.validate({'model.activation': Discrete((1, 2))}, config)
  search.validate(AXES, config)  # fine


def test_num_trials_and_search_names():
  with pytest.raises(ConfigError, match='num_trials'):
    search.random(AXES, 0, seed=0)
  with pytest.raises(ConfigError, match='grid, random, halton'):
    search.points(AXES, 'sobol', 4)
  with pytest.raises(ConfigError, match='num_trials'):
    search.points(AXES, 'halton')
  assert search.points(AXES, 'halton', 4, seed=2) == search.halton(AXES, 4, seed=2)


def test_values_override_back_exactly():
  config = registry.get('quickstart').config()
  for p in search.halton(AXES, 8, seed=0):
    overrides = [f'{k}={v!r}' for k, v in p.items()]
    applied = config_lib.apply_overrides(config, overrides)
    assert applied.optimizer.learning_rate == p['optimizer.learning_rate']
    assert applied.model.dropout == p['model.dropout']


def test_experiments_carry_axes():
  assert registry.get('quickstart').axes == {
      'optimizer.learning_rate': LogUniform(3e-3, 3e-2, grid=(3e-3, 1e-2, 3e-2))}
  assert registry.get('mnist_mlp').axes == {}  # default: none


def test_register_checks_axes_and_tolerates_the_same_definition_again(monkeypatch):
  monkeypatch.setattr(registry, '_REGISTRY', dict(registry._REGISTRY))
  with pytest.raises(ConfigError, match='optimizer.learning_rate'):
    registry.register('bad_axes', description='x',
                      axes={'optimizer.learning_rate': LogUniform(0.0, 1.0)})

  def get_config():
    return config_lib.base_config()

  axes = {'model.dropout': Uniform(0.0, 0.5, grid=(0.0, 0.5))}
  registry.register('with_axes', description='d', axes=axes)(get_config)
  assert registry.get('with_axes').axes == axes
  registry.register('with_axes', description='d', axes=axes)(get_config)  # again: fine
  with pytest.raises(ValueError, match='registered twice'):
    registry.register('with_axes', description='other')(get_config)


SCHEDULE = search.Choice({
    'cosine': {'optimizer.schedule.name': 'cosine'},
    'step': {'optimizer.schedule.name': 'step',
             'optimizer.schedule.step_epochs': (30, 45)},
})


def test_a_choice_sets_its_options_keys_together():
  axes = {'schedule': SCHEDULE, 'optimizer.learning_rate': Discrete((0.1, 0.01))}
  points = search.grid(axes)
  assert [p['schedule'] for p in points] == ['cosine', 'cosine', 'step', 'step']
  assert search.overrides_of(axes, points[2]) == {
      'optimizer.schedule.name': 'step', 'optimizer.schedule.step_epochs': (30, 45),
      'optimizer.learning_rate': 0.1}
  assert search.config_keys(axes) == ['optimizer.schedule.name',
                                      'optimizer.schedule.step_epochs',
                                      'optimizer.learning_rate']
  # Random draws pick option names evenly.
  names = [p['schedule'] for p in search.random(axes, 2000, seed=0)]
  assert abs(names.count('step') / 2000 - 0.5) < 0.05
  # A table shows the option's name again; the option setting most keys wins.
  overrides = search.overrides_of(axes, points[2])
  assert search.choice_names(axes, overrides) == points[2]
  nested = {'unit': search.Choice({
      'relu': {'model.activation': 'relu'},
      'maxout': {'model.activation': 'relu', 'model.maxout_pieces': 2}})}
  assert search.choice_names(nested, {'model.activation': 'relu', 'model.maxout_pieces': 2,
                                      'model.residual': True}) == {
      'unit': 'maxout', 'model.residual': True}
  assert search.choice_names(nested, {'model.activation': 'relu'}) == {'unit': 'relu'}
  assert search.choice_names(nested, {'model.activation': 'tanh'}) == {
      'model.activation': 'tanh'}  # no option explains it: kept


def test_the_point_of_a_config_is_what_its_trial_would_name():
  """A run trained without a sweep sits at a point of the axes: its values
  of the plain axes and the keys of the Choice option it matches."""
  axes = {'schedule': SCHEDULE, 'optimizer.learning_rate': Discrete((0.1, 0.01))}
  flat = {'optimizer.schedule.name': 'step', 'optimizer.schedule.step_epochs': [30, 45],
          'optimizer.learning_rate': 0.01, 'model.hidden': [8]}
  point = search.point_of(axes, flat)
  assert point == {'optimizer.schedule.name': 'step',
                   'optimizer.schedule.step_epochs': [30, 45],
                   'optimizer.learning_rate': 0.01}
  assert search.choice_names(axes, {**point, 'optimizer.schedule.step_epochs': (30, 45)}
                             ) == {'schedule': 'step', 'optimizer.learning_rate': 0.01}
  # An option's value the config lacks matches nothing; a missing key is left out.
  assert search.point_of(axes, {'optimizer.schedule.name': 'linear'}) == {}


def test_a_choice_is_validated_option_by_option():
  config = registry.get('quickstart').config()
  search.validate({'schedule': SCHEDULE}, config)
  with pytest.raises(ConfigError, match='optimizer.schedule.nam'):
    search.validate({'schedule': search.Choice({'x': {'optimizer.schedule.nam': 'step'}})},
                    config)
  with pytest.raises(ConfigError, match='at least one option'):
    search.validate({'schedule': search.Choice({})})
  with pytest.raises(ConfigError, match='optimizer.schedule.name: set by more than one'):
    search.validate({'schedule': SCHEDULE,
                     'optimizer.schedule.name': Discrete(('constant',))})
  with pytest.raises(ConfigError, match="'linear' is not one of its options"):
    search.overrides_of({'schedule': SCHEDULE}, {'schedule': 'linear'})
