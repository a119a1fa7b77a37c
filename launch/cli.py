"""The `research` command: list experiments, run one, sweep one, table one.

  research list
  research run EXPERIMENT [--set key=value ...] [--workdir DIR] [--restart]
      [--quiet]
  research run --config path/to/config.py [--set key=value ...]
  research run --from RUN_DIR [--set key=value ...]
  research sweep EXPERIMENT [--launcher local|population|slurm|wandb]
      [--seeds N] [--search grid|random|halton] [--trials N] [--set k=v ...]
      [--quiet]
  research table EXPERIMENT [--output-dir runs] [--results-dir DIR]
      [--window K] [--wandb auto|online|offline|disabled]
  research recipe EXPERIMENT [--set k=v ...] [--steps ...] [--results FILE]
"""

import argparse
import collections
import datetime
import json
import pathlib
import shlex
import sys
import time

from launch import bench_args
from launch import failures
from launch import recipe_args
from launch import runs_cli
from launch import select_cli
from launch.registry import LaunchError, load_registry
from research import config as config_lib
from research.errors import (ConfigError, DataError, DataNotFoundError,
                             DivergedError)
from research.runs import FINISHED, TRIAL_RECORD
from research.tracking.run_dir import DamagedFileError, RunDirInUseError
from research.tracking.wandb_mode import MODES as WANDB_MODES

# What reaches JAX is imported by the command that needs it, inside it:
# `research --help`, `research list` and a bad key answer without it.


def _experiments():
  return load_registry()


def cmd_list(args) -> int:
  del args
  registry = _experiments()
  width = max(len(n) for n in registry.names())
  for name in registry.names():
    exp = registry.get(name)
    ref = f'  [{exp.reference}]' if exp.reference else ''
    # Nothing to run or sweep: `research table NAME` computes it.
    only = '' if exp.trainable else '  (table only)'
    print(f'{name:<{width}}  {exp.description}{ref}{only}')
  return 0


def _refuse_table_only(name: str) -> bool:
  """Says so and returns True when `name` has no training run."""
  if _experiments().get(name).trainable:
    return False
  print(f'error: experiment {name!r} has no training run: its table is '
        f'computed without runs; write it with `research table {name}`',
        file=sys.stderr)
  return True


def _format_accuracy(metrics: dict, split: str) -> str:
  value = metrics.get(f'{split}/accuracy')
  return f'{100 * value:.2f}%' if value is not None else 'n/a'


def _run_config(args):
  """The config that `research run` names (an experiment, a --config file or
  a --from run directory) with its --set overrides; unknown keys stop here."""
  given = [name for name, value in (('EXPERIMENT', args.experiment),
                                    ('--config', args.config),
                                    ('--from', args.from_run)) if value]
  if len(given) != 1:
    raise ConfigError('research run takes one of EXPERIMENT, --config FILE or '
                      f'--from RUN_DIR (given: {", ".join(given) or "none"})')
  if args.config:
    config = config_lib.load_config_file(args.config)
  elif args.from_run:
    from research.train.resolve import config_from_record  # pylint: disable=g-import-not-at-top  (JAX)
    config = config_from_record(config_lib.read_run_config(args.from_run))
  else:
    config = _experiments().get(args.experiment).config()
  return config_lib.apply_overrides(config, args.set)


