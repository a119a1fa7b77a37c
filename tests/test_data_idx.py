"""The IDX reader and the IDX-directory source, on small files written here."""

import gzip

import numpy as np
import pytest

from research.data import idx
from research.data import idx_source
from research.errors import DataError, DataNotFoundError


@pytest.mark.parametrize('suffix', ['', '.gz'])
@pytest.mark.parametrize('dtype', ['uint8', 'int8', 'int16', 'int32',
                                   'float32', 'float64'])
def test_round_trip(tmp_path, suffix, dtype):
  array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
  path = tmp_path / f'a-idx3-ubyte{suffix}'
  idx.write_idx(path, array)
  back = idx.read_idx(path)
  assert back.dtype == np.dtype(dtype) and back.dtype.isnative
  np.testing.assert_array_equal(back, array)


def test_gzip_detected_from_content_not_name(tmp_path):
  path = tmp_path / 'labels'  # gzip content, no '.gz'
  path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])))
  np.testing.assert_array_equal(idx.read_idx(path, idx.LABELS_MAGIC),
                                [7, 8, 9])


def test_header_is_big_endian_as_mnist(tmp_path):
  path = tmp_path / 'images'
  idx.write_idx(path, np.zeros((1, 28, 28), np.uint8))
  header = path.read_bytes()[:16]
  assert header == bytes.fromhex('00000803' '00000001' '0000001c' '0000001c')
  assert int.from_bytes(header[:4], 'big') == idx.IMAGES_MAGIC


def test_wrong_magic_names_file(tmp_path):
  path = tmp_path / 'train-labels-idx1-ubyte'
  idx.write_idx(path, np.zeros(5, np.uint8))
  with pytest.raises(idx.IdxFormatError, match='magic number 2049') as e:
    idx.read_idx(path, expected_magic=idx.IMAGES_MAGIC)
  assert str(path) in str(e.value)


def test_not_idx_at_all(tmp_path):
  path = tmp_path / 'notes.txt'
  path.write_text('hello, world')
  with pytest.raises(idx.IdxFormatError, match='not an IDX magic'):
    idx.read_idx(path)


@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_truncated_data_names_file(tmp_path, suffix):
  full = tmp_path / 'full'
  idx.write_idx(full, np.ones((4, 28, 28), np.uint8))
  path = tmp_path / f'train-images-idx3-ubyte{suffix}'
  cut = full.read_bytes()[:-100]
  path.write_bytes(gzip.compress(cut) if suffix else cut)
  with pytest.raises(idx.IdxFormatError, match='truncated') as e:
    idx.read_idx(path, idx.IMAGES_MAGIC)
  assert str(path) in str(e.value) and '(4, 28, 28)' in str(e.value)


def test_truncated_header(tmp_path):
  path = tmp_path / 'images'
  path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
  with pytest.raises(idx.IdxFormatError, match='truncated'):
    idx.read_idx(path)


def test_truncated_gzip_stream_names_file(tmp_path):
  path = tmp_path / 'train-images-idx3-ubyte.gz'
  idx.write_idx(path, np.random.default_rng(0).integers(
      0, 256, (10, 28, 28), dtype=np.uint8))
  path.write_bytes(path.read_bytes()[:-50])
  with pytest.raises(idx.IdxFormatError, match='gzip') as e:
    idx.read_idx(path)
  assert str(path) in str(e.value)


def test_trailing_bytes_are_an_error(tmp_path):
  path = tmp_path / 'labels'
  idx.write_idx(path, np.zeros(5, np.uint8))
  path.write_bytes(path.read_bytes() + b'\0')
  with pytest.raises(idx.IdxFormatError, match='overlong'):
    idx.read_idx(path)


# --- the directory source ---------------------------------------------------


