"""The report of `research table regularizers_residual`: what each
regularizer did to the weights, the claim of weight elimination."""

import jax
import numpy as np

from experiments.regularizers_residual import REGULARIZERS
from research import results
from research.runs import FINISHED
from research.tables import markdown_table
from research.train.restore import load_trained

SMALL = 0.01  # |w| below this counts as pruned to about zero


def kernels(run_dir: str, dataset=None) -> tuple[np.ndarray, object]:
  """Every Dense kernel's entries of a run's final parameters, flat."""
  trained = load_trained(run_dir, dataset=dataset)
  leaves = jax.tree_util.tree_leaves_with_path(trained.state.params)
  flat = [np.abs(np.asarray(v)).ravel() for path, v in leaves
          if 'kernel' in jax.tree_util.keystr(path)]
  return np.concatenate(flat), trained.dataset


def report(inputs) -> str:
  rows, dataset = [], None
  for name, keys in REGULARIZERS.options.items():
    runs = [r for r in results.finished_holding(inputs.records, results.format_overrides(keys))
            if r.get('status') in FINISHED]
    if not runs:
      continue
    weights = []
    for r in runs:
      w, dataset = kernels(r['run_dir'], dataset)
      weights.append(w)
    rows.append([name, len(runs),
                 f'{100 * np.mean([np.mean(w < SMALL) for w in weights]):.1f}',
                 f'{np.mean([np.median(w) for w in weights]):.4f}',
                 f'{np.mean([np.quantile(w, 0.99) for w in weights]):.3f}',
                 f'{np.mean([w.max() for w in weights]):.3f}'])
  return '\n\n'.join([
      '## The weights at the end',
      f'Every Dense kernel\'s |w| of the final parameters, mean over seeds: the '
      f'share below {SMALL} (pruned to about zero), the median, the 99th '
      'percentile and the largest. The lecture: weight elimination drives '
      'small weights to zero and leaves the large ones (unlike L2, which '
      'shrinks all of them in proportion); compare its rows with none and L2.',
      markdown_table(['regularizer', 'seeds', f'\\|w\\| < {SMALL} %', 'median \\|w\\|',
                      '99th pct. \\|w\\|', 'max \\|w\\|'], rows, align='lrrrrr'),
      _reading({row[0]: row for row in rows}),
  ])


def _reading(rows: dict[str, list]) -> str:
  """Weight elimination's rows against none and L2, in words."""
  base, l2 = rows.get('none'), rows.get('L2 1e-3')
  lines = []
  for name, row in rows.items():
    if name.startswith('weight elimination') and base and l2:
      lines.append(
          f'- {name}: {row[2]}% of the weights below {SMALL} (none {base[2]}%, '
          f'L2 {l2[2]}%), the largest {row[5]} (none {base[5]}, L2 {l2[5]}).')
  agree = all(float(rows[n][2]) > float(rows['L2 1e-3'][2])
              and float(rows[n][5]) > float(rows['L2 1e-3'][5])
              for n in rows if n.startswith('weight elimination')) if lines else None
  verdict = {True: 'The lecture\'s claim holds: weight elimination zeroes more '
                   'weights than L2 while its largest weights are larger.',
             False: 'The lecture\'s claim does not hold in every row.',
             None: 'Not enough rows to read the claim.'}[agree]
  return '\n'.join([*lines, '', verdict])
