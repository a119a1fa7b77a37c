"""Random against grid search at an equal budget (Bergstra & Bengio 2012).

    research sweep search --search grid --launcher population
    research sweep search --search random --trials 9 --search-seed 1 --launcher population
    research sweep search --search random --trials 9 --search-seed 2 --launcher population
    research sweep search --search random --trials 9 --search-seed 3 --launcher population
    research table search

MNIST-1D (1,000 training examples held out as dev), the quickstart's residual
MLP, Adam, batch 100, 40 epochs. Two axes: the learning rate, log-uniform on
[1e-4, 1e-1], which matters; decoupled weight decay, log-uniform on
[1e-6, 1e-5], which at these rates shrinks the weights by ~1e-4 over a whole
run and so does not (the report checks it). The 3 x 3 grid is 9 trials that
try only 3 learning rates (the centres of three equal log-thirds of the
range); 9 random trials try 9. Each random search is a sweep of its own, with
its own `--search-seed`; the report groups the trials by the sweep records
that list them (a sweep run again, which skips its finished trials, is still
one search) and compares each random search's best with the grid's. Its §8
section simulates many more searches on the pool of every trial. Population
launcher: every trial of a sweep is one vmapped program (learning rate and
weight decay are traced).
"""

from experiments.common import mnist1d_residual_config
from research.registry import register
from research.search import LogUniform

LR_RANGE = (1e-4, 1e-1)
WD_RANGE = (1e-6, 1e-5)
# Centres of three equal thirds of each range in log space.
LR_GRID = tuple(10.0 ** e for e in (-3.5, -2.5, -1.5))
WD_GRID = tuple(10.0 ** e for e in (-6.0, -5.5, -5.0))
AXES = {
    'optimizer.learning_rate': LogUniform(*LR_RANGE, grid=LR_GRID),
    'optimizer.weight_decay': LogUniform(*WD_RANGE, grid=WD_GRID),
}
NUM_EPOCHS = 40
SELECT_BY = 'dev/accuracy'
# (q, n) checked against 1 - (1 - q)^n; the published pair is (0.05, 60).
CHECKS = ((0.05, 9), (0.05, 60), (0.10, 9), (0.01, 60))
PUBLISHED = {(0.05, 60): 0.95}


@register('search',
          description='Random vs grid search at an equal budget of 9 trials: a 3 x 3 grid against 3 random searches (sweeps with --search-seed 1, 2, 3) over learning rate (matters) x weight decay in [1e-6, 1e-5] (does not); MNIST-1D residual MLP, Adam, 40 epochs, selected by dev accuracy',
          reference='REFERENCES.md §8 (Bergstra & Bengio 2012): P(at least one of n random trials in the best fraction q) = 1 - (1 - q)^n; q = 5%, n = 60 -> 0.95',
          axes=AXES, report='experiments.search_report:report')
def get_config():
  c = mnist1d_residual_config(dev_size=1000)
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-2
  c.optimizer.weight_decay = 1e-6
  c.train.batch_size = 100
  c.train.num_epochs = NUM_EPOCHS
  c.train.monitor = ''  # selection is by the final dev accuracy
  c.train.checkpoint_every_epochs = NUM_EPOCHS
  return c
