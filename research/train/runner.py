"""One run from a config: its directory, its loggers, then the training loop.

The run directory is named after the config's hash, so running the same
command again resumes an unfinished run (after a kill or a preemption) and
leaves a finished one alone unless asked to restart.
"""

import contextlib
import pathlib
import shutil
import uuid

import jax
import ml_collections
from jax.experimental import multihost_utils

from research import compilation_cache
from research import config as config_lib
from research import distributed
from research import registry
from research import run_index
from research.errors import ConfigError
from research.runs import is_finished
from research.tracking import MultiLogger, RunDir, WandbLogger
from research.tracking.run_dir import CONFIG, SUMMARY
from research.train.loop import check_single_run, load_checked_data, train
from research.train.resolve import config_hash, resolve

WANDB_RUN_ID = 'wandb_run_id.json'


def default_run_dir(config: ml_collections.ConfigDict) -> pathlib.Path:
  """<tracking.output_dir>/<experiment>/seed<k>-<hash of its overrides>."""
  name = config.experiment or 'run'
  return (pathlib.Path(config.tracking.output_dir) / name /
          f'seed{config.seed}-{config_hash(config)}')


def clear_run_dir(run_dir: RunDir) -> None:
  """Removes what a previous attempt left, so the run starts from scratch."""
  shutil.rmtree(run_dir.checkpoint_dir, ignore_errors=True)
  shutil.rmtree(run_dir.path / 'wandb', ignore_errors=True)
  for name in (CONFIG, 'metrics.jsonl', SUMMARY, WANDB_RUN_ID, 'trial.json'):
    (run_dir.path / name).unlink(missing_ok=True)


def run_name(config: ml_collections.ConfigDict, fallback: str) -> str:
  """A name a person reads in W&B: what the run changes from its
  experiment's own config (last key parts) and its seed, e.g.
  'learning_rate=0.003 seed1'; `fallback` (the run directory's name) when
  the experiment is not registered."""
  try:
    reference = resolve(registry.get(config.experiment).config())
  except Exception:  # pylint: disable=broad-except  (unregistered, or a --config file)
    return fallback
  changed = run_index.changed_keys(config, reference)
  parts = [f'{key.rsplit(".", 1)[-1]}={config_lib.get_value(config, key)}'
           for key in sorted(changed)]
  return ' '.join(parts + [f'seed{config.seed}'])[:128]


def make_logger(config: ml_collections.ConfigDict, run_dir: RunDir):
  """The run's W&B logger (its run id kept in the run directory, so a resumed
  run logs to the same W&B run); a no-op on every process but the first."""
  if not distributed.is_primary():
    return MultiLogger()
  run_id = run_dir.read_json_or_warn(WANDB_RUN_ID)
  if not isinstance(run_id, str) or not run_id.isalnum():
    run_id = uuid.uuid4().hex[:12]
    run_dir.write_json(WANDB_RUN_ID, run_id)
  t = config.tracking
  return WandbLogger(
      project=t.project, entity=t.entity or None, directory=run_dir.path,
      run_id=run_id, name=run_name(config, run_dir.path.name),
      group=config.experiment or None,
      mode=t.wandb, config=config.to_dict())


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def _check_config(config: ml_collections.ConfigDict, run_dir: RunDir) -> None:
  """A directory that holds another config's run is not this run's. (A
  damaged config.json is written again: the checkpoints also record whose
  they are, see Member.resume.)"""
  written = run_dir.read_json_or_warn(CONFIG)
  if written is not None and config_hash(written) != config_hash(config):
    raise ConfigError(
        f'{run_dir.path} holds a run of a different config; choose another '
        'directory or pass --restart to replace it')


def _finished(run_dir: RunDir) -> dict | None:
  previous = run_dir.read_json_or_warn(SUMMARY)
  if is_finished(previous):
    return {**previous, 'already_finished': True}
  return None


def finished_summary(config: ml_collections.ConfigDict,
                     path: str | pathlib.Path) -> dict | None:
  """The summary of the finished run of `config` in `path` (marked
  `already_finished`: not to be trained again), or None; creates nothing,
  loads nothing: a launcher asks before it loads the data."""
  if not pathlib.Path(path).is_dir():
    return None
  run_dir = RunDir(path)
  _check_config(config, run_dir)
  return _finished(run_dir)


def prepare(config: ml_collections.ConfigDict, run_dir: RunDir, *,
            restart: bool = False) -> dict | None:
  """Makes `run_dir` ready for `config`: the summary of the run there if it
  has finished (see `finished_summary`), else None once config.json is
  written. Refuses a directory that holds another config's run. Whichever
  launcher trains it, a run starts here, holding the directory's lock
  (`claim`)."""
  # Multi-host: every process trains (and takes part in orbax's saves) in the
  # same, shared run directory; only process 0 writes the other files.
  primary = distributed.is_primary()
  if restart and primary:
    clear_run_dir(run_dir)
  _sync('run directory ready')  # nobody reads a summary being deleted
  _check_config(config, run_dir)  # a finished run of another config is not this
  finished = _finished(run_dir)
  if finished is not None:
    return finished
  if primary:
    run_dir.write_config(config.to_dict())
  return None


@contextlib.contextmanager
def claim(config: ml_collections.ConfigDict, path: str | pathlib.Path, *,
          restart: bool = False):
  """Creates the run directory `path` and holds its lock (process 0 of a
  multi-host run holds it for all) while the caller trains in it; yields
  (RunDir, `prepare`'s answer). Another process on the directory stops here
  with RunDirInUseError."""
  run_dir = RunDir(path)
  lock = (run_dir.lock() if distributed.is_primary()
          else contextlib.nullcontext())
  with lock:
    yield run_dir, prepare(config, run_dir, restart=restart)


def run(config: ml_collections.ConfigDict, *,
        workdir: str | pathlib.Path | None = None, restart: bool = False,
        epoch_end_hook=None) -> dict:
  """Resolves `config` (unless it is already), then trains it in its run
  directory; returns the summary. A finished run is not trained again unless
  `restart`. Bad data stops it before the run directory exists."""
  config = resolve(config)
  check_single_run(config)  # before anything is created
  compilation_cache.enable()
  # Joins the other processes of a multi-host run (a no-op for one process);
  # before anything else asks JAX for its devices.
  distributed.initialize(config.parallel)
  path = workdir or default_run_dir(config)
  finished = None if restart else finished_summary(config, path)
  if finished is not None:
    return finished
  dataset = load_checked_data(config)
  with claim(config, path, restart=restart) as (run_dir, finished):
    if finished is not None:
      return finished
    logger = make_logger(config, run_dir)
    try:
      return train(config, run_dir, logger, dataset=dataset,
                   epoch_end_hook=epoch_end_hook)
    finally:
      logger.finish()
