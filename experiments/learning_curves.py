"""Data quantity: learning curves, train and dev error against the training-set
size N, and the bias / variance reading of them.

    research sweep learning_curves --launcher population --seeds 3 --set data.dir=../shared/data
    research table learning_curves

MNIST with 10,000 training images held out as dev; N (`data.train_size`, a
nested random subset of the other 50,000) on a geometric grid from 250 to all
50,000. Two models, so that both readings appear: a linear softmax classifier
(784-10, too small for MNIST: high bias) and a 784-256-10 ReLU MLP (He init,
no regularization: high variance at small N). Adam 1e-3, batch 128. Every N
gets the same budget of at least 2,000 updates and at least 10 epochs (fewer
updates at small N would confound "less data" with "less training"); the
model at the end of training is measured (no early stopping).

The lecture's reading: a large gap between train and dev error is variance
(overfitting), and more data helps; train and dev errors both high and
converging to each other is bias (underfitting), and more data will not help
(a bigger model will). The report applies `research.metrics.
error_decomposition` at each N (dev is drawn from the training distribution,
so it serves as train-dev and the data-mismatch term is zero).
"""

import math

from research.config import base_config
from research.registry import register
from research.search import Choice

EXPERIMENT = 'learning_curves'
SIZES = (250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 50000)
BATCH_SIZE = 128
MIN_STEPS = 2000
MIN_EPOCHS = 10
EVALUATIONS = 10  # dev / test evaluations per run, whatever its epochs
MODELS = {
    'linear (784-10)': {'model.hidden': ()},
    'MLP 784-256-10': {'model.hidden': (256,)},
}


def epochs_for(size: int) -> int:
  """Epochs giving at least MIN_STEPS updates and MIN_EPOCHS passes (an
  epoch is size // BATCH_SIZE steps: the last partial batch is dropped)."""
  return max(MIN_EPOCHS, math.ceil(MIN_STEPS / (size // BATCH_SIZE)))


def size_name(size: int) -> str:
  return f'N={size}'


def size_options() -> dict[str, dict]:
  options = {}
  for n in SIZES:
    epochs = epochs_for(n)
    options[size_name(n)] = {
        'data.train_size': n, 'train.num_epochs': epochs,
        'train.eval_every_epochs': max(1, epochs // EVALUATIONS),
        'train.checkpoint_every_epochs': epochs}
  return options


@register(EXPERIMENT,
          description='Learning curves on MNIST: train and dev error against the training-set size N (250 to 50,000, geometric), a linear classifier and a 784-256-10 MLP, Adam 1e-3, >= 2,000 updates per N; the bias / variance reading at each N (needs the MNIST files: --set data.dir=... or RESEARCH_DATA_DIR)',
          reference='the lecture: a large train-dev gap is variance (more data helps); both errors high and converging is bias (more data will not help)',
          axes={'model': Choice(MODELS), 'train size': Choice(size_options())},
          report='experiments.learning_curves_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.data.dev_size = 10000
  c.data.train_size = SIZES[-1]
  c.model.hidden = (256,)
  c.model.activation = 'relu'
  c.model.init = 'he_normal'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = BATCH_SIZE
  c.train.num_epochs = epochs_for(SIZES[-1])
  c.train.monitor = ''  # the model at the end of training
  c.train.checkpoint_every_epochs = c.train.num_epochs
  return c
