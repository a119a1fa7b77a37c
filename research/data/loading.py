"""`load_dataset`: from a data config to normalized train / dev / test arrays.

Where each name is read from:
  mnist1d               generated locally.
  mnist, fashion_mnist  the official IDX files in `data.dir` (else
                        $RESEARCH_DATA_DIR), if there; else TFDS, if prepared.
  any other name        TFDS, if prepared.
Nothing is downloaded. When no copy is found, `DataNotFoundError` is raised at
once, listing every place looked and how to provide the data.
"""

import os
from pathlib import Path
from typing import Any

import numpy as np

from research.data import corruption
from research.data import idx_source
from research.data import mnist1d_source
from research.data import normalization as norm_lib
from research.data import permutation
from research.data import shift as shift_lib
from research.data import splits
from research.data import tfds_source
from research.data.config import DATA_DIR_ENV
from research.data.config import resolve_data_config
from research.data.dataset import Dataset
from research.data.dataset import RawDataset
from research.errors import ConfigError, DataNotFoundError


def load_dataset(data_config: Any) -> Dataset:
  """Loads, subsets, splits, shifts and normalizes the dataset `data_config`
  names.

  In this order: class subset (train and test) -> dev hold-out from train ->
  train-dev hold-out from the rest of train -> random subset of
  `data.train_size` examples of what remains (nested across sizes) ->
  `data.label_noise` of its labels replaced (symmetric noise) -> that
  subset repeated `data.train_repeats` times -> domain
  shift of dev and test (`data.shift`, on the raw images) -> normalization
  with statistics of the remaining training split (the subset) only -> the
  fixed permutation of the input features (`data.permute_inputs`), the same
  on every split.

  Raises:
    ConfigError: naming the key, for a bad config value, including those that
      only the data can reveal (`data.dev_size` + `data.train_dev_size` not
      smaller than the training split, `data.train_size` larger than what
      they leave, `data.classes` out of range, a shift of data that are not
      images).
    DataNotFoundError: if no copy of the dataset is found.
  """
  c = resolve_data_config(data_config)
  raw = read_source(c['name'], c['dir'], c['tfds_dir'])
  class_ids, (x_train, y_train, x_test, y_test) = _subset_classes(c, raw)

  held_out = c['dev_size'] + c['train_dev_size']
  if held_out >= len(x_train):
    subset = f" of classes {c['classes']}" if c['classes'] else ''
    key = 'dev_size' if not c['train_dev_size'] else 'train_dev_size'
    raise ConfigError(
        f"data.{key}: dev_size {c['dev_size']} + train_dev_size "
        f"{c['train_dev_size']} must be smaller than the training split "
        f"({len(x_train)} examples{subset} in {c['name']})")
  x_train, y_train, x_dev, y_dev = splits.hold_out(
      x_train, y_train, c['dev_size'], c['split_seed'])
  x_train, y_train, x_train_dev, y_train_dev = splits.hold_out_train_dev(
      x_train, y_train, c['train_dev_size'], c['split_seed'])
  if c['train_size'] > len(x_train):
    subset = f" of classes {c['classes']}" if c['classes'] else ''
    raise ConfigError(
        f"data.train_size: {c['train_size']} is larger than the "
        f"{len(x_train)} training examples left after dev_size "
        f"{c['dev_size']} and train_dev_size {c['train_dev_size']} "
        f"({c['name']}{subset})")
  x_train, y_train = splits.subsample(x_train, y_train, c['train_size'],
                                      c['split_seed'])
  y_train = _corrupt_labels(c, y_train, len(class_ids))
  x_train, y_train = splits.repeat(x_train, y_train, c['train_repeats'])
  x_dev, x_test = _shift_target(c, x_dev, x_test)

  stats = norm_lib.fit_normalization(x_train, c['normalization'])
  x_train, x_train_dev, x_dev, x_test = (
      norm_lib.normalize(x, stats)
      for x in (x_train, x_train_dev, x_dev, x_test))
  if c['permute_inputs']:
    order = permutation.feature_permutation(int(np.prod(x_train.shape[1:])),
                                            c['permutation_seed'])
    x_train, x_train_dev, x_dev, x_test = (
        permutation.permute_features(x, order)
        for x in (x_train, x_train_dev, x_dev, x_test))
  y_train, y_train_dev, y_dev, y_test = (
      y.astype(np.int32) for y in (y_train, y_train_dev, y_dev, y_test))
  return Dataset(
      name=c['name'], x_train=x_train, y_train=y_train, x_dev=x_dev,
      y_dev=y_dev, x_test=x_test, y_test=y_test, num_classes=len(class_ids),
      class_names=tuple(raw.class_names[k] for k in class_ids),
      source=raw.source, class_ids=class_ids, normalization=stats,
      x_train_dev=x_train_dev, y_train_dev=y_train_dev)


