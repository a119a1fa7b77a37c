"""load_dataset end to end: IDX files (synthetic and real), missing data."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from research import data
from research.data import idx
from research.data import idx_source
from research.errors import ConfigError, DataNotFoundError

# shared/data next to the repository, unless $RESEARCH_DATA_DIR says otherwise.
REAL_DATA_DIR = Path(os.environ.get(data.DATA_DIR_ENV) or
                     Path(__file__).resolve().parents[2] / 'shared' / 'data')


def config(**overrides):
  c = data.default_data_config()
  c.update(overrides)
  return c


@pytest.fixture(autouse=True)
def no_env_data_dir(monkeypatch):
  # Each test says where data is; the caller's environment must not leak in.
  monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


@pytest.fixture(scope='module')
def fake_mnist_dir(tmp_path_factory):
  """Full-size MNIST-shaped IDX files (uncompressed: fast to write)."""
  root = tmp_path_factory.mktemp('fake_idx')
  directory = root / 'mnist'
  directory.mkdir()
  rng = np.random.default_rng(0)
  for prefix, n in (('train', 60000), ('t10k', 10000)):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, 0, :] = 0  # a constant border row, as in MNIST
    idx.write_idx(directory / f'{prefix}-images-idx3-ubyte', images)
    idx.write_idx(directory / f'{prefix}-labels-idx1-ubyte',
                  np.arange(n, dtype=np.uint8) % 10)
  return root


def test_idx_directory_source(fake_mnist_dir, monkeypatch):
  monkeypatch.setenv(data.DATA_DIR_ENV, str(fake_mnist_dir))
  d = data.load_dataset(config(name='mnist', normalization='unit_interval',
                               dev_size=100))
  assert d.x_train.shape == (59900, 28, 28, 1)
  assert d.x_dev.shape == (100, 28, 28, 1)
  assert d.x_test.shape == (10000, 28, 28, 1)
  assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
  assert d.source == f'idx:{(fake_mnist_dir / "mnist").resolve()}'
  raw = idx.read_idx(fake_mnist_dir / 'mnist' / 't10k-images-idx3-ubyte')
  np.testing.assert_array_equal(d.x_test[..., 0], raw / np.float32(255))


def test_standardize_images_with_constant_pixels(fake_mnist_dir):
  d = data.load_dataset(config(name='mnist', dir=str(fake_mnist_dir / 'mnist')))
  assert np.isfinite(d.x_train).all() and np.isfinite(d.x_test).all()
  np.testing.assert_array_equal(d.x_train[:, 0], 0)  # the constant row
  std = d.x_train[:, 1:].std(axis=0)
  np.testing.assert_allclose(std, 1, atol=1e-4)


def test_label_out_of_range_names_file(fake_mnist_dir, tmp_path):
  for f in (fake_mnist_dir / 'mnist').iterdir():
    (tmp_path / f.name).symlink_to(f)
  labels = tmp_path / 'train-labels-idx1-ubyte'
  labels.unlink()
  idx.write_idx(labels, np.full(60000, 10, np.uint8))
  with pytest.raises(idx.IdxFormatError, match='label 10 out of range') as e:
    data.load_dataset(config(name='mnist', dir=str(tmp_path)))
  assert str(labels) in str(e.value)


# --- the real files -----------------------------------------------------------


@pytest.fixture(scope='module')
def real_data_dir():
  for name in ('mnist', 'fashion_mnist'):
    if idx_source.find_idx_dir(REAL_DATA_DIR, name) is None:
      pytest.skip(f'no official {name} IDX files under {REAL_DATA_DIR} (set '
                  f'{data.DATA_DIR_ENV} to the directory holding them)')
  return REAL_DATA_DIR


@pytest.mark.parametrize('name', ['mnist', 'fashion_mnist'])
def test_real_data(real_data_dir, monkeypatch, name):
  monkeypatch.setenv(data.DATA_DIR_ENV, str(real_data_dir))
  d = data.load_dataset(config(name=name, normalization='unit_interval'))
  assert d.x_train.shape == (60000, 28, 28, 1)
  assert d.x_test.shape == (10000, 28, 28, 1)
  assert d.x_dev.shape == (0, 28, 28, 1) and d.y_dev.shape == (0,)
  assert d.x_train.dtype == np.float32
  assert d.y_train.dtype == d.y_test.dtype == np.int32
  for y in (d.y_train, d.y_test):
    assert set(np.unique(y)) == set(range(10))
  assert d.num_classes == len(d.class_names) == 10
  assert d.x_train.min() == 0 and d.x_train.max() == 1  # exactly 255 / 255
  assert 0 <= d.x_test.min() and d.x_test.max() <= 1
  assert d.source.startswith('idx:') and d.source.endswith(name)
  if name == 'fashion_mnist':
    assert d.class_names[0] == 'T-shirt/top'
    assert d.class_names[9] == 'Ankle boot'


def test_real_data_dir_pointing_at_the_dataset_folder(real_data_dir):
  d = data.load_dataset(config(name='mnist', dir=str(real_data_dir / 'mnist'),
                               normalization='none', classes=(1, 7)))
  assert d.class_names == ('1', '7') and d.class_ids == (1, 7)
  assert set(np.unique(d.y_train)) == {0, 1}
  assert d.x_train.max() == 255


# --- nothing found ---------------------------------------------------------


def _assert_fails_fast(cfg):
  # Import TFDS first: the time measured is that of looking (no network wait,
  # which would take minutes), not that of a cold import on a busy machine.
  pytest.importorskip('tensorflow_datasets')
  start = time.perf_counter()
  with pytest.raises(DataNotFoundError) as e:
    data.load_dataset(cfg)
  assert time.perf_counter() - start < 2.0
  return str(e.value)


def test_missing_directory_fails_fast(tmp_path):
  missing = tmp_path / 'no_such_dir'
  message = _assert_fails_fast(config(name='mnist', dir=str(missing),
                                      tfds_dir=str(tmp_path / 'tfds')))
  assert str(missing) in message
  for file_name in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                    't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
    assert file_name in message
  assert str(tmp_path / 'tfds') in message
  assert 'data.dir' in message and data.DATA_DIR_ENV in message


def test_no_directory_configured_fails_fast(tmp_path):
  message = _assert_fails_fast(config(name='fashion_mnist',
                                      tfds_dir=str(tmp_path)))
  assert 'no directory given' in message and data.DATA_DIR_ENV in message
  assert str(tmp_path / 'fashion_mnist') in message  # where TFDS looked


def test_tfds_name_not_prepared_fails_fast(tmp_path):
  message = _assert_fails_fast(config(name='cifar10', tfds_dir=str(tmp_path)))
  assert 'cifar10' in message and str(tmp_path) in message


def test_unknown_name_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match='data.name') as e:
    data.load_dataset(config(name='no_such_dataset_xyz',
                             tfds_dir=str(tmp_path)))
  for name in data.LOCAL_SOURCES:
    assert name in str(e.value)