def cmd_run(args) -> int:
  if args.experiment and _refuse_table_only(args.experiment):
    return 2
  config = _run_config(args)
  if args.quiet:  # tracking is not part of the run's identity (its hash)
    config = config_lib.merge(config, {'tracking.progress': False})
  from research.train import default_run_dir, run  # pylint: disable=g-import-not-at-top  (JAX)
  from research.train.loop import check_single_run  # pylint: disable=g-import-not-at-top  (JAX)
  from research.train.resolve import resolve  # pylint: disable=g-import-not-at-top  (JAX)
  config = resolve(config)  # the one check of every value
  check_single_run(config)  # before the run directory is named
  workdir = args.workdir or default_run_dir(config)
  problem = failures.run_dir_problem(
      workdir, '--workdir' if args.workdir else 'tracking.output_dir')
  if problem:
    print(f'error: {problem}', file=sys.stderr)
    return 2
  print(f'run directory: {workdir}', flush=True)
  summary = failures.run_reporting_failures(run, config, workdir, args.restart)
  if summary is None:
    return 2

  if summary.get('already_finished'):
    print('This run had already finished (use --restart to train it again).')
  final = summary.get('final', {})
  print(f"status: {summary['status']}  epochs: {summary['epochs']}  "
        f"steps: {summary['steps']}  wall time: {summary['wall_time_s']:.1f} s")
  if final:
    print(f"final  train accuracy {_format_accuracy(final, 'train')}  "
          f"test accuracy {_format_accuracy(final, 'test')}  "
          f"test loss {final['test/loss']:.4f}")
  best = summary.get('best')
  if best:
    print(f"best by {best['monitor']} (epoch {best['epoch']}): "
          f"dev accuracy {_format_accuracy(best, 'dev')}  "
          f"test accuracy {_format_accuracy(best, 'test')}")
  if summary['status'] == 'interrupted':
    print(f"Interrupted by {summary.get('stopped_by')}; a checkpoint was saved. "
          'Run the same command again to resume.')
  print(f'run directory: {workdir}')
  if args.json:
    print(json.dumps(summary, indent=1, default=str))
  return 0


LAUNCHERS = ('local', 'population', 'slurm', 'wandb')
SEARCHES = ('grid', 'random', 'halton')
WANDB_SEARCHES = ('grid', 'random', 'bayes')  # W&B has no quasi-random search
# Outcomes of a trial that are results; anything else makes the exit code 1.
RESULTS = ('done', 'early_stopped', 'diverged')


def _log(line: str) -> None:
  """A launcher's line on stderr, above a progress bar if one is drawn."""
  import tqdm  # pylint: disable=g-import-not-at-top  (only once a sweep runs)
  tqdm.tqdm.write(line, file=sys.stderr)
  sys.stderr.flush()


def _launch_trials(args, trials) -> list[dict]:
  """Runs `trials` with the launcher named in `args`; returns the records."""
  if args.launcher == 'local':
    from launch import local  # pylint: disable=g-import-not-at-top
    return local.launch(trials, output_dir=args.output_dir,
                        workers=args.workers, log=_log, quiet=args.quiet)
  if args.launcher == 'slurm':
    from launch import slurm  # pylint: disable=g-import-not-at-top
    return slurm.launch(
        trials, output_dir=args.output_dir, partition=args.partition,
        time_min=args.time_min, gpus_per_node=args.gpus_per_node,
        cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb,
        array_parallelism=args.array_parallelism, log=_log, quiet=args.quiet)
  try:
    from launch import population  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise LaunchError(f'the population launcher is not available ({e})') from e
  return population.launch(trials, output_dir=args.output_dir, log=_log,
                           max_size=args.max_population, quiet=args.quiet)


def _label(record: dict, common) -> str:
  """The trial's label without the overrides that every trial shares."""
  own = [o for o in record.get('overrides', ()) if o not in common]
  return ' '.join([*own, f"seed={record.get('seed')}"])


