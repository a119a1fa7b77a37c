"""The TFDS path, without TensorFlow and without network.

Two ways to have a prepared dataset here: `tfds.testing.mock_data` (random
examples with the real features of 'mnist'), and a tiny dataset built in a
temporary directory (exercises the real `is_prepared` and ArrayRecord reading).
"""

from unittest import mock

import numpy as np
import pytest

from research import data

tfds = pytest.importorskip('tensorflow_datasets')

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
