"""Class subsets and the hold-outs: which examples go where.

All are pure index arithmetic on host arrays, applied by `load_dataset` in
this order: class subset (train and test), then the dev hold-out from train,
then the train-dev hold-out from what remains of train, then the training
subset (`data.train_size`) of what remains after that, then its copies
(`data.train_repeats`).
"""

from collections.abc import Sequence

import numpy as np


def select_classes(x: np.ndarray, y: np.ndarray, classes: Sequence[int],
                   num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """Keeps the examples of `classes`, relabelled 0..k-1 in the given order.

  Example: classes=(5, 3) keeps fives (new label 0) and threes (new label 1).
  Examples keep their original order.
  """
  classes = np.asarray(classes, dtype=np.int64)
  if classes.size and (classes.min() < 0 or classes.max() >= num_classes):
    raise ValueError(f'classes {classes.tolist()} out of range 0..'
                     f'{num_classes - 1}')
  new_label = np.full(num_classes, -1, dtype=np.int32)
  new_label[classes] = np.arange(len(classes), dtype=np.int32)
  keep = np.flatnonzero(np.isin(y, classes))
  return x[keep], new_label[y[keep]]


# Folded into the split seed for the train-dev draw: a stream independent of
# the dev draw's, which keeps using the bare seed (and so stays as it was).
TRAIN_DEV_STREAM = 1
# Folded into the split seed for the training-subset draw: dev and train-dev
# do not change when `train_size` does.
TRAIN_SUBSET_STREAM = 2


def hold_out_indices(num_examples: int, dev_size: int,
                     seed: int | Sequence[int]
                     ) -> tuple[np.ndarray, np.ndarray]:
  """(train, dev) indices: `dev_size` examples drawn at random as dev.

  The draw depends only on `seed` and `num_examples`, not on the run seed, so
  every run of a study sees the same dev set. Both index arrays are sorted:
  the examples keep their original order.
  """
  if not 0 <= dev_size < num_examples:
    raise ValueError(f'dev_size {dev_size} must be in [0, {num_examples})')
  perm = np.random.default_rng(seed).permutation(num_examples)
  return np.sort(perm[dev_size:]), np.sort(perm[:dev_size])


def hold_out(x: np.ndarray, y: np.ndarray, dev_size: int,
             seed: int | Sequence[int]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(x_train, y_train, x_dev, y_dev) with `dev_size` examples held out."""
  train, dev = hold_out_indices(len(x), dev_size, seed)
  return x[train], y[train], x[dev], y[dev]


def hold_out_train_dev(x: np.ndarray, y: np.ndarray, train_dev_size: int,
                       split_seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(x_train, y_train, x_train_dev, y_train_dev): a uniform random draw of
  the (already dev-less) training split, so train-dev has its distribution.

  Drawn from its own stream of `split_seed`: the dev split does not change
  when `train_dev_size` does.
  """
  return hold_out(x, y, train_dev_size, (split_seed, TRAIN_DEV_STREAM))


def subsample_indices(num_examples: int, size: int,
                      seed: int | Sequence[int]) -> np.ndarray:
  """Sorted indices of a uniform random subset of `size` of `num_examples`.

  The first `size` of one permutation fixed by `seed` and `num_examples`:
  subsets are nested, the one of size 1000 inside the one of size 2000 (for
  learning curves). `size` 0 means all examples.
  """
  if not 0 <= size <= num_examples:
    raise ValueError(f'size {size} must be in [0, {num_examples}]')
  if size == 0:
    return np.arange(num_examples)
  perm = np.random.default_rng(seed).permutation(num_examples)
  return np.sort(perm[:size])


def subsample(x: np.ndarray, y: np.ndarray, size: int, split_seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
  """(x, y) reduced to a uniform random subset of `size` examples (0 = all),
  in their original order.

  Drawn from its own stream of `split_seed`, and nested across sizes: see
  `subsample_indices`.
  """
  keep = subsample_indices(len(x), size, (split_seed, TRAIN_SUBSET_STREAM))
  return x[keep], y[keep]


def repeat(x: np.ndarray, y: np.ndarray, copies: int
           ) -> tuple[np.ndarray, np.ndarray]:
  """(x, y) as `copies` back-to-back copies of themselves (`data.train_repeats`):
  a redundant training set whose full-batch gradient equals the original's."""
  if copies < 1:
    raise ValueError(f'copies {copies} must be >= 1')
  return (np.concatenate([x] * copies), np.concatenate([y] * copies))
