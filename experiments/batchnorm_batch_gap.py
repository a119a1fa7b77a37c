"""BatchNorm's train/test gap against the training batch size.

    research sweep batchnorm_batch_gap --launcher population --seeds 3
    research table batchnorm_batch_gap

MNIST-1D (500 training examples held out as dev), a 2 x 100 ReLU MLP with
BatchNorm before each ReLU, SGD with momentum 0.9 for a fixed 20 epochs at
batch sizes 2 to 512. The learning rate follows the linear scaling rule
(Goyal et al. 2017; `optimizer.reference_batch_size`): 0.02 x batch / 32, so
every batch size takes the same number of epochs at the same lr / batch,
i.e. about the same gradient-noise scale. The report restores each trained
network and evaluates it with BN's running averages (the normal evaluation)
and with the statistics of the evaluated batch itself, on the test set at
several test batch sizes, and on the training set at the training batch size
(what the network saw while it trained). The same network without BN, at
the same batch sizes and rates, is the control. The lecture's claim: BN degrades at
small batches because the batch statistics are noisy and differ from the
population's, so the network trained on one and evaluated on the other.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

BATCH_SIZES = (2, 4, 8, 16, 32, 128, 512)
EPOCHS = 20
REFERENCE_BATCH = 32
# BN before the ReLU, and the control without BN at the same batch sizes and
# rates: what small batches cost any network is not BN's doing.
PLACEMENTS = ('before', 'none')


@register('batchnorm_batch_gap',
          description='BatchNorm (before ReLU, 2x100 MLP, MNIST-1D) trained at batch 2..512 '
                      '(linear lr scaling, 20 epochs): running-average vs batch-statistic '
                      'accuracy, train and test',
          reference='the lecture: BN degrades at small batches, whose statistics are noisy and '
                    'differ from the population ones',
          axes={'train.batch_size': Discrete(BATCH_SIZES),
                'model.batchnorm': Discrete(PLACEMENTS)},
          report='experiments.batchnorm_batch_gap_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.dev_size = 500
  c.model.hidden = (100, 100)
  c.model.activation = 'relu'
  c.model.batchnorm = 'before'
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 0.02  # at REFERENCE_BATCH; scaled linearly
  c.optimizer.reference_batch_size = REFERENCE_BATCH
  c.train.batch_size = 32
  c.train.num_epochs = EPOCHS
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = EPOCHS
  return c