def _print_records(records: list[dict], common) -> None:
  labels = [_label(r, common) for r in records]
  statuses = [r['status'] + (' (skipped)' if r.get('skipped') else '')
              for r in records]
  width, status_width = max(map(len, labels)), max(map(len, statuses))
  for label, status, r in zip(labels, statuses, records):
    wall = r.get('wall_time_s')
    wall = f'{wall:.1f} s' if wall is not None else 'n/a'
    print(f"{label:<{width}}  {status:<{status_width}}  test accuracy "
          f"{_format_accuracy(r.get('final') or {}, 'test'):>7}  {wall:>8}")

  by_point = collections.defaultdict(list)
  for r in records:
    value = (r.get('final') or {}).get('test/accuracy')
    if r['status'] in FINISHED and value is not None:
      by_point[' '.join(o for o in r['overrides'] if o not in common)].append(value)
  if any(len(v) > 1 for v in by_point.values()):
    from research import tables  # pylint: disable=g-import-not-at-top
    print('test accuracy (%) over seeds:')
    points = {p or '(base config)': v for p, v in by_point.items()}
    point_width = max(map(len, points))
    for point, values in points.items():
      print(f'  {point:<{point_width}}  {tables.mean_std(values)}  '
            f'({len(values)} runs)')

  counts = collections.Counter(r['status'] for r in records)
  skipped = sum(bool(r.get('skipped')) for r in records)
  print(f'{len(records)} trial(s): '
        + ', '.join(f'{n} {status}' for status, n in sorted(counts.items()))
        + (f' ({skipped} already finished)' if skipped else ''))
  for label, r in zip(labels, records):
    if r['status'] not in RESULTS:
      last = (r.get('error') or '').strip().splitlines()[-1:] or [
          'run the same command again to resume it']
      print(f'  {r["status"]}: {label}: {last[0]}')
  dirs = sorted({str(pathlib.Path(r['run_dir']).parent)
                 for r in records if r.get('run_dir')})
  for d in dirs:
    print(f'records: {d}/*/{TRIAL_RECORD}')


def cmd_sweep(args) -> int:
  from launch import sweep  # pylint: disable=g-import-not-at-top

  searches = WANDB_SEARCHES if args.launcher == 'wandb' else SEARCHES
  if args.launcher not in LAUNCHERS:
    print(f'error: unknown launcher {args.launcher!r}; known launchers: '
          f'{", ".join(LAUNCHERS)}', file=sys.stderr)
    return 2
  if args.search not in searches:
    print(f'error: unknown search {args.search!r} for the {args.launcher} '
          f'launcher; known searches: {", ".join(searches)}', file=sys.stderr)
    return 2
  if (args.trials is None) != (args.search == 'grid'):
    print('error: ' + ('a grid search runs every grid point; --trials is for '
                       'random, halton and bayes search' if args.trials else
                       f'a {args.search} search needs --trials N'),
          file=sys.stderr)
    return 2
  if args.seeds < 1:
    print(f'error: --seeds {args.seeds} must be >= 1', file=sys.stderr)
    return 2
  if _refuse_table_only(args.experiment):
    return 2
  seeds = tuple(range(args.seeds))
  started_at, started = _utc_now(), time.perf_counter()
  axes = _experiments().get(args.experiment).axes

  if args.launcher == 'wandb':
    from launch import wandb_sweep  # pylint: disable=g-import-not-at-top
    records = wandb_sweep.launch(
        args.experiment, output_dir=args.output_dir, search=args.search,
        num_trials=args.trials, seeds=seeds, overrides=args.set,
        project=args.project, entity=args.entity, sweep_id=args.sweep_id,
        log=_log)
  else:
    trials = sweep.expand(args.experiment, search=args.search,
                          num_trials=args.trials, seeds=seeds,
                          overrides=args.set, search_seed=args.search_seed)
    over = ', '.join(axes) or 'no axes (seeds only)'
    print(f'sweep {args.experiment}: {len(trials)} trial(s), {args.search} '
          f'search over {over}, seeds {seeds[0]}-{seeds[-1]}, '
          f'launcher {args.launcher}', flush=True)
    if args.set:
      print(f'common overrides: {" ".join(args.set)}')
    records = _launch_trials(args, trials)
  if not records:
    print('no trial ran')
    return 1
  _print_records(records, set(args.set))
  _write_sweep_record(args, records, seeds, started_at,
                      time.perf_counter() - started)
  return 0 if all(r['status'] in RESULTS for r in records) else 1


def _utc_now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