def _write_split_files(directory, n_train, n_test, n_train_labels=None,
                       names=None, label_max=9):
  """Writes the four files of a tiny MNIST-like dataset."""
  directory.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(0)
  counts = {
      'train-images-idx3-ubyte': (n_train, 28, 28),
      'train-labels-idx1-ubyte': (n_train if n_train_labels is None
                                  else n_train_labels,),
      't10k-images-idx3-ubyte': (n_test, 28, 28),
      't10k-labels-idx1-ubyte': (n_test,),
  }
  for stem, shape in counts.items():
    high = label_max + 1 if len(shape) == 1 else 256
    name = (names or {}).get(stem, stem + '.gz')
    idx.write_idx(directory / name,
                  rng.integers(0, high, shape, dtype=np.uint8))


def test_image_label_count_mismatch_names_both_files(tmp_path):
  _write_split_files(tmp_path, n_train=6, n_test=2, n_train_labels=5)
  with pytest.raises(idx.IdxFormatError, match='6 images .* 5 labels') as e:
    idx_source.load_idx_dataset(tmp_path, 'mnist')
  assert 'train-images-idx3-ubyte.gz' in str(e.value)
  assert 'train-labels-idx1-ubyte.gz' in str(e.value)


def test_counts_must_be_those_of_mnist(tmp_path):
  _write_split_files(tmp_path, n_train=6, n_test=2)
  with pytest.raises(idx.IdxFormatError, match='6 images, expected 60000'):
    idx_source.load_idx_dataset(tmp_path, 'mnist')


def test_finds_raw_and_dotted_names_in_root_or_subdir(tmp_path):
  names = {'train-images-idx3-ubyte': 'train-images.idx3-ubyte',
           'train-labels-idx1-ubyte': 'train-labels.idx1-ubyte.gz',
           't10k-images-idx3-ubyte': 't10k-images-idx3-ubyte'}
  _write_split_files(tmp_path / 'fashion_mnist', 1, 1, names=names)
  assert idx_source.find_idx_dir(tmp_path, 'fashion_mnist') == (
      tmp_path / 'fashion_mnist')
  assert idx_source.find_idx_dir(tmp_path / 'fashion_mnist',
                                 'fashion_mnist') == tmp_path / 'fashion_mnist'
  assert idx_source.find_idx_dir(tmp_path, 'mnist') is None
  (tmp_path / 'fashion_mnist' / 't10k-labels-idx1-ubyte.gz').unlink()
  assert idx_source.find_idx_dir(tmp_path, 'fashion_mnist') is None


def test_format_errors_are_data_errors():
  # The CLI answers a DataError with one `error: bad data: ...` line.
  assert issubclass(idx.IdxFormatError, DataError)


def test_header_sizes_that_overflow_are_truncated_not_a_match(tmp_path):
  # 2**32 - 1 per dimension: a product past int64 must not wrap to a match.
  path = tmp_path / 'images'
  path.write_bytes(bytes([0, 0, 8, 3]) + b'\xff' * 12 + bytes(16))
  with pytest.raises(idx.IdxFormatError, match='truncated'):
    idx.read_idx(path, idx.IMAGES_MAGIC)


def test_unreadable_file_is_a_data_error_naming_it(tmp_path):
  _write_split_files(tmp_path, n_train=6, n_test=2)
  # A directory where a file was found a moment ago: it cannot be read.
  path = tmp_path / 'train-images-idx3-ubyte.gz'
  path.unlink()
  path.mkdir()
  files = {stem: tmp_path / f'{stem}.gz'
           for pair in idx_source.SPLIT_FILES.values() for stem in pair}
  with pytest.raises(DataError, match='cannot be read') as e:
    idx_source._read_split(files['train-images-idx3-ubyte'],  # pylint: disable=protected-access
                           files['train-labels-idx1-ubyte'], 6,
                           idx_source.SPECS['mnist'])
  assert str(path) in str(e.value)


def test_missing_file_is_data_not_found(tmp_path):
  _write_split_files(tmp_path, n_train=6, n_test=2)
  (tmp_path / 't10k-labels-idx1-ubyte.gz').unlink()
  with pytest.raises(DataNotFoundError, match='t10k-labels'):
    idx_source.load_idx_dataset(tmp_path, 'mnist')
