"""Runs of the codebase's own training path for the speed benchmark, each
timed from the run's summary and its `epoch_end_hook`.

`research.train.run` (and `train_population` for seeds as one program) of a
registered experiment's config, in a temporary directory, W&B and progress
off. `in_fresh_process` runs a function in a new Python process, so nothing
is compiled yet when it starts; `compilation_cache_at` chooses the directory
of the persistent compilation cache such processes use (a new empty one for
a cold start, the same one again for a start from the cache).
"""

import concurrent.futures
import contextlib
import multiprocessing
import os
import pathlib
import signal
import tempfile
import time

from research import compilation_cache
from research import config as config_lib
from research import registry

QUIET = {'tracking.wandb': 'disabled', 'tracking.progress': False}




def in_fresh_process(fn, *args):
  """fn(*args) in a new Python process: no program compiled, no data cached."""
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
    return pool.submit(fn, *args).result()


@contextlib.contextmanager
def compilation_cache_at(directory):
  """Processes started inside use `directory` as their persistent
  compilation cache (`research.compilation_cache`)."""
  before = os.environ.get(compilation_cache.ENV)
  os.environ[compilation_cache.ENV] = str(directory)
  try:
    yield
  finally:
    if before is None:
      os.environ.pop(compilation_cache.ENV, None)
    else:
      os.environ[compilation_cache.ENV] = before


def experiment_config(name: str, values: dict):
  return config_lib.merge(registry.get(name).config(), {**QUIET, **values})


def run_timings(summary: dict, records: list[dict], hook_times: dict) -> dict:
  """Setup, compilation and per-epoch seconds of one finished run."""
  compile_s = summary['compile_time_s']
  train_s = summary['steps'] / summary['steps_per_second']
  epochs = sorted(hook_times)
  return {
      'compile_s': compile_s, 'train_s': train_s, 'steps': summary['steps'],
      'setup_s': summary['wall_time_s'] - compile_s - train_s,
      'wall_s': summary['wall_time_s'],
      'steps_per_epoch': summary['steps_per_epoch'],
      'time_s': [r['time_s'] for r in records],
      'test_accuracy': [r.get('test/accuracy') for r in records],
      # Between the hooks of epochs e - 1 and e, for e = 2 .. last.
      'epoch_s': [hook_times[b] - hook_times[a]
                  for a, b in zip(epochs, epochs[1:])],
  }


def first_epoch_s(timings: dict) -> float:
  """Compilation and the first epoch: from the end of setup to its end."""
  return timings['time_s'][0] - timings['setup_s']


def loop_s(timings: dict) -> float:
  """Compilation and training of a run: from the end of its setup to the
  end of its last epoch (its final evaluation and checkpoint left out)."""
  return timings['time_s'][-1] - timings['setup_s']


def train_run(name: str, values: dict, stop_at_accuracy: float | None = None,
              stop_after_epoch: int | None = None):
  """`research.train.run` of the experiment `name` with `values` in a
  temporary directory; its `run_timings`. With `stop_at_accuracy`, the run
  stops at the end of the first epoch whose test accuracy reaches it; with
  `stop_after_epoch`, at the end of that epoch."""
  from research.tracking import RunDir  # pylint: disable=g-import-not-at-top
  from research.train import run  # pylint: disable=g-import-not-at-top
  hook_times = {}
  with tempfile.TemporaryDirectory() as tmp:
    run_dir = RunDir(pathlib.Path(tmp) / 'run')

    def hook(epoch, state):  # pylint: disable=unused-argument
      hook_times[epoch] = time.perf_counter()
      accuracy = (run_dir.read_metrics()[-1].get('test/accuracy')
                  if stop_at_accuracy is not None else None)
      reached = accuracy is not None and accuracy >= stop_at_accuracy
      if reached or epoch == stop_after_epoch:
        # As a preempting scheduler would: the loop ends the run after this
        # epoch and writes its summary.
        signal.raise_signal(signal.SIGTERM)

    config = experiment_config(name, {**values, 'tracking.output_dir': tmp})
    summary = run(config, workdir=run_dir.path, epoch_end_hook=hook)
    return run_timings(summary, run_dir.read_metrics(), hook_times)


def population_run(name: str, values: dict, seeds) -> dict:
  """`train_population` of one config per seed; the timings of member 0
  (compilation and wall time are the population's)."""
  from research.tracking import RunDir  # pylint: disable=g-import-not-at-top
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    configs = [experiment_config(name, {
        **values, 'seed': s, 'parallel.mode': 'vmap',
        'tracking.output_dir': tmp}) for s in seeds]
    summaries = train_population(configs)
    records = RunDir(summaries[0]['run_dir']).read_metrics()
  return run_timings(summaries[0], records, {})


def recipe_runs(values: dict, seeds) -> dict:
  """The quickstart recipe: a first run (compiling), a second in the same
  process, then the seeds as one vmapped population, twice (the second
  loads its programs from the persistent cache the first wrote)."""
  return {'first': train_run('quickstart', values),
          'warm': train_run('quickstart', values),
          'population': population_run('quickstart', values, seeds),
          'population_again': population_run('quickstart', values, seeds)}
