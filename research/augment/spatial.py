"""Geometric augmentations of images (N, H, W, C): cutout, crops, flips.

Each draws per image and exposes its draws (`cutout_mask`, `crop_offsets`,
`flip_mask`) so that tests and figures can see exactly what was done.
"""

import jax
import jax.numpy as jnp

from research.augment.batch import Batch
from research.augment.batch import is_static_zero
from research.augment.batch import per_example
from research.augment.batch import require_images


def cutout_mask(key: jax.Array, shape: tuple[int, ...],
                size: int) -> tuple[jax.Array, jax.Array]:
  """The squares cutout removes: mask bool (N, H, W) (True = cut), centres.

  DeVries & Taylor (2017): the centre (cy, cx) is uniform over all H x W
  pixels, so a square near the border is clipped and may cover less than
  size^2 pixels. The square spans rows [cy - size//2, cy - size//2 + size)
  and likewise in columns. `centres` is int32 (N, 2), as (row, column).
  """
  n, h, w = shape[:3]
  k_row, k_col = jax.random.split(key)
  cy = jax.random.randint(k_row, (n,), 0, h)
  cx = jax.random.randint(k_col, (n,), 0, w)
  top, left = cy - size // 2, cx - size // 2
  rows, cols = jnp.arange(h), jnp.arange(w)
  in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
  in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
  mask = in_rows[:, :, None] & in_cols[:, None, :]
  return mask, jnp.stack([cy, cx], axis=1).astype(jnp.int32)


def cutout(key: jax.Array, batch: Batch, size: int) -> Batch:
  """Sets a size x size square (clipped at the border) of each image to 0.

  Zero is the value written whatever the normalization; on standardized
  inputs that is the training mean, as in DeVries & Taylor, who cut after
  normalizing. All channels are cut. size 0 is the identity.
  """
  x, y = batch
  if is_static_zero(size):
    return x, y
  require_images(x, 'cutout')
  mask, _ = cutout_mask(key, x.shape, size)
  return jnp.where(mask[..., None], jnp.zeros((), x.dtype), x), y


def crop_offsets(key: jax.Array, n: int, padding: int) -> jax.Array:
  """Top-left corner (dy, dx) int32 (N, 2) of each crop, uniform in [0, 2p]."""
  return jax.random.randint(key, (n, 2), 0, 2 * padding + 1, dtype=jnp.int32)


def crop_at(x: jax.Array, offsets: jax.Array, padding: int) -> jax.Array:
  """Zero-pads x by `padding` and takes an H x W window at each offset.

  out[n, i, j] = x[n, i + dy_n - p, j + dx_n - p], or 0 outside the image:
  (dy, dx) = (p, p) is the identity.
  """
  h, w, c = x.shape[1:]
  p = padding
  padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  window = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, c))
  return jax.vmap(window)(padded, offsets)


def random_crop(key: jax.Array, batch: Batch, padding: int) -> Batch:
  """Random translation by up to `padding` pixels, zeros entering the border.

  The standard CIFAR recipe: pad by p on every side, crop H x W at a uniform
  offset per image. `padding` is a static int; 0 is the identity.
  """
  x, y = batch
  if is_static_zero(padding):
    return x, y
  require_images(x, 'random_crop')
  return crop_at(x, crop_offsets(key, x.shape[0], padding), padding), y


def hflip(x: jax.Array) -> jax.Array:
  """Mirrors images left-right (the width axis of (N, H, W, C))."""
  return x[:, :, ::-1, :]


def flip_mask(key: jax.Array, n: int,
              probability: float | jax.Array) -> jax.Array:
  """Which images are flipped: bool (N,), each True with `probability`."""
  return jax.random.bernoulli(key, probability, (n,))


def horizontal_flip(key: jax.Array, batch: Batch,
                    probability: float | jax.Array = 0.5) -> Batch:
  """Mirrors each image left-right with `probability` (may be traced).

  Off in the config by default: a mirrored digit is often not a digit.
  """
  x, y = batch
  if is_static_zero(probability):
    return x, y
  require_images(x, 'horizontal_flip')
  flip = flip_mask(key, x.shape[0], probability)
  return jnp.where(per_example(flip, x), hflip(x), x), y
