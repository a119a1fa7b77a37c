"""The lecture's advice, head to head: Adam at a constant learning rate (the
default to start with) against SGD + momentum with cosine decay (what can do
better once tuned).

    research sweep adam_vs_sgd --launcher population --seeds 3 --set data.dir=../shared/data
    research table adam_vs_sgd

Fashion-MNIST (10,000 training images held out as dev), a 784-256-10 ReLU
MLP, batch 128, 15 epochs. Each recipe over a grid of three learning rates
half a decade apart; its best rate is picked by mean final dev accuracy,
and the table compares the two recipes' test accuracy there
(experiments/adam_vs_sgd_report.py).
"""

from research.config import base_config
from research.registry import register
from research.search import Choice

EPOCHS = 15
RECIPES = {
    'Adam, constant lr': ({'optimizer.name': 'adam'}, (3e-4, 1e-3, 3e-3)),
    'SGD + momentum 0.9, cosine': (
        {'optimizer.name': 'momentum', 'optimizer.schedule.name': 'cosine'},
        (1e-2, 3e-2, 1e-1)),
}


def option_name(recipe: str, learning_rate: float) -> str:
  return f'{recipe}, lr {learning_rate:g}'


OPTIONS = {option_name(name, lr): {**keys, 'optimizer.learning_rate': lr}
           for name, (keys, grid) in RECIPES.items() for lr in grid}


@register('adam_vs_sgd',
          description='The lecture\'s advice head to head: Adam at a constant lr vs SGD + momentum 0.9 with cosine decay, each at its best of 3 lrs by dev; Fashion-MNIST 784-256-10, 15 epochs',
          reference='the lecture: Adam (constant lr) is the default to start with; SGD + momentum with a decay schedule can do as well or better when tuned',
          axes={'recipe': Choice(OPTIONS)},
          report='experiments.adam_vs_sgd_report:report')
def get_config():
  c = base_config()
  c.data.name = 'fashion_mnist'
  c.data.dev_size = 10000
  c.model.hidden = (256,)
  c.model.activation = 'relu'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = EPOCHS
  c.train.monitor = ''  # the final model, as the recipes are compared
  c.train.checkpoint_every_epochs = EPOCHS
  return c
