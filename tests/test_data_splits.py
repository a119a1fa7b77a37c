"""Dev hold-out and class subsets, directly and through load_dataset."""

import numpy as np
import pytest

from research import data
from research.errors import ConfigError


def config(**overrides):
  c = data.default_data_config()  # mnist1d: generated, cached in-process
  c.update(overrides)
  return c


@pytest.fixture(scope='module')
def raw():
  return data.read_source('mnist1d')


def _sorted_rows(x):
  return x[np.lexsort(x.T[::-1])]


def test_hold_out_indices():
  train, dev = data.hold_out_indices(100, 30, seed=0)
  assert len(dev) == 30 and len(train) == 70
  assert not set(train) & set(dev)
  np.testing.assert_array_equal(np.sort(np.concatenate([train, dev])),
                                np.arange(100))
  assert (np.diff(train) > 0).all()  # train keeps the original order
  again = data.hold_out_indices(100, 30, seed=0)
  other = data.hold_out_indices(100, 30, seed=1)
  np.testing.assert_array_equal(dev, again[1])
  assert not np.array_equal(dev, other[1])


def test_hold_out_through_load_dataset(raw):
  d = data.load_dataset(config(dev_size=500, split_seed=3,
                               normalization='none'))
  assert len(d.x_dev) == len(d.y_dev) == 500
  assert len(d.x_train) == len(raw.x_train) - 500
  np.testing.assert_array_equal(d.x_test, raw.x_test)
  # train + dev is a permutation of the original training split ...
  both = np.concatenate([d.x_train, d.x_dev])
  np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(raw.x_train))
  # ... train and dev are disjoint, and train keeps its order.
  train_idx, dev_idx = data.hold_out_indices(len(raw.x_train), 500, 3)
  np.testing.assert_array_equal(d.x_train, raw.x_train[train_idx])
  np.testing.assert_array_equal(d.y_dev, raw.y_train[dev_idx])


def test_hold_out_depends_only_on_split_seed():
  a = data.load_dataset(config(dev_size=200, split_seed=7))
  b = data.load_dataset(config(dev_size=200, split_seed=7))
  c = data.load_dataset(config(dev_size=200, split_seed=8))
  np.testing.assert_array_equal(a.x_dev, b.x_dev)
  assert not np.array_equal(a.y_dev, c.y_dev)


def test_no_dev_split_has_zero_rows():
  d = data.load_dataset(config())
  assert d.x_dev.shape == (0, 40) and d.y_dev.shape == (0,)
  assert d.x_dev.dtype == np.float32 and d.y_dev.dtype == np.int32


@pytest.mark.parametrize('classes', [(3, 5), (5, 3)])
def test_class_subset_remaps_labels(raw, classes):
  d = data.load_dataset(config(classes=classes, normalization='none'))
  assert d.num_classes == 2 and d.class_names == tuple(map(str, classes))
  assert d.class_ids == classes
  for x, y, x_raw, y_raw in ((d.x_train, d.y_train, raw.x_train, raw.y_train),
                             (d.x_test, d.y_test, raw.x_test, raw.y_test)):
    assert set(np.unique(y)) == {0, 1}
    for new, old in enumerate(classes):
      np.testing.assert_array_equal(x[y == new], x_raw[y_raw == old])


def test_subset_then_hold_out(raw):
  d = data.load_dataset(config(classes=(2,), dev_size=100))
  assert len(d.x_train) + len(d.x_dev) == (raw.y_train == 2).sum()
  assert (d.y_dev == 0).all()


def test_dev_size_too_large_is_a_config_error(raw):
  with pytest.raises(ConfigError, match='data.dev_size'):
    data.load_dataset(config(dev_size=len(raw.x_train)))
  with pytest.raises(ConfigError, match='data.dev_size'):  # after the subset
    data.load_dataset(config(classes=(0,), dev_size=1000))


def test_class_out_of_range_is_a_config_error():
  with pytest.raises(ConfigError, match=r'data.classes: \[10\]'):
    data.load_dataset(config(classes=(3, 10)))


def test_select_classes_directly():
  x = np.arange(6)[:, None]
  y = np.array([0, 1, 2, 0, 1, 2])
  x_new, y_new = data.select_classes(x, y, (2, 0), num_classes=3)
  np.testing.assert_array_equal(x_new[:, 0], [0, 2, 3, 5])
  np.testing.assert_array_equal(y_new, [1, 0, 1, 0])
