"""Input normalization fitted on the training split and applied to every split.

Statistics come from the training split only (after the dev hold-out), so
neither the dev nor the test split leaks into training.
"""

from typing import NamedTuple

import numpy as np


class Normalization(NamedTuple):
  """x_normalized = (x - shift) / scale; shift and scale are float32."""
  kind: str  # 'none' | 'standardize' | 'unit_interval'
  shift: np.ndarray  # a scalar or one value per feature (shape x.shape[1:])
  scale: np.ndarray  # never 0


def fit_normalization(x_train: np.ndarray, kind: str) -> Normalization:
  """Statistics of `kind` computed on `x_train` (examples on axis 0).

  'standardize': per-feature mean and standard deviation (ddof=0). A constant
    feature gets shift = its value and scale = 1 (as scikit-learn's
    StandardScaler), so it becomes exactly 0 rather than NaN.
  'unit_interval': uint8 data is divided by 255, so the result is exact and
    independent of the split. Other data is min-max scaled with the global
    minimum and maximum of `x_train` (one scale for all features, as /255 for
    pixels; per-feature scaling is what 'standardize' is for).
  'none': the identity.
  """
  x_train = np.asarray(x_train)
  if kind == 'none':
    return Normalization(kind, np.float32(0.0), np.float32(1.0))
  if kind == 'unit_interval':
    if x_train.dtype == np.uint8:
      return Normalization(kind, np.float32(0.0), np.float32(255.0))
    lo, hi = float(x_train.min()), float(x_train.max())
    return Normalization(kind, np.float32(lo), np.float32(hi - lo or 1.0))
  if kind == 'standardize':
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    # Test constancy exactly: a float std of equal values can be 1e-13, not 0.
    constant = np.all(x_train == x_train[:1], axis=0)
    shift = np.where(constant, x_train[0], mean)
    scale = np.where(constant, 1.0, std)
    return Normalization(kind, shift.astype(np.float32),
                         scale.astype(np.float32))
  raise ValueError(f'unknown normalization {kind!r}')


def normalize(x: np.ndarray, norm: Normalization) -> np.ndarray:
  """Applies fitted statistics; always returns a new float32 array."""
  if norm.kind == 'none':
    return np.array(x, dtype=np.float32)
  x = np.asarray(x, dtype=np.float32)
  return ((x - norm.shift) / norm.scale).astype(np.float32, copy=False)
