"""A TFDS dataset with real `Image` (PNG) and `ClassLabel` features, built
without TensorFlow or network, for tests of the TFDS loader.

TFDS encodes a NumPy image with `tf.image.encode_png`, so the builder yields
PNG bytes, which TFDS stores as they are. `encode_png` writes them with a
chosen filter type per row (real encoders pick them adaptively), so that a
test covers all five PNG filters whatever the image content.
"""

import struct
import zlib

import numpy as np
import tensorflow_datasets as tfds

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def encode_png(image: np.ndarray, filters: list[int]) -> bytes:
  """8-bit, non-interlaced PNG of `image` (H, W, C), C in 1..4, row r
  filtered with type `filters[r % len(filters)]` (0-4; any other writes the
  row unfiltered under that invalid type, for tests of bad input)."""
  height, width, channels = image.shape
  colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
  x = image.reshape(height, width * channels).astype(np.int16)
  up = np.vstack([np.zeros_like(x[:1]), x[:-1]])
  pad = np.zeros((height, channels), np.int16)
  left = np.hstack([pad, x[:, :-channels]])
  up_left = np.hstack([pad, up[:, :-channels]])
  estimate = left + up - up_left
  to_left, to_up, to_up_left = (np.abs(estimate - v)
                                for v in (left, up, up_left))
  paeth = np.where((to_left <= to_up) & (to_left <= to_up_left), left,
                   np.where(to_up <= to_up_left, up, up_left))
  predictors = (np.zeros_like(x), left, up, (left + up) >> 1, paeth)
  rows = b''.join(
      bytes([f]) + ((x[r] - predictors[f % 5][r] * (f < 5)) & 0xFF).astype(np.uint8).tobytes()
      for r, f in ((r, filters[r % len(filters)]) for r in range(height)))

  def chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack('>I', len(body)) + kind + body
            + struct.pack('>I', zlib.crc32(kind + body)))

  header = struct.pack('>IIBBBBB', width, height, 8, colour, 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
          + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """`n` MNIST-shaped uint8 images (smooth strokes plus noise, so that every
  filter has varied inputs) and labels."""
  rng = np.random.default_rng(seed)
  height, width, _ = IMAGE_SHAPE
  rows, cols = np.mgrid[:height, :width]
  centre = rng.uniform(6, 22, (n, 2, 1, 1))
  blob = np.exp(-((rows - centre[:, 0]) ** 2 + (cols - centre[:, 1]) ** 2)
                / rng.uniform(4, 40, (n, 1, 1)))
  noise = rng.integers(0, 40, (n, height, width))
  images = np.clip(blob * 255 + noise, 0, 255).astype(np.uint8)[..., None]
  return images, rng.integers(0, NUM_CLASSES, n)


# Each split's arrays, by split name; the builder writes these in this order
# (disable_shuffling), so the test can compare element by element.
SPLITS = {'train': make_images(4000, seed=0), 'test': make_images(1000, seed=1)}
# Row filter cycles, varied per image: None, Sub, Up, Average, Paeth.
FILTER_CYCLES = ([0, 1, 2, 3, 4], [4, 3], [1], [2, 0], [3, 4, 1, 2])


class ResearchPngDigits(tfds.core.GeneratorBasedBuilder):
  """MNIST-like: 28x28x1 `Image` (PNG) and a 10-class `ClassLabel`."""

  VERSION = tfds.core.Version('1.0.0')
  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        disable_shuffling=True,  # stored in generation order
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=IMAGE_SHAPE),
            'label': tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split):
    images, labels = SPLITS[split]
    for i, (image, label) in enumerate(zip(images, labels)):
      png = encode_png(image, FILTER_CYCLES[i % len(FILTER_CYCLES)])
      yield i, {'image': png, 'label': int(label)}


def build(data_dir: str) -> None:
  ResearchPngDigits(data_dir=data_dir,
                    file_format='array_record').download_and_prepare()
