"""The `research` command: list experiments and run one.

  research list
  research run EXPERIMENT [--set key=value ...] [--workdir DIR] [--restart]
"""

import argparse
import json
import sys

from research.errors import ConfigError, DataNotFoundError, DivergedError


def _experiments():
  import experiments  # pylint: disable=g-import-not-at-top,unused-import  (registers them)
  from research import registry  # pylint: disable=g-import-not-at-top
  return registry


def cmd_list(args) -> int:
  del args
  registry = _experiments()
  width = max(len(n) for n in registry.names())
  for name in registry.names():
    exp = registry.get(name)
    ref = f'  [{exp.reference}]' if exp.reference else ''
    print(f'{name:<{width}}  {exp.description}{ref}')
  return 0


def _format_accuracy(metrics: dict, split: str) -> str:
  value = metrics.get(f'{split}/accuracy')
  return f'{100 * value:.2f}%' if value is not None else 'n/a'


def cmd_run(args) -> int:
  from research import config as config_lib  # pylint: disable=g-import-not-at-top
  from research.train import default_run_dir, run  # pylint: disable=g-import-not-at-top

  registry = _experiments()
  config = config_lib.apply_overrides(registry.get(args.experiment).config(),
                                      args.set)
  config_lib.validate(config)
  workdir = args.workdir or default_run_dir(config)
  print(f'run directory: {workdir}', flush=True)
  summary = run(config, workdir=workdir, restart=args.restart)

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


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='research', description='Train fully-connected networks and '
      'reproduce ablation tables.')
  sub = parser.add_subparsers(dest='command', required=True)
  sub.add_parser('list', help='list the registered experiments')
  run = sub.add_parser('run', help='run one experiment')
  run.add_argument('experiment')
  run.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='override a config value, e.g. --set optimizer.learning_rate=0.01')
  run.add_argument('--workdir', default=None,
                   help='run directory (default: <tracking.output_dir>/<experiment>/seed<k>-<config hash>)')
  run.add_argument('--restart', action='store_true',
                   help='discard checkpoints and results in the run directory and start over')
  run.add_argument('--json', action='store_true', help='print the summary as JSON')
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  try:
    return {'list': cmd_list, 'run': cmd_run}[args.command](args)
  except ConfigError as e:
    print(f'error: bad config: {e}', file=sys.stderr)
    return 2
  except DataNotFoundError as e:
    print(f'error: data not found: {e}', file=sys.stderr)
    return 2
  except DivergedError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1


if __name__ == '__main__':
  sys.exit(main())
