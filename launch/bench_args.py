"""The `research bench-optimizers` command: its options and what it runs.
Light to import (the CLI builds every parser for --help); the benchmark
itself is launch/bench_optimizers.py, its table launch/bench_report.py."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pathlib
import sys

from experiments import optimizer_benchmark as defaults
from launch.registry import load_registry
from research import config as config_lib

DESCRIPTION = """Scores optimizers as AlgoPerf's external tuning does, on the
registered workloads (experiments with a validation target): for each
workload and optimizer, STUDIES independent studies of TRIALS quasi-random
trials over the optimizer's own search space, trained as one vmapped
population; the median over studies of the fastest trial's time (and steps)
to the target; performance profiles and the score (area under the profile to
r_max = 4). Writes RESULTS_DIR/NAME.md and its profile figure, and logs them
to W&B. Running it again skips finished trials, so adding an optimizer trains
only its own studies."""


def _names(text: str | None) -> list[str] | None:
  return None if text is None else [n for n in text.split(',') if n]


def add_parser(subparsers) -> argparse.ArgumentParser:
  default_dir = config_lib.base_config().tracking.output_dir
  p = subparsers.add_parser(
      'bench-optimizers', help='score optimizers AlgoPerf-style: tuning '
      'studies as populations, time to target, performance profiles',
      description=DESCRIPTION)
  p.add_argument('--quick', action='store_true',
                 help=f'the MNIST-1D workloads, {defaults.QUICK["studies"]} '
                 f'studies of {defaults.QUICK["trials_per_study"]} trials, the '
                 'headline optimizers: minutes on a CPU')
  p.add_argument('--workloads', metavar='W1,W2',
                 help='default: every registered workload (--quick: the MNIST-1D ones)')
  p.add_argument('--optimizers', metavar='O1,O2',
                 help='default: every registered optimizer with a search space '
                 f'(--quick: {",".join(defaults.HEADLINE)})')
  p.add_argument('--import', dest='imports', action='append', default=[],
                 metavar='MODULE',
                 help='a module name or .py file that registers optimizers '
                 '(research.optim.register with a tuning space); they join '
                 'the default list, so they are scored beside the others')
  p.add_argument('--studies', type=int, metavar='N',
                 help=f'independent studies per optimizer (default {defaults.STUDIES})')
  p.add_argument('--trials', type=int, metavar='N',
                 help=f'trials per study (default {defaults.TRIALS_PER_STUDY})')
  p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                 help='override a config value of every trial, e.g. '
                 'data.dir=../shared/data')
  p.add_argument('--output-dir', default=default_dir,
                 help=f'where the trials run (default {default_dir})')
  p.add_argument('--results-dir', default=None,
                 help='where the table goes (default experiments/results)')
  p.add_argument('--name', default=None,
                 help='the table\'s name (default optimizer_benchmark, '
                 'optimizer_benchmark_quick with --quick)')
  p.add_argument('--wandb', default='auto',
                 help="the table's W&B mode: auto, online, offline or disabled "
                 '(the trials log no W&B runs of their own)')
  p.add_argument('--calibrate', action='store_true',
                 help='train only the reference optimizer (nadamw) and print '
                 'the targets the calibration rule gives; writes no table')
  p.add_argument('--quiet', action='store_true', help='no progress bars')
  return p


def import_optimizers(modules: list[str]) -> list[str]:
  """Imports each module (a name on sys.path, or a .py file); returns the
  optimizers they registered."""
  from research import optim  # pylint: disable=g-import-not-at-top  (JAX)
  before = set(optim.names())
  for module in modules:
    path = pathlib.Path(module)
    if module.endswith('.py'):
      if not path.is_file():
        raise FileNotFoundError(f'--import {module}: no such file')
      sys.path.insert(0, str(path.resolve().parent))  # its own imports
      spec = importlib.util.spec_from_file_location(path.stem, path)
      loaded = importlib.util.module_from_spec(spec)
      sys.modules[path.stem] = loaded
      spec.loader.exec_module(loaded)
    else:
      importlib.import_module(module)
  return sorted(set(optim.names()) - before)


def _plan(args) -> tuple[list[str], list[str], int, int]:
  from research import optim  # pylint: disable=g-import-not-at-top  (JAX)
  added = import_optimizers(args.imports)
  quick = defaults.QUICK if args.quick else {}
  workloads = (_names(args.workloads) or list(quick.get('workloads', ()))
               or load_registry().workloads())
  if args.calibrate:
    optimizers = ['nadamw']
  else:
    optimizers = _names(args.optimizers) or (
        [*defaults.HEADLINE, *added] if args.quick else
        [n for n in optim.names()
         if optim.entry(n).tuning and optim.entry(n).vmaps])
  studies = args.studies or quick.get('studies', defaults.STUDIES)
  trials = args.trials or quick.get('trials_per_study', defaults.TRIALS_PER_STUDY)
  return workloads, optimizers, studies, trials


def cmd(args) -> int:
  # JAX and matplotlib load only once the benchmark runs.
  from launch import bench_optimizers, bench_report  # pylint: disable=g-import-not-at-top
  from launch.table import default_results_dir  # pylint: disable=g-import-not-at-top

  workloads, optimizers, studies, trials = _plan(args)
  budget = bench_optimizers.Budget(studies, trials)
  log = (lambda line: None) if args.quiet else (
      lambda line: print(line, file=sys.stderr, flush=True))
  bench = bench_optimizers.run(workloads, optimizers, budget,
                               output_dir=args.output_dir, overrides=args.set,
                               log=log, quiet=args.quiet)
  if args.calibrate:
    print('workload  target_in_use  calibrated')
    for w in workloads:
      target = load_registry().get(w).target
      steps = bench_report.budget_steps(bench, w)
      value = bench_optimizers.calibrated_target(
          bench.cells[w, optimizers[0]], steps, target.mode)
      print(f'{w}  {target.value:g}  {value:g}')
    return 0
  name = args.name or ('optimizer_benchmark_quick' if args.quick
                       else 'optimizer_benchmark')
  title = ('Optimizer benchmark, quick' if args.quick else 'Optimizer benchmark')
  results_dir = pathlib.Path(args.results_dir or default_results_dir())
  path = bench_report.write(bench, name=name, title=title,
                            command=args.command_line, results_dir=results_dir,
                            wandb_mode=args.wandb, project='research',
                            output_dir=args.output_dir, log=log)
  headers, rows = bench_report.score_rows(bench)
  print('  '.join(headers[:4]))
  for row in rows:
    print('  '.join(row[:4]))
  print(f'wrote {path}')
  return 0

