"""The initialization experiment's report: per-layer statistics of every
point's network at initialization (experiments/at_init.py) and their figures,
beside the final test accuracy after training."""

from collections.abc import Sequence

import numpy as np

from experiments import at_init
from experiments.initialization import ACTIVATIONS
from research.tables import markdown_table

# The init each activation was derived for, and the lectures' failing case.
TEXTBOOK_PAIRS = (('small_normal', 'tanh'), ('xavier_normal', 'tanh'),
                  ('he_normal', 'relu'))


def _middle(layers: Sequence[dict]) -> dict:
  return layers[(len(layers) - 1) // 2]


def _inactive(layers: Sequence[dict]) -> str:
  """Mean over the hidden layers of the saturated (or dead) fraction."""
  label = layers[0]['inactive_label']
  if not label:
    return '—'
  return f"{100 * np.mean([l['inactive_fraction'] for l in layers]):.1f}% {label}"


def _accuracy(records, point) -> str:
  accuracies, diverged = at_init.final_accuracies(records, point)
  text = (f'{100 * np.mean(accuracies):.2f}' if accuracies else '—')
  return text + (f' ({diverged} diverged)' if diverged else '')


def statistics_table(points: Sequence[at_init.PointStatistics], records) -> str:
  rows = []
  for p in points:
    layers = at_init.hidden(p.layers)
    first, last, output = layers[0], layers[-1], p.layers[-1]
    rows.append((
        p.point['model.activation'], p.point['model.init'],
        ' / '.join(at_init.sci(l['activation_std'])
                   for l in (first, _middle(layers), last)),
        _inactive(layers),
        at_init.sci(first['grad_norm']), at_init.sci(last['grad_norm']),
        at_init.sci(output['grad_norm']),
        at_init.sci(at_init.ratio(first['grad_norm'], last['grad_norm'])),
        _accuracy(records, p.point)))
  return markdown_table(
      ['activation', 'init', 'act. std: first / middle / last hidden',
       'saturated / dead (mean over hidden)', '‖∇W‖ first hidden',
       '‖∇W‖ last hidden', '‖∇W‖ output', 'first / last hidden',
       'final test acc. % (mean over seeds)'], rows, align='llrrrrrrr')


def measured_lines(points: Sequence[at_init.PointStatistics]) -> list[str]:
  """Sentences with measured numbers (the extremes of the table and the
  textbook pairs), for the reading written after the real run."""
  def name(p):
    return f"{p.point['model.init']} × {p.point['model.activation']}"

  def grad_ratio(p):
    layers = at_init.hidden(p.layers)
    return at_init.ratio(layers[0]['grad_norm'], layers[-1]['grad_norm'])

  def std_ratio(p):
    layers = at_init.hidden(p.layers)
    return at_init.ratio(layers[-1]['activation_std'], layers[0]['activation_std'])

  def inactive(p):
    return np.nanmean([l['inactive_fraction'] for l in at_init.hidden(p.layers)])

  finite = [p for p in points if np.isfinite(grad_ratio(p)) and grad_ratio(p) > 0]
  lines = []
  if finite:
    low, high = min(finite, key=grad_ratio), max(finite, key=grad_ratio)
    lines.append(f'- Most vanishing: {name(low)}, whose first hidden layer gets '
                 f'{at_init.sci(grad_ratio(low))} times the gradient norm of the last.')
    lines.append(f'- Most exploding: {name(high)}, {at_init.sci(grad_ratio(high))} '
                 'times.')
  # The ratio misses a net whose every layer explodes alike: name the
  # largest activation scale too.
  growing = [p for p in points if np.isfinite(std_ratio(p))]
  if growing:
    top = max(growing, key=lambda p: at_init.hidden(p.layers)[-1]['activation_std'])
    lines.append(f'- Largest activations: {name(top)}, last hidden layer std '
                 f"{at_init.sci(at_init.hidden(top.layers)[-1]['activation_std'])} "
                 f'({at_init.sci(std_ratio(top))} times the first).')
  by_pair = {(p.point['model.init'], p.point['model.activation']): p for p in points}
  pairs = [by_pair[pair] for pair in TEXTBOOK_PAIRS if pair in by_pair]
  if pairs:
    lines.append('- Activation std, last hidden layer over first: ' + ', '.join(
        f'{at_init.sci(std_ratio(p))} for {name(p)}' for p in pairs) + '.')
  saturating = [p for p in points if at_init.hidden(p.layers)[0]['inactive_label']]
  if saturating:
    worst = max(saturating, key=inactive)
    lines.append(f'- Most saturated or dead: {name(worst)}, '
                 f'{_inactive(at_init.hidden(worst.layers))} on average over '
                 'its hidden layers.')
  return lines


def report(inputs) -> str:
  points = at_init.statistics_by_point(inputs.experiment, inputs.records)
  fig_dir = inputs.figures_dir
  links = []
  for activation in ACTIVATIONS:
    rows = {p.point['model.init']: p.layers for p in points
            if p.point['model.activation'] == activation}
    if not rows:
      continue
    name = f'activations_{activation}.png'
    at_init.activation_histograms(
        rows, fig_dir / name,
        f'{activation}: activation values per hidden layer at initialization')
    links.append(f'![{activation} activations](figures/{inputs.experiment}/{name})')
  panels = {a: {p.point['model.init']: p.layers for p in points
                if p.point['model.activation'] == a} for a in ACTIVATIONS}
  at_init.gradient_norms({a: s for a, s in panels.items() if s},
                         fig_dir / 'gradient_norms.png',
                         'Gradient norm per layer at initialization')
  links.append(f'![gradient norms](figures/{inputs.experiment}/gradient_norms.png)')
  inputs.log(f'{inputs.experiment}: per-layer statistics of {len(points)} points')
  config = points[0].config
  return '\n\n'.join([
      '## Per-layer statistics at initialization',
      f'Each point\'s network as its seed-{at_init.SEED} trial initialized it, '
      f'on the first {at_init.BATCH_SIZE} training examples of '
      f'{config.data.name}, before any step: {len(config.model.hidden)} hidden '
      'layers. Activation std per layer; the saturated (sigmoid < 0.01 or '
      '> 0.99, |tanh| > 0.99) or dead (ReLU output 0 on the whole batch) '
      'fraction; the Frobenius norm of the gradient of the mean cross-entropy '
      'with respect to each kernel. A first / last ratio far below 1 is a '
      'vanishing gradient, far above 1 an exploding one; where every layer\'s '
      'gradient is tiny (small_normal × tanh or ReLU) the ratio stays near 1 '
      'and the norms themselves show it. The four inits scale one N(0, 1) '
      'draw of the seed (biases are 0), and ReLU is positively homogeneous: '
      'its dead units are the same units under every init.',
      statistics_table(points, inputs.records),
      '### Figures',
      '\n\n'.join(links),
      '### Measured',
      '\n'.join(measured_lines(points)),
  ])
