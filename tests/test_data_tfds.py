"""The TFDS path, without TensorFlow and without network.

Three ways to have a prepared dataset here: `tfds.testing.mock_data` (random
examples with the real features of 'mnist'), a tiny dataset of `Tensor`
features built in a temporary directory (exercises the real `is_prepared` and
ArrayRecord reading), and a 5000-example MNIST-like one with real PNG `Image`
features (tfds_builder.py; exercises the batched read and PNG decode).
"""

import contextlib
import functools
import io
from unittest import mock

import numpy as np
import pytest

from research import data
from research.data import tfds_source

tfds = pytest.importorskip('tensorflow_datasets')
from tensorflow_datasets.testing import mocking  # pylint: disable=g-import-not-at-top,g-bad-import-order  (needs tensorflow_datasets)

import tfds_builder  # pylint: disable=g-import-not-at-top,g-bad-import-order  (needs tensorflow_datasets)

_TINY_CLASSES = ('cat', 'dog', 'emu')


class ResearchTinyImages(tfds.core.GeneratorBasedBuilder):
  """3-class 8x8x3 uint8 images. Building without TensorFlow works for
  `Tensor` features in ArrayRecord, not for `Image` features."""

  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(8, 8, 3), dtype=np.uint8),
            'label': tfds.features.ClassLabel(names=_TINY_CLASSES),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {'train': self._generate_examples(30),
            'test': self._generate_examples(9)}

  def _generate_examples(self, n):
    for i in range(n):
      yield i, {'image': tiny_image(n, i), 'label': i % 3}


def tiny_image(n, i):
  return np.full((8, 8, 3), (n + 7 * i) % 256, np.uint8)


@pytest.fixture(scope='module')
def tiny_tfds_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('tfds')
  ResearchTinyImages(data_dir=str(root),
                     file_format='array_record').download_and_prepare()
  return root


def config(**overrides):
  c = data.default_data_config()
  c.update(overrides)
  return c


def test_locally_built_dataset(tiny_tfds_dir):
  d = data.load_dataset(config(name='research_tiny_images',
                               tfds_dir=str(tiny_tfds_dir),
                               normalization='unit_interval', dev_size=6))
  assert d.x_train.shape == (24, 8, 8, 3) and d.x_dev.shape == (6, 8, 8, 3)
  assert d.x_test.shape == (9, 8, 8, 3)
  assert d.x_train.dtype == np.float32 and d.y_test.dtype == np.int32
  assert d.num_classes == 3 and d.class_names == _TINY_CLASSES
  assert d.source.startswith(f'tfds:{tiny_tfds_dir}')
  # TFDS may store examples in any order: compare as a set of (image, label).
  got = sorted((int(round(x[0, 0, 0] * 255)), int(y))
               for x, y in zip(d.x_test, d.y_test))
  assert got == sorted((int(tiny_image(9, i)[0, 0, 0]), i % 3)
                       for i in range(9))


def test_locally_built_dataset_class_subset(tiny_tfds_dir):
  d = data.load_dataset(config(name='research_tiny_images',
                               tfds_dir=str(tiny_tfds_dir), classes=(2,)))
  assert d.class_names == ('emu',) and len(d.x_train) == 10
  assert (d.y_train == 0).all()


def test_mock_data_mnist(tmp_path, monkeypatch):
  monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
  # mock_data fakes the reading but not `is_prepared()`, which still looks on
  # disk; say yes to it as a prepared copy would.
  # Its batched read `__getitems__` is a plain attribute of a MagicMock, so it
  # gets no `self` (TypeError); bind one (only used for serialized output).
  monkeypatch.setattr(mocking, '_getitems',
                      functools.partial(mocking._getitems, None))
  with tfds.testing.mock_data(num_examples=12), mock.patch.object(
      tfds.core.DatasetBuilder, 'is_prepared', return_value=True):
    d = data.load_dataset(config(name='mnist', tfds_dir=str(tmp_path),
                                 dev_size=2, normalization='unit_interval'))
  assert d.x_train.shape == (10, 28, 28, 1) and d.x_dev.shape == (2, 28, 28, 1)
  assert d.x_test.shape == (12, 28, 28, 1)
  assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
  assert 0 <= d.x_train.min() and d.x_train.max() <= 1
  assert ((0 <= d.y_test) & (d.y_test < 10)).all()
  assert d.num_classes == 10 and d.class_names == tuple('0123456789')
  assert d.source.startswith('tfds:')


