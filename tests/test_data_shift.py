"""Domain shift of dev and test, and the train-dev hold-out."""

import numpy as np
import pytest
from scipy import stats

from research import data
from research.data import shift
from research.errors import ConfigError


def config(**overrides):
  c = data.default_data_config()  # mnist1d: generated, cached in-process
  c.update(overrides)
  return c


def _sorted_rows(x):
  x = x.reshape(len(x), -1)
  return x[np.lexsort(x.T[::-1])]


def _blob_images(n: int, row: int, col: int, size: int = 29) -> np.ndarray:
  """uint8 (n, size, size, 1) images: one 3x3 white square centred at
  (row, col) on black."""
  x = np.zeros((n, size, size, 1), np.uint8)
  x[:, row - 1:row + 2, col - 1:col + 2] = 255
  return x


def _centre_of_mass(image: np.ndarray) -> np.ndarray:
  """(row, col) of the intensity-weighted mean pixel of (H, W, 1)."""
  image = image[..., 0].astype(np.float64)
  rows, cols = np.indices(image.shape)
  return np.array([(rows * image).sum(), (cols * image).sum()]) / image.sum()


# --- the shifts ---------------------------------------------------------------


def test_rotation_moves_the_centre_of_mass_by_the_angle():
  # A blob 10 pixels above the centre (14, 14) of a 29x29 image.
  x = _blob_images(200, row=4, col=14)
  angles = shift.rotation_angles(200, 60.0, seed=3, split='test')
  assert np.abs(angles).max() <= 60 and np.abs(angles).max() > 55
  assert stats.kstest(angles, stats.uniform(-60, 120).cdf).pvalue > 1e-3
  rotated = shift.apply_shift(x, 'rotate', 60.0, seed=3, split='test')
  assert rotated.dtype == np.float32 and rotated.shape == x.shape
  for image, angle in zip(rotated, angles):
    # Counter-clockwise as displayed: "up" (-row) turns towards "left" (-col).
    theta = np.deg2rad(angle)
    expected = np.array([14 - 10 * np.cos(theta), 14 - 10 * np.sin(theta)])
    np.testing.assert_allclose(_centre_of_mass(image), expected, atol=0.15)
  # Bilinear interpolation moves mass, it does not create it.
  np.testing.assert_allclose(rotated.sum(axis=(1, 2, 3)), x[0].sum(), rtol=0.05)


def test_rotation_by_zero_amount_is_the_identity():
  x = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), np.uint8)
  np.testing.assert_array_equal(
      shift.apply_shift(x, 'rotate', 0.0, seed=0, split='dev'), x)


@pytest.mark.parametrize('kind, amount', [('rotate', 30.0), ('noise', 0.2)])
def test_random_shifts_are_deterministic_per_split_and_seed(kind, amount):
  x = np.random.default_rng(1).integers(0, 256, (20, 28, 28, 1), np.uint8)
  a = shift.apply_shift(x, kind, amount, seed=5, split='dev')
  np.testing.assert_array_equal(a, shift.apply_shift(x, kind, amount, 5, 'dev'))
  assert not np.array_equal(a, shift.apply_shift(x, kind, amount, 6, 'dev'))
  assert not np.array_equal(a, shift.apply_shift(x, kind, amount, 5, 'test'))
  # An example's shift depends on its position, not on the split's length.
  np.testing.assert_array_equal(
      a[:7], shift.apply_shift(x[:7], kind, amount, 5, 'dev'))


@pytest.mark.parametrize('dtype, scale', [(np.uint8, 255.0), (np.float32, 1.0)])
def test_noise_has_the_stated_std_in_unit_pixels(dtype, scale):
  x = (np.random.default_rng(2).random((50, 28, 28, 1)) * scale).astype(dtype)
  shifted = shift.apply_shift(x, 'noise', 0.3, seed=0, split='test')
  noise = (shifted - x.astype(np.float64)) / scale
  n = noise.size
  assert abs(noise.mean()) < 4 * 0.3 / np.sqrt(n)
  # The sample std of n normals is within a few times 0.3 / sqrt(2n).
  assert abs(noise.std() - 0.3) < 5 * 0.3 / np.sqrt(2 * n)
  assert stats.kstest(noise.ravel()[:20000] / 0.3, 'norm').pvalue > 1e-3


