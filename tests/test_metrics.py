"""Tests for research.metrics against loops, SciPy and hand-computed numbers."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk_metrics

from research import metrics

# (seed, num_classes, num_examples, classes left out of the predictions,
#  classes left out of the labels): the last two exercise zero division.
CASES = [(0, 2, 50, (), ()), (1, 5, 200, (3,), ()), (2, 10, 300, (0, 7), (7, 9)),
         (3, 4, 7, (1, 2), (0,))]


def _random_labels(seed, num_classes, n, never_predicted, never_true):
  rng = np.random.default_rng(seed)
  allowed_true = [c for c in range(num_classes) if c not in never_true]
  allowed_pred = [c for c in range(num_classes) if c not in never_predicted]
  y_true = rng.choice(allowed_true, size=n)
  # Mostly right, so the diagonal is not empty.
  y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(allowed_pred, size=n))
  y_pred = np.where(np.isin(y_pred, never_predicted), allowed_pred[0], y_pred)
  return y_true, y_pred


def _reference(y_true, y_pred, num_classes):
  """Per-class metrics by counting with boolean masks, zero_division=0."""
  confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
  for t, p in zip(y_true, y_pred):
    confusion[t, p] += 1
  precision, recall, f1, support = [], [], [], []
  for c in range(num_classes):
    tp = np.sum((y_true == c) & (y_pred == c))
    predicted, actual = np.sum(y_pred == c), np.sum(y_true == c)
    p = tp / predicted if predicted else 0.0
    r = tp / actual if actual else 0.0
    precision.append(p)
    recall.append(r)
    f1.append(2 * p * r / (p + r) if p + r else 0.0)
    support.append(actual)
  return confusion, np.array(precision), np.array(recall), np.array(f1), np.array(support)


@pytest.mark.parametrize('case', CASES)
def test_report_matches_loops(case):
  seed, num_classes, n, never_predicted, never_true = case
  y_true, y_pred = _random_labels(*case)
  confusion, precision, recall, f1, support = _reference(y_true, y_pred, num_classes)

  # JAX arrays are accepted as well as NumPy ones.
  report = metrics.classification_report(jnp.asarray(y_true), jnp.asarray(y_pred),
                                         num_classes)
  assert set(report) == {'accuracy', 'per_class', 'macro', 'weighted', 'confusion'}
  assert report['confusion'].dtype == np.int64
  np.testing.assert_array_equal(report['confusion'], confusion)
  np.testing.assert_array_equal(
      metrics.confusion_matrix(y_true, y_pred, num_classes), confusion)
  per_class = report['per_class']
  for key, want in (('precision', precision), ('recall', recall), ('f1', f1)):
    assert np.all(np.isfinite(per_class[key]))
    np.testing.assert_allclose(per_class[key], want, rtol=1e-12, err_msg=key)
  np.testing.assert_array_equal(per_class['support'], support)

  # The zero-division convention, on the classes built to need it.
  for c in never_predicted:
    assert per_class['precision'][c] == 0.0
  for c in never_true:
    assert per_class['recall'][c] == 0.0 and per_class['support'][c] == 0
    assert per_class['f1'][c] == 0.0

  accuracy = sum(int(t == p) for t, p in zip(y_true, y_pred)) / n
  assert report['accuracy'] == pytest.approx(accuracy)
  assert metrics.accuracy(y_true, y_pred) == pytest.approx(accuracy)
  for key, want in (('precision', precision), ('recall', recall), ('f1', f1)):
    assert report['macro'][key] == pytest.approx(sum(want) / num_classes)
    assert report['weighted'][key] == pytest.approx(
        sum(w * s for w, s in zip(want, support)) / n)
  assert report['macro']['support'] == report['weighted']['support'] == n
  # Support-weighted recall is the accuracy.
  assert report['weighted']['recall'] == pytest.approx(accuracy)


@pytest.mark.parametrize('case', CASES)
def test_matches_scikit_learn(case):
  num_classes = case[1]
  y_true, y_pred = _random_labels(*case)
  report = metrics.classification_report(y_true, y_pred, num_classes)
  labels = list(range(num_classes))
  p, r, f, s = sk_metrics.precision_recall_fscore_support(
      y_true, y_pred, labels=labels, zero_division=0)
  np.testing.assert_allclose(report['per_class']['precision'], p)
  np.testing.assert_allclose(report['per_class']['recall'], r)
  np.testing.assert_allclose(report['per_class']['f1'], f)
  np.testing.assert_array_equal(report['per_class']['support'], s)
  assert metrics.format_report(report) == sk_metrics.classification_report(
      y_true, y_pred, labels=labels, zero_division=0)


def test_precision_recall_f1_of_an_empty_class_warns_nothing():
  confusion = np.array([[3, 0, 1], [0, 0, 0], [2, 0, 4]])  # class 1: no rows, no columns
  with np.errstate(all='raise'):
    result = metrics.precision_recall_f1(confusion)
  assert result['precision'][1] == result['recall'][1] == result['f1'][1] == 0.0
  assert result['precision'][0] == pytest.approx(3 / 5)
  assert result['recall'][2] == pytest.approx(4 / 6)


def test_format_report_has_the_scikit_learn_layout():
  # The example of scikit-learn's classification_report documentation.
  report = metrics.classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1], 3)
  text = metrics.format_report(report, class_names=['class 0', 'class 1', 'class 2'])
  assert text == (
      '              precision    recall  f1-score   support\n'
      '\n'
      '     class 0       0.50      1.00      0.67         1\n'
      '     class 1       0.00      0.00      0.00         1\n'
      '     class 2       1.00      0.67      0.80         3\n'
      '\n'
      '    accuracy                           0.60         5\n'
      '   macro avg       0.50      0.56      0.49         5\n'
      'weighted avg       0.70      0.60      0.61         5\n')
  # Default names are the class indices; `digits` sets the decimals.
  lines = metrics.format_report(report, digits=4).splitlines()
  assert lines[2].split() == ['0', '0.5000', '1.0000', '0.6667', '1']
  assert lines[6].split() == ['accuracy', '0.6000', '5']
  with pytest.raises(ValueError, match='class_names has 2 names for 3 classes'):
    metrics.format_report(report, class_names=['a', 'b'])


def test_bad_labels_raise_clear_errors():
  with pytest.raises(ValueError, match=r'y_pred has labels \[-1, 3\] outside the valid '
                     r'range \[0, 3\)'):
    metrics.confusion_matrix([0, 1, 2], [3, -1, 0], 3)
  with pytest.raises(ValueError, match=r'y_true has labels \[5\]'):
    metrics.classification_report([5, 1], [0, 1], 3)
  with pytest.raises(ValueError, match='same shape'):
    metrics.confusion_matrix([0, 1, 2], [0, 1], 3)
  with pytest.raises(ValueError, match='integer class indices'):
    metrics.confusion_matrix([0, 1], [0.2, 0.9], 2)
  with pytest.raises(ValueError, match='num_classes must be a positive integer'):
    metrics.confusion_matrix([0], [0], 0)
  with pytest.raises(ValueError, match='y_true is empty'):
    metrics.accuracy([], [])
  with pytest.raises(ValueError, match='square'):
    metrics.precision_recall_f1(np.zeros((2, 3)))


@pytest.mark.parametrize('errors,total,level', [(0, 10, 0.95), (3, 10, 0.9),
                                                (150, 10_000, 0.95), (12.5, 40, 0.99),
                                                (1000, 1000, 0.95)])
def test_error_interval_is_the_beta_quantiles(errors, total, level):
  low, high = metrics.error_interval(errors, total, level)
  a, b = errors + 1, total - errors + 1
  tail = (1 - level) / 2
  assert low == pytest.approx(stats.beta.ppf(tail, a, b), rel=1e-10, abs=1e-14)
  assert high == pytest.approx(stats.beta.ppf(1 - tail, a, b), rel=1e-10)
  # Equal tails: each holds (1 - level) / 2 of the posterior.
  assert stats.beta.cdf(low, a, b) == pytest.approx(tail, rel=1e-6)
  assert stats.beta.sf(high, a, b) == pytest.approx(tail, rel=1e-6)


def test_error_interval_is_close_to_the_normal_approximation_for_large_n():
  for p, n in ((0.3, 200_000), (0.05, 500_000)):
    low, high = metrics.error_interval(p * n, n)
    half = 1.959964 * np.sqrt(p * (1 - p) / n)
    assert low == pytest.approx(p - half, rel=2e-3)
    assert high == pytest.approx(p + half, rel=2e-3)


def test_error_interval_validates_its_arguments():
  for args, name in (((1, 0), 'total'), ((-1, 10), 'errors'), ((11, 10), 'errors'),
                     ((1, 10, 1.0), 'level'), ((1, 10, 0.0), 'level')):
    with pytest.raises(ValueError, match=name):
      metrics.error_interval(*args)


@pytest.mark.parametrize('error_rate,width', [(0.0, 0.02), (0.01, 0.005), (0.1, 0.01),
                                              (0.3, 0.04), (0.5, 0.2), (0.2, 0.9)])
def test_test_set_size_is_the_smallest_n(error_rate, width):
  def width_at(n):
    low, high = stats.beta.ppf([0.025, 0.975], error_rate * n + 1,
                               (1 - error_rate) * n + 1)
    return high - low

  n = metrics.test_set_size(error_rate, width)
  assert width_at(n) <= width
  assert n == 1 or width_at(n - 1) > width
  # The bisection relies on the width falling with n.
  ns = np.unique(np.geomspace(1, 4 * n, 60).astype(int))
  assert np.all(np.diff([width_at(k) for k in ns]) < 0)


def test_yardsticks_of_references_md():
  # About ±0.25 points at 1.5% error on 10,000 test images ...
  low, high = metrics.error_interval(0.015 * 10_000, 10_000)
  assert 100 * (high - low) / 2 == pytest.approx(0.25, abs=0.02)
  # ... and about ±3 points on MNIST-1D's 1,000 at the errors it sees (30-40%).
  for error_rate in (0.3, 0.35, 0.4):
    low, high = metrics.error_interval(error_rate * 1000, 1000)
    assert 100 * (high - low) / 2 == pytest.approx(3.0, abs=0.2)
  # Inverted: ±0.25 points at 1.5% needs about 10,000 images.
  assert 8_000 < metrics.test_set_size(0.015, 0.005) < 10_000


def test_test_set_size_validates_its_arguments():
  for args, name in (((1.5, 0.01), 'error_rate'), ((0.1, 0.0), 'width'),
                     ((0.1, 1.0), 'width'), ((0.1, 0.01, 2.0), 'level')):
    with pytest.raises(ValueError, match=name):
      metrics.test_set_size(*args)


def test_error_decomposition_on_hand_computed_numbers():
  # Human-level 1%, train 8%, train-dev 10%, dev 12%, test 12.5%.
  result = metrics.error_decomposition(0.08, 0.10, 0.12, test_error=0.125,
                                       bayes_error=0.01)
  assert result['avoidable_bias'] == pytest.approx(0.07)
  assert result['variance'] == pytest.approx(0.02)
  assert result['data_mismatch'] == pytest.approx(0.02)
  assert result['dev_overfitting'] == pytest.approx(0.005)
  assert result['largest'] == 'avoidable_bias' and 'bigger model' in result['advice']

  cases = (((0.01, 0.09, 0.10), 'variance', 'more training data'),
           ((0.01, 0.015, 0.10), 'data_mismatch', 'more like'),
           ((0.01, 0.015, 0.02, 0.08), 'dev_overfitting', 'bigger dev set'))
  for args, largest, advice in cases:
    result = metrics.error_decomposition(*args)
    assert result['largest'] == largest and advice in result['advice']
  assert 'dev_overfitting' not in metrics.error_decomposition(0.1, 0.2, 0.3)


def test_error_decomposition_validates_its_arguments():
  with pytest.raises(ValueError, match='dev_error must be a fraction in'):
    metrics.error_decomposition(0.1, 0.2, 12.0)
  with pytest.raises(ValueError, match='test_error'):
    metrics.error_decomposition(0.1, 0.2, 0.3, test_error=-0.1)
  with pytest.raises(ValueError, match='bayes_error'):
    metrics.error_decomposition(0.1, 0.2, 0.3, bayes_error=float('nan'))
