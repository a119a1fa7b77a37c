"""Data quality I: test error against the fraction of corrupted training labels.

    research sweep label_noise --launcher population --seeds 3 --set data.dir=../shared/data
    research table label_noise

MNIST, a random subset of 5,000 training images (`data.train_size`) with
5,000 others held out as dev, a 784-256-10 ReLU MLP (He init, no
regularization), Adam 1e-3, batch 128, 100 epochs (evaluated every 4). `data.label_noise` replaces
0-50% of the training labels by a uniformly drawn OTHER class (symmetric
noise, research/data/corruption.py; the same corrupted examples for every
seed, nested across fractions); dev and test stay clean. Every run keeps its
best checkpoint by dev accuracy, so the table has both the model at the end
of training (no early stopping) and the one early stopping on the clean dev
set would pick.

The lecture's claims: networks are fairly robust to random label noise up to
a point (the clean signal outvotes the noise, which averages out); test error
grows with the noise; a network big enough to memorize fits the noisy labels
too if it is trained long enough, which costs test accuracy that early
stopping on clean dev data keeps.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

EXPERIMENT = 'label_noise'
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
EPOCHS = 100


@register(EXPERIMENT,
          description='Symmetric label noise on 0-50% of 5,000 MNIST training labels: train accuracy on the noisy labels, test error at the end and at the best dev checkpoint; 784-256-10 MLP, Adam 1e-3, 100 epochs (needs the MNIST files: --set data.dir=... or RESEARCH_DATA_DIR)',
          reference='the lecture: fairly robust to random label noise up to a point; test error grows with the noise; a memorizing net fits the noisy labels if trained long (early stopping on clean dev helps)',
          axes={'data.label_noise': Discrete(FRACTIONS)},
          report='experiments.label_noise_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.data.dev_size = 5000
  c.data.train_size = 5000
  c.model.hidden = (256,)
  c.model.activation = 'relu'
  c.model.init = 'he_normal'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = EPOCHS
  c.train.eval_every_epochs = 4
  c.train.monitor = 'dev/accuracy'
  c.train.monitor_mode = 'max'
  c.train.checkpoint_every_epochs = EPOCHS
  return c