@pytest.fixture(scope='module')
def png_tfds_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('tfds_png')
  tfds_builder.build(str(root))
  return root


def test_png_dataset_loads_exactly_through_batched_path(png_tfds_dir):
  builder = tfds_source.get_builder('research_png_digits', str(png_tfds_dir))
  assert builder.is_prepared()
  source = builder.as_data_source(split='test')
  # The slow per-example paths must not run: reading one record at a time
  # (TFDS's data source and ArrayRecord's under it), and TFDS's generic
  # per-image decoder.
  with contextlib.ExitStack() as stack:
    for cls in (type(source), type(source.data_source)):
      stack.enter_context(mock.patch.object(
          cls, '__getitem__', side_effect=AssertionError('per-example read')))
    stack.enter_context(mock.patch.object(
        tfds.features.Image, 'decode_example_np',
        side_effect=AssertionError('per-image decode')))
    batch = stack.enter_context(mock.patch.object(
        tfds_source, '_decode_png_examples',
        wraps=tfds_source._decode_png_examples))
    raw = tfds_source.load_tfds(builder)
  assert batch.call_count == 2  # one 4000- and one 1000-example chunk
  for x, y, split in ((raw.x_train, raw.y_train, 'train'),
                      (raw.x_test, raw.y_test, 'test')):
    x_source, y_source = tfds_builder.SPLITS[split]
    assert x.dtype == np.uint8 and x.shape == x_source.shape
    np.testing.assert_array_equal(x, x_source)
    np.testing.assert_array_equal(y, y_source)
  assert raw.class_names == tuple(str(k) for k in range(10))


def test_png_dataset_reads_in_chunks(png_tfds_dir, monkeypatch):
  monkeypatch.setattr(tfds_source, '_CHUNK', 700)
  d = data.load_dataset(config(name='research_png_digits',
                               tfds_dir=str(png_tfds_dir),
                               normalization='none', dev_size=0))
  x_test, y_test = tfds_builder.SPLITS['test']
  np.testing.assert_array_equal(d.x_test, x_test.astype(np.float32))
  np.testing.assert_array_equal(d.y_test, y_test)


@pytest.mark.parametrize('channels', [1, 2, 3, 4])
def test_png_examples_decode_as_tfds_does(channels):
  """Every PNG row filter, 1 to 4 channels: the direct PIL path gives the
  source pixels, as TFDS's own decoder does."""
  rng = np.random.default_rng(channels)
  images = rng.integers(0, 256, (25, 7, 5, channels), dtype=np.uint8)
  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=(7, 5, channels)),
      'label': tfds.features.ClassLabel(num_classes=25),
  })
  pngs = [tfds_builder.encode_png(image, [(i + r) % 5 for r in range(7)])
          for i, image in enumerate(images)]
  records = [features.serialize_example({'image': png, 'label': i})
             for i, png in enumerate(pngs)]
  x, y = tfds_source._decode_png_examples(records, features['image'])
  np.testing.assert_array_equal(x, images)
  assert y.tolist() == list(range(25))
  for png, image in zip(pngs, images):
    np.testing.assert_array_equal(
        features['image'].decode_example_np(png), image)


def test_other_pngs_go_to_tfds_decoder():
  from PIL import Image  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 6, 6, 3), dtype=np.uint8)
  # What PIL does not give as the image's channels (here a 1-bit PNG) goes
  # to TFDS's own decoder.
  gray = images[:2, ..., :1]
  one_bit = io.BytesIO()
  Image.fromarray(gray[1, ..., 0] > 127).save(one_bit, format='PNG')
  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=(6, 6, 1)),
      'label': tfds.features.ClassLabel(num_classes=3),
  })
  records = [features.serialize_example({'image': png, 'label': k})
             for k, png in enumerate([tfds_builder.encode_png(gray[0], [4]),
                                      one_bit.getvalue()])]
  x, y = tfds_source._decode_png_examples(records, features['image'])
  np.testing.assert_array_equal(x[0], gray[0])
  np.testing.assert_array_equal(
      x[1], features['image'].decode_example_np(one_bit.getvalue()))
  assert x[1].max() == 1 and y.tolist() == [0, 1]
