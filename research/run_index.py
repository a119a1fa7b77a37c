"""An index of recorded runs, read from their directories' JSON files alone:
what `research runs` lists and `research compare` sets side by side.

A run directory is any `<output_dir>/<experiment>/<name>/` that holds a
config.json, summary.json or trial.json. A file there that does not parse
makes the run 'damaged' (its `problem` says which file); nothing here raises
on what it reads, loads data or imports JAX.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from research import config as config_lib
from research.runs import TRIAL_RECORD
from research.tracking.run_dir import (CONFIG, LOCK, SUMMARY, DamagedFileError,
                                       RunDir)

DAMAGED = 'damaged'
RUNNING = 'running'
INCOMPLETE = 'incomplete'  # a config but no summary, and nobody trains it
# Keys that say where or how a run computes, not what: never an override
# (the seed is shown on its own; data.dir only says where the files were).
_NOT_OVERRIDES = ('experiment', 'seed', 'data.dir', 'data.tfds_dir')
# The key metrics of a run, in the order they are shown.
METRICS = ('final_test_accuracy', 'best_dev_accuracy', 'wall_time_s')


@dataclasses.dataclass
class Run:
  """One run directory's records (None where a file is absent or damaged)."""
  path: pathlib.Path
  experiment: str
  status: str
  config: dict[str, Any] | None = None
  summary: dict[str, Any] | None = None
  trial: dict[str, Any] | None = None
  problem: str | None = None  # why it is 'damaged'
  logged_epochs: int | None = None  # of metrics.jsonl, for a run unfinished

  @property
  def name(self) -> str:
    return self.path.name

  @property
  def seed(self) -> int | None:
    for record in (self.config, self.summary, self.trial):
      if record and record.get('seed') is not None:
        return record['seed']
    return None

  @property
  def epochs(self) -> int | None:
    for record in (self.summary, self.trial):
      if record and record.get('epochs') is not None:
        return record['epochs']
    return self.logged_epochs


def is_run_dir(path: pathlib.Path) -> bool:
  return path.is_dir() and any(
      (path / name).is_file() for name in (CONFIG, SUMMARY, TRIAL_RECORD))


def read_run(path: str | os.PathLike) -> Run:
  """The records of the run in `path` (an existing directory)."""
  path = pathlib.Path(path)
  run_dir = RunDir(path)  # the directory exists: nothing is created
  records, problems = {}, []
  for name in (CONFIG, SUMMARY, TRIAL_RECORD):
    try:
      record = run_dir.read_json(name)
    except (DamagedFileError, OSError) as e:
      problems.append(str(e))
      continue
    if record is not None and not isinstance(record, dict):
      problems.append(f'{path / name} is damaged (not a JSON object)')
      continue
    records[name] = record
  config, summary = records.get(CONFIG), records.get(SUMMARY)
  trial = records.get(TRIAL_RECORD)
  experiment = next((r['experiment'] for r in (config, summary, trial)
                     if r and isinstance(r.get('experiment'), str)),
                    path.parent.name)
  if problems:
    status = DAMAGED
  elif summary and summary.get('status'):
    status = summary['status']
  elif trial and trial.get('status'):
    status = trial['status']  # e.g. 'failed' before training started
  else:
    status = RUNNING if _is_locked(path / LOCK) else INCOMPLETE
  run = Run(path, experiment, status, config, summary, trial,
            '; '.join(problems) or None)
  if run.epochs is None:  # unfinished: how far it got
    epochs = [r.get('epoch') for r in read_curves(run)]
    run.logged_epochs = max((e for e in epochs if isinstance(e, int)),
                            default=None)
  return run


def find_runs(output_dir: str | os.PathLike,
              experiment: str | None = None) -> list[Run]:
  """The runs under `<output_dir>/<experiment>/` (every experiment's if
  None), sorted by experiment and directory name."""
  root = pathlib.Path(output_dir)
  parents = [root / experiment] if experiment else sorted(
      p for p in root.glob('*') if p.is_dir())
  return [read_run(path) for parent in parents
          for path in sorted(parent.glob('*')) if is_run_dir(path)]