def _write_sweep_record(args, records: list[dict], seeds, started_at: str,
                        wall_time_s: float) -> None:
  """What this sweep ran, for the provenance of `research table`; a failure
  to write it warns (the trial records are what matter)."""
  from launch import table  # pylint: disable=g-import-not-at-top
  record = {
      'command': args.command_line, 'experiment': args.experiment,
      'search': args.search, 'search_seed': args.search_seed,
      'launcher': args.launcher, 'seeds': list(seeds),
      'overrides': list(args.set), 'num_trials': len(records),
      'statuses': dict(collections.Counter(r['status'] for r in records)),
      'run_dirs': [r['run_dir'] for r in records if r.get('run_dir')],
      'started': started_at, 'finished': _utc_now(), 'wall_time_s': wall_time_s,
  }
  try:
    path = table.write_sweep_record(args.output_dir, args.experiment, record)
  except OSError as e:
    print(f'warning: could not write the sweep record: {e}', file=sys.stderr)
    return
  print(f'sweep record: {path}')


def cmd_table(args) -> int:
  from launch import table  # pylint: disable=g-import-not-at-top  (matplotlib)

  if args.window < 1:
    print(f'error: --window {args.window} must be >= 1', file=sys.stderr)
    return 2
  try:
    table.write_table(args.experiment, output_dir=args.output_dir,
                      results_dir=args.results_dir, window=args.window,
                      wandb_mode=args.wandb, command=args.command_line)
  except table.NoRecordsError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


def _add_sweep_parser(sub) -> None:
  p = sub.add_parser(
      'sweep', help="run an experiment over its sweep axes and seeds",
      description='Runs the points of the experiment\'s search axes times '
      'seeds; each trial is a run directory with a trial.json record. '
      'Running it again skips finished trials and resumes interrupted ones.')
  p.add_argument('experiment')
  p.add_argument('--launcher', default='local',
                 help=f'where trials run: {", ".join(LAUNCHERS)} (default local)')
  p.add_argument('--search', default='grid',
                 help='grid, random or halton (W&B: grid, random or bayes)')
  p.add_argument('--trials', type=int, default=None, metavar='N',
                 help='number of points of a random / halton / bayes search')
  p.add_argument('--seeds', type=int, default=1, metavar='N',
                 help='run each point with seeds 0..N-1 (default 1)')
  p.add_argument('--search-seed', type=int, default=0, metavar='S',
                 help='seed of the random / halton points: another S draws '
                 'another search (default 0)')
  p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                 help='override a config value in every trial')
  p.add_argument('--output-dir', default='runs',
                 help='runs go to OUTPUT_DIR/EXPERIMENT/seed<k>-<config hash>')
  p.add_argument('--quiet', action='store_true',
                 help='no progress (trials done / running / failed, and a '
                 "population's epochs: a bar on a terminal, else a line "
                 'each); failed trials and the results still print')
  p.add_argument('--workers', type=int, default=None,
                 help='local: trials at a time (default min(2, CPUs))')
  p.add_argument('--max-population', type=int, default=None, metavar='K',
                 help='--launcher population: at most K members per vmapped '
                 'program (default: every trial of a group; bound it for memory)')
  slurm = p.add_argument_group('SLURM (--launcher slurm)')
  slurm.add_argument('--partition', default=None)
  slurm.add_argument('--time-min', type=int, default=60)
  slurm.add_argument('--gpus-per-node', type=int, default=None)
  slurm.add_argument('--cpus-per-task', type=int, default=None)
  slurm.add_argument('--mem-gb', type=float, default=None)
  slurm.add_argument('--array-parallelism', type=int, default=None,
                     help='array tasks running at once')
  wandb = p.add_argument_group('W&B (--launcher wandb)')
  wandb.add_argument('--project', default='research')
  wandb.add_argument('--entity', default=None)
  wandb.add_argument('--sweep-id', default=None,
                     help='join this sweep instead of creating one')


