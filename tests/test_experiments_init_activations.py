"""The `initialization` and `activations` experiments: their configs and axes,
and their reports on fabricated trial records (tiny networks on MNIST-1D)."""

import re

import pytest

from experiments import activations as activations_experiment
from experiments import at_init
from research import activations
from research import config as config_lib
from research import initializers
from research import registry
from research import search
from research.tables import TableInputs

TINY = {'data.name': 'mnist1d', 'data.normalization': 'standardize',
        'data.dev_size': 0, 'model.hidden': (8, 8)}


@pytest.mark.parametrize('name', ['initialization', 'activations', 'activations_maxout'])
def test_every_point_of_the_grid_validates(name):
  exp = registry.get(name)
  points = search.grid(exp.axes)
  assert points
  for point in points:
    config_lib.validate(config_lib.merge(exp.config(), point))


def test_axes_are_those_asked_for():
  init_axes = registry.get('initialization').axes
  inits = init_axes['model.init'].values
  assert set(inits) <= set(initializers.NAMES) and len(inits) == 4
  assert set(init_axes['model.activation'].values) == {'sigmoid', 'tanh', 'relu'}
  act_axes = registry.get('activations').axes
  assert set(act_axes['model.activation'].values) == set(activations.NAMES)
  assert act_axes['model.residual'].values == (False, True)
  maxout = registry.get('activations_maxout')
  assert maxout.config().model.maxout_pieces > 1
  assert set(maxout.axes) == {'model.residual'}


def _record(experiment, point, seed=0, status='done', accuracy=0.5):
  config = config_lib.merge(registry.get(experiment).config(), {**TINY, **point})
  final = {'test/accuracy': accuracy} if status == 'done' else {}
  return {'status': status, 'seed': seed, 'config': config.to_dict(), 'final': final}


def test_point_configs_without_records_is_the_grid():
  pairs = at_init.point_configs('initialization', [])
  assert [p for p, _ in pairs] == search.grid(registry.get('initialization').axes)
  for point, config in pairs:
    assert config.model.init == point['model.init']
    assert config.model.activation == point['model.activation']


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
  text = registry.get('initialization').report(
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
  records = [_record('activations', {'model.activation': 'sigmoid', 'model.residual': False},
                     accuracy=0.1),
             _record('activations', {'model.activation': 'sigmoid', 'model.residual': True},
                     accuracy=0.3)]
  figures = tmp_path / 'figures' / 'activations'
  text = registry.get('activations').report(
      TableInputs('activations', records, [], figures, log=lambda line: None))

  assert text.startswith('## Gradient norm per layer at initialization')
  rows = {line.split(' | ')[0][2:]: line.split(' | ')
          for line in text.splitlines() if line.startswith('| ')}
  assert set(rows) >= {'sigmoid', activations_experiment.MAXOUT}
  sigmoid = rows['sigmoid']
  assert sigmoid[4] == '10.0' and sigmoid[8].rstrip(' |') == '30.0'
  assert rows[activations_experiment.MAXOUT][4] == '—'  # trained elsewhere
  assert (figures / 'gradient_norms.png').stat().st_size > 1000
