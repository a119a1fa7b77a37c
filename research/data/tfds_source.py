"""Image-classification datasets that TFDS has already prepared on this machine.

Only the random-access path is used, `as_data_source` over ArrayRecord files,
since TensorFlow is not installed (`tfds.load` needs it). Nothing here
downloads: callers check `is_prepared()` first, which answers at once, and
a dataset that is not prepared is an error, never a download (with no network
a TFDS download retries for minutes before failing).

tensorflow_datasets is imported inside the functions: it is slow to import and
most runs (mnist1d, IDX files) never need it.
"""

from typing import Any

import numpy as np

from research.data.config import LOCAL_SOURCES
from research.data.dataset import RawDataset
from research.errors import ConfigError, DataNotFoundError

SPLITS = ('train', 'test')


def get_builder(name: str, data_dir: str | None) -> Any:
  """The TFDS builder of `name` rooted at `data_dir` (None: TFDS's default).

  Raises:
    ConfigError: on `data.name` if TFDS has no dataset of that name.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  (seconds to import; only TFDS datasets need it)

  try:
    return tfds.builder(name, data_dir=data_dir or None)
  except (ValueError, ImportError) as e:  # incl. DatasetNotFoundError
    # TFDS's own message lists its whole catalogue; keep its first line.
    lines = str(e).strip().splitlines()
    reason = lines[0] if lines else type(e).__name__
    raise ConfigError(
        f'data.name: {name!r} is neither a local source {list(LOCAL_SOURCES)} '
        f'nor a TFDS dataset ({reason})') from e


def prepare_hint(name: str, data_dir: str | None) -> str:
  """How to put a prepared copy where TFDS looks, for error messages."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  (seconds to import; only TFDS datasets need it)

  root = data_dir or tfds.core.constants.DATA_DIR  # honours $TFDS_DATA_DIR
  return (f'prepare the TFDS dataset under {root} (on a machine with network '
          f'access run `tfds build {name} --file_format=array_record '
          f'--data_dir=DIR` and copy what DIR holds to {root}, or set '
          'data.tfds_dir (--set data.tfds_dir=...) to where it is prepared)')


def load_tfds(builder: Any) -> RawDataset:
  """Reads the 'image' and 'label' features of the train and test splits.

  Raises:
    ConfigError: on `data.name` if the dataset is not image classification
      with fixed-size images, or lacks a train or test split.
    DataNotFoundError: if it is prepared in a format that cannot be read
      without TensorFlow.
  """
  name = builder.name
  features = builder.info.features
  if 'image' not in features or 'label' not in features:
    raise ConfigError(
        f"data.name: {name!r} is not an image-classification dataset: it has "
        f"features {sorted(features)}, not 'image' and 'label'")
  label = features['label']
  if not hasattr(label, 'num_classes'):
    raise ConfigError(f"data.name: {name!r}: its 'label' feature is not a "
                      'ClassLabel')
  if None in tuple(features['image'].shape):
    raise ConfigError(
        f'data.name: {name!r} has images of varying size '
        f'{features["image"].shape}; only fixed-size images are supported')
  available = tuple(builder.info.splits)
  missing = [s for s in SPLITS if available and s not in available]
  if missing:
    raise ConfigError(f'data.name: {name!r} has splits {list(available)}, '
                      f'no {missing}')

  arrays = []
  for split in SPLITS:
    try:
      source = builder.as_data_source(split=split)
    except NotImplementedError as e:  # e.g. prepared as TFRecord.
      raise DataNotFoundError(
          f'{builder.data_dir}: TFDS dataset {name!r} is prepared in a format '
          'that cannot be read without TensorFlow; prepare it again with '
          f'--file_format=array_record ({e})') from e
    if not len(source):
      raise DataNotFoundError(
          f'{builder.data_dir}: the {split!r} split of {name!r} is empty')
    arrays.extend(_read_all(source))
  return RawDataset(*arrays, class_names=tuple(label.names),
                    source=f'tfds:{builder.data_dir}')


def _read_all(source: Any) -> tuple[np.ndarray, np.ndarray]:
  """All examples of a split as (images, labels), images in stored dtype."""
  n = len(source)
  first = source[0]
  image = np.asarray(first['image'])
  x = np.empty((n, *image.shape), image.dtype)
  y = np.empty((n,), np.int64)
  # One record at a time: `__getitems__` would batch reads, but
  # tfds.testing.mock_data does not support it.
  for i in range(n):
    example = first if i == 0 else source[i]
    x[i] = example['image']
    y[i] = example['label']
  return x, y
