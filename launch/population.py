"""Runs trials as vmapped populations (research/train/population.py), whose
member axis is sharded over every device.

Trials whose configs differ only in array hyperparameters (the seed, the
learning rate, weight decay, dropout rates, mixup alpha) and are zero in the
same places form a group; each group trains as one compiled program in this
process. Every member still gets its own run directory and trial record, the
same ones the local launcher would write (the parallel mode is not part of a
run's identity), so the two launchers skip each other's finished trials.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence

from launch import trials as trials_lib
from launch.progress import SweepProgress, sweep_description
from launch.trials import Trial
from research import config as config_lib
from research.train.population import group_key, train_population
from research.train.resolve import resolve


def plan(configs: Sequence, max_size: int | None = None) -> list[list[int]]:
  """Indices of `configs` grouped into populations, in order of first
  appearance; a group larger than `max_size` is split into chunks."""
  groups: dict[str, list[int]] = {}
  for i, config in enumerate(configs):
    groups.setdefault(group_key(config), []).append(i)
  size = max_size or max((len(g) for g in groups.values()), default=1)
  return [g[start:start + size] for g in groups.values()
          for start in range(0, len(g), size)]


def launch(trials: Sequence[Trial], *, output_dir: str,
           extra: Sequence[str] = (), max_size: int | None = None,
           log: Callable[[str], None] | None = None, quiet: bool = False,
           **unused) -> list[dict]:
  """Trains the unfinished `trials` in populations; returns their records in
  order (finished ones marked 'skipped'). `max_size` bounds a population
  (memory); `extra` overrides go after each trial's own. Progress goes to
  stderr: trials done / running / failed (launch.progress), and the running
  population's epochs with its members' best metric (its ProgressBar);
  `quiet` leaves only failures."""
  del unused  # options of other launchers (workers, ...)
  log = (lambda line: None) if quiet or log is None else log
  output_dir, extra = str(output_dir), tuple(extra)
  records: list[dict | None] = [None] * len(trials)
  pending, configs, unbuildable = [], [], []
  for i, trial in enumerate(trials):
    records[i] = trials_lib.finished_record(trial, output_dir, extra)
    if records[i] is not None:
      log(f'skipped (already {records[i]["status"]}): {trial.label}')
      continue
    try:
      # The population's bar is the sweep's only view into its epochs.
      config = resolve(config_lib.merge(trial.config(output_dir, extra), {
          'parallel.mode': 'vmap', 'tracking.progress': not quiet}))
    except Exception:  # pylint: disable=broad-except
      records[i] = trials_lib.failed_record(trial, output_dir, extra,
                                            error=traceback.format_exc())
      unbuildable.append(i)
      continue
    pending.append(i)
    configs.append(config)

  with SweepProgress(
      len(pending) + len(unbuildable), desc=sweep_description(trials),
      quiet=quiet, skipped=len(trials) - len(pending) - len(unbuildable)) as progress:
    for i in unbuildable:
      progress.finished(trials[i].label, records[i]['status'])
    for group in plan(configs, max_size):
      members = [pending[j] for j in group]
      member_configs = [configs[j] for j in group]
      run_dirs = [trials_lib.run_dir_of(c) for c in member_configs]
      log(f'population of {len(members)}: '
          + '; '.join(trials[i].label for i in members))
      for i in members:
        progress.started(trials[i].label)
      try:
        summaries = train_population(member_configs, run_dirs=run_dirs)
      except Exception:  # pylint: disable=broad-except
        error = traceback.format_exc()
        for i, config, run_dir in zip(members, member_configs, run_dirs):
          records[i] = trials_lib.record_trial(trials[i], config, run_dir,
                                               'failed', error=error)
          progress.finished(trials[i].label, 'failed')
        log(f'population failed: {error.splitlines()[-1]}')
        continue
      for i, config, run_dir, summary in zip(members, member_configs,
                                             run_dirs, summaries):
        records[i] = trials_lib.record_run(trials[i], config, run_dir, summary)
        if records[i].get('skipped'):
          log(f'skipped (already {records[i]["status"]}): {trials[i].label}')
        progress.finished(trials[i].label, records[i]['status'])
  return records
