"""The `data` config section: its keys, defaults and validation.

Validation is cheap and reads no data. Checks that need the data (do
`dev_size` and `train_dev_size` leave a training split, does `train_size`
fit in it, are the class ids in range, are there images to shift) happen in
`load_dataset`, also as a `ConfigError` naming the key.
"""

import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

import ml_collections

from research.data.shift import check_shift
from research.data.shift import SHIFTS
from research.errors import ConfigError

DATA_DIR_ENV = 'RESEARCH_DATA_DIR'
# Names that load without TFDS: generated (mnist1d) or read from IDX files.
LOCAL_SOURCES = ('mnist1d', 'mnist', 'fashion_mnist')
NORMALIZATIONS = ('none', 'standardize', 'unit_interval')


def default_data_config() -> ml_collections.ConfigDict:
  """Every key of the data section, with its default."""
  c = ml_collections.ConfigDict()
  c.name = 'mnist1d'  # a LOCAL_SOURCES name or a TFDS image-classification one
  c.dir = ''  # directory with the official IDX files; '' -> $RESEARCH_DATA_DIR
  c.tfds_dir = ''  # TFDS data_dir; '' -> TFDS's default
  c.dev_size = 0  # examples held out from the training split
  # Examples held out after dev, from the same (training) distribution: the
  # train-dev split of the bias / variance / data-mismatch analysis.
  c.train_dev_size = 0
  c.train_size = 0  # random subset of the rest of train kept (nested); 0 = all
  # The training split (after train_size) made of this many copies of itself:
  # redundant data, as the lecture's online vs full-batch example. 1 = as is.
  c.train_repeats = 1
  c.split_seed = 0  # seed of the hold-outs and the subset, not the run seed
  # Fraction in [0, 1) of the TRAINING labels replaced by a uniformly drawn
  # other class (symmetric noise, research/data/corruption.py); drawn from the
  # split seed, nested across fractions. Dev, train-dev and test stay clean.
  c.label_noise = 0.0
  c.classes = ()  # class subset, relabelled 0..k-1 in this order; () = all
  c.normalization = 'standardize'
  # Domain shift of the dev and test splits only (the target distribution);
  # see research/data/shift.py for what `shift_amount` means for each kind.
  c.shift = 'none'
  c.shift_amount = 0.0
  c.shift_seed = 0  # seed of the random shifts (angles, noise)
  # One fixed permutation of the input features on every split
  # (research/data/permutation.py), drawn from `permutation_seed`.
  c.permute_inputs = False
  c.permutation_seed = 0
  return c


def resolve_data_config(data_config: Any) -> dict[str, Any]:
  """Checks the section and returns it as a plain dict, defaults filled in.

  Raises:
    ConfigError: naming the key, for an unknown key or a bad value.
  """
  if isinstance(data_config, ml_collections.FrozenConfigDict):
    data_config = data_config.as_configdict()
  if isinstance(data_config, ml_collections.ConfigDict):
    values = data_config.to_dict()
  elif isinstance(data_config, Mapping):
    values = dict(data_config)
  else:
    raise ConfigError(
        f'data: expected a ConfigDict, got {type(data_config).__name__}')

  defaults = default_data_config().to_dict()
  for key in sorted(values):
    if key not in defaults:
      raise ConfigError(
          f'data.{key}: unknown key; the data section has {sorted(defaults)}')
  c = {**defaults, **values}

  if not isinstance(c['name'], str) or not c['name'].strip():
    raise ConfigError(f"data.name: {c['name']!r} must be a non-empty string")
  for key in ('dir', 'tfds_dir'):
    if c[key] is None:
      c[key] = ''
    if not isinstance(c[key], (str, os.PathLike)):
      raise ConfigError(f'data.{key}: {c[key]!r} must be a path string')
    c[key] = os.fspath(c[key])
  if not isinstance(c['permute_inputs'], bool):
    raise ConfigError(f"data.permute_inputs: {c['permute_inputs']!r} must be "
                      'true or false')
  for key in ('dev_size', 'train_dev_size', 'train_size', 'split_seed',
              'shift_seed', 'permutation_seed'):
    if not _is_int(c[key]) or c[key] < 0:
      raise ConfigError(f'data.{key}: {c[key]!r} must be an integer >= 0')
    c[key] = int(c[key])
  if not _is_int(c['train_repeats']) or c['train_repeats'] < 1:
    raise ConfigError(f"data.train_repeats: {c['train_repeats']!r} must be an "
                      'integer >= 1')
  c['train_repeats'] = int(c['train_repeats'])
  c['label_noise'] = _check_label_noise(c['label_noise'])
  c['classes'] = _check_classes(c['classes'])
  if c['normalization'] not in NORMALIZATIONS:
    raise ConfigError(f"data.normalization: {c['normalization']!r} is not one "
                      f'of {list(NORMALIZATIONS)}')
  _check_shift_keys(c)
  return c


def validate_data_config(data_config: Any) -> None:
  """Raises `ConfigError` naming the key for anything wrong; reads no data."""
  resolve_data_config(data_config)


def _is_int(value: Any) -> bool:
  # bool is an Integral, but `dev_size=True` is a mistake, not 1.
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_shift_keys(c: dict[str, Any]) -> None:
  if not isinstance(c['shift'], str) or c['shift'] not in SHIFTS:
    raise ConfigError(
        f"data.shift: {c['shift']!r} is not one of {list(SHIFTS)}")
  amount = c['shift_amount']
  if (isinstance(amount, bool) or not isinstance(amount, numbers.Real)
      or not math.isfinite(amount)):
    raise ConfigError(f'data.shift_amount: {amount!r} must be a finite number')
  c['shift_amount'] = float(amount)
  try:
    check_shift(c['shift'], c['shift_amount'])
  except ValueError as e:
    raise ConfigError(f'data.shift_amount: {e}') from None
  if c['shift'] != 'none' and c['name'] == 'mnist1d':
    # A 1-D signal has no rotation or blur that means what it does for a
    # picture; refuse rather than invent one.
    raise ConfigError(
        f"data.shift: {c['shift']!r} transforms images; mnist1d is a 1-D "
        "signal (use mnist or fashion_mnist, or data.shift='none')")


def _check_label_noise(fraction: Any) -> float:
  if (isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
      or not 0.0 <= fraction < 1.0):
    raise ConfigError(f'data.label_noise: {fraction!r} must be a fraction in '
                      '[0, 1) (of the training labels replaced)')
  return float(fraction)


def _check_classes(classes: Any) -> tuple[int, ...]:
  if not isinstance(classes, (tuple, list)):
    raise ConfigError(f'data.classes: {classes!r} must be a tuple of class '
                      'ids, e.g. (3, 5), or () for all classes')
  for c in classes:
    if not _is_int(c) or c < 0:
      raise ConfigError(
          f'data.classes: {c!r} in {tuple(classes)} is not an integer >= 0')
  if len(set(classes)) != len(classes):
    raise ConfigError(f'data.classes: {tuple(classes)} repeats a class id')
  return tuple(int(c) for c in classes)
