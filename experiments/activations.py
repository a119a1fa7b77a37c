"""Every activation of the lectures in a deep, narrow MLP, plain and residual:
where gradients vanish, and whether the network then trains.

    research sweep activations --seeds 2
    research sweep activations_maxout --seeds 2
    research table activations
    research table activations_maxout

MNIST-1D (generated locally, standardized), 40-(32 x 16)-10 MLP, He-normal init
for every activation (the init that keeps ReLU's signal at depth, so that what
differs is the activation), plain SGD with momentum, so that the gradient's
scale is the step's scale (Adam would divide it out), clipped to global norm 1
so that a network whose signal explodes (residual sums under He init, linear
layers) takes bounded steps instead of diverging at once. With
`model.residual`, hidden layers 2..16 (those of equal input and output width)
compute h + act(W h + b).

Maxout is not an activation name but `model.maxout_pieces` (the Dense has k
outputs per unit and the max replaces the activation), and a sweep is the
product of its axes: a `model.maxout_pieces` axis would pair maxout with
sigmoid, which the model rightly rejects. So maxout trains in its own
registered experiment, `activations_maxout`: this config with
`maxout_pieces=2`, over the residual axis alone. The `activations` report
computes its statistics at initialization beside the others (no training is
needed for those).
"""

from collections.abc import Sequence

import numpy as np

from experiments import at_init
from research import config as config_lib
from research import diagnostics
from research.config import base_config
from research.registry import register
from research.search import Discrete
from research.tables import markdown_table

ACTIVATIONS = ('linear', 'binary_step', 'sigmoid', 'tanh', 'relu',
               'leaky_relu', 'elu', 'softplus')
MAXOUT_PIECES = 2
MAXOUT = f'maxout (k={MAXOUT_PIECES})'
RESIDUAL = Discrete((False, True))
DEPTH, WIDTH = 16, 32


def _grad_cells(layers: Sequence[dict]) -> tuple[str, str, str]:
  hidden = at_init.hidden(layers)
  first, last = hidden[0]['grad_norm'], hidden[-1]['grad_norm']
  return (at_init.sci(first), at_init.sci(last),
          at_init.sci(at_init.ratio(first, last)))


def _maxout_points(points: Sequence[at_init.PointStatistics]
                   ) -> list[at_init.PointStatistics]:
  """Maxout at initialization, plain and residual: the base network of the
  points with maxout units (same data, same batch)."""
  cache: dict = {}
  result = []
  for residual in RESIDUAL.values:
    config = config_lib.merge(points[0].config, {
        'model.activation': 'relu', 'model.maxout_pieces': MAXOUT_PIECES,
        'model.residual': residual})
    x, y, num_classes = at_init.fixed_batch(config, cache)
    layers = diagnostics.layer_statistics(config, x, y, at_init.SEED,
                                          num_classes=num_classes)
    result.append(at_init.PointStatistics(
        {'model.activation': MAXOUT, 'model.residual': residual}, config, layers))
  return result


def gradient_table(points: Sequence[at_init.PointStatistics], records) -> str:
  by_key = {(p.point['model.activation'], p.point['model.residual']): p
            for p in points}
  names = list(dict.fromkeys(p.point['model.activation'] for p in points))
  rows = []
  for name in names:
    row = [name]
    for residual in RESIDUAL.values:
      p = by_key.get((name, residual))
      row += list(_grad_cells(p.layers)) if p else ['—'] * 3
      accuracies, diverged = at_init.final_accuracies(records, p.point) if (
          p and name != MAXOUT) else ([], 0)
      row.append((f'{100 * np.mean(accuracies):.1f}' if accuracies else '—')
                 + (f' ({diverged} diverged)' if diverged else ''))
    rows.append(row)
  headers = ['activation']
  for kind in ('plain', 'residual'):
    headers += [f'{kind}: ‖∇W‖ first', f'{kind}: ‖∇W‖ last',
                f'{kind}: first / last', f'{kind}: test acc. %']
  return markdown_table(headers, rows, align='l' + 'r' * (len(headers) - 1))


def measured_lines(points: Sequence[at_init.PointStatistics]) -> list[str]:
  lines = []
  for residual in RESIDUAL.values:
    ratios = {}
    for p in points:
      if p.point['model.residual'] != residual:
        continue
      hidden = at_init.hidden(p.layers)
      r = at_init.ratio(hidden[0]['grad_norm'], hidden[-1]['grad_norm'])
      if np.isfinite(r) and r > 0:
        ratios[p.point['model.activation']] = r
    if ratios:
      low = min(ratios, key=ratios.get)
      kind = 'residual' if residual else 'plain'
      lines.append(f'- {kind}: the smallest first / last hidden-layer gradient '
                   f'ratio is {at_init.sci(ratios[low])} ({low}); the median over '
                   f'activations is {at_init.sci(float(np.median(list(ratios.values()))))}.')
  return lines


def report(inputs) -> str:
  points = at_init.statistics_by_point(inputs.experiment, inputs.records)
  points += _maxout_points(points)
  panels = {}
  for name in dict.fromkeys(p.point['model.activation'] for p in points):
    panels[name] = {('residual' if p.point['model.residual'] else 'plain'): p.layers
                    for p in points if p.point['model.activation'] == name}
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
      f'Maxout\'s accuracy is in the `activations_maxout` table.',
      gradient_table(points, inputs.records),
      f'![gradient norm per layer](figures/{inputs.experiment}/{figure})',
      '### Measured',
      '\n'.join(measured_lines(points)),
  ])


@register('activations',
          description='Every activation (linear, binary step, sigmoid, tanh, ReLU, leaky ReLU, '
                      'ELU, softplus) in a 16-hidden-layer MLP of width 32 on MNIST-1D, plain '
                      'and residual: gradient norm per layer at init, accuracy after SGD',
          reference='vanishing gradients: saturating activations lose the gradient with depth '
                    'in a plain net, not in a residual one',
          axes={'model.activation': Discrete(ACTIVATIONS), 'model.residual': RESIDUAL},
          report=report)
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.normalization = 'standardize'
  c.data.dev_size = 500
  c.model.hidden = (WIDTH,) * DEPTH
  c.model.init = 'lecun_normal'
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 0.05
  c.optimizer.momentum = 0.9
  c.optimizer.grad_clip_norm = 1.0
  c.train.batch_size = 100
  c.train.num_epochs = 40
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = 40
  return c


@register('activations_maxout',
          description='Maxout units (k=2) in the `activations` network, plain and residual '
                      '(its maxout point: a sweep cannot pair maxout_pieces with one activation)',
          axes={'model.residual': RESIDUAL})
def get_maxout_config():
  c = get_config()
  c.model.activation = 'relu'  # replaced by the maxout units
  c.model.maxout_pieces = MAXOUT_PIECES
  return c
