"""MNIST-1D generated locally with the authors' defaults."""

import numpy as np

from research import data
from research.data import mnist1d_source


def test_shapes_and_types():
  d = data.load_dataset(data.default_data_config())
  assert d.name == 'mnist1d'
  assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
  assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
  assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
  assert d.num_classes == 10 and d.class_names == tuple('0123456789')
  assert set(np.unique(d.y_train)) == set(range(10))
  assert d.source == 'mnist1d(make_dataset, seed 42)'
  assert d.input_shape == (40,)


def test_deterministic_and_leaves_global_rng_alone():
  np.random.seed(123)
  expected = np.random.rand()
  np.random.seed(123)
  a = data.read_source('mnist1d')
  mnist1d_source._generate.cache_clear()  # pylint: disable=protected-access
  b = data.read_source('mnist1d')  # generated again, not from the cache
  assert np.random.rand() == expected
  np.testing.assert_array_equal(a.x_train, b.x_train)
  np.testing.assert_array_equal(a.y_test, b.y_test)