def test_blur_of_an_impulse_is_the_gaussian_kernel():
  x = np.zeros((1, 41, 41, 1), np.float32)
  x[0, 20, 20] = 1.0
  blurred = shift.apply_shift(x, 'blur', 2.0, seed=0, split='dev')[0, ..., 0]
  rows, cols = np.indices((41, 41))
  kernel = np.exp(-((rows - 20) ** 2 + (cols - 20) ** 2) / (2 * 2.0 ** 2))
  np.testing.assert_allclose(blurred, kernel / kernel.sum(), atol=2e-4)


def test_invert_blends_towards_the_negative():
  x = np.random.default_rng(3).integers(0, 256, (4, 28, 28, 1), np.uint8)
  full = shift.apply_shift(x, 'invert', 1.0, seed=0, split='test')
  np.testing.assert_array_equal(full, 255.0 - x)
  np.testing.assert_allclose(
      shift.apply_shift(x, 'invert', 0.5, seed=0, split='test'), 127.5)
  floats = x / np.float32(255)
  np.testing.assert_allclose(
      shift.apply_shift(floats, 'invert', 0.25, seed=0, split='dev'),
      0.75 * floats + 0.25 * (1 - floats), rtol=1e-6)


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize('overrides, match', [
    ({'shift': 'warp'}, r"data.shift: 'warp' is not one of \['none', 'rotate'"),
    ({'name': 'mnist', 'shift': 'rotate', 'shift_amount': -5.0},
     'data.shift_amount: -5.0 must be >= 0'),
    ({'name': 'mnist', 'shift': 'rotate', 'shift_amount': 200.0},
     'data.shift_amount: 200.0 is above 180 degrees'),
    ({'name': 'mnist', 'shift': 'invert', 'shift_amount': 1.5},
     'data.shift_amount: 1.5 is above 1'),
    ({'shift_amount': 3.0}, "data.shift_amount: 3.0 has no effect with "
                            "data.shift='none'"),
    ({'name': 'mnist', 'shift': 'noise', 'shift_amount': 'a lot'},
     'data.shift_amount'),
    ({'name': 'mnist', 'shift': 'noise', 'shift_amount': float('nan')},
     'data.shift_amount'),
    ({'shift': 'rotate', 'shift_amount': 10.0}, 'data.shift: .* mnist1d'),
    ({'shift_seed': -1}, 'data.shift_seed'),
    ({'train_dev_size': -3}, 'data.train_dev_size'),
    ({'train_dev_size': 2.5}, 'data.train_dev_size'),
])
def test_bad_shift_or_train_dev_names_key(overrides, match):
  c = {**data.default_data_config().to_dict(), **overrides}
  with pytest.raises(ConfigError, match=match):
    data.validate_data_config(c)


def test_integer_amount_is_accepted_as_degrees():
  c = data.resolve_data_config(config(name='mnist', shift='rotate',
                                      shift_amount=15))
  assert c['shift_amount'] == 15.0 and isinstance(c['shift_amount'], float)


# --- train-dev ----------------------------------------------------------------


