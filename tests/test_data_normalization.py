"""Normalization: fitted on the training split only, applied to every split."""

import numpy as np
import pytest

from research import data


def config(**overrides):
  c = data.default_data_config()  # mnist1d
  c.update(overrides)
  return c


def test_standardize_fits_train_only():
  raw = data.load_dataset(config(normalization='none', dev_size=800))
  d = data.load_dataset(config(normalization='standardize', dev_size=800))
  np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-5)
  np.testing.assert_allclose(d.x_train.std(axis=0), 1, atol=1e-4)
  mean = raw.x_train.astype(np.float64).mean(axis=0)
  std = raw.x_train.astype(np.float64).std(axis=0)
  for split in ('dev', 'test'):
    np.testing.assert_allclose(getattr(d, 'x_' + split),
                               (getattr(raw, 'x_' + split) - mean) / std,
                               rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(d.normalization.shift, mean, rtol=1e-6)


def test_constant_features_become_zero_not_nan():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(50, 3)).astype(np.float32)
  x[:, 1] = 1000.3  # constant: its float std is tiny but not always 0
  stats = data.fit_normalization(x, 'standardize')
  z = data.normalize(x, stats)
  assert np.isfinite(z).all()
  np.testing.assert_array_equal(z[:, 1], 0)
  np.testing.assert_allclose(z[:, [0, 2]].std(axis=0), 1, atol=1e-5)
  x_test = np.full((4, 3), 1001.3, np.float32)
  assert np.isfinite(data.normalize(x_test, stats)).all()


def test_unit_interval_uint8_is_exactly_over_255():
  x = np.arange(256, dtype=np.uint8).reshape(16, 16)
  stats = data.fit_normalization(x[:8], 'unit_interval')  # max 127 in train
  z = data.normalize(x, stats)
  np.testing.assert_array_equal(z, x.astype(np.float32) / 255)
  assert z.dtype == np.float32 and z.max() == 1


def test_unit_interval_float_uses_train_min_max():
  raw = data.load_dataset(config(normalization='none', dev_size=500))
  d = data.load_dataset(config(normalization='unit_interval', dev_size=500))
  assert d.x_train.min() == 0 and d.x_train.max() == pytest.approx(1)
  lo, hi = raw.x_train.min(), raw.x_train.max()
  np.testing.assert_allclose(d.x_test, (raw.x_test - lo) / (hi - lo),
                             rtol=1e-5, atol=1e-6)


def test_none_leaves_values():
  raw = data.read_source('mnist1d')
  d = data.load_dataset(config(normalization='none'))
  np.testing.assert_array_equal(d.x_train, raw.x_train)
  np.testing.assert_array_equal(d.x_test, raw.x_test)
  d.x_train[0, 0] = 123.0  # a fresh array: writing it leaves the cache alone
  assert data.read_source('mnist1d').x_train[0, 0] != 123.0
