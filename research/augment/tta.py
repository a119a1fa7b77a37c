"""Test-time augmentation: average the predicted distributions over views.

    p(y | x) = 1/V sum_v softmax(f(view_v(x)))

The views are a fixed, deterministic set (no key), so evaluation stays
reproducible and 'none' is plain evaluation.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from research.augment.config import TTA_NAMES
from research.augment.geometric import rescale
from research.augment.spatial import hflip
from research.errors import ConfigError

View = Callable[[jax.Array], jax.Array]


def _identity(x: jax.Array) -> jax.Array:
  return x


def shift(x: jax.Array, dy: int, dx: int) -> jax.Array:
  """Translates images by (dy, dx) pixels (down, right), zeros entering.

  out[:, i, j] = x[:, i - dy, j - dx], or 0 where that is outside the image.
  """
  h, w = x.shape[1:3]
  py, px = abs(dy), abs(dx)
  padded = jnp.pad(x, ((0, 0), (py, py), (px, px), (0, 0)))
  return padded[:, py - dy:py - dy + h, px - dx:px - dx + w, :]


def tta_views(name: str, image_shape: tuple[int, ...],
              padding: int = 1, scale: float = 0.1) -> list[View]:
  """The views of x (N, ...) that `tta_predict` averages over.

    'none'        [identity]
    'flips'       [identity, hflip]
    'crops'       [identity, shift down, up, right, left by `padding` pixels]
                  (the crops of a `padding`-padded image at the centre and at
                  the middle of each edge)
    'flips_crops' the 5 crops and the mirror of each: 10 views
    'scales'      [identity, zoom by 1 - scale, zoom by 1 + scale] (bilinear,
                  about the centre): multi-scale views

  Every list starts with the identity.
  """
  if name not in TTA_NAMES:
    raise ConfigError(
        f'augment.tta: {name!r} must be one of {", ".join(TTA_NAMES)}')
  if name == 'none':
    return [_identity]
  if len(tuple(image_shape)) != 3:
    raise ConfigError(f'augment.tta: {name!r} needs images (H, W, C), but '
                      f'the inputs have shape {tuple(image_shape)}')
  if name == 'scales':
    if not 0 < scale < 1:
      raise ValueError(f'tta_views: scale {scale} must be in (0, 1)')
    return [_identity] + [(lambda x, f=f: rescale(x, f))
                          for f in (1 - scale, 1 + scale)]
  if padding < 1:
    raise ValueError(f'tta_views: padding {padding} must be >= 1')
  p = padding
  crops = [_identity] + [
      (lambda x, dy=dy, dx=dx: shift(x, dy, dx))
      for dy, dx in ((p, 0), (-p, 0), (0, p), (0, -p))]
  if name == 'crops':
    return crops
  if name == 'flips':
    return [_identity, hflip]
  return crops + [(lambda x, v=v: hflip(v(x))) for v in crops]


def make_tta(cfg: ml_collections.ConfigDict, *,
             image_shape: tuple[int, ...]) -> list[View]:
  """`tta_views(cfg.tta, ...)`, shifting by `crop_padding` pixels (or 1);
  'scales' zooms by the fixed 0.9 and 1.1."""
  return tta_views(cfg.tta, image_shape, padding=max(int(cfg.crop_padding), 1))


def tta_predict(apply_fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                views: Sequence[View]) -> jax.Array:
  """Mean over views of softmax(apply_fn(view(x))): probabilities (N, K).

  Averages distributions, not logits, so each view's vote has the same
  weight. With the single identity view this is softmax(apply_fn(x)) exactly.
  """
  if not views:
    raise ValueError('tta_predict: no views')
  probs = [jax.nn.softmax(apply_fn(view(x)), axis=-1) for view in views]
  if len(probs) == 1:
    return probs[0]
  return sum(probs[1:], probs[0]) / len(probs)