def _add_table_parser(sub) -> None:
  p = sub.add_parser(
      'table', help="write an experiment's results table and figures",
      description='Reads the runs in OUTPUT_DIR/EXPERIMENT (the trials of '
      '`research sweep`, and plain `research run`s, whose overrides are what '
      'they change from the experiment\'s config) and writes RESULTS_DIR/EXPERIMENT.md: a row per '
      'point (mean ± std over seeds, the 95%% interval of the test error, '
      'the published number), learning curves, the experiment\'s own '
      'sections and the provenance; logs the table and figures to W&B.')
  p.add_argument('experiment')
  p.add_argument('--output-dir', default='runs',
                 help='where the sweeps ran (default runs)')
  p.add_argument('--results-dir', default=None,
                 help='where EXPERIMENT.md and figures/EXPERIMENT/ go '
                 '(default: experiments/results)')
  p.add_argument('--window', type=int, default=5, metavar='K',
                 help='moving average of the curves over K epochs (default 5)')
  p.add_argument('--wandb', default=None, choices=WANDB_MODES,
                 help="W&B mode (default: the records' tracking.wandb)")


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='research', description='Train fully-connected networks and '
      'reproduce ablation tables.')
  sub = parser.add_subparsers(dest='command', required=True)
  sub.add_parser('list', help='list the registered experiments')
  run = sub.add_parser(
      'run', help='run one experiment, config file or recorded run',
      description='Runs a registered EXPERIMENT, the config that get_config() '
      'of a Python file returns (--config), or the config a run directory '
      'recorded (--from), with --set overrides; prints its run directory.')
  run.add_argument('experiment', nargs='?', default=None)
  run.add_argument('--config', default=None, metavar='FILE',
                   help='a Python file whose get_config() returns the config')
  run.add_argument('--from', dest='from_run', default=None, metavar='RUN_DIR',
                   help="rerun this run directory's config.json (with --set "
                   'changes it is a new run, in its own directory)')
  run.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='override a config value, e.g. --set optimizer.learning_rate=0.01')
  run.add_argument('--workdir', default=None,
                   help='run directory (default: <tracking.output_dir>/<experiment>/seed<k>-<config hash>)')
  run.add_argument('--restart', action='store_true',
                   help='discard checkpoints and results in the run directory and start over')
  run.add_argument('--json', action='store_true', help='print the summary as JSON')
  run.add_argument('--quiet', action='store_true',
                   help='no progress bar (tracking.progress=False); the run '
                   'directory and results still print')
  _add_sweep_parser(sub)
  _add_table_parser(sub)
  recipe_args.add_parser(sub)
  bench_args.add_parser(sub)
  runs_cli.add_parsers(sub)
  select_cli.add_parser(sub)
  return parser


def _cmd_recipe(args) -> int:
  from launch import recipe  # pylint: disable=g-import-not-at-top  (JAX)
  return recipe.cmd_recipe(args)


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  args = build_parser().parse_args(argv)
  # Written into sweep records and tables: what reproduces them.
  args.command_line = shlex.join(['research', *argv])
  try:
    return {'list': cmd_list, 'run': cmd_run, 'sweep': cmd_sweep,
            'table': cmd_table, 'recipe': _cmd_recipe,
            'runs': runs_cli.cmd_runs, 'bench-optimizers': bench_args.cmd,
            'compare': runs_cli.cmd_compare,
            'select': select_cli.cmd_select}[args.command](args)
  except ConfigError as e:
    print(f'error: bad config: {e}', file=sys.stderr)
    return 2
  except DataNotFoundError as e:
    print(f'error: data not found: {e}', file=sys.stderr)
    return 2
  except DivergedError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  except DataError as e:
    print(f'error: bad data: {e}', file=sys.stderr)
    return 2
  except (LaunchError, DamagedFileError, RunDirInUseError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except OSError as e:
    # Disk full, read-only, no permission, a file where a directory goes:
    # one line naming the path, not a traceback from deep in a writer.
    if e.errno not in failures.FILE_SYSTEM_ERRNOS:
      raise
    print(f'error: {failures.os_error_line(e)}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
