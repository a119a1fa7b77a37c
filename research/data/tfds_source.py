"""Image-classification datasets that TFDS has already prepared on this machine.

Only the random-access path is used, `as_data_source` over ArrayRecord files,
since TensorFlow is not installed (`tfds.load` needs it). Nothing here
downloads: callers check `is_prepared()` first, which answers at once, and
a dataset that is not prepared is an error, never a download (with no network
a TFDS download retries for minutes before failing).

tensorflow_datasets is imported inside the functions: it is slow to import and
most runs (mnist1d, IDX files) never need it.
"""

import io
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
    arrays.extend(_read_all(source, features))
  return RawDataset(*arrays, class_names=tuple(label.names),
                    source=f'tfds:{builder.data_dir}')


# Examples read per call: bounds the records held at once (~4 MB for MNIST).
_CHUNK = 10000
# PIL's 8-bit modes whose pixels are the image's channels.
_PIL_CHANNELS = {'L': 1, 'LA': 2, 'RGB': 3, 'RGBA': 4}


def _read_all(source: Any, features: Any) -> tuple[np.ndarray, np.ndarray]:
  """All examples of a split as (images, labels), images in stored dtype.

  Reading and decoding one example at a time cost ~250 us per example (70k
  MNIST: 15-18 s on 2 EPYC cores, 72 s seen elsewhere): ~70 us for each
  separate ArrayRecord read, ~110 us for TFDS's per-image PIL decode, the
  rest its generic tf.Example parsing. So records are read in chunks, and the
  PNG images of a ClassLabel dataset are parsed with protobuf and decoded
  with PIL directly (`_decode_png_examples`, ~50 us an image); other features
  go through TFDS's own decoder, still read in chunks.
  """
  n = len(source)
  image_feature, label_feature = features['image'], features['label']
  fast = _is_png_class_label(image_feature, label_feature)
  images = labels = None
  for start in range(0, n, _CHUNK):
    keys = list(range(start, min(start + _CHUNK, n)))
    records = _raw_records(source, keys) if fast else None
    if records is not None:
      x, y = _decode_png_examples(records, image_feature)
    else:
      examples = source.__getitems__(keys)
      x = np.stack([np.asarray(e['image']) for e in examples])
      y = np.array([e['label'] for e in examples], np.int64)
    if images is None:  # filled in place: no second copy of the split
      images = np.empty((n, *x.shape[1:]), x.dtype)
      labels = np.empty((n,), np.int64)
    images[start:start + len(x)] = x
    labels[start:start + len(y)] = y
  return images, labels


def _is_png_class_label(image_feature: Any, label_feature: Any) -> bool:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  (seconds to import; only TFDS datasets need it)

  return (type(image_feature) is tfds.features.Image  # pylint: disable=unidiomatic-typecheck  (subclasses encode differently)
          and image_feature.encoding_format in (None, 'png')
          and image_feature.np_dtype == np.uint8
          and isinstance(label_feature, tfds.features.ClassLabel))


def _raw_records(source: Any, keys: list[int]) -> list[bytes] | None:
  """The serialized tf.Examples of `keys`, or None where the source does not
  hand out bytes (e.g. `tfds.testing.mock_data`)."""
  raw_source = getattr(source, 'data_source', None)
  if raw_source is None or not hasattr(raw_source, '__getitems__'):
    return None
  records = raw_source.__getitems__(keys)
  if len(records) != len(keys) or not all(
      isinstance(r, bytes) for r in records):
    return None
  return list(records)


def _decode_png_examples(records: list[bytes], image_feature: Any
                         ) -> tuple[np.ndarray, np.ndarray]:
  """(images, labels) of serialized tf.Examples with a PNG 'image' and an
  int64 'label' (how TFDS stores Image and ClassLabel features): parsed with
  protobuf and decoded with PIL directly, without TFDS's generic per-example
  machinery around them."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (a TFDS dependency)
  from tensorflow_datasets.proto import tf_example_pb2  # pylint: disable=g-import-not-at-top  (with tensorflow_datasets, see above)

  parse = tf_example_pb2.Example.FromString
  shape = tuple(image_feature.shape)
  images = np.empty((len(records), *shape), np.uint8)
  labels = np.empty((len(records),), np.int64)
  for i, record in enumerate(records):
    feature = parse(record).features.feature
    png = feature['image'].bytes_list.value[0]
    labels[i] = feature['label'].int64_list.value[0]
    with Image.open(io.BytesIO(png)) as image:
      if _PIL_CHANNELS.get(image.mode) == shape[-1] and image.size == (
          shape[1], shape[0]):
        images[i] = np.asarray(image).reshape(shape)
        continue
    # A palette, 1-bit or 16-bit PNG: TFDS decodes it as it would.
    images[i] = image_feature.decode_example_np(png)
  return images, labels
