"""Picking a model from a sweep: one optimizing metric under satisficing
constraints, the lecture's single-number evaluation metric.

    research sweep model_selection --launcher population --seeds 2 --set data.dir=../shared/data
    research table model_selection

Fashion-MNIST (20,000 training images, 10,000 held out as dev), MLPs of one
or two hidden ReLU layers of 32, 128 or 512 units, Adam at 1e-3 for 10
epochs. The report (experiments/model_selection_report.py) picks a point by
mean dev accuracy alone, then subject to a parameter budget (a stand-in for
the memory or latency bound of a product), then subject also to a bound on
the dev false-positive rate of 'Shirt' (a product that must rarely call
something a shirt), with `research.model_selection`, and reads the test
accuracy of each pick only after it is chosen. The same picks from the
command line: `research select model_selection --require num_params<=110000
--require dev/fpr@Shirt<=0.031`.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

EPOCHS = 10
WIDTHS = (32, 128, 512)


@register('model_selection',
          description='Picking a model from a sweep by dev accuracy under satisficing bounds (parameters, a class\'s false-positive rate): Fashion-MNIST MLPs 1-2 x 32-512 units, Adam, 10 epochs',
          reference='the lecture: one optimizing metric, the others satisficing (good enough under a bound), to choose among models by a single number',
          axes={'model.hidden': Discrete(tuple((w,) * d for d in (1, 2) for w in WIDTHS))},
          report='experiments.model_selection_report:report')
def get_config():
  c = base_config()
  c.data.name = 'fashion_mnist'
  c.data.dev_size = 10000
  c.data.train_size = 20000
  c.model.hidden = (128,)
  c.model.activation = 'relu'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = EPOCHS
  c.train.monitor = ''  # the final model of each point
  c.train.checkpoint_every_epochs = EPOCHS
  return c
