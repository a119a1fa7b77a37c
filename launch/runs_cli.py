"""`research runs` and `research compare`: find recorded runs, set them side
by side.

  research runs [EXPERIMENT] [--status done,diverged] [--output-dir runs]
      [--format table|csv|json]
  research compare RUN_DIR... [--format table|csv|json] [--curves FIG.png]

Both read the run directories' JSON files alone (`research.run_index`): no
JAX. A damaged run directory is listed as 'damaged', with a warning naming
the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from launch.registry import LaunchError, load_registry
from research import config as config_lib
from research import run_index

FORMATS = ('table', 'csv', 'json')
RUN_COLUMNS = ('experiment', 'run', 'status', 'seed', 'epochs', 'test_acc',
               'best_dev_acc', 'wall_s', 'overrides')
# Panels of `compare --curves`: metrics.jsonl key, title.
CURVES = (('train/loss', 'train loss'), ('dev/accuracy', 'dev accuracy'),
          ('test/accuracy', 'test accuracy'))


def add_parsers(sub) -> None:
  """Adds `runs` and `compare` to the `research` subcommands."""
  default_dir = config_lib.base_config().tracking.output_dir
  p = sub.add_parser(
      'runs', help='list recorded runs: status, overrides, key metrics',
      description='Lists the run directories under OUTPUT_DIR/EXPERIMENT '
      '(every experiment without one): status, seed, epochs, final test '
      'accuracy, best dev accuracy, wall time, and the keys its config '
      "changes from the experiment's own config.")
  p.add_argument('experiment', nargs='?', default=None)
  p.add_argument('--status', default=None, metavar='S1,S2',
                 help='only runs with these statuses (done, early_stopped, '
                 'diverged, interrupted, failed, running, incomplete, damaged)')
  p.add_argument('--output-dir', default=default_dir,
                 help=f'where the runs are (default {default_dir})')
  p.add_argument('--format', default='table', choices=FORMATS)
  p = sub.add_parser(
      'compare', help='compare runs: config differences and metrics',
      description='Sets runs side by side: the config keys whose values '
      'differ among them, and their final and best metrics.')
  p.add_argument('run_dirs', nargs='+', metavar='RUN_DIR')
  p.add_argument('--format', default='table', choices=FORMATS)
  p.add_argument('--curves', default=None, metavar='FIG.png',
                 help='draw their learning curves (train loss, dev and test '
                 'accuracy per epoch) into this figure')


# research runs


def _references() -> Callable[[str], dict | None]:
  """experiment name -> its own config as a dict (None if unregistered)."""
  registry, cache = load_registry(), {}

  def reference(name: str) -> dict | None:
    if name not in cache:
      try:
        cache[name] = registry.get(name).config().to_dict()
      except Exception:  # pylint: disable=broad-except  (base config instead)
        cache[name] = None
    return cache[name]
  return reference


def run_rows(runs: Sequence[run_index.Run]) -> list[dict[str, Any]]:
  """A row per run: what `research runs` prints."""
  reference = _references()
  rows = []
  for run in runs:
    metrics = run_index.key_metrics(run)
    rows.append({
        'experiment': run.experiment, 'run': run.name,
        'path': str(run.path), 'status': run.status, 'seed': run.seed,
        'epochs': run.epochs,
        'overrides': run_index.overrides(run, reference(run.experiment)),
        **metrics, 'problem': run.problem})
  # Seeds of one configuration next to each other.
  rows.sort(key=lambda r: (r['experiment'], overrides_text(r['overrides']),
                           -1 if r['seed'] is None else r['seed'], r['run']))
  return rows


def cmd_runs(args) -> int:
  runs = run_index.find_runs(args.output_dir, args.experiment)
  if args.status:
    wanted = {s.strip() for s in args.status.split(',') if s.strip()}
    runs = [r for r in runs if r.status in wanted]
  for run in runs:
    if run.problem:
      print(f'warning: {run.problem}', file=sys.stderr)
  rows = run_rows(runs)
  if args.format == 'json':
    print(json.dumps(rows, indent=1, default=str))
    return 0
  if args.format == 'csv':  # raw values, for a spreadsheet or pandas
    print(_csv(['experiment', 'run', 'status', 'seed', 'epochs',
                *run_index.METRICS, 'overrides', 'path'],
               [[r['experiment'], r['run'], r['status'], r['seed'],
                 r['epochs'], *(r[k] for k in run_index.METRICS),
                 overrides_text(r['overrides']), r['path']] for r in rows]),
          end='')
    return 0
  cells = [[r['experiment'], r['run'], r['status'], _text(r['seed']),
            _text(r['epochs']), _percent(r['final_test_accuracy']),
            _percent(r['best_dev_accuracy']), _seconds(r['wall_time_s']),
            overrides_text(r['overrides'])] for r in rows]
  where = pathlib.Path(args.output_dir, args.experiment or '')
  if not rows:
    print(f'no runs under {where}'
          + (f' with status {args.status}' if args.status else ''))
    return 0
  print(text_table(RUN_COLUMNS, cells), end='')
  print(f'{len(rows)} run(s) under {where}')
  return 0


# research compare


def cmd_compare(args) -> int:
  paths = [pathlib.Path(p) for p in args.run_dirs]
  absent = [str(p) for p in paths if not run_index.is_run_dir(p)]
  if absent:
    raise LaunchError('not a run directory (no config.json, summary.json or '
                      f'trial.json): {", ".join(absent)}')
  runs = [run_index.read_run(p) for p in paths]
  for run in runs:
    if run.problem:
      print(f'warning: {run.problem}', file=sys.stderr)
  labels = _labels(runs)
  config = run_index.differences([r.config for r in runs])
  metrics = [run_index.all_metrics(r) for r in runs]
  metric_keys = list(dict.fromkeys(k for m in metrics for k in m))
  if args.format == 'json':
    print(json.dumps([{'run_dir': str(r.path), 'label': label,
                       'config': {k: v[i] for k, v in config.items()},
                       'metrics': m}
                      for i, (r, label, m)
                      in enumerate(zip(runs, labels, metrics))],
                     indent=1, default=str))
  else:
    if args.format == 'csv':  # raw values
      rows = [[k, *(_text(x) if isinstance(x, (list, tuple)) else x
                    for x in v)] for k, v in config.items()]
      rows += [[k, *(m.get(k) for m in metrics)] for k in metric_keys]
      print(_csv(['key', *labels], rows), end='')
    else:
      rows = [[k, *map(_text, v)] for k, v in config.items()]
      rows += [[k, *(metric_text(k, m.get(k)) for m in metrics)]
               for k in metric_keys]
      if not config and len(runs) > 1:
        print('(their configs do not differ)')
      print(text_table(['key', *labels], rows, separator_after=len(config)), end='')
  if args.curves:
    draw_curves(runs, labels, config, args.curves)
    print(f'curves: {args.curves}', file=sys.stderr)
  return 0


def _labels(runs: Sequence[run_index.Run]) -> list[str]:
  """Each run's directory name, with its experiment where they differ."""
  if len({r.experiment for r in runs}) > 1:
    return [f'{r.experiment}/{r.name}' for r in runs]
  return [r.name for r in runs]