def test_train_dev_is_a_disjoint_draw_of_the_training_split():
  raw = data.read_source('mnist1d')
  d = data.load_dataset(config(dev_size=500, train_dev_size=700, split_seed=4,
                               normalization='none'))
  assert len(d.x_train_dev) == len(d.y_train_dev) == 700
  assert len(d.x_dev) == 500
  assert len(d.x_train) == len(raw.x_train) - 1200
  assert d.x_train_dev.dtype == np.float32 and d.y_train_dev.dtype == np.int32
  # The three are a partition of the original training split...
  parts = np.concatenate([d.x_train, d.x_train_dev, d.x_dev])
  np.testing.assert_array_equal(_sorted_rows(parts), _sorted_rows(raw.x_train))
  rows = lambda x: {r.tobytes() for r in x}  # mnist1d rows are unique
  assert len(rows(raw.x_train)) == len(raw.x_train)
  assert not rows(d.x_train_dev) & rows(d.x_train)
  assert not rows(d.x_train_dev) & rows(d.x_dev)
  # ... and dev is what it is without a train-dev split.
  no_train_dev = data.load_dataset(config(dev_size=500, split_seed=4,
                                          normalization='none'))
  np.testing.assert_array_equal(d.x_dev, no_train_dev.x_dev)
  assert len(no_train_dev.x_train_dev) == 0
  assert no_train_dev.x_train_dev.shape[1:] == no_train_dev.x_train.shape[1:]


def test_train_dev_has_the_training_distribution():
  d = data.load_dataset(config(train_dev_size=1000, normalization='none'))
  train_freq = np.bincount(d.y_train, minlength=10) / len(d.y_train)
  counts = np.bincount(d.y_train_dev, minlength=10)
  assert stats.chisquare(counts, train_freq * counts.sum()).pvalue > 1e-3
  # Feature means agree within the sampling error of 1000 examples.
  se = d.x_train.std(axis=0) / np.sqrt(len(d.x_train_dev))
  assert (np.abs(d.x_train_dev.mean(0) - d.x_train.mean(0)) < 5 * se).all()


def test_train_dev_depends_on_split_seed_only():
  a = data.load_dataset(config(train_dev_size=300, split_seed=1))
  b = data.load_dataset(config(train_dev_size=300, split_seed=1))
  c = data.load_dataset(config(train_dev_size=300, split_seed=2))
  np.testing.assert_array_equal(a.x_train_dev, b.x_train_dev)
  assert not np.array_equal(a.x_train_dev, c.x_train_dev)


def test_hold_outs_must_leave_a_training_split():
  n = len(data.read_source('mnist1d').x_train)
  with pytest.raises(ConfigError, match='data.train_dev_size: dev_size 100'):
    data.load_dataset(config(dev_size=100, train_dev_size=n - 100))


# --- shift through load_dataset (the official MNIST files) -----------------


def test_shift_applies_to_dev_and_test_only(mnist_dir):
  common = dict(name='mnist', dir=str(mnist_dir), classes=(0, 1), dev_size=200,
                train_dev_size=300, split_seed=1)
  plain = data.load_dataset(config(**common))
  shifted = data.load_dataset(config(**common, shift='rotate',
                                     shift_amount=40.0, shift_seed=7))
  for split in ('train', 'train_dev'):
    np.testing.assert_array_equal(getattr(shifted, f'x_{split}'),
                                  getattr(plain, f'x_{split}'))
  for split in ('train', 'train_dev', 'dev', 'test'):
    np.testing.assert_array_equal(getattr(shifted, f'y_{split}'),
                                  getattr(plain, f'y_{split}'))
  # Normalization statistics are the unshifted training split's.
  np.testing.assert_array_equal(shifted.normalization.shift,
                                plain.normalization.shift)
  np.testing.assert_array_equal(shifted.normalization.scale,
                                plain.normalization.scale)
  # Dev and test are the raw images rotated, then normalized with them.
  raw = data.load_dataset(config(**common, normalization='none'))
  stats_ = plain.normalization
  for split in ('dev', 'test'):
    expected = shift.apply_shift(getattr(raw, f'x_{split}'), 'rotate', 40.0,
                                 seed=7, split=split)
    np.testing.assert_allclose(getattr(shifted, f'x_{split}'),
                               (expected - stats_.shift) / stats_.scale,
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(getattr(shifted, f'x_{split}'),
                           getattr(plain, f'x_{split}'))
