"""Weight initialization x activation in a deep MLP: what each layer sees at
initialization, and whether the network then trains.

    research sweep initialization --seeds 2 --set data.dir=../shared/data/mnist
    research table initialization

MNIST (pixels / 255, 5,000 training examples held out as dev), 784-(256 x 6)-10
MLP, plain SGD with momentum, so that the scale the initialization gives the
gradients is the scale of the steps (Adam would divide it out). Four inits
(N(0, 0.01^2), N(0, 1), Xavier/Glorot normal, He normal) x three activations.
The report adds, for each point, the per-layer statistics of its seed-0
network at initialization on a fixed batch of 1,000 training images.
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

INITS = ('small_normal', 'large_normal', 'xavier_normal', 'he_normal')
ACTIVATIONS = ('sigmoid', 'tanh', 'relu')
AXES = {'model.init': Discrete(INITS), 'model.activation': Discrete(ACTIVATIONS)}
DEPTH, WIDTH = 6, 256


@register('initialization',
          description='Initialization (small / large normal, Xavier, He) x activation '
                      '(sigmoid, tanh, ReLU) in a 6-hidden-layer MLP on MNIST: per-layer '
                      'statistics at init and accuracy after 3 epochs of SGD',
          reference='Glorot & Bengio 2010; He et al. 2015: activations and gradients keep '
                    'their scale with depth only under the matching init',
          axes=AXES, report='experiments.initialization_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.data.dev_size = 5000
  c.model.hidden = (WIDTH,) * DEPTH
  c.model.activation = 'relu'
  c.model.init = 'he_normal'
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 0.01
  c.optimizer.hparams.momentum = 0.9
  c.train.batch_size = 128
  c.train.num_epochs = 3
  c.train.eval_batch_size = 5000
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = 3
  return c
