"""The configured training-time augmentation: one function of (key, batch)."""

from collections.abc import Callable, Mapping

import jax
import ml_collections

from research.augment.batch import Batch
from research.augment.config import SWEEPABLE
from research.augment.geometric import pixel_noise
from research.augment.geometric import random_warp
from research.augment.mixing import mixup
from research.augment.photometric import brightness_contrast
from research.augment.photometric import pca_lighting
from research.augment.spatial import cutout
from research.augment.spatial import horizontal_flip
from research.augment.spatial import random_crop
from research.errors import ConfigError

Augment = Callable[..., Batch]

# Each stage's key is fold_in(key, its id): fixed ids, so turning one stage on
# or off leaves the draws of the others unchanged.
_CROP, _FLIP, _JITTER, _LIGHTING, _CUTOUT, _MIXUP, _WARP, _NOISE = range(8)


def make_augment(cfg: ml_collections.ConfigDict, *, num_classes: int,
                 image_shape: tuple[int, ...],
                 pca: tuple | None = None) -> Augment | None:
  """`augment(key, batch, hparams=None) -> batch` from the `augment` section.

  Stages, in order: geometric warp (rotation, shear, scale, translation,
  elastic; one interpolation), random crop, flip, brightness/contrast, PCA
  lighting, cutout, pixel noise, then mixup (last, because it changes the
  labels; with mixup on the labels come out soft (N, K)). None when every
  stage is off (`tta` is test-time only and does not count).

  Which stages exist is fixed by `cfg`; their strengths are the config's
  values unless `hparams` maps a SWEEPABLE key to a (traced) scalar, so a
  vmapped population can sweep them as data. A stage that is off in `cfg`
  cannot be swept: set it > 0 there to build it.

  Args:
    cfg: the `augment` section.
    num_classes: K, for mixup's soft labels.
    image_shape: one example's shape, (H, W, C) or (D,).
    pca: (eigvals, eigvecs) from `channel_pca(x_train)`, needed when
      `pca_lighting` > 0.
  """
  if cfg.pca_lighting > 0 and pca is None:
    raise ConfigError(
        f'augment.pca_lighting: {cfg.pca_lighting} needs the training '
        'set\'s channel PCA: pass pca=channel_pca(x_train) to make_augment')
  on = {'warp': any(cfg[k] > 0 for k in ('rotate_degrees', 'shear', 'scale',
                                          'translate', 'elastic_alpha')),
        'noise': cfg.pixel_noise > 0,
        'crop': cfg.crop_padding > 0, 'flip': bool(cfg.flip),
        'jitter': cfg.brightness > 0 or cfg.contrast > 0,
        'lighting': cfg.pca_lighting > 0, 'cutout': cfg.cutout_size > 0,
        'mixup': cfg.mixup_alpha > 0}
  if not any(on.values()):
    return None
  stage_of = {'mixup_alpha': 'mixup', 'brightness': 'jitter',
              'contrast': 'jitter', 'pca_lighting': 'lighting'}
  defaults = {k: float(cfg[k]) for k in SWEEPABLE}
  padding, size = int(cfg.crop_padding), int(cfg.cutout_size)
  warp = {k: float(cfg[k]) for k in ('rotate_degrees', 'shear', 'scale',
                                     'translate', 'elastic_alpha',
                                     'elastic_sigma')}

  def augment(key: jax.Array, batch: Batch,
              hparams: Mapping[str, jax.Array] | None = None) -> Batch:
    hp = dict(defaults)
    for k, v in (hparams or {}).items():
      if k not in stage_of:
        raise ConfigError(f'augment.{k}: not sweepable as data; '
                          f'sweepable: {", ".join(SWEEPABLE)}')
      if not on[stage_of[k]]:
        raise ConfigError(f'augment.{k}: is 0 in the config, so its stage is '
                          'not built; set it > 0 there to sweep it')
      hp[k] = v
    stage_key = lambda i: jax.random.fold_in(key, i)
    if on['warp']:
      batch = random_warp(stage_key(_WARP), batch, **warp)
    if on['crop']:
      batch = random_crop(stage_key(_CROP), batch, padding)
    if on['flip']:
      batch = horizontal_flip(stage_key(_FLIP), batch, 0.5)
    if on['jitter']:
      batch = brightness_contrast(stage_key(_JITTER), batch, hp['brightness'],
                                  hp['contrast'])
    if on['lighting']:
      batch = pca_lighting(stage_key(_LIGHTING), batch, pca[0], pca[1],
                           hp['pca_lighting'])
    if on['cutout']:
      batch = cutout(stage_key(_CUTOUT), batch, size)
    if on['noise']:
      batch = pixel_noise(stage_key(_NOISE), batch, float(cfg.pixel_noise))
    if on['mixup']:
      batch = mixup(stage_key(_MIXUP), batch, hp['mixup_alpha'], num_classes)
    return batch

  return augment
