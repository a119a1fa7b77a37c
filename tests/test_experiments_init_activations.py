"""The `initialization` and `activations` experiments: their configs and axes,
and their reports on fabricated trial records (tiny networks on MNIST-1D)."""

import re

import pytest

from experiments import activations as activations_experiment
from experiments import activations_report
from experiments import at_init
from research import activations
from research import config as config_lib
from research import diagnostics
from research import initializers
from research import models
from research import registry
from research import search
from research.errors import ConfigError
from research.tables import TableInputs
from research.train.resolve import resolve

TINY = {'data.name': 'mnist1d', 'data.normalization': 'standardize',
        'data.dev_size': 0, 'model.hidden': (8, 8)}


@pytest.mark.parametrize('name', ['initialization', 'activations'])
def test_every_point_of_the_grid_validates(name):
  exp = registry.get(name)
  points = search.grid(exp.axes)
  assert points
  for point in points:
    resolve(config_lib.merge(exp.config(),
                                         search.overrides_of(exp.axes, point)))


def test_axes_are_those_asked_for():
  init_axes = registry.get('initialization').axes
  inits = init_axes['model.init'].values
  assert set(inits) <= set(initializers.NAMES) and len(inits) == 4
  assert set(init_axes['model.activation'].values) == {'sigmoid', 'tanh', 'relu'}

  exp = registry.get('activations')
  units = exp.axes['unit']
  assert isinstance(units, search.Choice)
  maxout = activations_experiment.MAXOUT
  assert maxout == 'maxout (k=2)'
  # One option per activation name, setting that name alone, and maxout.
  assert set(units.options) == set(activations.NAMES) | {maxout}
  for name in activations.NAMES:
    assert units.options[name] == {'model.activation': name}
  maxout_config = config_lib.merge(exp.config(), units.options[maxout])
  assert maxout_config.model.maxout_pieces == 2
  models.check_maxout(maxout_config.model.maxout_pieces,
                      maxout_config.model.activation)
  assert exp.axes['model.residual'].values == (False, True)
  assert len(search.grid(exp.axes)) == 2 * (len(activations.NAMES) + 1)
  with pytest.raises(ConfigError, match='activations_maxout'):
    registry.get('activations_maxout')  # maxout is a point of `activations` now


def _overrides(values):
  return [f'{k}={v!r}' for k, v in values.items()]


def _record(experiment, point, seed=0, status='done', accuracy=0.5):
  """A trial record as `research sweep` leaves it: overrides from --set
  (TINY) then the point's, and the resolved config."""
  config = config_lib.merge(registry.get(experiment).config(), {**TINY, **point})
  final = {'test/accuracy': accuracy} if status == 'done' else {}
  return {'status': status, 'seed': seed, 'config': config.to_dict(),
          'overrides': _overrides({**TINY, **point}), 'final': final}


def test_point_configs_without_records_is_the_grid():
  pairs = at_init.point_configs('initialization', [])
  assert [p for p, _ in pairs] == search.grid(registry.get('initialization').axes)
  for point, config in pairs:
    assert config.model.init == point['model.init']
    assert config.model.activation == point['model.activation']

  axes = registry.get('activations').axes
  pairs = at_init.point_configs('activations', [])
  assert [p for p, _ in pairs] == [search.overrides_of(axes, p)
                                   for p in search.grid(axes)]
  for point, config in pairs:
    unit = activations_report.unit_of(point)
    assert config.model.maxout_pieces == (2 if unit == activations_experiment.MAXOUT
                                          else 1)
    assert config.model.activation == point['model.activation']
    assert config.model.residual == point['model.residual']


def test_final_accuracies_tell_maxout_from_relu():
  """Maxout's config has activation 'relu' too: the overrides, not the
  config, say which records are ReLU's."""
  keys = search.config_keys(registry.get('activations').axes)
  relu = {'model.activation': 'relu', 'model.residual': False}
  maxout = {**relu, 'model.maxout_pieces': 2}
  records = [_record('activations', relu, seed=0, accuracy=0.2),
             _record('activations', relu, seed=1, status='diverged'),
             _record('activations', maxout, seed=0, accuracy=0.7),
             _record('activations', maxout, seed=1, accuracy=0.9)]
  assert at_init.final_accuracies(records, relu, keys=keys) == ([0.2], 1)
  assert at_init.final_accuracies(records, maxout, keys=keys) == ([0.7, 0.9], 0)
  # Points of an axis that is not a Choice need no keys.
  assert at_init.final_accuracies(records, {'model.activation': 'sigmoid'}) == ([], 0)


