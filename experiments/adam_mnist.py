"""The Adam paper's MNIST multilayer-network comparison (REFERENCES.md §6,
Kingma & Ba 2015 §6.2, figure 2).

    research sweep adam_mnist --launcher population --seeds 3 --set data.dir=../shared/data
    research table adam_mnist

784-1000-1000-10 ReLU with dropout, batch 128, cross-entropy; AdaGrad,
RMSProp, SGD with Nesterov momentum (0.9), AdaDelta (Zeiler's decay 0.95,
eps 1e-6) and Adam (lr 1e-3, b1 0.9, b2 0.999, eps 1e-8 are the paper's
defaults), each over a grid of learning rates half a decade apart: three,
and a fourth for RMSProp and Adam, whose best rate was 1e-3, the end of
their first grids.
The paper does not give its dropout rates or its initialization: 0.2 at the
input and 0.5 in the hidden layers (Srivastava et al.'s), He-normal weights.

Published as a figure: Adam reaches the lowest training cost. Accept: the
same ordering of final training cost for the tuned optimizers, each at the
learning rate of its grid with the lowest mean final training cost. The paper
trains for 200 epochs; the budget here is EPOCHS, for a 2-core CPU.
"""

import math

import numpy as np

from research import results
from research.config import base_config
from research.registry import register
from research.search import Choice
from research.tables import markdown_table, mean_std

EPOCHS = 5
# name -> (the keys that make the optimizer, its learning-rate grid).
OPTIMIZERS = {
    'AdaGrad': ({'optimizer.name': 'adagrad'}, (3e-3, 1e-2, 3e-2)),
    'RMSProp': ({'optimizer.name': 'rmsprop'}, (1e-4, 3e-4, 1e-3, 3e-3)),
    'SGD Nesterov': ({'optimizer.name': 'nesterov'}, (1e-2, 3e-2, 1e-1)),
    'AdaDelta': ({'optimizer.name': 'adadelta', 'optimizer.hparams.decay': 0.95,
                  'optimizer.hparams.eps': 1e-6}, (0.3, 1.0, 3.0)),
    'Adam': ({'optimizer.name': 'adam'}, (1e-4, 3e-4, 1e-3, 3e-3)),
}


def option_name(optimizer: str, learning_rate: float) -> str:
  return f'{optimizer}, lr {learning_rate:g}'


OPTIONS = {option_name(name, lr): {**keys, 'optimizer.learning_rate': lr}
           for name, (keys, grid) in OPTIMIZERS.items() for lr in grid}


def _overrides(option: str) -> tuple[str, ...]:
  return results.format_overrides(OPTIONS[option])


def _records_of(records, option: str) -> list[dict]:
  # An option's keys are a subset of no other option's: AdaDelta's rates are
  # not in RMSProp's grid, so its decay and eps keys need not be matched away.
  return [r for r in results.finished_holding(records, _overrides(option))
          if 'train/loss' in (r.get('final') or {})]


def _last_epoch_training_loss(record) -> float | None:
  """The mean minibatch loss of the last epoch, in training mode (dropout on)."""
  rows = [row for row in results.trial_metrics(record) if 'train/loss' in row]
  return rows[-1]['train/loss'] if rows else None


def tuned(records) -> dict[str, tuple[float, list[dict], list[str], str]]:
  """optimizer -> (its best learning rate, that rate's records, each rate of
  the grid as text with the chosen one in bold, and ' (edge of grid)' where
  the chosen rate is at an end of the grid, else '')."""
  out = {}
  for name, (_, grid) in OPTIMIZERS.items():
    costs, cells = {}, []
    for lr in grid:
      runs = _records_of(records, option_name(name, lr))
      finite = [r['final']['train/loss'] for r in runs
                if math.isfinite(r['final']['train/loss'])]
      if finite:
        costs[lr] = (float(np.mean(finite)), runs)
      cells.append((lr, f'{float(np.mean(finite)):.4f}' if finite else 'not run or diverged'))
    if not costs:
      continue
    best = min(costs, key=lambda lr: costs[lr][0])
    edge = ' (edge of grid)' if best in (grid[0], grid[-1]) else ''
    text = [f'**{lr:g}: {c}**' if lr == best else f'{lr:g}: {c}' for lr, c in cells]
    out[name] = (best, costs[best][1], text, edge)
  return out


