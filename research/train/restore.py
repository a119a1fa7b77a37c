"""A trained run back from its directory: config, data, model and state."""

import dataclasses
import pathlib

import ml_collections

from research import models
from research.data import Dataset, load_dataset
from research.optim import build_optimizer
from research.tracking import RunDir
from research.train.checkpointing import Checkpointer
from research.train.epoch import steps_per_epoch
from research.train.hparams import initial_hparams
from research.train.resolve import config_from_record
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
  config = config_from_record(written)
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
