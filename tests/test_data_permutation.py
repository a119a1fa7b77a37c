"""The fixed permutation of the input features (`data.permute_inputs`)."""

import numpy as np
import pytest

from research.data import load_dataset
from research.data.config import default_data_config
from research.data.permutation import feature_permutation, permute_features
from research.errors import ConfigError


def _config(**values):
  # A plain dict: a ConfigDict would refuse a wrongly typed value itself.
  return {**default_data_config().to_dict(), 'dev_size': 200,
          'train_dev_size': 100, **values}


def test_every_split_gets_the_same_permutation_of_the_same_examples():
  plain = load_dataset(_config())
  permuted = load_dataset(_config(permute_inputs=True, permutation_seed=3))
  order = np.random.default_rng(3).permutation(40)
  assert sorted(order) == list(range(40)) and not np.array_equal(order, np.arange(40))
  for split in ('train', 'train_dev', 'dev', 'test'):
    x, xp = getattr(plain, f'x_{split}'), getattr(permuted, f'x_{split}')
    assert len(x) and xp.shape == x.shape
    np.testing.assert_array_equal(xp, x[:, order])
    np.testing.assert_array_equal(getattr(permuted, f'y_{split}'),
                                  getattr(plain, f'y_{split}'))
  other = load_dataset(_config(permute_inputs=True, permutation_seed=4))
  assert not np.array_equal(other.x_train, permuted.x_train)


def test_images_are_permuted_as_flat_vectors_and_keep_their_shape():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 4, 3, 2))
  order = feature_permutation(24, seed=1)
  out = permute_features(x, order)
  assert out.shape == x.shape
  np.testing.assert_array_equal(out.reshape(5, -1), x.reshape(5, -1)[:, order])
  assert permute_features(x[:0], order).shape == (0, 4, 3, 2)  # an empty split
  with pytest.raises(ValueError, match='24 features per example'):
    permute_features(x, feature_permutation(10, seed=1))


def test_bad_values_name_the_key():
  with pytest.raises(ConfigError, match='data.permute_inputs'):
    load_dataset(_config(permute_inputs=1))
  with pytest.raises(ConfigError, match='data.permutation_seed'):
    load_dataset(_config(permute_inputs=True, permutation_seed=-1))