def report(inputs) -> str:
  best = tuned(inputs.records)
  rows, means = [], {}
  for name, (lr, runs, grid_text, edge) in best.items():
    final = [r['final']['train/loss'] for r in runs]
    training = [v for v in map(_last_epoch_training_loss, runs) if v is not None]
    means[name] = float(np.mean(final))
    rows.append([name, f'{lr:g}{edge}', str(len(runs)), mean_std(final, scale=1, digits=4),
                 mean_std(training, scale=1, digits=4) if training else '—',
                 mean_std([r['final']['test/accuracy'] for r in runs]),
                 '; '.join(grid_text)])
  order = sorted(means, key=means.get)
  seeds = min((int(r[2]) for r in rows), default=0)
  lowest = bool(order) and order[0] == 'Adam' and len(order) == len(OPTIMIZERS)
  per_seed = _adam_lowest_per_seed(best)
  return '\n\n'.join([
      '## Against REFERENCES.md §6',
      'Each optimizer at the learning rate of its grid with the lowest mean final '
      'training cost. Training cost: the cross-entropy on all 60,000 training '
      'images in evaluation mode (no dropout) at the end; beside it the mean '
      'minibatch loss of the last epoch in training mode (dropout on), the '
      'objective the optimizers descend. Mean ± std over seeds.',
      markdown_table(['optimizer', 'best lr', 'seeds', 'final training cost',
                      'last epoch, training mode', 'test acc. %',
                      'mean final training cost per lr of the grid'], rows,
                     align='lrrrrrl'),
      f'Ordering of the final training cost, lowest first: {" < ".join(order) or "—"}.',
      f'Adam lowest for each seed: {per_seed}.',
      f'**Adam reaches the lowest final training cost of the {len(OPTIMIZERS)} tuned '
      f'optimizers ({seeds} seeds; ≥ 3 needed): '
      f'{"yes" if lowest and seeds >= 3 else "NO"}.**',
  ])


def _adam_lowest_per_seed(best) -> str:
  by_seed: dict[int, dict[str, float]] = {}
  for name, (_, runs, _, _) in best.items():
    for r in runs:
      by_seed.setdefault(r['seed'], {})[name] = r['final']['train/loss']
  verdicts = [f'seed {seed}: {"yes" if min(costs, key=costs.get) == "Adam" else "no"}'
              for seed, costs in sorted(by_seed.items()) if len(costs) == len(OPTIMIZERS)]
  return ', '.join(verdicts) or '—'


@register('adam_mnist',
          description='The Adam paper\'s MNIST MLP (2x1000 ReLU, dropout, batch 128): AdaGrad, '
                      'RMSProp, SGD Nesterov, AdaDelta, Adam, each over 3-4 learning rates '
                      '(needs the MNIST files)',
          reference='REFERENCES.md §6: Adam reaches the lowest final training cost of the tuned '
                    'optimizers, over >= 3 seeds',
          axes={'optimizer': Choice(OPTIONS)},
          report=report)
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.hidden = (1000, 1000)
  c.model.activation = 'relu'
  c.model.init = 'he_normal'
  c.model.dropout = 0.5
  c.model.input_dropout = 0.2
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = EPOCHS
  c.train.monitor = ''  # the criterion is the training cost: no dev split
  # Only the end is compared: evaluating the 60,000 training images every
  # epoch would cost a fifth of the budget.
  c.train.eval_every_epochs = EPOCHS
  c.train.checkpoint_every_epochs = EPOCHS
  return c
