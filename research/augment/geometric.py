"""Geometric augmentations for digits: affine warps, elastic distortion, noise.

Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural
networks applied to visual document analysis": random affine maps (rotation,
shear, scaling) and elastic distortions of the training images, the latter
taking a 2-layer MLP with 800 hidden units from 1.6% to 0.7% test error on
MNIST.

Every warp is an inverse map: output pixel p = (row, col) reads the input at
coordinates q(p), interpolated bilinearly (`map_coordinates` order 1) with
zeros entering from outside the image (the background of pixels / 255; the
mean of standardized inputs, as `cutout` and `random_crop` do): SciPy's
mode='grid-constant', which interpolates between the border and the zeros
(its mode='constant' drops to 0 at once past the last pixel). The affine
map and the elastic field are composed into one q(p), so a training image is
interpolated once, not twice (each bilinear pass blurs).

    affine:  q = A^-1 (p - c - t) + c,  A = R(theta) Shear(k) s,
             c the image centre, t a translation in pixels
    elastic: q = p + alpha * G_sigma * U(-1, 1) fields (one per axis)
    both:    q = A^-1 (p + d(p) - c - t) + c   (elastic after affine)
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates

from research.augment.batch import Batch
from research.augment.batch import is_static_zero
from research.augment.batch import require_images


def affine_draws(key: jax.Array, n: int, rotate_degrees: float = 0.0,
                 shear: float = 0.0, scale: float = 0.0,
                 translate: float = 0.0) -> dict[str, jax.Array]:
  """Per-image draws, each (N,), uniform and symmetric around the identity:

    angle ~ U(-rotate_degrees, rotate_degrees) in radians
    shear ~ U(-shear, shear) (horizontal shear factor: col += shear * row)
    scale ~ U(1 - scale, 1 + scale) (isotropic; scale is the max relative change)
    ty, tx ~ U(-translate, translate) pixels

  Drawn as strength * U(-1, 1), so strength 0 gives the identity exactly.
  """
  u = jax.random.uniform(key, (5, n), jnp.float32, -1.0, 1.0)
  return {'angle': math.radians(rotate_degrees) * u[0], 'shear': shear * u[1],
          'scale': 1.0 + scale * u[2], 'translation': translate * u[3:].T}


def affine_matrix(angle: jax.Array, shear: jax.Array,
                  scale: jax.Array) -> jax.Array:
  """A = R(angle) [[1, 0], [shear, 1]] scale, (N, 2, 2) on (row, col) vectors."""
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  one, zero = jnp.ones_like(shear), jnp.zeros_like(shear)
  rot = jnp.stack([jnp.stack([cos, -sin], -1), jnp.stack([sin, cos], -1)], -2)
  shr = jnp.stack([jnp.stack([one, zero], -1), jnp.stack([shear, one], -1)], -2)
  return rot @ shr * scale[:, None, None]


def grid(h: int, w: int) -> jax.Array:
  """Pixel coordinates (2, H, W): [0] the row, [1] the column of each pixel."""
  return jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                                jnp.arange(w, dtype=jnp.float32),
                                indexing='ij'))


def inverse_2x2(m: jax.Array) -> jax.Array:
  """[[a, b], [c, d]]^-1 = [[d, -b], [-c, a]] / (ad - bc), for (N, 2, 2):
  closed form, cheaper to compile than a batched LU."""
  a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
  adj = jnp.stack([jnp.stack([d, -b], -1), jnp.stack([-c, a], -1)], -2)
  return adj / (a * d - b * c)[:, None, None]


def affine_coordinates(matrix: jax.Array, translation: jax.Array, h: int,
                       w: int, displacement: jax.Array | None = None
                       ) -> jax.Array:
  """Where each output pixel reads, (N, 2, H, W): A^-1 (p + d - c - t) + c.

  `matrix` (N, 2, 2) is the forward map A about the centre c, `translation`
  (N, 2) is t = (ty, tx); an optional `displacement` d (N, 2, H, W) is an
  elastic field applied after the affine map.
  """
  centre = jnp.array([(h - 1) / 2, (w - 1) / 2], jnp.float32)
  p = grid(h, w)[None]
  if displacement is not None:
    p = p + displacement
  p = p - (centre + translation)[:, :, None, None]
  q = jnp.einsum('nij,njhw->nihw', inverse_2x2(matrix), p)
  return q + centre[None, :, None, None]


def sample(x: jax.Array, coordinates: jax.Array) -> jax.Array:
  """out[n, i, j, c] = x[n] at coordinates[n, :, i, j], bilinear, zeros outside.

  x (N, H, W, C); coordinates (N, 2, H, W) as (row, col).
  """
  def one(img, q):  # (H, W) and (2, H, W)
    return map_coordinates(img, [q[0], q[1]], order=1, mode='constant',
                           cval=0.0)
  per_channel = jax.vmap(one, in_axes=(2, None), out_axes=2)
  return jax.vmap(per_channel)(x, coordinates.astype(x.dtype))


def warp_affine(x: jax.Array, matrix: jax.Array,
                translation: jax.Array) -> jax.Array:
  """Applies the forward affine maps A (N, 2, 2) about the centre, then t."""
  h, w = x.shape[1:3]
  return sample(x, affine_coordinates(matrix, translation, h, w))


def rescale(x: jax.Array, factor: float) -> jax.Array:
  """Zooms every image by `factor` about its centre (> 1 larger): a fixed
  view for multi-scale test-time averaging."""
  n = x.shape[0]
  matrix = jnp.broadcast_to(factor * jnp.eye(2, dtype=jnp.float32), (n, 2, 2))
  return warp_affine(x, matrix, jnp.zeros((n, 2), jnp.float32))


def gaussian_matrix(size: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
  """G (size, size) with (G f) = f convolved with a Gaussian of std `sigma`,
  zeros outside (scipy.ndimage.gaussian_filter1d, mode='constant'): the
  kernel is truncated at radius int(truncate * sigma + 0.5) and normalized
  over that whole radius, as scipy does. A matrix, because for 28 pixels one
  matmul per axis is cheaper than a convolution."""
  radius = int(truncate * float(sigma) + 0.5)
  taps = np.arange(-radius, radius + 1)
  kernel = np.exp(-0.5 * (taps / float(sigma)) ** 2)
  kernel /= kernel.sum()
  offset = np.arange(size)[:, None] - np.arange(size)[None, :]
  inside = np.abs(offset) <= radius
  return np.where(inside, kernel[np.clip(offset + radius, 0, 2 * radius)],
                  0.0).astype(np.float32)


def elastic_field(key: jax.Array, n: int, h: int, w: int,
                  alpha: float | jax.Array, sigma: float) -> jax.Array:
  """Simard et al.'s displacement field d (N, 2, H, W), in pixels.

  Uniform(-1, 1) per pixel and axis, smoothed by a Gaussian of std `sigma`
  (static), scaled by `alpha`: d = alpha * (G_h U G_w^T) for each of the
  two axes. See `smooth_field` for the smoothing alone.
  """
  u = jax.random.uniform(key, (n, 2, h, w), jnp.float32, -1.0, 1.0)
  return alpha * smooth_field(u, sigma)


def smooth_field(u: jax.Array, sigma: float) -> jax.Array:
  """Gaussian smoothing (std `sigma` pixels, zeros outside) of the last two
  axes of u (..., H, W)."""
  g_h = jnp.asarray(gaussian_matrix(u.shape[-2], sigma))
  g_w = jnp.asarray(gaussian_matrix(u.shape[-1], sigma))
  return g_h @ u @ g_w.T


def warp_elastic(x: jax.Array, displacement: jax.Array) -> jax.Array:
  """out[n, p] = x[n] at p + d[n, :, p] (bilinear, zeros outside)."""
  h, w = x.shape[1:3]
  return sample(x, grid(h, w)[None] + displacement)


def random_warp(key: jax.Array, batch: Batch, *, rotate_degrees: float = 0.0,
              shear: float = 0.0, scale: float = 0.0, translate: float = 0.0,
              elastic_alpha: float | jax.Array = 0.0,
              elastic_sigma: float = 4.0) -> Batch:
  """Random affine map and elastic distortion, one bilinear interpolation.

  Each image gets its own draw (`affine_draws`, `elastic_field`); all
  strengths at static 0 is the identity (no interpolation at all), and a
  static 0 skips its part of the map.
  """
  x, y = batch
  affine_on = not all(is_static_zero(v)
                      for v in (rotate_degrees, shear, scale, translate))
  elastic_on = not is_static_zero(elastic_alpha)
  if not (affine_on or elastic_on):
    return x, y
  require_images(x, 'geometric augmentation')
  n, h, w = x.shape[:3]
  k_affine, k_elastic = jax.random.split(key)
  d = affine_draws(k_affine, n, rotate_degrees, shear, scale, translate)
  matrix = affine_matrix(d['angle'], d['shear'], d['scale'])
  field = (elastic_field(k_elastic, n, h, w, elastic_alpha, elastic_sigma)
           if elastic_on else None)
  coordinates = affine_coordinates(matrix, d['translation'], h, w, field)
  return sample(x, coordinates), y


def pixel_noise(key: jax.Array, batch: Batch, std: float | jax.Array) -> Batch:
  """Additive Gaussian noise, x + std * N(0, 1) per pixel; std 0 is the identity.

  Works on any (N, ...) input; nothing is clipped (see photometric.py).
  """
  x, y = batch
  if is_static_zero(std):
    return x, y
  return x + (std * jax.random.normal(key, x.shape, jnp.float32)).astype(x.dtype), y
