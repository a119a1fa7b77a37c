"""Early stopping on a network that overfits: patience, the best checkpoint,
and what stopping would have given on another monitored metric.

    research sweep early_stopping --launcher population --seeds 3
    research table early_stopping

MNIST-1D with 1,000 of its 4,000 training examples held out as the dev set, a
wide 40-512-512-10 ReLU MLP (He init) without any regularization, Adam 1e-3,
batch 100, up to 100 epochs: the training loss goes to ~0 while the dev loss
turns up after about ten epochs. Every run keeps its best checkpoint by dev
accuracy (`train.monitor`); `train.patience` stops it after that many epochs
without a new best (0 trains to the end). Stopping does not change the
training before it, so the report replays other monitors and patiences on the
metrics of the runs that trained to the end (with the training loop's own
`Monitor`) and checks the replay against the runs that really stopped.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

PATIENCES = (0, 5, 20)
NUM_EPOCHS = 100


@register('early_stopping',
          description='Early stopping with patience 0 (train to the end) / 5 / 20 on dev accuracy, best checkpoint kept: an unregularized 512-512 MLP overfitting MNIST-1D (1,000 dev examples), Adam 1e-3, 100 epochs',
          reference='Prechelt 1998, "Early stopping - but when?"; the lectures: keep the checkpoint with the best dev metric',
          axes={'train.patience': Discrete(PATIENCES)},
          report='experiments.early_stopping_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.dev_size = 1000
  c.model.hidden = (512, 512)
  c.model.init = 'he_normal'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 100
  c.train.num_epochs = NUM_EPOCHS
  c.train.monitor = 'dev/accuracy'
  c.train.monitor_mode = 'max'
  c.train.checkpoint_every_epochs = NUM_EPOCHS
  return c
