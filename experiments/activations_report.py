"""The activations experiment's report: gradient norm per layer at
initialization of every point (experiments/at_init.py), beside the final test
accuracy after training."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from experiments import at_init
from experiments.activations import KEYS, MAXOUT, MAXOUT_PIECES, RESIDUAL, UNITS
from research.tables import markdown_table


def unit_of(point: Mapping[str, Any]) -> str:
  """The UNITS option whose settings the point has (a key the option leaves
  unset is unset in the point too), else the point's own keys as text."""
  settings = {k: point[k] for k in UNITS.keys if k in point}
  for name, option in UNITS.options.items():
    if option == settings:
      return name
  return ' '.join(f'{k}={v!r}' for k, v in settings.items())


def _grad_cells(layers: Sequence[dict]) -> tuple[str, str, str]:
  hidden = at_init.hidden(layers)
  first, last = hidden[0]['grad_norm'], hidden[-1]['grad_norm']
  return (at_init.sci(first), at_init.sci(last),
          at_init.sci(at_init.ratio(first, last)))


def gradient_table(points: Sequence[at_init.PointStatistics], records) -> str:
  """A row per unit: first and last hidden-layer gradient norms, their ratio
  and the final test accuracy, plain then residual."""
  by_key = {(unit_of(p.point), p.point.get('model.residual')): p for p in points}
  rows = []
  for unit in dict.fromkeys(unit for unit, _ in by_key):
    row = [unit]
    for residual in RESIDUAL.values:
      p = by_key.get((unit, residual))
      row += list(_grad_cells(p.layers)) if p else ['—'] * 3
      accuracies, diverged = (at_init.final_accuracies(records, p.point, keys=KEYS)
                              if p else ([], 0))
      row.append((f'{100 * np.mean(accuracies):.1f}' if accuracies else '—')
                 + (f' ({diverged} diverged)' if diverged else ''))
    rows.append(row)
  headers = ['unit']
  for kind in ('plain', 'residual'):
    headers += [f'{kind}: ‖∇W‖ first', f'{kind}: ‖∇W‖ last',
                f'{kind}: first / last', f'{kind}: test acc. %']
  return markdown_table(headers, rows, align='l' + 'r' * (len(headers) - 1))


def measured_lines(points: Sequence[at_init.PointStatistics]) -> list[str]:
  lines = []
  for residual in RESIDUAL.values:
    ratios = {}
    for p in points:
      if p.point.get('model.residual') != residual:
        continue
      hidden = at_init.hidden(p.layers)
      r = at_init.ratio(hidden[0]['grad_norm'], hidden[-1]['grad_norm'])
      if np.isfinite(r) and r > 0:
        ratios[unit_of(p.point)] = r
    if ratios:
      low = min(ratios, key=ratios.get)
      kind = 'residual' if residual else 'plain'
      lines.append(f'- {kind}: the smallest first / last hidden-layer gradient '
                   f'ratio is {at_init.sci(ratios[low])} ({low}); the median over '
                   f'units is {at_init.sci(float(np.median(list(ratios.values()))))}.')
  return lines


def report(inputs) -> str:
  points = at_init.statistics_by_point(inputs.experiment, inputs.records)
  panels = {}
  for p in points:
    kind = 'residual' if p.point.get('model.residual') else 'plain'
    panels.setdefault(unit_of(p.point), {})[kind] = p.layers
  figure = 'gradient_norms.png'
  at_init.gradient_norms(panels, inputs.figures_dir / figure,
                         'Gradient norm per layer at initialization: plain vs residual')
  inputs.log(f'{inputs.experiment}: per-layer statistics of {len(points)} points')
  config = points[0].config
  return '\n\n'.join([
      '## Gradient norm per layer at initialization',
      f'Each network as its seed-{at_init.SEED} trial initialized it, on the '
      f'first {at_init.BATCH_SIZE} training examples of {config.data.name}, '
      f'before any step: {len(config.model.hidden)} hidden layers of width '
      f'{config.model.hidden[0]}. ‖∇W‖ is the Frobenius norm of the gradient '
      'of the mean cross-entropy with respect to a hidden layer\'s kernel; a '
      'first / last ratio far below 1 is a vanishing gradient. A binary '
      'step\'s gradient is exactly 0 (drawn at the floor of its panel). '
      f'{MAXOUT} is maxout units of {MAXOUT_PIECES} pieces in place of the '
      'activation. Test accuracy is the mean over seeds after training.',
      gradient_table(points, inputs.records),
      f'![gradient norm per layer](figures/{inputs.experiment}/{figure})',
      '### Measured',
      '\n'.join(measured_lines(points)),
  ])
