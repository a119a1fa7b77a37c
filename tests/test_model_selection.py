"""research.model_selection: metrics read off a summary, against scikit-learn
and direct counting; the pick under satisficing constraints, against brute
force."""

import json
import math

import numpy as np
import pytest
from sklearn import metrics as sk

from launch.cli import main
from research import model_selection as ms
from research.errors import ConfigError
from research.metrics import confusion_matrix
from tests.test_runs_cli import fabricate


def _summary(y_true, y_pred, k, names):
  return {'num_params': 1234, 'final': {'dev/accuracy': 0.9},
          'report': {'dev': {'confusion': np.asarray(confusion_matrix(y_true, y_pred, k)).tolist(),
                             'per_class': {'class_names': names}}}}


@pytest.fixture
def labels():
  rng = np.random.default_rng(0)
  k = 5
  y_true = rng.integers(0, k, 400)
  y_pred = np.where(rng.random(400) < 0.7, y_true, rng.integers(0, k, 400))
  return y_true, y_pred, k, [f'c{i}' for i in range(k)]


def test_per_class_metrics_match_sklearn_and_counting(labels):
  y_true, y_pred, k, names = labels
  s = _summary(y_true, y_pred, k, names)
  recall = sk.recall_score(y_true, y_pred, average=None)
  precision = sk.precision_score(y_true, y_pred, average=None)
  for c in range(k):
    fpr = np.sum((y_pred == c) & (y_true != c)) / np.sum(y_true != c)
    assert ms.metric_value(s, f'dev/fpr@c{c}') == pytest.approx(fpr)
    assert ms.metric_value(s, f'dev/fpr@{c}') == pytest.approx(fpr)
    assert ms.metric_value(s, f'dev/recall@c{c}') == pytest.approx(recall[c])
    assert ms.metric_value(s, f'dev/precision@c{c}') == pytest.approx(precision[c])
  assert ms.metric_value(s, 'dev/min_recall') == pytest.approx(recall.min())
  assert ms.metric_value(s, 'dev/macro_f1') == pytest.approx(
      sk.f1_score(y_true, y_pred, average='macro'))


def test_plain_values_and_missing_ones(labels):
  s = _summary(*labels)
  assert ms.metric_value(s, 'num_params') == 1234
  assert ms.metric_value(s, 'final/dev/accuracy') == 0.9
  assert ms.metric_value(s, 'best/dev/accuracy') is None
  assert ms.metric_value(s, 'test/fpr@c1') is None  # no test report


def test_bad_metric_and_class_names_say_what_exists(labels):
  s = _summary(*labels)
  with pytest.raises(ConfigError, match="unknown; use one of num_params"):
    ms.metric_value(s, 'dev/fpr')
  with pytest.raises(ConfigError, match="no class 'Shirt'; the classes are c0, c1"):
    ms.metric_value(s, 'dev/fpr@Shirt')


def test_constraint_parsing():
  c = ms.Constraint.parse(' dev/fpr@Shirt <= 0.02 ')
  assert (c.metric, c.op, c.bound) == ('dev/fpr@Shirt', '<=', 0.02)
  assert ms.Constraint.parse('num_params<1e5').holds(99999.0)
  assert not ms.Constraint.parse('num_params<1e5').holds(1e5)
  assert not c.holds(None) and not c.holds(math.nan)
  for bad in ('num_params', 'num_params=<3', 'num_params<=many'):
    with pytest.raises(ConfigError, match='constraint'):
      ms.Constraint.parse(bad)


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('maximize', [True, False])
def test_select_is_the_brute_force_best_feasible(seed, maximize):
  rng = np.random.default_rng(seed)
  cands = [ms.Candidate(f'p{i}', {'acc': float(rng.random()), 'size': float(rng.integers(1, 100)),
                                  'fpr': float(rng.random() * 0.1)}) for i in range(30)]
  bounds = [ms.Constraint('size', '<=', 50), ms.Constraint('fpr', '<', 0.05)]
  sel = ms.select(cands, 'acc', bounds, maximize=maximize)
  feasible = [c for c in cands if c.values['size'] <= 50 and c.values['fpr'] < 0.05]
  best = (max if maximize else min)(feasible, key=lambda c: c.values['acc'])
  assert sel.chosen == best
  assert [c.values['acc'] for c in sel.ranked] == sorted(
      (c.values['acc'] for c in cands), reverse=maximize)
  for c in cands:
    assert (not sel.failed[c.label]) == (c in feasible)


def test_select_with_nothing_feasible_or_missing_values():
  cands = [ms.Candidate('a', {'acc': None, 'size': 1.0}),
           ms.Candidate('b', {'acc': 0.5, 'size': 10.0})]
  assert ms.select(cands, 'acc', [ms.Constraint('size', '<=', 5)]).chosen is None
  assert ms.select(cands, 'acc').chosen.label == 'b'


def test_candidates_average_their_runs(labels):
  s1, s2 = _summary(*labels), _summary(*labels)
  s2['final'] = {'dev/accuracy': 0.8}
  [c] = ms.candidates_from_summaries({'x': [s1, s2]}, ['final/dev/accuracy', 'best/dev/loss'])
  assert c.values == {'final/dev/accuracy': pytest.approx(0.85), 'best/dev/loss': None}


# `research select`, on hand-written run directories of the quickstart.

def _run(root, name, *, seed, lr, dev, params, status='done'):
  run = fabricate(root, name, seed=seed, lr=lr, status=status)
  summary = json.loads((run / 'summary.json').read_text())
  summary['final']['dev/accuracy'] = dev
  summary['num_params'] = params
  (run / 'summary.json').write_text(json.dumps(summary))


def test_select_command_picks_the_best_point_meeting_the_bounds(tmp_path, capsys):
  _run(tmp_path, 'seed0-a', seed=0, lr=0.01, dev=0.80, params=100)
  _run(tmp_path, 'seed1-a', seed=1, lr=0.01, dev=0.84, params=100)  # mean 0.82
  _run(tmp_path, 'seed0-b', seed=0, lr=0.03, dev=0.90, params=900)
  _run(tmp_path, 'seed0-c', seed=0, lr=0.003, dev=0.99, params=10, status='diverged')
  args = ['select', 'quickstart', '--output-dir', str(tmp_path)]
  assert main(args) == 0
  assert 'chosen (maximize final/dev/accuracy): optimizer.learning_rate=0.03' in capsys.readouterr().out
  assert main([*args, '--require', 'num_params<=500']) == 0
  out = capsys.readouterr().out
  assert 'chosen (maximize final/dev/accuracy subject to num_params <= 500): (its own config)' in out
  assert 'num_params <= 500' in out.splitlines()[2]  # the 0.03 point fails it
  assert main([*args, '--require', 'num_params<=5']) == 1
  assert 'no point meets every bound' in capsys.readouterr().out
  assert main([*args, '--format', 'json', '--minimize']) == 0
  record = json.loads(capsys.readouterr().out)
  assert record['chosen'] == '(its own config)'
  assert [c['seeds'] for c in record['candidates']] == [2, 1]
  assert record['candidates'][0]['values']['final/dev/accuracy'] == pytest.approx(0.82)


def test_select_command_refuses_bad_names_before_reading(tmp_path, capsys):
  args = ['select', 'quickstart', '--output-dir', str(tmp_path)]
  assert main([*args, '--optimize', 'dev/f1']) == 2
  assert "metric 'dev/f1': unknown" in capsys.readouterr().err
  assert main([*args, '--require', 'num_params=3']) == 2
  assert 'METRIC<=BOUND' in capsys.readouterr().err
