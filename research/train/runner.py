"""One run from a config: its directory, its loggers, then the training loop.

The run directory is named after the config's hash, so running the same
command again resumes an unfinished run (after a kill or a preemption) and
leaves a finished one alone unless asked to restart.
"""

import pathlib
import shutil
import uuid

import jax
import ml_collections
from jax.experimental import multihost_utils

from research import compilation_cache
from research import distributed
from research.runs import is_finished
from research.tracking import MultiLogger, RunDir, WandbLogger
from research.train.loop import train
from research.train.resolve import config_hash, resolve


def default_run_dir(config: ml_collections.ConfigDict) -> pathlib.Path:
  """<tracking.output_dir>/<experiment>/seed<k>-<hash of its overrides>."""
  name = config.experiment or 'run'
  return (pathlib.Path(config.tracking.output_dir) / name /
          f'seed{config.seed}-{config_hash(config)}')


def clear_run_dir(run_dir: RunDir) -> None:
  """Removes what a previous attempt left, so the run starts from scratch."""
  shutil.rmtree(run_dir.checkpoint_dir, ignore_errors=True)
  shutil.rmtree(run_dir.path / 'wandb', ignore_errors=True)
  for name in ('config.json', 'metrics.jsonl', 'summary.json',
               'wandb_run_id.json', 'trial.json'):
    (run_dir.path / name).unlink(missing_ok=True)


def make_logger(config: ml_collections.ConfigDict, run_dir: RunDir):
  """The run's W&B logger (its run id kept in the run directory, so a resumed
  run logs to the same W&B run); a no-op on every process but the first."""
  if not distributed.is_primary():
    return MultiLogger()
  run_id = run_dir.read_json('wandb_run_id.json')
  if run_id is None:
    run_id = uuid.uuid4().hex[:12]
    run_dir.write_json('wandb_run_id.json', run_id)
  t = config.tracking
  return WandbLogger(
      project=t.project, entity=t.entity or None, directory=run_dir.path,
      run_id=run_id, name=run_dir.path.name, group=config.experiment or None,
      mode=t.wandb, config=config.to_dict())


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def prepare(config: ml_collections.ConfigDict, run_dir: RunDir, *,
            restart: bool = False) -> dict | None:
  """Makes `run_dir` ready for `config`: the summary of the run there if it
  has finished (marked `already_finished`: not to be trained again), else
  None once config.json is written. Refuses a directory that holds another
  config's run. Whichever launcher trains it, a run starts here."""
  # Multi-host: every process trains (and takes part in orbax's saves) in the
  # same, shared run directory; only process 0 writes the other files.
  primary = distributed.is_primary()
  if restart and primary:
    clear_run_dir(run_dir)
  _sync('run directory ready')  # nobody reads a summary being deleted
  # The config first: a finished run of another config is not this run.
  written = run_dir.read_config()
  if written is not None and config_hash(written) != config_hash(config):
    raise ValueError(
        f'{run_dir.path} holds a run of a different config; choose another '
        'directory or pass --restart to replace it')
  previous = run_dir.read_summary()
  if is_finished(previous):
    return {**previous, 'already_finished': True}
  if primary:
    run_dir.write_config(config.to_dict())
  return None


def run(config: ml_collections.ConfigDict, *,
        workdir: str | pathlib.Path | None = None, restart: bool = False,
        epoch_end_hook=None) -> dict:
  """Resolves `config` (unless it is already), then trains it in its run
  directory; returns the summary. A finished run is not trained again unless
  `restart`."""
  config = resolve(config)
  compilation_cache.enable()
  # Joins the other processes of a multi-host run (a no-op for one process);
  # before anything else asks JAX for its devices.
  distributed.initialize(config.parallel)
  run_dir = RunDir(workdir or default_run_dir(config))
  finished = prepare(config, run_dir, restart=restart)
  if finished is not None:
    return finished
  logger = make_logger(config, run_dir)
  try:
    return train(config, run_dir, logger, epoch_end_hook=epoch_end_hook)
  finally:
    logger.finish()
