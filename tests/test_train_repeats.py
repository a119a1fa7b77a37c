"""`data.train_repeats`: the training split made of k copies of itself."""

import numpy as np
import pytest

from research import data
from research.data import splits
from research.errors import ConfigError


def config(**overrides):
  c = data.default_data_config()  # mnist1d: generated, cached in-process
  c.update(overrides)
  return c


BASE = dict(dev_size=500, train_dev_size=300, split_seed=3, train_size=100)


@pytest.fixture(scope='module')
def once():
  return data.load_dataset(config(**BASE))


@pytest.mark.parametrize('k', [1, 3, 10])
def test_sizes_copies_and_other_splits_unchanged(once, k):
  d = data.load_dataset(config(**BASE, train_repeats=k))
  assert d.x_train.shape == (k * 100,) + once.x_train.shape[1:]
  assert d.y_train.shape == (k * 100,) and d.y_train.dtype == np.int32
  for copy in range(k):  # each block of 100 is the unrepeated split, in order
    block = slice(copy * 100, (copy + 1) * 100)
    np.testing.assert_array_equal(d.x_train[block], once.x_train)
    np.testing.assert_array_equal(d.y_train[block], once.y_train)
  for split in ('dev', 'train_dev', 'test'):
    np.testing.assert_array_equal(getattr(d, f'x_{split}'),
                                  getattr(once, f'x_{split}'))
    np.testing.assert_array_equal(getattr(d, f'y_{split}'),
                                  getattr(once, f'y_{split}'))


def test_repeats_the_train_size_subset_not_the_whole_split():
  d = data.load_dataset(config(**BASE, train_repeats=10,
                               normalization='none'))
  subset = data.load_dataset(config(**BASE, normalization='none'))
  assert len({row.tobytes() for row in d.x_train}) == len(
      {row.tobytes() for row in subset.x_train}) == 100
  # Every copy counts each unique example equally often: the class counts
  # (and the mean full-batch gradient) are k times the subset's.
  np.testing.assert_array_equal(
      np.bincount(d.y_train, minlength=10),
      10 * np.bincount(subset.y_train, minlength=10))


def test_normalization_same_as_unrepeated(once):
  # The copies have the subset's mean and std: the same shift and scale.
  d = data.load_dataset(config(**BASE, train_repeats=4))
  for key in ('shift', 'scale'):
    np.testing.assert_allclose(getattr(d.normalization, key),
                               getattr(once.normalization, key), rtol=1e-5)


def test_repeat_against_numpy_tile():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(7, 3, 2)), rng.integers(0, 5, size=7)
  rx, ry = splits.repeat(x, y, 4)
  np.testing.assert_array_equal(rx, np.tile(x, (4, 1, 1)))
  np.testing.assert_array_equal(ry, np.tile(y, 4))
  with pytest.raises(ValueError, match='copies 0'):
    splits.repeat(x, y, 0)


@pytest.mark.parametrize('bad', [0, -2, 1.5, '3', True, None])
def test_bad_values_name_the_key(bad):
  with pytest.raises(ConfigError, match=r'data\.train_repeats: .* must be an '
                     'integer >= 1'):
    # A plain dict: a ConfigDict would refuse the wrong types itself.
    data.validate_data_config({**config().to_dict(), 'train_repeats': bad})


def test_copies_share_their_noisy_labels():
  # Label noise is drawn before the repeat: a copy is the same example with
  # the same (possibly corrupted) label, not a fresh draw of noise.
  d = data.load_dataset(config(**BASE, train_repeats=3, label_noise=0.5))
  noisy = data.load_dataset(config(**BASE, label_noise=0.5))
  for copy in range(3):
    np.testing.assert_array_equal(d.y_train[copy * 100:(copy + 1) * 100],
                                  noisy.y_train)
  assert not np.array_equal(noisy.y_train, data.load_dataset(
      config(**BASE)).y_train)
