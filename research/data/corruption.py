"""Symmetric label noise on the training split (`data.label_noise`).

A fraction `f` of the training labels is replaced, each by a class drawn
uniformly from the OTHER classes (symmetric noise: a corrupted label never
equals the clean one, so exactly round(f * n) labels are wrong). Dev,
train-dev and test labels stay clean: they measure the clean task.

The draw is one permutation of the examples and one offset in 1..k-1 per
example, both from the split seed's own stream, so
- it does not depend on the run seed: every seed of a study sees the same
  corrupted labels (and the seeds still train as one population);
- it is nested across fractions: the examples corrupted at 10% are the first
  10% of the same permutation, a subset of those corrupted at 20%, and they
  get the same wrong labels there.
"""

from collections.abc import Sequence

import numpy as np

# Folded into the split seed, next to research/data/splits.py's
# TRAIN_DEV_STREAM (1) and TRAIN_SUBSET_STREAM (2): dev, train-dev and the
# training subset do not change when `label_noise` does.
LABEL_NOISE_STREAM = 3


def num_corrupted(num_examples: int, fraction: float) -> int:
  """How many of `num_examples` labels a `fraction` corrupts: the nearest
  integer to fraction * num_examples."""
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f'fraction {fraction} must be in [0, 1)')
  return int(round(fraction * num_examples))


def corrupted_indices(num_examples: int, fraction: float,
                      seed: int | Sequence[int]) -> np.ndarray:
  """Sorted indices of the examples whose label `fraction` replaces: the
  first `num_corrupted` of one permutation fixed by `seed` (nested)."""
  perm = np.random.default_rng(seed).permutation(num_examples)
  return np.sort(perm[:num_corrupted(num_examples, fraction)])


def symmetric_noise(labels: np.ndarray, fraction: float, num_classes: int,
                    seed: int | Sequence[int]) -> np.ndarray:
  """`labels` with `fraction` of them replaced by a uniformly drawn OTHER
  class: y -> (y + r) mod k with r uniform in 1..k-1.

  A new array; `labels` is not modified. `seed` fixes the draw (the loader
  passes (split_seed, LABEL_NOISE_STREAM)).
  """
  labels = np.asarray(labels)
  if num_classes < 2:
    raise ValueError(f'num_classes {num_classes}: label noise needs >= 2 '
                     'classes')
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f'labels out of range 0..{num_classes - 1}')
  n = len(labels)
  rng = np.random.default_rng(seed)
  # Both draws take a fixed amount of the stream whatever the fraction: the
  # offsets of an example are the same at every fraction (nested).
  perm = rng.permutation(n)
  offsets = rng.integers(1, num_classes, size=n)
  hit = perm[:num_corrupted(n, fraction)]
  noisy = labels.copy()
  noisy[hit] = (labels[hit] + offsets[hit]) % num_classes
  return noisy
