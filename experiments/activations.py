"""Every activation of the lectures in a deep, narrow MLP, plain and residual:
where gradients vanish, and whether the network then trains.

    research sweep activations --seeds 2
    research table activations

MNIST-1D (generated locally, standardized), 40-(32 x 16)-10 MLP, LeCun-normal
init for every activation (N(0, 1 / fan_in): what differs is the
activation), plain SGD with momentum, so that the gradient's scale is the
step's scale (Adam would divide it out), clipped to global norm 1 so that a
network whose signal explodes (residual sums, linear layers) takes bounded
steps instead of diverging at once. With `model.residual`, hidden layers
2..16 (those of equal input and output width) compute h + act(W h + b).

The unit is a Choice axis: an option per activation name, and maxout, which
is not an activation name but `model.maxout_pieces` (the Dense has k outputs
per unit and their max replaces the activation; research/models.check_maxout
accepts it beside 'relu', the default, which it then ignores). It is crossed
with `model.residual`: 9 units x 2 = 18 points. A trial's point is its
overrides, e.g. model.activation='relu' model.maxout_pieces=2
model.residual=True; the report names each point by its option.
"""

from research.config import base_config
from research.registry import register
from research.search import Choice, Discrete, config_keys

# research/activations.NAMES in the lectures' order.
ACTIVATIONS = ('linear', 'binary_step', 'sigmoid', 'tanh', 'relu',
               'leaky_relu', 'elu', 'softplus')
MAXOUT_PIECES = 2
MAXOUT = f'maxout (k={MAXOUT_PIECES})'
UNITS = Choice({
    **{name: {'model.activation': name} for name in ACTIVATIONS},
    # 'relu' is what check_maxout accepts beside maxout; the max replaces it.
    MAXOUT: {'model.activation': 'relu', 'model.maxout_pieces': MAXOUT_PIECES},
})
RESIDUAL = Discrete((False, True))
AXES = {'unit': UNITS, 'model.residual': RESIDUAL}
KEYS = config_keys(AXES)
DEPTH, WIDTH = 16, 32


@register('activations',
          description='Every activation (linear, binary step, sigmoid, tanh, ReLU, leaky ReLU, '
                      f'ELU, softplus) and {MAXOUT} units in a 16-hidden-layer MLP of width 32 '
                      'on MNIST-1D, plain and residual: gradient norm per layer at init, '
                      'accuracy after SGD',
          reference='vanishing gradients: saturating activations lose the gradient with depth '
                    'in a plain net, not in a residual one',
          axes=AXES, report='experiments.activations_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.normalization = 'standardize'
  c.data.dev_size = 500
  c.model.hidden = (WIDTH,) * DEPTH
  c.model.init = 'lecun_normal'
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 0.05
  c.optimizer.hparams.momentum = 0.9
  c.optimizer.grad_clip_norm = 1.0
  c.train.batch_size = 100
  c.train.num_epochs = 40
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = 40
  return c
