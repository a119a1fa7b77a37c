"""Exploding gradients and clipping them by their global norm.

    research sweep gradient_clipping --launcher population --seeds 3
    research table gradient_clipping

MNIST-1D (1,000 training examples held out as dev), a deep plain MLP: ten
ReLU layers of 64 units, no residual connections, no normalization, weights
drawn N(0, 0.3^2), about 1.7 times He's scale, so every layer multiplies the
signal, forward and backward, by about 1.7: the first gradients are hundreds
of times too large. SGD with momentum 0.9 at three learning rates, with and
without `optimizer.grad_clip_norm = 1` (`research.optim.clip_by_global_norm`).
The lecture's claim: without clipping the run blows up; clipping the norm
keeps each step bounded and it trains.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

EPOCHS = 30


@register('gradient_clipping',
          description='Exploding gradients: a 10-layer plain ReLU MLP initialized at 1.7x He scale on MNIST-1D, SGD + momentum at 3 lrs, with and without global-norm clipping at 1',
          reference='the lecture: exploding gradients blow a run up; clipping the gradient norm prevents it',
          axes={'optimizer.grad_clip_norm': Discrete((0.0, 1.0)),
                'optimizer.learning_rate': Discrete((1e-3, 1e-2, 1e-1))})
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.dev_size = 1000
  c.model.hidden = (64,) * 10
  c.model.activation = 'relu'
  c.model.init = 'large_normal'
  c.model.init_std = 0.3
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 1e-2
  c.train.batch_size = 100
  c.train.num_epochs = EPOCHS
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = EPOCHS
  return c
