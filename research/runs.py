"""Recorded runs, read from their directories' JSON files alone: whether a
run finished, and the config a finished run recorded. Nothing here loads
data, a checkpoint or JAX."""

import pathlib

from research.errors import ConfigError
from research.tracking.run_dir import RunDir

# Statuses of a run that a re-run leaves alone.
FINISHED = ('done', 'early_stopped')
# What a sweep's launcher leaves in each trial's run directory.
TRIAL_RECORD = 'trial.json'


def is_finished(summary: dict | None) -> bool:
  return bool(summary) and summary.get('status') in FINISHED


def finished_run_config(path: str | pathlib.Path, key: str) -> dict:
  """The config (as written) of the finished run in `path`; a ConfigError
  naming the config `key` that pointed there unless `path` holds one. Creates
  nothing."""
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
