"""Classification metrics, the uncertainty of an error rate, and error analysis.

Conventions:
- Labels are integer class indices in [0, num_classes); predictions are class
  indices too (take `argmax` of the logits first). Inputs may be NumPy or JAX
  arrays: everything runs in NumPy on the host, after the evaluation.
- The confusion matrix has true classes as rows and predicted classes as
  columns, like scikit-learn's.
- Zero division follows scikit-learn's `zero_division=0`: the metric is 0, with
  no warning and no NaN (see `precision_recall_f1`).
- An error rate measured on n examples is uncertain: `error_interval` is the
  equal-tailed credible interval of its posterior under a uniform prior, and
  `test_set_size` inverts it (how many test examples a given width needs).
- Errors are fractions in [0, 1], not percentages.
"""

import math

import numpy as np
# scipy.special, not scipy.stats: the same inverse CDFs (Boost's), and stats
# takes a second to import in every process that computes metrics.
from scipy import special

_AVERAGED = ('precision', 'recall', 'f1')


def _labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  if y_true.shape != y_pred.shape:
    raise ValueError(f'y_true and y_pred must have the same shape, got '
                     f'{y_true.shape} and {y_pred.shape}')
  for name, y in (('y_true', y_true), ('y_pred', y_pred)):
    if y.size and not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
      raise ValueError(f'{name} must hold integer class indices, got dtype '
                       f'{y.dtype} (take argmax of the logits first)')
  return y_true.reshape(-1).astype(np.int64), y_pred.reshape(-1).astype(np.int64)


def accuracy(y_true, y_pred) -> float:
  """The fraction of predictions equal to the labels."""
  y_true, y_pred = _labels(y_true, y_pred)
  if not y_true.size:
    raise ValueError('accuracy of no examples is undefined: y_true is empty')
  return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
  """(C, C) int64 counts: entry [i, j] counts examples of class i predicted j."""
  is_integer = isinstance(num_classes, (int, np.integer)) and not isinstance(
      num_classes, bool)
  if not is_integer or num_classes < 1:
    raise ValueError(f'num_classes must be a positive integer, got {num_classes!r}')
  y_true, y_pred = _labels(y_true, y_pred)
  for name, y in (('y_true', y_true), ('y_pred', y_pred)):
    bad = np.unique(y[(y < 0) | (y >= num_classes)])
    if bad.size:
      raise ValueError(f'{name} has labels {bad[:10].tolist()} outside the valid '
                       f'range [0, {num_classes})')
  flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2)
  return flat.reshape(num_classes, num_classes).astype(np.int64)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  """numerator / denominator, and 0 where the denominator is 0."""
  out = np.zeros(np.shape(numerator), dtype=np.float64)
  np.divide(numerator, denominator, out=out, where=denominator > 0)
  return out


def precision_recall_f1(confusion) -> dict[str, np.ndarray]:
  """Per-class 'precision', 'recall', 'f1' (float64) and 'support' (int64).

  precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean,
  support the number of true examples of the class. Zero division as
  scikit-learn's `zero_division=0`: a class never predicted has precision 0, a
  class with no true examples has recall 0, and F1 is 0 where precision +
  recall is 0. The results are always finite and nothing warns.
  """
  confusion = np.asarray(confusion)
  if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
    raise ValueError(f'confusion must be a square matrix, got shape {confusion.shape}')
  if (confusion < 0).any():
    raise ValueError('confusion must hold counts >= 0')
  true_positives = np.diag(confusion).astype(np.float64)
  support = confusion.sum(axis=1)
  precision = _safe_divide(true_positives, confusion.sum(axis=0))
  recall = _safe_divide(true_positives, support)
  f1 = _safe_divide(2 * precision * recall, precision + recall)
  return {'precision': precision, 'recall': recall, 'f1': f1,
          'support': support.astype(np.int64)}


def classification_report(y_true, y_pred, num_classes: int) -> dict:
  """Accuracy, per-class metrics, their macro and weighted means, the confusion.

  'macro' is the unweighted mean over classes (every class counts the same),
  'weighted' the mean weighted by support; the 'support' of both is the
  number of examples. Weighted recall equals accuracy.
  """
  confusion = confusion_matrix(y_true, y_pred, num_classes)
  total = int(confusion.sum())
  if not total:
    raise ValueError('a report of no examples is undefined: y_true is empty')
  per_class = precision_recall_f1(confusion)
  weights = per_class['support'] / total
  return {
      'accuracy': float(np.trace(confusion) / total),
      'per_class': per_class,
      'macro': {**{k: float(np.mean(per_class[k])) for k in _AVERAGED},
                'support': total},
      'weighted': {**{k: float(np.sum(weights * per_class[k])) for k in _AVERAGED},
                   'support': total},
      'confusion': confusion,
  }


