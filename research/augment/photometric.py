"""Photometric augmentations: brightness / contrast jitter and PCA lighting.

Both work on normalized inputs: nothing is clipped, because after
standardization there is no fixed valid range to clip to (clipping to [0, 1]
would be wrong there), and a linear jitter of a normalized image is the same
jitter of the raw image up to the normalization's affine map.
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.augment.batch import Batch
from research.augment.batch import is_static_zero
from research.augment.batch import per_example
from research.augment.batch import require_images


def brightness_contrast_draws(
    key: jax.Array, n: int, brightness: float | jax.Array,
    contrast: float | jax.Array) -> tuple[jax.Array, jax.Array]:
  """b ~ U(-brightness, brightness), c ~ U(1 - contrast, 1 + contrast), (N,).

  Drawn as strength * U(-1, 1), so strength 0 gives b = 0 and c = 1 exactly.
  """
  k_b, k_c = jax.random.split(key)
  u_b = jax.random.uniform(k_b, (n,), jnp.float32, -1.0, 1.0)
  u_c = jax.random.uniform(k_c, (n,), jnp.float32, -1.0, 1.0)
  return brightness * u_b, 1.0 + contrast * u_c


def brightness_contrast(key: jax.Array, batch: Batch,
                        brightness: float | jax.Array,
                        contrast: float | jax.Array) -> Batch:
  """Per-image contrast around the image's own mean, then a brightness shift.

    m = mean of x_n over all its pixels and channels (a scalar per image)
    x'_n = c_n x_n + (1 - c_n) m + b_n      ( = (x_n - m) c_n + m + b_n )

  The first form is used because it is exactly x for c = 1, b = 0, so a swept
  strength of 0 is the identity bit for bit. Works on any (N, ...) input.
  """
  x, y = batch
  if is_static_zero(brightness) and is_static_zero(contrast):
    return x, y
  b, c = brightness_contrast_draws(key, x.shape[0], brightness, contrast)
  m = jnp.mean(x, axis=tuple(range(1, x.ndim)), keepdims=True)
  b, c = per_example(b, x).astype(x.dtype), per_example(c, x).astype(x.dtype)
  return c * x + (1 - c) * m + b, y


def channel_pca(x_train, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
  """Eigen-decomposition of the channel covariance over all training pixels.

    Sigma = 1/(P - 1) sum_p (x_p - mu)(x_p - mu)^T,  x_p in R^C one pixel
    Sigma = V diag(lambda) V^T,  lambda descending, V's columns the v_i

  Accumulated in float64 over chunks of images, so MNIST-sized sets need no
  float64 copy. Returns float32 (eigvals (C,), eigvecs (C, C)).
  """
  x = np.asarray(x_train)
  if x.ndim != 4:
    raise ValueError(f'channel_pca needs images (N, H, W, C); got {x.shape}')
  c = x.shape[-1]
  count, total = 0, np.zeros(c)
  outer = np.zeros((c, c))
  for start in range(0, x.shape[0], chunk):
    pixels = x[start:start + chunk].reshape(-1, c).astype(np.float64)
    count += pixels.shape[0]
    total += pixels.sum(axis=0)
    outer += pixels.T @ pixels
  mu = total / count
  cov = (outer - count * np.outer(mu, mu)) / (count - 1)
  eigvals, eigvecs = np.linalg.eigh(cov)
  order = np.argsort(eigvals)[::-1]
  return (eigvals[order].astype(np.float32),
          eigvecs[:, order].astype(np.float32))


def pca_lighting_draws(key: jax.Array, n: int, num_channels: int,
                       std: float | jax.Array) -> jax.Array:
  """alpha (N, C) ~ N(0, std^2), one per image and principal component."""
  return std * jax.random.normal(key, (n, num_channels), jnp.float32)


def pca_lighting(key: jax.Array, batch: Batch, eigvals: jax.Array,
                 eigvecs: jax.Array, std: float | jax.Array) -> Batch:
  """AlexNet's lighting noise (Krizhevsky et al., 2012, section 4.1).

    shift_n = sum_i alpha_ni lambda_i v_i = V (alpha_n * lambda),  (C,)
    x'_n[h, w, :] = x_n[h, w, :] + shift_n   for every pixel

  with (lambda, V) from `channel_pca` of the training set, as in the paper
  (lambda the eigenvalues, not their square roots). For 1-channel images V is
  [[1]] up to sign and lambda the pixel variance, so this is a brightness shift
  b ~ N(0, (std lambda)^2) per image. std 0 is the identity.
  """
  x, y = batch
  if is_static_zero(std):
    return x, y
  require_images(x, 'pca_lighting')
  eigvals = jnp.asarray(eigvals, jnp.float32)
  eigvecs = jnp.asarray(eigvecs, jnp.float32)
  c = x.shape[-1]
  if eigvals.shape != (c,) or eigvecs.shape != (c, c):
    raise ValueError(f'pca_lighting: eigvals {eigvals.shape} and eigvecs '
                     f'{eigvecs.shape} do not fit {c} channels')
  alpha = pca_lighting_draws(key, x.shape[0], c, std)
  shift = (alpha * eigvals) @ eigvecs.T  # row n is V (alpha_n * lambda)
  return x + shift[:, None, None, :].astype(x.dtype), y
