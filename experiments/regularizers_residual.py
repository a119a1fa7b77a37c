"""Weight elimination and stochastic depth beside L2 and dropout, on a deep
residual MLP that overfits.

    research sweep regularizers_residual --launcher population --seeds 3
    research table regularizers_residual

The report (experiments/regularizers_residual_report.py) adds what each
regularizer did to the final weights.

MNIST-1D (4,000 training examples, 1,000 of them held out as dev), a
40-100-...-100-10 MLP with 5 hidden layers of 100 ReLU units, the last 4
residual blocks (PyTorch's default init), Adam at 1e-3, batch 100, 100
epochs: without regularization it fits its training set and stays far from
it on test. Rows: L2 (1/2 lambda ||W||^2), weight elimination (Weigend et al.
1991: lambda sum (w/w0)^2 / (1 + (w/w0)^2), L2-like on weights below w0 and
a constant lambda on those above, so it pushes small weights to 0 and leaves
large ones), stochastic depth (Huang et al. 2016: each residual branch
dropped with the rate in training, scaled by its keep probability at test),
dropout. The lecture's claims: each regularizer narrows the train/test gap;
stochastic depth regularizes a deep residual net.
"""

from experiments.common import mnist1d_residual_config
from research.registry import register
from research.search import Choice

EPOCHS = 100

REGULARIZERS = Choice({
    'none': {'regularization.l2': 0.0},
    'L2 1e-3': {'regularization.l2': 1e-3},
    'weight elimination 1e-4, w0 0.1': {
        'regularization.weight_elimination': 1e-4,
        'regularization.weight_elimination_scale': 0.1},
    'weight elimination 1e-3, w0 0.1': {
        'regularization.weight_elimination': 1e-3,
        'regularization.weight_elimination_scale': 0.1},
    'stochastic depth 0.1': {'model.stochastic_depth': 0.1},
    'stochastic depth 0.3': {'model.stochastic_depth': 0.3},
    'dropout 0.2': {'model.dropout': 0.2},
})


@register('regularizers_residual',
          description='L2, weight elimination, stochastic depth and dropout on a deep residual MLP that overfits: MNIST-1D, 5 x 100 ReLU (4 residual blocks), Adam, 100 epochs',
          reference='the lecture: weight elimination (Weigend et al. 1991) prunes small weights and keeps large ones; stochastic depth (Huang et al. 2016) regularizes deep residual nets; every regularizer narrows the train/test gap',
          axes={'regularizer': REGULARIZERS},
          report='experiments.regularizers_residual_report:report')
def get_config():
  c = mnist1d_residual_config(depth=5, dev_size=1000)
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 100
  c.train.num_epochs = EPOCHS
  c.train.monitor = ''  # the final model of each row
  c.train.checkpoint_every_epochs = EPOCHS
  return c