def _corrupt_labels(c: dict[str, Any], y_train: np.ndarray,
                    num_classes: int) -> np.ndarray:
  """The training labels under `data.label_noise` (before any repeat, so
  every copy of an example keeps the same label)."""
  if not c['label_noise']:
    return y_train
  if num_classes < 2:
    raise ConfigError(f"data.label_noise: {c['label_noise']} needs at least 2 "
                      f'classes to swap between; there are {num_classes}')
  return corruption.symmetric_noise(
      y_train, c['label_noise'], num_classes,
      (c['split_seed'], corruption.LABEL_NOISE_STREAM))


def _shift_target(c: dict[str, Any], x_dev: np.ndarray, x_test: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Dev and test under `data.shift`: the target distribution."""
  if c['shift'] == 'none':
    return x_dev, x_test
  if x_test.ndim != 4:
    raise ConfigError(
        f"data.shift: {c['shift']!r} transforms images (N, H, W, C); "
        f"{c['name']} has examples of shape {x_test.shape[1:]}")
  return tuple(shift_lib.apply_shift(x, c['shift'], c['shift_amount'],
                                     c['shift_seed'], split)
               for x, split in ((x_dev, 'dev'), (x_test, 'test')))


def _subset_classes(c: dict[str, Any], raw: RawDataset
                    ) -> tuple[tuple[int, ...], tuple[np.ndarray, ...]]:
  """(class ids kept, (x_train, y_train, x_test, y_test) relabelled)."""
  num_classes = len(raw.class_names)
  if not c['classes']:
    return tuple(range(num_classes)), tuple(raw[:4])
  bad = [k for k in c['classes'] if k >= num_classes]
  if bad:
    raise ConfigError(
        f"data.classes: {bad} out of range: {c['name']} has {num_classes} "
        f'classes, ids 0..{num_classes - 1}')
  x_train, y_train = splits.select_classes(raw.x_train, raw.y_train,
                                           c['classes'], num_classes)
  x_test, y_test = splits.select_classes(raw.x_test, raw.y_test,
                                         c['classes'], num_classes)
  if not len(x_train):
    raise ConfigError(f"data.classes: {c['name']} has no training examples "
                      f"of classes {c['classes']}")
  return c['classes'], (x_train, y_train, x_test, y_test)


def read_source(name: str, data_dir: str = '',
                tfds_dir: str = '') -> RawDataset:
  """The unnormalized official train and test splits of `name`.

  Args:
    name: a `LOCAL_SOURCES` name or a TFDS image-classification name.
    data_dir: directory with the IDX files ('' -> $RESEARCH_DATA_DIR).
    tfds_dir: TFDS data_dir ('' -> TFDS's default).
  """
  if name == 'mnist1d':
    return mnist1d_source.load_mnist1d()
  idx_root = data_dir or os.environ.get(DATA_DIR_ENV, '')
  if name in idx_source.SPECS and idx_root:
    directory = idx_source.find_idx_dir(idx_root, name)
    if directory is not None:
      return idx_source.load_idx_dataset(directory, name)
  builder = tfds_source.get_builder(name, tfds_dir)
  if builder.is_prepared():
    return tfds_source.load_tfds(builder)
  raise DataNotFoundError(
      _not_found_message(name, data_dir, idx_root, tfds_dir, builder))


def _not_found_message(name: str, data_dir: str, idx_root: str,
                       tfds_dir: str, builder: Any) -> str:
  lines = [f'No copy of dataset {name!r} found. Looked at:']
  if name in idx_source.SPECS:
    files = ', '.join(idx_source.EXPECTED_FILE_NAMES)
    if idx_root:
      origin = 'data.dir' if data_dir else f'${DATA_DIR_ENV}'
      for d in idx_source.candidate_dirs(idx_root, name):
        lines.append(f'  - IDX files in {d} (from {origin}): '
                     f'{_idx_state(d)}; expected {files}')
    else:
      lines.append(f'  - IDX files: no directory given (data.dir and '
                   f'${DATA_DIR_ENV} are empty)')
  lines.append(f'  - TFDS: {name!r} is not prepared in {builder.data_dir}')
  hint = tfds_source.prepare_hint(name, tfds_dir)
  if name in idx_source.SPECS:
    lines.append(
        f'To provide it, set data.dir (--set data.dir=...) or {DATA_DIR_ENV} '
        f'to a directory holding {files}, or {hint}.')
  else:
    lines.append(f'To provide it, {hint}. Nothing is downloaded here.')
  return '\n'.join(lines)


def _idx_state(directory: Path) -> str:
  if not directory.is_dir():
    return 'directory does not exist'
  present = sorted(p.name for p in directory.iterdir())
  return f'has {present[:8]}' if present else 'directory is empty'
