"""A trained run back from its directory: config, data, model and state."""

import dataclasses
import pathlib

import ml_collections

from research import config as config_lib
from research import models
from research.data import Dataset, load_dataset
from research.errors import ConfigError
from research.optim import build_optimizer
from research.tracking import RunDir
from research.train.checkpointing import Checkpointer
from research.train.epoch import steps_per_epoch
from research.train.hparams import initial_hparams
from research.train.state import TrainState, create_train_state


@dataclasses.dataclass(frozen=True)
class TrainedRun:
  config: ml_collections.ConfigDict
  dataset: Dataset
  model: models.MLP
  state: TrainState


def load_trained(run_dir: str | pathlib.Path, which: str = 'latest',
                 dataset: Dataset | None = None) -> TrainedRun:
  """Restores the `latest` (or `best`) checkpoint of the run in `run_dir`.

  Pass `dataset` to skip reloading data that several runs share.
  """
  directory = RunDir(run_dir)
  written = directory.read_config()
  if written is None:
    raise FileNotFoundError(f'{directory.path} holds no config.json: not a run directory')
  config = config_lib.from_dict(written)
  dataset = dataset or load_dataset(config.data)
  model = models.build_model(config.model, dataset.num_classes)
  tx = build_optimizer(config, steps_per_epoch=steps_per_epoch(
      len(dataset.x_train), config.train.batch_size, config.train.batching))
  like = create_train_state(config.seed, model, tx, dataset.x_train[:1],
                            hparams=initial_hparams(config))
  if config.prune.sparsity:  # a pruned run checkpoints masks shaped as params
    like = like.replace(masks=like.params)
  checkpointer = Checkpointer(directory.checkpoint_dir)
  try:
    restored = (checkpointer.restore_best(like) if which == 'best'
                else checkpointer.restore_latest(like))
  finally:
    checkpointer.close()
  if restored is None:
    raise FileNotFoundError(f'no {which} checkpoint in {directory.checkpoint_dir}')
  return TrainedRun(config, dataset, model, restored[0])


# What a run started from `train.init_from` must share with its source: the
# parameters' shapes and what they mean (the inputs and the classes).
SAME_AS_SOURCE = ('model.hidden', 'model.activation', 'model.batchnorm',
                  'model.residual', 'model.maxout_pieces', 'data.name',
                  'data.classes', 'data.normalization', 'data.permute_inputs',
                  'data.permutation_seed')


def _dotted(config: ml_collections.ConfigDict, key: str):
  section, name = key.split('.')
  return config[section][name]


def finished_run_config(path: str | pathlib.Path, key: str) -> dict:
  """The config (as written) of the finished run in `path`; a ConfigError
  naming the config `key` that pointed there unless `path` holds one. Reads
  JSON files only, and creates nothing."""
  # Imported here: the loop imports this module.
  from research.train.loop import is_finished  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  if not path.is_dir():  # RunDir would create the directory
    raise ConfigError(f'{key}: {path} is not a directory: it holds no run')
  run_dir = RunDir(path)
  written = run_dir.read_config()
  if written is None:
    raise ConfigError(f'{key}: {path} holds no config.json: no run there')
  summary = run_dir.read_summary()
  if not is_finished(summary):
    status = summary.get('status') if summary else 'none: no summary.json'
    raise ConfigError(f'{key}: the run in {path} has not finished (status '
                      f'{status!r}); train it first')
  return written


def check_init_from(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config of the run `train.init_from` names; a ConfigError unless it is
  a finished run of the same architecture and data (and, when both prune, of
  a sparsity no higher than this run's). Reads JSON files only."""
  path = pathlib.Path(config.train.init_from)
  # Through the base config: keys added since the source ran take defaults.
  source_config = config_lib.from_dict(
      finished_run_config(path, 'train.init_from'))
  differences = [
      f'{key} {_dotted(config, key)!r} here, {_dotted(source_config, key)!r} there'
      for key in SAME_AS_SOURCE
      if _dotted(config, key) != _dotted(source_config, key)]
  if differences:
    raise ConfigError(f'train.init_from: {path} is a run of another '
                      f'architecture or data: {"; ".join(differences)}')
  if 0 < config.prune.sparsity < source_config.prune.sparsity:
    raise ConfigError(
        f'prune.sparsity: {config.prune.sparsity} is below the '
        f'{source_config.prune.sparsity} of the run it starts from '
        f'({path}); pruning only adds to the pruned weights')
  return source_config
