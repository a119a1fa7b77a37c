"""BatchNorm with statistics that the gradient does not see (Ioffe & Szegedy
2015, §2): the lecture's warning that running averages used in training can
explode.

    python -m experiments.batchnorm_running_run --seeds 3
    research table batchnorm_running

MNIST-1D (1,000 training examples held out as dev), a 2 x 100 ReLU MLP with
BatchNorm before each ReLU and the Dense bias b kept in front of it
(`model.bias_before_bn`), plain SGD at lr 1, batch 100, 100 epochs. Three ways to normalize in training
(`model.batchnorm_train_stats`): 'batch' (the batch mean and variance,
differentiated through: ordinary BN), 'batch_no_grad' (the same numbers under
stop_gradient) and 'running' (the running averages). The first command trains
each mode as a population of seeds and logs, per epoch, the norms of the
pre-BN weights and biases and the magnitude of the running statistics (a plain
`research sweep` would train the same runs without that log); the second
writes experiments/results/batchnorm_running.md and its figure.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

TRAIN_STATS = ('batch', 'batch_no_grad', 'running')
EPOCHS = 100
# Where experiments/batchnorm_running_run.py logs each run's growth per epoch.
GROWTH_FILE = 'bn_growth.json'


@register('batchnorm_running',
          description='BatchNorm normalizing by statistics hidden from the gradient (stop_gradient, '
                      'running averages) on MNIST-1D: pre-BN bias / weight growth '
                      '(python -m experiments.batchnorm_running_run)',
          reference='Ioffe & Szegedy 2015 §2 and the lecture: statistics computed outside the '
                    'gradient let a parameter grow without bound and the model blow up',
          axes={'model.batchnorm_train_stats': Discrete(TRAIN_STATS)},
          report='experiments.batchnorm_running_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.dev_size = 1000
  c.model.hidden = (100, 100)
  c.model.activation = 'relu'
  c.model.batchnorm = 'before'
  c.model.bias_before_bn = True
  c.optimizer.name = 'sgd'
  # Large, so that a drift the gradient cannot see shows within minutes.
  c.optimizer.learning_rate = 1.0
  c.train.batch_size = 100
  c.train.num_epochs = EPOCHS
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = EPOCHS
  return c