def draw_curves(runs: Sequence[run_index.Run], labels: Sequence[str],
                config: Mapping[str, list[Any]], path: str) -> None:
  """Small multiples: a panel per metric of CURVES that some run logged, a
  line per run, the legend (run and its differing keys) outside, right."""
  # matplotlib only here: listing and comparing stay fast.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  curves = [run_index.read_curves(r) for r in runs]
  panels = [(key, title) for key, title in CURVES
            if any(key in row for rows in curves for row in rows)]
  panels = panels or list(CURVES[:1])
  fig = Figure(figsize=(3.6 * len(panels) + 3.2, 3.2), layout='constrained')
  axes = fig.subplots(1, len(panels), squeeze=False)[0]
  for i, (label, rows) in enumerate(zip(labels, curves)):
    own = ', '.join(f'{k}={_text(v[i])}' for k, v in config.items())
    for ax, (key, _) in zip(axes, panels):
      points = [(row['epoch'], row[key]) for row in rows
                if 'epoch' in row and _finite(row.get(key))]
      ax.plot([e for e, _ in points], [v for _, v in points],
              color=f'C{i % 10}', linewidth=1.2,
              label=f'{label}\n{own}' if own else label)
  for ax, (key, title) in zip(axes, panels):
    if key.endswith('loss') and all(
        v > 0 for line in ax.get_lines() for v in line.get_ydata()):
      ax.set_yscale('log')  # a loss that falls by decades
    ax.set_title(title)
    ax.set_xlabel('epoch')
    ax.grid(alpha=0.3)
  handles, names = axes[0].get_legend_handles_labels()
  fig.legend(handles, names, loc='outside right upper', fontsize='small')
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)


# Formatting.


def _finite(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value)


def _text(value) -> str:
  if value is None:
    return '-'
  if isinstance(value, (list, tuple)):
    return '(' + ','.join(map(_text, value)) + ')'
  if isinstance(value, float):
    return f'{value:g}'
  return str(value)


def _percent(value) -> str:
  return f'{100 * value:.2f}%' if _finite(value) else _text(value)


def _seconds(value) -> str:
  return f'{value:.1f}' if _finite(value) else _text(value)


def metric_text(key: str, value) -> str:
  if key.endswith('accuracy'):
    return _percent(value)
  if key == 'wall_time_s':
    return _seconds(value)
  return f'{value:.4g}' if isinstance(value, float) else _text(value)


def overrides_text(values: Mapping[str, Any]) -> str:
  return ' '.join(f'{k}={_text(v)}' for k, v in values.items())


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
           separator_after: int | None = None) -> str:
  """Aligned columns; the last one ragged (it may be long)."""
  widths = [max(len(str(c)) for c in column)
            for column in zip(headers, *rows)]
  lines = []
  for i, row in enumerate([headers, *rows]):
    if i == 1 or (separator_after and i == separator_after + 1):
      lines.append('  '.join('-' * w for w in widths))
    cells = [str(c).ljust(w) for c, w in zip(row, widths)]
    lines.append('  '.join(cells).rstrip())
  return '\n'.join(lines) + '\n'


def _csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """CSV text; None is an empty cell."""
  rows = [['' if c is None else c for c in row] for row in rows]
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(headers)
  writer.writerows(rows)
  return out.getvalue()
