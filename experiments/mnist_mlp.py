"""The Keras `mnist_mlp` example (REFERENCES.md §3).

784-512-512-10 ReLU, dropout 0.2 after each hidden layer, RMSProp lr 1e-3
(rho 0.9, eps 1e-7 as Keras), batch 128, 20 epochs, pixels / 255, Glorot-uniform
kernels and zero biases (Keras's defaults). Published: 98.40% test accuracy.

    research sweep mnist_mlp --seeds 3 --set data.dir=../shared/data
    research table mnist_mlp
"""

from experiments import bands
from research.config import base_config
from research.registry import register

PUBLISHED = '98.40% ("98.40% test accuracy after 20 epochs")'


def report(inputs) -> str:
  return bands.accept_section(
      inputs.records, [bands.Target('784-512-512-10, dropout 0.2, RMSProp', (),
                                    PUBLISHED, (98.1, 98.7))],
      'REFERENCES.md §3')


@register('mnist_mlp', description='MNIST, the Keras mnist_mlp recipe (needs the MNIST files: --set data.dir=... or RESEARCH_DATA_DIR)',
          reference='REFERENCES.md §3: accept test accuracy 98.1-98.7%',
          published={'': PUBLISHED}, report=report)
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.hidden = (512, 512)
  c.model.activation = 'relu'
  c.model.init = 'xavier_uniform'
  c.model.dropout = 0.2
  c.optimizer.name = 'rmsprop'
  c.optimizer.learning_rate = 1e-3
  c.optimizer.hparams.decay = 0.9
  c.optimizer.hparams.eps = 1e-7
  c.train.batch_size = 128
  c.train.num_epochs = 20
  c.train.monitor = ''  # the example trains on all 60,000 and reports test
  return c
