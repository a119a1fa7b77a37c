"""Runs trials on this machine, each in a fresh Python process.

Processes start with 'spawn', never 'fork': a forked child of a process that
has loaded JAX can deadlock on the parent's runtime threads. Each trial gets a
new process (so memory and compiled programs do not pile up) from its own
single-worker `ProcessPoolExecutor`, and at most `workers` run at a time: a
worker that dies (out of memory, a segfault) then fails its own trial only,
where one shared pool would break and fail every trial it holds.

Ctrl-C reaches the trials too (same process group): each saves a checkpoint
at the end of its epoch and reports 'interrupted'; trials not yet started are
'cancelled'. Running the same sweep again resumes them and skips the
finished ones.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence

from launch import trials as trials_lib
from launch.progress import SweepProgress, sweep_description
from launch.trials import Trial


def default_workers() -> int:
  return max(1, min(2, os.cpu_count() or 1))


def _in_new_process(worker, trial: Trial, output_dir: str,
                    extra: tuple[str, ...]) -> dict:
  context = multiprocessing.get_context('spawn')
  try:
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=context, max_tasks_per_child=1) as pool:
      return pool.submit(worker, trial, output_dir, extra).result()
  except KeyboardInterrupt:  # Raised in the child by Ctrl-C before training.
    return trials_lib.failed_record(trial, output_dir, extra,
                                    status='interrupted', error='Ctrl-C')
  except Exception as e:  # pylint: disable=broad-except  (BrokenProcessPool and kin)
    return trials_lib.failed_record(
        trial, output_dir, extra,
        error=f'the trial\'s process died: {type(e).__name__}: {e}')


def launch(trials: Sequence[Trial], *, output_dir: str,
           extra: Sequence[str] = (), workers: int | None = None,
           log: Callable[[str], None] | None = None, quiet: bool = False,
           worker: Callable[..., dict] = trials_lib.run_trial) -> list[dict]:
  """Runs `trials`, `workers` at a time; returns their records in order.

  Finished trials are not started again: their records come back marked
  'skipped'. `extra` overrides go after each trial's own (tests shrink the
  model with them). Progress goes to stderr (launch.progress: a bar on a
  terminal, else a line `[3/12] done: <label>` as each trial ends); `log`
  gets the launcher's other lines (skipped trials, the number of workers,
  Ctrl-C). `quiet` leaves only failures and Ctrl-C. `worker` is what a
  process runs, `run_trial(trial, output_dir, extra)` (tests swap it).
  """
  workers = workers or default_workers()
  if workers < 1:
    raise ValueError(f'workers: {workers} must be >= 1')
  log = log or (lambda line: None)
  output_dir, extra = str(output_dir), tuple(extra)
  records: list[dict | None] = [None] * len(trials)
  todo = []
  for i, trial in enumerate(trials):
    records[i] = trials_lib.finished_record(trial, output_dir, extra)
    if records[i] is None:
      todo.append(i)
    elif not quiet:
      log(f'skipped (already {records[i]["status"]}): {trial.label}')

  if todo and not quiet:
    log(f'running {len(todo)} trial(s), {min(workers, len(todo))} at a time')
  stop = threading.Event()
  progress = SweepProgress(
      len(todo), desc=sweep_description(trials), quiet=quiet,
      skipped=len(trials) - len(todo))

  def run(i: int) -> dict:
    # Reported here, in the trial's thread: the next trial of this thread
    # starts only after this one is counted as ended.
    if stop.is_set():
      record = trials_lib.failed_record(trials[i], output_dir, extra,
                                        status='cancelled', error='not started',
                                        write=False)
    else:
      progress.started(trials[i].label)
      record = _in_new_process(worker, trials[i], output_dir, extra)
    progress.finished(trials[i].label, record['status'])
    return record

  with progress, concurrent.futures.ThreadPoolExecutor(
      max_workers=workers) as threads:
    futures = {threads.submit(run, i): i for i in todo}
    try:
      for future in concurrent.futures.as_completed(futures):
        records[futures[future]] = future.result()
    except KeyboardInterrupt:
      stop.set()
      log('interrupted: running trials save a checkpoint and stop')
      for future, i in futures.items():
        records[i] = future.result()
  return records
