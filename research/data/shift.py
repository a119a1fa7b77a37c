"""Domain shift: a transformation of the dev and test images only.

Training and train-dev keep the source distribution; dev and test are drawn
from a shifted target distribution, which is what the bias / variance /
data-mismatch analysis needs (train-dev error - train error is variance,
dev error - train-dev error is data mismatch).

A shift maps raw images (N, H, W, C) in their stored units (uint8 0..255, or
floats in [0, 1]) to float32 images in the same units, before normalization,
so the normalization statistics stay those of the unshifted training split.
What `amount` means depends on the kind:

  none    the identity; `amount` must be 0.
  rotate  each example is rotated about the image centre by its own angle,
          drawn uniformly in [-amount, amount] degrees (positive:
          counter-clockwise as displayed, row 0 at the top); bilinear
          interpolation, zeros (the MNIST background) shifted in. 0..180.
  noise   additive Gaussian noise of standard deviation `amount` in units of
          the pixel range [0, 1] (x 255 for uint8 images), independent per
          pixel. Not clipped, so the perturbation has exactly that std.
  blur    a Gaussian blur of standard deviation `amount` pixels (in height
          and width; deterministic, the same for every example).
  invert  a blend towards the negative image, x -> (1 - amount) x +
          amount (max - x), max = 255 for uint8 and 1 otherwise; 1 is the
          negative. 0..1. Deterministic.

The random shifts (rotate, noise) draw from `numpy.random.default_rng(
(seed, split))`, `split` 0 for dev and 1 for test, so each example's shift
depends only on the seed, its split and its position in that split.
"""

import numpy as np

SHIFTS = ('none', 'rotate', 'noise', 'blur', 'invert')
SPLIT_STREAMS = {'dev': 0, 'test': 1}  # independent draws per split
_MAX_AMOUNT = {'rotate': 180.0, 'invert': 1.0}


def check_shift(kind: str, amount: float) -> None:
  """Raises ValueError (saying why) for a kind or amount out of range."""
  if kind not in SHIFTS:
    raise ValueError(f'unknown shift {kind!r}; known shifts: {list(SHIFTS)}')
  if kind == 'none' and amount != 0:
    raise ValueError(f"{amount} has no effect with data.shift='none'; set "
                     f'data.shift to one of {list(SHIFTS[1:])} or the amount '
                     'to 0')
  if amount < 0:
    raise ValueError(f'{amount} must be >= 0')
  top = _MAX_AMOUNT.get(kind)
  if top is not None and amount > top:
    unit = ' degrees' if kind == 'rotate' else ''
    raise ValueError(f'{amount} is above {top:g}{unit}, the largest {kind} '
                     'amount')


def pixel_max(x: np.ndarray) -> float:
  """The value of a white pixel: 255 for uint8 images, else 1."""
  return 255.0 if x.dtype == np.uint8 else 1.0


def rotation_angles(num_examples: int, amount: float, seed: int,
                    split: str) -> np.ndarray:
  """The angle in degrees of each example of `split` under 'rotate'."""
  rng = np.random.default_rng((seed, SPLIT_STREAMS[split]))
  return rng.uniform(-amount, amount, size=num_examples)


def rotate(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
  """Each image x[i] (H, W, C) rotated by angles[i] degrees, float32."""
  import scipy.ndimage  # pylint: disable=g-import-not-at-top  (slow; rarely needed)

  x = np.asarray(x, np.float32)
  out = np.empty_like(x)
  for i, (image, angle) in enumerate(zip(x, angles)):
    # axes=(1, 0): positive angles turn counter-clockwise as displayed.
    out[i] = scipy.ndimage.rotate(image, angle, axes=(1, 0), reshape=False,
                                  order=1, mode='constant', cval=0.0)
  return out


def apply_shift(x: np.ndarray, kind: str, amount: float, seed: int,
                split: str) -> np.ndarray:
  """`x` (N, H, W, C) shifted as `kind` and `amount` say (module docstring).

  Returns float32 in the units of `x`; 'none' returns `x` unchanged.
  """
  check_shift(kind, amount)
  if split not in SPLIT_STREAMS:
    raise ValueError(f'split {split!r}: only {list(SPLIT_STREAMS)} are '
                     'shifted')
  if x.ndim != 4:
    raise ValueError(f'a shift needs images (N, H, W, C), got shape {x.shape}')
  if kind == 'none':
    return x
  top = pixel_max(x)
  x = np.asarray(x, np.float32)
  if kind == 'rotate':
    return rotate(x, rotation_angles(len(x), amount, seed, split))
  if kind == 'noise':
    rng = np.random.default_rng((seed, SPLIT_STREAMS[split]))
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    return x + np.float32(amount * top) * noise
  if kind == 'blur':
    import scipy.ndimage  # pylint: disable=g-import-not-at-top  (slow; rarely needed)

    return scipy.ndimage.gaussian_filter(x, sigma=(0, amount, amount, 0),
                                         mode='constant', cval=0.0)
  if kind == 'invert':
    return ((1 - amount) * x + amount * (top - x)).astype(np.float32)
  raise AssertionError(f'unhandled shift {kind!r}')
