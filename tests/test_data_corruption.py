"""`data.label_noise`: symmetric noise on the training labels only."""

import numpy as np
import pytest
from scipy import stats

from research import data
from research.data import corruption
from research.errors import ConfigError


def _labels(n=5000, k=10, seed=0):
  return np.random.default_rng(seed).integers(0, k, size=n).astype(np.int32)


@pytest.mark.parametrize('fraction', [0.0, 0.1, 0.25, 0.5, 0.9])
def test_exact_fraction_changed_and_never_the_clean_label(fraction):
  y = _labels(n=1237)
  noisy = corruption.symmetric_noise(y, fraction, 10, seed=(7, 3))
  changed = noisy != y
  assert changed.sum() == round(fraction * len(y))
  np.testing.assert_array_equal(
      np.flatnonzero(changed), corruption.corrupted_indices(len(y), fraction, (7, 3)))
  assert noisy.dtype == y.dtype and noisy.min() >= 0 and noisy.max() < 10
  np.testing.assert_array_equal(y, _labels(n=1237))  # input untouched


def test_deterministic_per_seed():
  y = _labels()
  a = corruption.symmetric_noise(y, 0.3, 10, seed=(1, 3))
  np.testing.assert_array_equal(a, corruption.symmetric_noise(y, 0.3, 10, seed=(1, 3)))
  assert not np.array_equal(a, corruption.symmetric_noise(y, 0.3, 10, seed=(2, 3)))


def test_nested_across_fractions():
  # The examples corrupted at 10% are corrupted at 20%, with the same label.
  y = _labels()
  fractions = (0.1, 0.2, 0.3, 0.5)
  noisy = [corruption.symmetric_noise(y, f, 10, seed=5) for f in fractions]
  for small, large in zip(noisy, noisy[1:]):
    hit = small != y
    assert set(np.flatnonzero(hit)) <= set(np.flatnonzero(large != y))
    np.testing.assert_array_equal(small[hit], large[hit])


def test_replacement_uniform_over_the_other_classes():
  # The offset (noisy - clean) mod k is uniform on 1..k-1, whatever the class:
  # a chi-square test of the offsets, and of the new labels of each class.
  k = 10
  y = _labels(n=60000, k=k, seed=1)
  noisy = corruption.symmetric_noise(y, 0.5, k, seed=11)
  hit = noisy != y
  offsets = (noisy[hit] - y[hit]) % k
  counts = np.bincount(offsets, minlength=k)
  assert counts[0] == 0
  assert stats.chisquare(counts[1:]).pvalue > 1e-3
  for c in (0, 7):
    new = np.bincount(noisy[hit & (y == c)], minlength=k)
    assert new[c] == 0
    assert stats.chisquare(np.delete(new, c)).pvalue > 1e-3


def test_which_examples_are_hit_does_not_depend_on_the_class():
  # The corrupted set is a uniform draw: each class loses about `fraction`.
  y = _labels(n=40000, seed=2)
  hit = corruption.symmetric_noise(y, 0.3, 10, seed=4) != y
  per_class = np.array([hit[y == c].mean() for c in range(10)])
  np.testing.assert_allclose(per_class, 0.3, atol=0.03)


def test_bad_arguments():
  with pytest.raises(ValueError, match='fraction'):
    corruption.symmetric_noise(_labels(), 1.0, 10, seed=0)
  with pytest.raises(ValueError, match='classes'):
    corruption.symmetric_noise(np.zeros(5, np.int32), 0.2, 1, seed=0)
  with pytest.raises(ValueError, match='out of range'):
    corruption.symmetric_noise(_labels(k=10), 0.2, 5, seed=0)


# --- through load_dataset (mnist1d: generated, cached in-process) ----------

def _load(**overrides):
  c = data.default_data_config()
  c.update({'dev_size': 500, 'train_dev_size': 300, 'split_seed': 3,
            'normalization': 'none', **overrides})
  return data.load_dataset(c)


@pytest.fixture(scope='module')
def clean():
  return _load()


def test_only_training_labels_touched(clean):
  noisy = _load(label_noise=0.4)
  np.testing.assert_array_equal(noisy.x_train, clean.x_train)
  changed = noisy.y_train != clean.y_train
  assert changed.sum() == round(0.4 * len(clean.y_train))
  for split in ('dev', 'train_dev', 'test'):
    np.testing.assert_array_equal(getattr(noisy, f'x_{split}'), getattr(clean, f'x_{split}'))
    np.testing.assert_array_equal(getattr(noisy, f'y_{split}'), getattr(clean, f'y_{split}'))
  assert noisy.y_train.dtype == np.int32


def test_loader_uses_its_own_stream(clean):
  # The same draw as corruption.symmetric_noise on (split_seed, stream 3), and
  # nested with train_size: the subset is the one without noise.
  noisy = _load(label_noise=0.2, train_size=1000)
  sub = _load(train_size=1000)
  np.testing.assert_array_equal(noisy.x_train, sub.x_train)
  expected = corruption.symmetric_noise(
      sub.y_train, 0.2, 10, (3, corruption.LABEL_NOISE_STREAM))
  np.testing.assert_array_equal(noisy.y_train, expected)


@pytest.mark.parametrize('bad', [-0.1, 1.0, 1.5, True, 'a lot', None])
def test_bad_config_raises_naming_the_key(bad):
  c = {**data.default_data_config().to_dict(), 'label_noise': bad}
  with pytest.raises(ConfigError, match=r'data\.label_noise'):
    data.validate_data_config(c)


def test_default_is_clean():
  assert data.resolve_data_config({})['label_noise'] == 0.0
  assert data.resolve_data_config({'label_noise': 0})['label_noise'] == 0.0
