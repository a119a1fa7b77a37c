"""Data augmentation as pure, jittable functions of (key, batch), and TTA.

A batch is (x, y): x float32 (N, H, W, C) images or (N, D) vectors; y int32
(N,) class ids or float32 (N, K) soft labels. Every augmentation takes the key
first, returns a new batch, is deterministic for a key, keeps static shapes,
and may be jitted and vmapped. Strengths a sweep varies (mixup alpha, flip
probability, brightness, contrast, lighting std) may be traced scalars; a
static Python 0 skips the stage, a traced 0 is the identity by arithmetic.
Each random draw is exposed (`mixup_draws`, `cutout_mask`, `crop_offsets`,
`flip_mask`, `brightness_contrast_draws`, `pca_lighting_draws`,
`affine_draws`, `elastic_field`). Geometric warps for digits (rotation, shear,
scale, translation, Simard's elastic distortion) and pixel noise are in
geometric.py.

`make_augment(config.augment, ...)` composes the configured stages;
`tta_views` / `tta_predict` average predictions over fixed test-time views.
"""

from research.augment.batch import Batch
from research.augment.compose import make_augment
from research.augment.config import default_augment_config
from research.augment.config import SWEEPABLE
from research.augment.config import TTA_NAMES
from research.augment.config import check_augment_images
from research.augment.config import validate_augment_config
from research.augment.geometric import affine_draws
from research.augment.geometric import affine_matrix
from research.augment.geometric import elastic_field
from research.augment.geometric import pixel_noise
from research.augment.geometric import random_warp
from research.augment.geometric import rescale
from research.augment.geometric import warp_affine
from research.augment.geometric import warp_elastic
from research.augment.mixing import mixup
from research.augment.mixing import mixup_draws
from research.augment.mixing import soft_labels
from research.augment.photometric import brightness_contrast
from research.augment.photometric import brightness_contrast_draws
from research.augment.photometric import channel_pca
from research.augment.photometric import pca_lighting
from research.augment.photometric import pca_lighting_draws
from research.augment.spatial import crop_at
from research.augment.spatial import crop_offsets
from research.augment.spatial import cutout
from research.augment.spatial import cutout_mask
from research.augment.spatial import flip_mask
from research.augment.spatial import hflip
from research.augment.spatial import horizontal_flip
from research.augment.spatial import random_crop
from research.augment.tta import make_tta
from research.augment.tta import shift
from research.augment.tta import tta_predict
from research.augment.tta import tta_views

__all__ = [
    'Batch',
    'affine_draws',
    'affine_matrix',
    'elastic_field',
    'pixel_noise',
    'random_warp',
    'rescale',
    'warp_affine',
    'warp_elastic',
    'SWEEPABLE',
    'TTA_NAMES',
    'brightness_contrast',
    'brightness_contrast_draws',
    'check_augment_images',
    'channel_pca',
    'crop_at',
    'crop_offsets',
    'cutout',
    'cutout_mask',
    'default_augment_config',
    'flip_mask',
    'hflip',
    'horizontal_flip',
    'make_augment',
    'make_tta',
    'mixup',
    'mixup_draws',
    'pca_lighting',
    'pca_lighting_draws',
    'random_crop',
    'shift',
    'soft_labels',
    'tta_predict',
    'tta_views',
    'validate_augment_config',
]
