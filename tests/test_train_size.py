"""`data.train_size`: a nested random subset of the training split."""

import numpy as np
import pytest

from research import data
from research.data import splits
from research.errors import ConfigError


def config(**overrides):
  c = data.default_data_config()  # mnist1d: generated, cached in-process
  c.update(overrides)
  return c


def _rows(x):
  return {row.tobytes() for row in x}


@pytest.fixture(scope='module')
def full():
  return data.load_dataset(config(dev_size=500, train_dev_size=300,
                                  split_seed=3, normalization='none'))


def test_sizes_and_other_splits_unchanged(full):
  d = data.load_dataset(config(dev_size=500, train_dev_size=300, split_seed=3,
                               train_size=1000, normalization='none'))
  assert len(d.x_train) == len(d.y_train) == 1000
  assert d.y_train.dtype == np.int32
  for split in ('dev', 'train_dev', 'test'):
    np.testing.assert_array_equal(getattr(d, f'x_{split}'),
                                  getattr(full, f'x_{split}'))
    np.testing.assert_array_equal(getattr(d, f'y_{split}'),
                                  getattr(full, f'y_{split}'))


def test_labels_stay_with_their_inputs(full):
  d = data.load_dataset(config(dev_size=500, train_dev_size=300, split_seed=3,
                               train_size=700, normalization='none'))
  pairs = {(x.tobytes(), int(y)) for x, y in zip(full.x_train, full.y_train)}
  assert len({x.tobytes() for x in full.x_train}) == len(full.x_train)
  for x, y in zip(d.x_train, d.y_train):
    assert (x.tobytes(), int(y)) in pairs


def test_subsets_are_nested_and_deterministic():
  def train(size, seed=3):
    return data.load_dataset(config(dev_size=500, split_seed=seed,
                                    train_size=size, normalization='none'))
  small, large = train(1000), train(2000)
  assert _rows(small.x_train) <= _rows(large.x_train)
  again = train(1000)
  np.testing.assert_array_equal(small.x_train, again.x_train)
  np.testing.assert_array_equal(small.y_train, again.y_train)
  other = train(1000, seed=4)
  assert not np.array_equal(small.x_train, other.x_train)


def test_all_remaining_equals_zero(full):
  n = len(full.x_train)
  d = data.load_dataset(config(dev_size=500, train_dev_size=300, split_seed=3,
                               train_size=n, normalization='none'))
  np.testing.assert_array_equal(d.x_train, full.x_train)
  np.testing.assert_array_equal(d.y_train, full.y_train)


def test_normalization_fitted_on_the_subset():
  d = data.load_dataset(config(train_size=500, split_seed=1))
  np.testing.assert_allclose(d.x_train.mean(), 0.0, atol=1e-4)
  np.testing.assert_allclose(d.x_train.std(), 1.0, atol=1e-3)


def test_too_large_names_the_key_and_numbers(full):
  n = len(full.x_train)
  with pytest.raises(ConfigError, match=(
      rf'data.train_size: {n + 1} is larger than the {n} training examples '
      'left after dev_size 500 and train_dev_size 300')):
    data.load_dataset(config(dev_size=500, train_dev_size=300, split_seed=3,
                             train_size=n + 1))


@pytest.mark.parametrize('bad', [-1, True, 1.5])
def test_validation_rejects(bad):
  c = {**data.default_data_config().to_dict(), 'train_size': bad}
  with pytest.raises(ConfigError, match='data.train_size: .* must be an '
                     'integer >= 0'):
    data.validate_data_config(c)


def test_default_is_zero():
  assert data.default_data_config().train_size == 0
  assert data.resolve_data_config({})['train_size'] == 0


def test_subsample_directly():
  x = np.arange(50, dtype=np.float32).reshape(25, 2)
  y = np.arange(25, dtype=np.int32)
  xs, ys = splits.subsample(x, y, 10, split_seed=0)
  assert len(xs) == len(ys) == 10
  np.testing.assert_array_equal(xs[:, 0], 2 * ys)  # rows kept with labels
  assert (np.diff(ys) > 0).all()  # original order
  xa, ya = splits.subsample(x, y, 0, split_seed=0)
  np.testing.assert_array_equal(xa, x)
  with pytest.raises(ValueError):
    splits.subsample(x, y, 26, split_seed=0)
