"""`research select`: pick a model from a sweep by one optimizing metric
under satisficing constraints (`research.model_selection`).

  research select EXPERIMENT --optimize final/dev/accuracy
      [--require 'num_params<=100000' --require 'dev/fpr@Shirt<=0.02' ...]
      [--minimize] [--output-dir runs] [--format table|json]

A candidate is a sweep point: the finished runs of one configuration, its
seeds averaged. Reads the run directories' JSON files alone (no JAX).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from launch import runs_cli
from launch.registry import LaunchError
from research import config as config_lib
from research import model_selection, run_index
from research.runs import FINISHED

FORMATS = ('table', 'json')


def add_parser(sub) -> None:
  default_dir = config_lib.base_config().tracking.output_dir
  p = sub.add_parser(
      'select', help='pick a model from a sweep: one optimizing metric, '
      'satisficing bounds on the others',
      description='Ranks the sweep points of EXPERIMENT (finished runs, '
      'seeds averaged) by the optimizing metric and picks the best that '
      'meets every --require bound. Metrics: num_params, wall_time_s, '
      'epoch_time_per_step_s, final/<key> and best/<key> (final/dev/accuracy), '
      '<split>/fpr@<class>, <split>/recall@<class>, <split>/precision@<class>, '
      '<split>/min_recall, <split>/macro_f1. Choose on dev, not test.')
  p.add_argument('experiment')
  p.add_argument('--optimize', default='final/dev/accuracy', metavar='METRIC',
                 help='the metric to optimize (default final/dev/accuracy)')
  p.add_argument('--minimize', action='store_true',
                 help='smaller is better (a loss, an error rate)')
  p.add_argument('--require', action='append', default=[], metavar='BOUND',
                 help="a satisficing bound, METRIC<=VALUE (or >=, <, >); "
                 'repeatable')
  p.add_argument('--output-dir', default=default_dir,
                 help=f'where the runs are (default {default_dir})')
  p.add_argument('--format', default='table', choices=FORMATS)


def point_summaries(runs: Sequence[run_index.Run]) -> dict[str, list[dict]]:
  """{the point's overrides as text: the summaries of its finished runs}."""
  by_path = {str(r.path): r for r in runs}
  groups: dict[str, list[dict]] = {}
  for row in runs_cli.run_rows(runs):
    run = by_path[row['path']]
    if run.status in FINISHED and run.summary:
      groups.setdefault(runs_cli.overrides_text(row['overrides']) or '(its own config)',
                        []).append(run.summary)
  return groups


def cmd_select(args) -> int:
  constraints = [model_selection.Constraint.parse(t) for t in args.require]
  metrics = list(dict.fromkeys([args.optimize, *(c.metric for c in constraints)]))
  for metric in metrics:  # an unknown name fails before anything is read
    model_selection.metric_value({}, metric)
  if any(m.split('/')[0] == 'test' or m.startswith(('final/test', 'best/test'))
         for m in metrics):
    print('warning: a test-split metric chooses the model on the test set, '
          'whose error is then an optimistic estimate; choose on dev',
          file=sys.stderr)
  groups = point_summaries(run_index.find_runs(args.output_dir, args.experiment))
  if not groups:
    raise LaunchError(f'no finished runs under {args.output_dir}/{args.experiment}')
  candidates = model_selection.candidates_from_summaries(groups, metrics)
  sel = model_selection.select(candidates, args.optimize, constraints,
                               maximize=not args.minimize)
  if args.format == 'json':
    print(json.dumps({
        'optimize': args.optimize, 'maximize': not args.minimize,
        'constraints': [str(c) for c in constraints],
        'chosen': sel.chosen and sel.chosen.label,
        'candidates': [{'point': c.label, 'seeds': len(groups[c.label]),
                        'values': dict(c.values),
                        'fails': [str(k) for k in sel.failed[c.label]]}
                       for c in sel.ranked]}, indent=1))
    return 0
  rows = [['*' if c is sel.chosen else '', c.label, len(groups[c.label]),
           *(runs_cli.metric_text(m, c.values[m]) for m in metrics),
           '; '.join(map(str, sel.failed[c.label])) or 'ok']
          for c in sel.ranked]
  print(runs_cli.text_table(['', 'point', 'seeds', *metrics, 'fails'], rows), end='')
  bounds = ' subject to ' + ', '.join(map(str, constraints)) if constraints else ''
  goal = f'{"min" if args.minimize else "max"}imize {args.optimize}{bounds}'
  if sel.chosen is None:
    print(f'no point meets every bound ({goal})')
    return 1
  print(f'chosen ({goal}): {sel.chosen.label}')
  return 0
