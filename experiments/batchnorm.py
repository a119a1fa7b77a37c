"""BatchNorm: placement x batch size x learning rate, and running vs batch
statistics at evaluation.

    python -m experiments.batchnorm [--data-dir ../shared/data] [--seeds 2]

The network of Ioffe & Szegedy §4.1: MNIST, 3 hidden layers of 100 sigmoid
units, small Gaussian initialization, cross-entropy, plain SGD. Writes
experiments/results/batchnorm.md. The paper's own comparison (REFERENCES.md
§5) is the registered experiment `batchnorm_mnist`.
"""

import argparse
import pathlib
import sys


from experiments.grid import (Cell, command_line, run_cells, total_wall_time,
                              values, write)
from research.config import base_config
from research.registry import register
from research.tables import markdown_table, mean_std, provenance

RESULTS = pathlib.Path(__file__).resolve().parent / 'results'


@register('batchnorm', description='BatchNorm on a 3x100 sigmoid MLP: placement, batch size, learning rate, eval statistics (python -m experiments.batchnorm)',
          reference='table: experiments/results/batchnorm.md (REFERENCES.md §5 is batchnorm_mnist)')
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.data.dev_size = 5000
  c.model.hidden = (100, 100, 100)
  c.model.activation = 'sigmoid'
  c.model.init = 'small_normal'
  c.model.init_std = 0.01
  c.optimizer.name = 'sgd'
  c.optimizer.learning_rate = 0.5
  c.train.batch_size = 60
  c.train.num_epochs = 3
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = 10
  c.train.eval_batch_size = 1000
  return c


PLACEMENTS = ('none', 'before', 'after')
BATCH_SIZES = (16, 128, 1024)
LEARNING_RATES = (0.1, 1.0)
GRID_EPOCHS = 3

# Evaluation with the statistics of each evaluated chunk: chunk sizes that
# divide every split (55,000 / 5,000 / 10,000), so no chunk is padded.
EVAL_STATISTICS = (
    Cell('running statistics (the default)', ('train.bn_eval=running',)),
    Cell('batch statistics, chunks of 1000', ('train.bn_eval=batch', 'train.eval_batch_size=1000')),
    Cell('batch statistics, chunks of 50', ('train.bn_eval=batch', 'train.eval_batch_size=50')),
)


def grid_cells():
  return [Cell(f'{p} | {b} | {lr:g}', (f'model.batchnorm={p}', f'train.batch_size={b}',
                                        f'optimizer.learning_rate={lr}',
                                        f'train.num_epochs={GRID_EPOCHS}'))
          for p in PLACEMENTS for b in BATCH_SIZES for lr in LEARNING_RATES]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data-dir', default='')
  parser.add_argument('--seeds', type=int, default=2)
  parser.add_argument('--output-dir', default='runs')
  args = parser.parse_args(argv)
  common = [f'data.dir={args.data_dir}'] if args.data_dir else []

  grid = run_cells('batchnorm', grid_cells(), range(args.seeds), common=common,
                   output_dir=args.output_dir)
  stats = run_cells('batchnorm', EVAL_STATISTICS, range(args.seeds),
                    common=[*common, 'model.batchnorm=before', 'train.batch_size=16',
                            'optimizer.learning_rate=1.0', f'train.num_epochs={GRID_EPOCHS}'],
                    output_dir=args.output_dir)

  grid_rows = []
  for cell in grid_cells():
    p, b, lr = cell.label.split(' | ')
    runs = grid[cell.label]
    grid_rows.append((p, b, lr, mean_std(values(runs, 'train/accuracy')),
                      mean_std(values(runs, 'test/accuracy')),
                      sum(r is None for r in runs) or ''))
  stats_rows = [(cell.label, mean_std(values(stats[cell.label], 'test/accuracy')))
                for cell in EVAL_STATISTICS]
  command = command_line('experiments.batchnorm', argv)
  wall = total_wall_time(grid) + total_wall_time(stats)
  text = f"""# BatchNorm on a deep sigmoid MLP

MNIST (pixels / 255, 5,000 training examples held out as dev), 784-100-100-100-10
sigmoid MLP, weights N(0, 0.01^2), cross-entropy, plain SGD: the network of
Ioffe & Szegedy (2015) §4.1. "before" normalizes each hidden layer's
pre-activation (the paper's placement), "after" its sigmoid output.
Accuracies are mean ± std over seeds, in evaluation mode at the end.

## Placement x batch size x learning rate ({GRID_EPOCHS} epochs each, {args.seeds} seeds)

{markdown_table(['BatchNorm', 'batch', 'lr', 'train acc. %', 'test acc. %', 'diverged runs'], grid_rows, align='lrrrrr')}

## Evaluating with running or batch statistics

BatchNorm before the sigmoid, trained with batch 16 and lr 1.0 for {GRID_EPOCHS} epochs;
the same trained networks evaluated three ways.

{markdown_table(['evaluation', 'test acc. %'], stats_rows, align='lr')}

The paper's own comparison over 50,000 steps (REFERENCES.md §5) is
[batchnorm_mnist.md](batchnorm_mnist.md).

{provenance(command, wall, list(range(args.seeds)), time_note="the sum of all the runs")}
"""
  write(RESULTS / 'batchnorm.md', text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
