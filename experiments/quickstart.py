"""MNIST-1D with the authors' MLP recipe (REFERENCES.md §1).

Greydanus & Kobak's notebooks: h1 = relu(W1 x) 40->100, h = h1 + relu(W2 h1),
out 100->10; PyTorch's default init; Adam lr 1e-2; batch 100 taken in order
without shuffling; 6000 steps (= 150 epochs of 4000 examples); cross-entropy;
the raw generated features. Published test accuracy 64.6% / 65.1% (README 68%).
"""

from research.config import base_config
from research.registry import register
from research.search import LogUniform


@register('quickstart', description='MNIST-1D, the authors\' residual MLP recipe (generated locally, ~1 min on 2 CPU cores)',
          reference='REFERENCES.md §1: accept test accuracy 62.5-68.0% (mean of 3 seeds), train >= 98%',
          # `research sweep quickstart`: the learning rate around the authors' 1e-2.
          axes={'optimizer.learning_rate': LogUniform(3e-3, 3e-2, grid=(3e-3, 1e-2, 3e-2))})
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.normalization = 'none'
  c.model.hidden = (100, 100)
  c.model.residual = True
  c.model.activation = 'relu'
  c.model.init = 'pytorch'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-2
  c.train.batch_size = 100
  c.train.num_epochs = 150
  c.train.shuffle = False
  c.train.checkpoint_every_epochs = 10
  c.train.monitor = ''  # no dev set in the authors' recipe
  return c
