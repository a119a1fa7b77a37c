"""MNIST and Fashion-MNIST from the official IDX files in a directory."""

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

from research.data import idx
from research.data.dataset import RawDataset
from research.errors import DataError, DataNotFoundError

# (images, labels) file stems of each split, as distributed.
SPLIT_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}
# The names in the official distribution, for messages.
EXPECTED_FILE_NAMES = tuple(
    stem + '.gz' for pair in SPLIT_FILES.values() for stem in pair)


@dataclasses.dataclass(frozen=True)
class _Spec:
  class_names: tuple[str, ...]
  num_train: int = 60000
  num_test: int = 10000
  image_shape: tuple[int, int] = (28, 28)


SPECS = {
    'mnist': _Spec(class_names=tuple('0123456789')),
    'fashion_mnist': _Spec(class_names=(
        'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
        'Shirt', 'Sneaker', 'Bag', 'Ankle boot')),
}


def candidate_dirs(root: str | os.PathLike[str], name: str) -> tuple[Path, ...]:
  """Where the files of `name` may be: `root/name` (one folder per dataset, as
  in shared/data), then `root` itself."""
  root = Path(root).expanduser()
  return (root / name, root)


def find_files(directory: Path) -> dict[str, Path] | None:
  """The four files in `directory`, by stem, or None if any is missing.

  Accepts 'train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte' and the
  'train-images.idx3-ubyte' variant (with or without '.gz').
  """
  found = {}
  for stem in (s for pair in SPLIT_FILES.values() for s in pair):
    dotted = stem.replace('-idx', '.idx', 1)
    for file_name in (stem + '.gz', stem, dotted + '.gz', dotted):
      if (directory / file_name).is_file():
        found[stem] = directory / file_name
        break
    else:
      return None
  return found


def find_idx_dir(root: str | os.PathLike[str], name: str) -> Path | None:
  """The first candidate directory holding all four files, or None."""
  for directory in candidate_dirs(root, name):
    if find_files(directory) is not None:
      return directory
  return None


def load_idx_dataset(directory: Path, name: str) -> RawDataset:
  """Reads and checks the four files of `name` ('mnist' or 'fashion_mnist').

  Raises:
    idx.IdxFormatError: (a DataError) naming the file, if a file is not valid
      IDX, images and labels disagree in number, or the counts, image size or
      label range are not those of `name`.
    DataError: naming the file, if a file cannot be read.
    DataNotFoundError: if a file is missing.
  """
  spec = SPECS[name]
  files = find_files(directory)
  if files is None:
    raise DataNotFoundError(
        f'{directory}: does not hold all of {list(EXPECTED_FILE_NAMES)}')
  splits = {}
  for split, (images_stem, labels_stem) in SPLIT_FILES.items():
    expected = spec.num_train if split == 'train' else spec.num_test
    splits[split] = _read_split(files[images_stem], files[labels_stem],
                                expected, spec)
  return RawDataset(*splits['train'], *splits['test'],
                    class_names=spec.class_names,
                    source=f'idx:{directory.resolve()}')


def _read_split(images_path: Path, labels_path: Path, expected: int,
                spec: _Spec) -> tuple[np.ndarray, np.ndarray]:
  images = _read_cached(images_path, idx.IMAGES_MAGIC)
  labels = _read_cached(labels_path, idx.LABELS_MAGIC)
  if images.ndim != 3 or labels.ndim != 1:
    raise idx.IdxFormatError(
        f'{images_path}, {labels_path}: shapes {images.shape} and '
        f'{labels.shape}, expected (N, H, W) images and (N,) labels')
  if len(images) != len(labels):
    raise idx.IdxFormatError(
        f'{images_path} holds {len(images)} images but {labels_path} holds '
        f'{len(labels)} labels')
  if len(images) != expected:
    raise idx.IdxFormatError(
        f'{images_path}: {len(images)} images, expected {expected}')
  if images.shape[1:] != spec.image_shape:
    raise idx.IdxFormatError(
        f'{images_path}: images of size {images.shape[1:]}, expected '
        f'{spec.image_shape}')
  num_classes = len(spec.class_names)
  if labels.max() >= num_classes:
    raise idx.IdxFormatError(
        f'{labels_path}: label {labels.max()} out of range 0..'
        f'{num_classes - 1}')
  return images[..., None], labels


def _read_cached(path: Path, magic: int) -> np.ndarray:
  try:
    stat = path.stat()
    # Keyed by size and mtime, so a replaced file is read again.
    return _read(str(path.resolve()), stat.st_size, stat.st_mtime_ns, magic)
  except OSError as e:  # unreadable, vanished: the file is named, no traceback
    raise DataError(f'{path}: cannot be read ({e.strerror or e})') from e


@functools.lru_cache(maxsize=8)  # the 4 files of both datasets
def _read(path: str, size: int, mtime_ns: int, magic: int) -> np.ndarray:
  del size, mtime_ns  # Only part of the cache key.
  array = idx.read_idx(path, expected_magic=magic)
  array.flags.writeable = False  # Shared by every caller of the cache.
  return array
