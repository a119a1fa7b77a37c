"""A trial is one run of a sweep: an experiment, config overrides and a seed.

Every launcher (local processes, a vmap population, SLURM, a W&B agent) runs
trials and leaves the same record next to the run, `<run_dir>/trial.json`:
how it ended, what ran (the config, its hash, the git commit, the hardware)
and its final metrics, so that tables can be built from the records alone.

A launcher is `launch(trials, *, output_dir, **options) -> list[dict]`,
returning one record per trial, in the order of `trials`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from launch.registry import LaunchError, load_registry
from research import config as config_lib
from research import run_index, search, tracking, train
from research.errors import DivergedError
from research.results import format_overrides
# Statuses of a run that a re-run leaves alone (as research.train does).
from research.runs import FINISHED, TRIAL_RECORD
from research.tracking import jsonio
from research.train.resolve import config_from_record, config_hash, resolve

__all__ = ['FINISHED', 'LaunchError', 'RECORD', 'SWEEPS_DIR', 'Trial',
           'failed_record', 'finished_record', 'load_registry', 'plain_run_record',
           'read_record', 'record_run', 'record_trial', 'run_dir_of', 'run_trial']

RECORD = TRIAL_RECORD
# `research sweep` leaves a record of each sweep in <output_dir>/<experiment>/
# sweeps/ (launch.table reads them for the provenance of a table).
SWEEPS_DIR = 'sweeps'


@dataclasses.dataclass(frozen=True)
class Trial:
  experiment: str
  overrides: tuple[str, ...]  # 'dotted.key=value' strings, no seed
  seed: int

  def __post_init__(self):
    object.__setattr__(self, 'overrides', tuple(self.overrides))

  def config(self, output_dir: str | os.PathLike,
             extra: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """The experiment's config with the overrides, `extra`, the seed, no
    progress bar (many trials share a terminal) and `output_dir`."""
    config = config_lib.apply_overrides(
        load_registry().get(self.experiment).config(), [*self.overrides, *extra])
    # Set directly, not parsed: a directory named '1e3' must stay a string.
    return config_lib.merge(config, {
        'seed': self.seed, 'tracking.progress': False,
        'tracking.output_dir': os.fspath(output_dir)})

  @property
  def label(self) -> str:
    return ' '.join([*self.overrides, f'seed={self.seed}'])


def run_dir_of(config: ml_collections.ConfigDict) -> pathlib.Path:
  """Where research.train runs `config` (named after its hash)."""
  return train.default_run_dir(config)


def _make_record(trial: Trial, config, run_dir, status: str, *,
                 summary: dict | None = None, error: str | None = None,
                 wall_time_s: float | None = None) -> dict[str, Any]:
  summary = summary or {}
  # Where the run trained, if it got that far; else where we are now.
  environment = summary.get('environment') or tracking.environment_info()
  wall = summary.get('wall_time_s')
  return jsonio.to_jsonable({
      'status': status,
      'experiment': trial.experiment,
      'seed': trial.seed,
      'overrides': list(trial.overrides),
      'label': trial.label,
      'run_dir': None if run_dir is None else str(run_dir),
      'config_hash': None if config is None else config_hash(config),
      'git': environment.get('git') or tracking.git_info(),
      'hardware': {k: v for k, v in environment.items() if k != 'git'},
      'epochs': summary.get('epochs'),
      'steps': summary.get('steps'),
      'final': summary.get('final', {}),
      'best': summary.get('best'),
      # Split sizes ({'source', 'train', 'dev', 'test'}): a table's interval
      # of the test error needs the number of test examples.
      'data': summary.get('data'),
      'wall_time_s': wall if wall is not None else wall_time_s,
      'error': error or summary.get('error'),
      'recorded_at': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'config': None if config is None else config.to_dict(),
  }, default=repr)


def record_trial(trial: Trial, config, run_dir, status: str, *,
                 summary: dict | None = None, error: str | None = None,
                 wall_time_s: float | None = None) -> dict[str, Any]:
  """Writes `<run_dir>/trial.json` atomically and returns what it wrote.

  `status` is 'done', 'early_stopped', 'interrupted', 'diverged', 'failed'...;
  `summary` is research.train's (final metrics, wall time, hardware);
  `wall_time_s` is used where the summary has none (a failed trial).
  """
  record = _make_record(trial, config, run_dir, status, summary=summary,
                        error=error, wall_time_s=wall_time_s)
  path = pathlib.Path(run_dir)
  path.mkdir(parents=True, exist_ok=True)
  jsonio.atomic_write_json(path / RECORD, record)
  return record


def read_record(run_dir) -> dict | None:
  """The trial record in `run_dir`, or None."""
  return jsonio.read_json(pathlib.Path(run_dir) / RECORD)


def finished_record(trial: Trial, output_dir,
                    extra: Sequence[str] = ()) -> dict | None:
  """The record of `trial` if it already finished (marked 'skipped'), else
  None. Launchers call it before submitting, so a re-run costs nothing."""
  try:
    config = trial.config(output_dir, extra)
    run_dir = run_dir_of(config)
  except Exception:  # pylint: disable=broad-except  (run_trial reports it)
    return None
  record = read_record(run_dir)
  summary = jsonio.read_json(run_dir / 'summary.json')
  if (record and summary and record.get('status') in FINISHED
      and summary.get('status') in FINISHED
      and record.get('config_hash') == config_hash(config)):
    return {**record, 'skipped': True}
  return None


def failed_record(trial: Trial, output_dir, extra: Sequence[str] = (), *,
                  error: str, status: str = 'failed',
                  write: bool = True) -> dict[str, Any]:
  """The record of a trial that did not report back (its process or job
  died), written to its run directory if `write` and its config builds."""
  try:
    config = trial.config(output_dir, extra)
    run_dir = run_dir_of(config)
  except Exception:  # pylint: disable=broad-except
    return _make_record(trial, None, None, status, error=error)
  if not write:
    return _make_record(trial, config, run_dir, status, error=error)
  return _write_record(trial, config, run_dir, status, error=error)


def record_run(trial: Trial, config, run_dir, summary: dict, *,
               wall_time_s: float | None = None) -> dict[str, Any]:
  """The record of `trial` from its run's summary, written next to the run.
  A run that had already finished (`already_finished`, whichever launcher
  finished it) keeps its record if it has one; the record comes back marked
  'skipped'."""
  if summary.get('already_finished'):
    record = read_record(run_dir)
    if not (record and record.get('status') in FINISHED
            and record.get('config_hash') == config_hash(config)):
      record = _write_record(trial, config, run_dir, summary['status'],
                             summary=summary, wall_time_s=wall_time_s)
    return {**record, 'skipped': True}
  return _write_record(trial, config, run_dir, summary['status'],
                       summary=summary, wall_time_s=wall_time_s)


def run_trial(trial: Trial, output_dir: str | os.PathLike,
              extra: Sequence[str] = ()) -> dict[str, Any]:
  """Runs `trial` in this process and returns its record; never raises.

  A diverged run is 'diverged' and any other exception 'failed' with its
  traceback in the record. An already finished run is not trained again:
  its record comes back marked 'skipped'.
  """
  started = time.perf_counter()
  config = run_dir = summary = None
  try:
    config = resolve(trial.config(output_dir, extra))
    run_dir = train.default_run_dir(config)
    summary = train.run(config, workdir=run_dir)
  except DivergedError as e:
    status, error = 'diverged', str(e)
    summary = jsonio.read_json(pathlib.Path(run_dir) / 'summary.json')
  except KeyboardInterrupt:
    # A second Ctrl-C: record it, then let the interrupt through.
    _write_record(trial, config, run_dir, 'interrupted', summary=None,
                  error='KeyboardInterrupt',
                  wall_time_s=time.perf_counter() - started)
    raise
  except Exception:  # pylint: disable=broad-except
    status, error = 'failed', traceback.format_exc()
  else:
    return record_run(trial, config, run_dir, summary,
                      wall_time_s=time.perf_counter() - started)
  return _write_record(trial, config, run_dir, status, summary=summary,
                       error=error, wall_time_s=time.perf_counter() - started)


def plain_run_record(run: run_index.Run, reference: Mapping[str, Any],
                     axes: Mapping[str, search.Axis] = ()) -> dict[str, Any] | None:
  """The record a sweep's trial would have, for a run that `research run`
  trained (it leaves no trial.json), read from its config.json and
  summary.json. Its overrides are what its config changes from `reference`
  (its experiment's config) and its values of the experiment's sweep `axes`
  (a trial names those even at their defaults). None unless both files are
  there and intact."""
  if run.config is None or run.summary is None or run.status == run_index.DAMAGED:
    return None
  changed = {**search.point_of(axes, config_lib.flatten(run.config)),
             **run_index.overrides(run, reference)}
  trial = Trial(run.experiment, format_overrides(changed), run.seed or 0)
  # Keys added since the run was written take their defaults.
  record = _make_record(trial, config_from_record(run.config), run.path,
                        run.status, summary=run.summary)
  # When the run finished, not now: the latest record of a point and seed wins.
  finished = (run.path / 'summary.json').stat().st_mtime
  record['recorded_at'] = datetime.datetime.fromtimestamp(
      finished, datetime.timezone.utc).isoformat(timespec='seconds')
  return record


def _write_record(trial, config, run_dir, status, **kwargs) -> dict:
  """record_trial, or the record unwritten when there is no run directory
  (the config could not be built) or writing fails."""
  if run_dir is not None:
    try:
      return record_trial(trial, config, run_dir, status, **kwargs)
    except Exception:  # pylint: disable=broad-except
      kwargs['error'] = ((kwargs.get('error') or '') + '\nwriting trial.json '
                         'failed:\n' + traceback.format_exc()).strip()
  return _make_record(trial, config, run_dir, status, **kwargs)
