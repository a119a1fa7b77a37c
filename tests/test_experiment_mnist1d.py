"""The mnist1d reproduction (REFERENCES §1): its points and its verdicts."""

import pathlib

from launch import sweep
from launch import trials as trials_lib
from research.tables import TableInputs

registry = trials_lib.load_registry()


def _record(overrides, test, train, status='done'):
  return {'status': status, 'overrides': list(overrides),
          'final': {'test/accuracy': test, 'train/accuracy': train}}


def test_four_points_logistic_and_mlp_raw_and_permuted():
  trials = sweep.expand('mnist1d', seeds=(0,))
  assert [t.overrides for t in trials] == [
      ('model.hidden=()', 'model.residual=False', 'data.permute_inputs=False'),
      ('model.hidden=()', 'model.residual=False', 'data.permute_inputs=True'),
      ('model.hidden=(100, 100)', 'model.residual=True', 'data.permute_inputs=False'),
      ('model.hidden=(100, 100)', 'model.residual=True', 'data.permute_inputs=True')]
  # Every published number belongs to a point that runs.
  labels = {' '.join(t.overrides) for t in trials}
  assert set(registry.get('mnist1d').published) == labels


def test_the_report_judges_each_mean_against_its_band():
  logistic = ('model.hidden=()', 'model.residual=False')
  mlp = ('model.hidden=(100, 100)', 'model.residual=True')
  records = [
      _record([*logistic, 'data.permute_inputs=False'], 0.31, 0.37),
      _record([*logistic, 'data.permute_inputs=False'], 0.33, 0.37),  # mean 32%: in
      _record([*logistic, 'data.permute_inputs=True'], 0.345, 0.37),  # 2.5 points off: out
      _record([*mlp, 'data.permute_inputs=False'], 0.66, 0.97),  # train < 98%: out
      _record([*mlp, 'data.permute_inputs=True'], 0.10, 0.10, status='diverged'),
  ]
  text = registry.get('mnist1d').report(TableInputs(
      'mnist1d', records, [], pathlib.Path('/nonexistent')))
  rows = [line for line in text.splitlines() if line.startswith('| ') and '%' in line]
  assert [r.split(' | ')[-1].strip(' |') for r in rows] == [
      '**yes**', '**no**', '**no**', 'not run']
  assert '| logistic regression | no | 2 | 32.0% | 37.0% |' in rows[0]
