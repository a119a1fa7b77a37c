"""The `augment` config section: its keys, defaults and validation."""

import numbers
from typing import Any

import ml_collections
import numpy as np

from research.config.sections import augment_config as default_augment_config
from research.errors import ConfigError, check_section_keys

TTA_NAMES = ('none', 'flips', 'crops', 'flips_crops', 'scales')
# Strengths that may be swept as data (see `make_augment`'s `hparams`).
SWEEPABLE = ('mixup_alpha', 'brightness', 'contrast', 'pca_lighting')
# Keys whose augmentation needs (H, W, C) images, with the value meaning 'off'.
_IMAGE_ONLY = {'cutout_size': 0, 'crop_padding': 0, 'flip': False,
               'pca_lighting': 0.0, 'rotate_degrees': 0.0, 'shear': 0.0,
               'scale': 0.0, 'translate': 0.0, 'elastic_alpha': 0.0,
               'tta': 'none'}
# research/augment/geometric.py's strengths: numbers >= 0, 0 is off.
GEOMETRIC = ('rotate_degrees', 'shear', 'scale', 'translate', 'elastic_alpha',
             'pixel_noise')


def _is_real(value: Any) -> bool:
  return (isinstance(value, (numbers.Real, np.floating))
          and not isinstance(value, bool))


def _is_int(value: Any) -> bool:
  return (isinstance(value, (numbers.Integral, np.integer))
          and not isinstance(value, bool))


def _is_off(key: str, value: Any) -> bool:
  return value == _IMAGE_ONLY[key]


def validate_augment_config(cfg: ml_collections.ConfigDict, *,
                            image_shape: tuple[int, ...] | None = None) -> None:
  """Raises ConfigError naming `augment.<key>` for a bad value.

  With `image_shape` (one example's shape, without the batch axis) it also
  rejects image-only augmentations on vector data and a cutout square larger
  than the image.
  """
  check_section_keys(cfg, default_augment_config(), 'augment')

  for key in ('mixup_alpha', 'brightness', 'contrast', 'pca_lighting',
              *GEOMETRIC):
    value = cfg[key]
    if not _is_real(value) or not np.isfinite(value):
      raise ConfigError(f'augment.{key}: {value!r} must be a number')
    if value < 0:
      raise ConfigError(f'augment.{key}: {value!r} must be >= 0 (0 is off)')
  if cfg.contrast > 1:
    raise ConfigError(f'augment.contrast: {cfg.contrast!r} must be <= 1, so '
                      'that the contrast factor 1 +- contrast stays >= 0')
  if cfg.rotate_degrees > 180:
    raise ConfigError(f'augment.rotate_degrees: {cfg.rotate_degrees!r} must '
                      'be <= 180')
  if cfg.scale >= 1:
    raise ConfigError(f'augment.scale: {cfg.scale!r} must be < 1, so that '
                      'the zoom factor 1 +- scale stays > 0')
  sigma = cfg.elastic_sigma
  if not _is_real(sigma) or not np.isfinite(sigma) or sigma <= 0:
    raise ConfigError(f'augment.elastic_sigma: {sigma!r} must be a number > 0')
  for key in ('cutout_size', 'crop_padding'):
    value = cfg[key]
    if not _is_int(value) or value < 0:
      raise ConfigError(
          f'augment.{key}: {value!r} must be an int >= 0 (0 is off)')
  if not isinstance(cfg.flip, (bool, np.bool_)):
    raise ConfigError(f'augment.flip: {cfg.flip!r} must be True or False')
  if not isinstance(cfg.tta, str) or cfg.tta not in TTA_NAMES:
    raise ConfigError(
        f'augment.tta: {cfg.tta!r} must be one of {", ".join(TTA_NAMES)}')

  if image_shape is not None:
    check_augment_images(cfg, image_shape)


def check_augment_images(cfg: ml_collections.ConfigDict,
                         image_shape: tuple[int, ...]) -> None:
  """The checks that need the data: image-only augmentations on vector data,
  a cutout square or a crop padding larger than the image."""
  image_shape = tuple(image_shape)
  if len(image_shape) != 3:
    for key in _IMAGE_ONLY:
      if not _is_off(key, cfg[key]):
        raise ConfigError(
            f'augment.{key}: {cfg[key]!r} needs images (H, W, C), but the '
            f'inputs have shape {image_shape}; turn it off for vector data')
    return
  h, w = image_shape[:2]
  if cfg.cutout_size > min(h, w):
    raise ConfigError(f'augment.cutout_size: {cfg.cutout_size} is larger '
                      f'than the {h}x{w} image')
  if cfg.crop_padding >= min(h, w):
    raise ConfigError(f'augment.crop_padding: {cfg.crop_padding} must be '
                      f'smaller than the {h}x{w} image')