def format_report(report: dict, class_names=None, digits: int = 2) -> str:
  """`report` (from classification_report) as scikit-learn prints its own."""
  per_class = report['per_class']
  num_classes = len(per_class['support'])
  names = [str(n) for n in (class_names if class_names is not None
                            else range(num_classes))]
  if len(names) != num_classes:
    raise ValueError(f'class_names has {len(names)} names for {num_classes} classes')
  width = max(max(len(n) for n in names), len('weighted avg'), digits)
  head = '{:>{width}s} ' + ' {:>9}' * 4
  row = '{:>{width}s} ' + ' {:>9.{digits}f}' * 3 + ' {:>9}\n'
  # The accuracy row leaves precision and recall blank, as scikit-learn does.
  accuracy_row = '{:>{width}s} ' + ' {:>9}' * 2 + ' {:>9.{digits}f} {:>9}\n'
  text = head.format('', 'precision', 'recall', 'f1-score', 'support', width=width)
  text += '\n\n'
  for i, name in enumerate(names):
    text += row.format(name, *(per_class[k][i] for k in _AVERAGED),
                       int(per_class['support'][i]), width=width, digits=digits)
  text += '\n'
  text += accuracy_row.format('accuracy', '', '', report['accuracy'],
                              report['macro']['support'], width=width, digits=digits)
  for average in ('macro', 'weighted'):
    values = report[average]
    text += row.format(f'{average} avg', *(values[k] for k in _AVERAGED),
                       values['support'], width=width, digits=digits)
  return text


def _check_level(level: float) -> None:
  if not 0.0 < level < 1.0:
    raise ValueError(f'level must be in (0, 1), got {level!r}')


def error_interval(errors: float, total: float, level: float = 0.95
                   ) -> tuple[float, float]:
  """(low, high): equal-tailed `level` interval of the error rate.

  The posterior of the error rate after `errors` mistakes in `total` examples,
  under a uniform prior, is Beta(errors + 1, total - errors + 1); the interval
  cuts (1 - level) / 2 off each tail. `errors` may be fractional (a mean over
  seeds times `total`).
  """
  if not (math.isfinite(total) and total > 0):
    raise ValueError(f'total must be a number > 0, got {total!r}')
  if not (math.isfinite(errors) and 0 <= errors <= total):
    raise ValueError(f'errors must be in [0, total={total}], got {errors!r}')
  _check_level(level)
  tail = (1.0 - level) / 2.0
  # The Beta quantiles: the inverse of the regularized incomplete beta function.
  low, high = special.betaincinv(errors + 1.0, total - errors + 1.0,
                                 np.array([tail, 1.0 - tail]))
  return float(low), float(high)


def interval_width(error_rate: float, n: float, level: float = 0.95) -> float:
  """high - low of `error_interval` for `error_rate * n` errors in n."""
  low, high = error_interval(error_rate * n, n, level)
  return high - low


def test_set_size(error_rate: float, width: float, level: float = 0.95) -> int:
  """The smallest n whose `level` interval of `error_rate` is at most `width` wide.

  `width` is high - low as a fraction (0.005 for ±0.25 points). The width
  falls as n grows, so a bisection on n finds the n with
  width(n) <= `width` < width(n - 1); the normal approximation
  n ≈ 4 z² p(1 - p) / width² only gives the starting bracket.
  """
  if not 0.0 <= error_rate <= 1.0:
    raise ValueError(f'error_rate must be in [0, 1], got {error_rate!r}')
  if not 0.0 < width < 1.0:
    raise ValueError(f'width must be in (0, 1), got {width!r}')
  _check_level(level)

  def fits(n: int) -> bool:
    return interval_width(error_rate, n, level) <= width

  z = special.ndtri(0.5 + level / 2.0)  # the standard normal's quantile
  guess = max(1, math.ceil(4 * z**2 * error_rate * (1 - error_rate) / width**2))
  # Bracket: `low` does not fit (or is 0: no examples), `high` fits.
  low, high = 0, guess
  while not fits(high):
    low, high = high, 2 * high
  while low == 0 and high > 1 and fits(high // 2):
    high //= 2
  low = max(low, high // 2)
  while high - low > 1:
    middle = (low + high) // 2
    if fits(middle):
      high = middle
    else:
      low = middle
  return high


# Its name starts with 'test': tell pytest it is not a test when a test imports it.
test_set_size.__test__ = False


# What to try for the largest term of `error_decomposition`.
ADVICE = {
    'avoidable_bias': 'underfitting: try a bigger model, train longer or with a '
                      'better optimizer, or weaken the regularization',
    'variance': 'overfitting the training set: try more training data, more '
                'regularization (weight decay, dropout, augmentation) or early stopping',
    'data_mismatch': 'training data differ from dev/test data: make the training '
                     'data more like them (collect or synthesize such examples)',
    'dev_overfitting': 'overfitting the dev set by tuning on it: get a bigger dev set',
}


def error_decomposition(train_error: float, train_dev_error: float, dev_error: float,
                        test_error: float | None = None,
                        bayes_error: float = 0.0) -> dict:
  """Bias / variance / data-mismatch analysis (Ng, "Machine Learning Yearning").

  The gaps between consecutive errors: 'avoidable_bias' = train - bayes,
  'variance' = train_dev - train (train-dev is held-out data from the training
  distribution), 'data_mismatch' = dev - train_dev and, with a test error,
  'dev_overfitting' = test - dev. 'largest' names the largest gap and
  'advice' says what to try for it.
  """
  errors = {'train_error': train_error, 'train_dev_error': train_dev_error,
            'dev_error': dev_error, 'bayes_error': bayes_error}
  if test_error is not None:
    errors['test_error'] = test_error
  for name, value in errors.items():
    if not 0.0 <= value <= 1.0:
      raise ValueError(f'{name} must be a fraction in [0, 1], got {value!r}')
  terms = {'avoidable_bias': train_error - bayes_error,
           'variance': train_dev_error - train_error,
           'data_mismatch': dev_error - train_dev_error}
  if test_error is not None:
    terms['dev_overfitting'] = test_error - dev_error
  largest = max(terms, key=terms.get)
  return {**{k: float(v) for k, v in terms.items()}, 'largest': largest,
          'advice': ADVICE[largest]}