def test_initialization_report_on_fabricated_records(tmp_path):
  # One activation, sigmoid as in the activations test: every network here
  # and there shares one compiled program.
  small = {'model.init': 'small_normal', 'model.activation': 'sigmoid'}
  he = {'model.init': 'he_normal', 'model.activation': 'sigmoid'}
  records = [_record('initialization', he, seed=1, accuracy=0.9),
             _record('initialization', he, seed=0, accuracy=0.8),
             _record('initialization', small, status='diverged'),
             {'status': 'failed', 'seed': 0, 'config': None, 'final': {}}]
  figures = tmp_path / 'figures' / 'initialization'
  text = registry.get('initialization').make_report(
      TableInputs('initialization', records, [], figures, log=lambda line: None))

  assert text.startswith('## Per-layer statistics at initialization')
  rows = [line for line in text.splitlines() if line.startswith('| ')][2:]
  # Grid order (small_normal before he_normal), the records' tiny network.
  assert [r.split(' | ')[:2] for r in rows] == [['| sigmoid', 'small_normal'],
                                                ['| sigmoid', 'he_normal']]
  assert rows[0].rstrip(' |').endswith('— (1 diverged)')
  assert rows[1].rstrip(' |').endswith('85.00')  # mean over its two seeds
  assert '2 hidden layers' in text
  for link in re.findall(r'\]\((figures/[^)]+)\)', text):
    path = tmp_path / link
    assert path.is_file() and path.stat().st_size > 1000, link
  assert {p.name for p in figures.iterdir()} == {'activations_sigmoid.png',
                                                 'gradient_norms.png'}


def test_activations_report_on_fabricated_records(tmp_path):
  maxout = activations_experiment.MAXOUT
  sigmoid = {'model.activation': 'sigmoid'}
  maxout_plain = {'model.activation': 'relu', 'model.maxout_pieces': 2,
                  'model.residual': False}
  records = [_record('activations', {**sigmoid, 'model.residual': False}, accuracy=0.1),
             _record('activations', {**sigmoid, 'model.residual': True}, accuracy=0.3),
             _record('activations', maxout_plain, accuracy=0.6),
             {'status': 'failed', 'seed': 0, 'config': None, 'final': {},
              'overrides': _overrides({**TINY, **sigmoid, 'model.residual': True})}]
  figures = tmp_path / 'figures' / 'activations'
  text = registry.get('activations').make_report(
      TableInputs('activations', records, [], figures, log=lambda line: None))

  assert text.startswith('## Gradient norm per layer at initialization')
  rows = {line.split(' | ')[0][2:]: line.split(' | ')
          for line in text.splitlines() if line.startswith('| ')}
  # The points that were run, in the order of the unit axis's options.
  assert list(rows)[2:] == ['sigmoid', maxout]
  assert rows['sigmoid'][4] == '10.0' and rows['sigmoid'][8].rstrip(' |') == '30.0'
  assert rows[maxout][4] == '60.0' and rows[maxout][8].rstrip(' |') == '—'
  # The maxout row is the maxout network's: its first hidden layer's
  # gradient norm as diagnostics computes it for that trial's config.
  config = config_lib.merge(registry.get('activations').config(),
                            {**TINY, **maxout_plain})
  x, y, num_classes = at_init.fixed_batch(config, {})
  layers = diagnostics.layer_statistics(config, x, y, at_init.SEED,
                                        num_classes=num_classes)
  assert rows[maxout][1] == at_init.sci(layers[0]['grad_norm'])
  assert rows[maxout][1] != rows['sigmoid'][1]
  assert (figures / 'gradient_norms.png').stat().st_size > 1000