def key_metrics(run: Run) -> dict[str, float | None]:
  """Final test accuracy, best dev accuracy (of the monitored checkpoint, if
  the run monitored one) and wall time."""
  summary = run.summary or run.trial or {}
  final = summary.get('final') or {}
  best = summary.get('best') or {}
  return {'final_test_accuracy': final.get('test/accuracy'),
          'best_dev_accuracy': best.get('dev/accuracy'),
          'wall_time_s': summary.get('wall_time_s')}


def all_metrics(run: Run) -> dict[str, Any]:
  """Every final and best value of the summary, flat: 'final/test/accuracy',
  'best/epoch'..., with epochs, steps and wall time."""
  summary = run.summary or run.trial or {}
  values = {'status': run.status, 'epochs': run.epochs,
            'steps': summary.get('steps'),
            'wall_time_s': summary.get('wall_time_s')}
  for part in ('final', 'best'):
    for key, value in sorted((summary.get(part) or {}).items()):
      values[f'{part}/{key}'] = value
  return values


def _identity(config: Mapping[str, Any]) -> dict[str, Any]:
  """The flat config without the presentation sections (where and how it
  was shown, not what it computed)."""
  return {k: v for k, v in config_lib.flatten(config).items()
          if k.split('.', 1)[0] not in config_lib.PRESENTATION_SECTIONS}


def overrides(run: Run, reference: Mapping[str, Any] | None) -> dict[str, Any]:
  """{dotted key: value} where the run's config differs from `reference`
  (its experiment's own config; the base config if None), seed left out.

  A key that `reference` lacks (an optimizer hyperparameter that resolving
  the config filled in at its default) counts only when the run's trial
  record names it among its overrides: only JAX knows the defaults.
  """
  if not run.config:
    return {}
  if reference is None:
    reference = config_lib.base_config()
  named = {o.split('=', 1)[0] for o in (run.trial or {}).get('overrides', ())}
  return changed_keys(run.config, reference, named)


def changed_keys(config: Mapping[str, Any], reference: Mapping[str, Any],
                 named=()) -> dict[str, Any]:
  """{dotted key: value} where `config` differs from `reference`, leaving
  out the presentation sections, the experiment and the seed; a key that
  `reference` lacks counts only if `named`."""
  theirs = config_lib.flatten(reference)
  missing = object()
  changed = {}
  for key, value in _identity(config).items():
    other = theirs.get(key, missing)
    if key in _NOT_OVERRIDES or (other is missing and key not in named):
      continue
    if other is missing or not config_lib.same_value(value, other):
      changed[key] = value
  return changed


def differences(configs: Sequence[Mapping[str, Any] | None]
                ) -> dict[str, list[Any]]:
  """{dotted key: [value in each config]} for the keys whose values are not
  all the same among the configs there are (None where a config lacks the
  key; a damaged run's None config decides nothing)."""
  flat = [_identity(c) if c else None for c in configs]
  present = [f for f in flat if f is not None]
  missing = object()
  found = {}
  for key in sorted(set().union(*present)) if present else []:
    values = [f.get(key, missing) for f in present]
    if all(v is not missing for v in values) and all(
        config_lib.same_value(v, values[0]) for v in values):
      continue
    found[key] = [None if f is None else f.get(key) for f in flat]
  return found


def read_curves(run: Run) -> list[dict[str, Any]]:
  """The run's metrics.jsonl rows that parse (a torn line is skipped)."""
  return [r for _, r in RunDir(run.path).scan_metrics() if r is not None]


def _is_locked(path: pathlib.Path) -> bool:
  """Whether a process holds the run's lock now (it trains the run)."""
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return False
  except OSError as e:
    return e.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN)
  finally:
    os.close(fd)  # releases a shared lock taken just now
