"""Every optimizer on the MNIST MLP, each at its best learning rate from a small grid.

    python -m experiments.optimizers [--epochs 5] [--data-dir ../shared/data]

The model is `mnist_mlp`'s (784-512-512-10 ReLU, dropout 0.2, batch 128). Each
first-order optimizer trains once per learning rate of its grid; the rate with
the best dev accuracy (5,000 examples held out of the training split) is its
row. L-BFGS runs without dropout (its line search needs one deterministic
function per step): full-batch, and minibatch with every line-search
evaluation on the step's batch. Writes experiments/results/optimizers.md.
"""

import argparse
import dataclasses
import math
import pathlib
import sys
import time

from experiments.grid import Cell, command_line, run_cells
from research.config import base_config
from research.registry import register
from research.tables import markdown_table, provenance

RESULTS = pathlib.Path(__file__).resolve().parent / 'results'


@register('optimizers', description='MNIST MLP trained with each optimizer at its best learning rate (python -m experiments.optimizers for the table)',
          reference='table: experiments/results/optimizers.md')
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.data.dev_size = 5000
  c.model.hidden = (512, 512)
  c.model.init = 'xavier_uniform'
  c.model.dropout = 0.2
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = 5
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = 5
  return c


@dataclasses.dataclass(frozen=True)
class Row:
  label: str
  overrides: tuple[str, ...]
  learning_rates: tuple[float, ...]


ROWS = (
    Row('SGD', ('optimizer.name=sgd',), (0.1, 0.3, 1.0, 3.0)),
    Row('Momentum 0.9', ('optimizer.name=momentum',), (0.01, 0.03, 0.1, 0.3)),
    Row('Nesterov 0.9', ('optimizer.name=nesterov',), (0.01, 0.03, 0.1, 0.3)),
    Row('AdaGrad', ('optimizer.name=adagrad',), (0.003, 0.01, 0.03)),
    Row('RMSProp', ('optimizer.name=rmsprop',), (3e-4, 1e-3, 3e-3)),
    Row('Adam', ('optimizer.name=adam',), (3e-4, 1e-3, 3e-3)),
    Row('Adam, no bias correction', ('optimizer.name=adam', 'optimizer.hparams.bias_correction=false'),
        (3e-4, 1e-3, 3e-3)),
    Row('Nadam', ('optimizer.name=nadam',), (3e-4, 1e-3, 3e-3)),
    # The line search picks the step; the rate is its first trial.
    Row('L-BFGS, full batch', ('optimizer.name=lbfgs', 'model.dropout=0.0',
                               'train.batching=full', 'train.eval_every_epochs=25',
                               'train.checkpoint_every_epochs=50'), (1.0,)),
    Row('L-BFGS, minibatch 1024', ('optimizer.name=lbfgs', 'model.dropout=0.0',
                                   'train.batch_size=1024'), (1.0,)),
)
LBFGS_FULL_BATCH_STEPS = 100
TIME_NOTE = "the sum of all the grid's runs, data loading and compilation included"


def row_overrides(row: Row, learning_rate: float, epochs: int) -> tuple[str, ...]:
  overrides = (f'optimizer.learning_rate={learning_rate}', f'train.num_epochs={epochs}',
               *row.overrides)
  if 'train.batching=full' in row.overrides:
    # An epoch is one step here: give it the step budget instead.
    overrides += (f'train.num_epochs={LBFGS_FULL_BATCH_STEPS}',)
  return overrides


def run_row(row: Row, epochs: int, data_dir: str, seed: int, output_dir: str):
  """[(learning rate, summary or None where it diverged)] for the row's grid."""
  cells = [Cell(f'{row.label} lr={lr:g}', row_overrides(row, lr, epochs))
           for lr in row.learning_rates]
  results = run_cells('optimizers', cells, [seed],
                      common=[f'data.dir={data_dir}'] if data_dir else [],
                      output_dir=output_dir)
  return [(lr, results[cell.label][0]) for lr, cell in zip(row.learning_rates, cells)]


def best_trial(trials):
  done = [(lr, s) for lr, s in trials if s and math.isfinite(s['final'].get('dev/accuracy', math.nan))]
  if not done:
    return None, None
  return max(done, key=lambda t: t[1]['final']['dev/accuracy'])


def format_grid(trials, chosen_lr) -> str:
  cells = []
  for lr, s in trials:
    text = f'{lr:g}' if s else f'{lr:g} (diverged)'
    cells.append(f'**{text}**' if lr == chosen_lr else text)
  # A best rate at the end of its grid may not be the best rate: say so.
  on_edge = len(trials) > 1 and chosen_lr in (trials[0][0], trials[-1][0])
  return ', '.join(cells) + (' (edge of grid)' if on_edge else '')


def write_table(results, command: str, seed: int, epochs: int) -> str:
  # Every cell's own wall time, also for cells an earlier invocation trained.
  wall_s = sum(s['wall_time_s'] for _, trials in results for _, s in trials if s)
  rows = []
  for row, trials in results:
    lr, s = best_trial(trials)
    if s is None:
      rows.append((row.label, format_grid(trials, None), '—', '—', '—', '—', '—'))
      continue
    f = s['final']
    rows.append((row.label, format_grid(trials, lr), f"{f['train/loss']:.4f}",
                 f"{100 * f['dev/accuracy']:.2f}", f"{100 * f['test/accuracy']:.2f}",
                 s['steps'], f"{s['wall_time_s']:.0f}"))
  table = markdown_table(
      ['optimizer', 'learning-rate grid (chosen in bold)', 'final train loss',
       'dev acc. %', 'test acc. %', 'steps', 'wall time (s)'], rows, align='llrrrrr')
  text = f"""# Optimizers on the MNIST MLP

784-512-512-10 ReLU MLP (Glorot-uniform init, dropout 0.2 after each hidden layer),
MNIST pixels / 255, batch 128, {epochs} epochs, cross-entropy. 5,000 training
examples are held out as the dev set; each optimizer's learning rate is the one
of its grid with the best final dev accuracy. The train loss is the cross-entropy
over the 55,000 training examples in evaluation mode (no dropout) at the end.
L-BFGS runs without dropout, its line search choosing the step along the
two-loop direction (the rate is the first trial step): full-batch for
{LBFGS_FULL_BATCH_STEPS} steps (each sees all 55,000 examples), and on minibatches of
1,024 for {epochs} epochs. One seed per cell: differences under about 0.3 points of
test accuracy are within the 10,000-image test set's noise.

{table}

{provenance(command, wall_s, [seed], time_note=TIME_NOTE)}

Optimizer trajectories on 2-D surfaces (ill-conditioned quadratic, saddle,
Rosenbrock) are in [playground.md](playground.md):

![quadratic](figures/playground_ill_conditioned_quadratic.png)
![saddle](figures/playground_saddle.png)
![rosenbrock](figures/playground_rosenbrock.png)
"""
  return text


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--epochs', type=int, default=5)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--data-dir', default='', help='MNIST IDX directory (default: $RESEARCH_DATA_DIR)')
  parser.add_argument('--output-dir', default='runs', help='where the run directories go')
  parser.add_argument('--only', default='', help="';'-separated row labels to run, for a quick look (prints, writes nothing)")
  args = parser.parse_args(argv)
  started = time.perf_counter()
  only = {label.strip() for label in args.only.split(';') if label.strip()}
  unknown = only - {r.label for r in ROWS}
  if unknown:
    parser.error(f'unknown rows {sorted(unknown)}; rows: {[r.label for r in ROWS]}')
  rows = [r for r in ROWS if not only or r.label in only]
  results = []
  for row in rows:
    print(row.label, flush=True)
    results.append((row, run_row(row, args.epochs, args.data_dir, args.seed, args.output_dir)))
  command = command_line('experiments.optimizers', argv)
  text = write_table(results, command, args.seed, args.epochs)
  print(f'this invocation took {time.perf_counter() - started:.0f} s')
  if not args.only:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'optimizers.md').write_text(text)
    print(f'wrote {RESULTS / "optimizers.md"}')
  else:
    print(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
