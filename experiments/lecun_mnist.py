"""The classic fully-connected rows of LeCun's MNIST table (REFERENCES.md §7).

    research sweep lecun_mnist --seeds 3 --set data.dir=../shared/data
    research table lecun_mnist

Published: linear classifier 12.0% test error (LeCun et al. 1998); 2-layer
net, 800 hidden units, cross-entropy 1.6% (Simard et al. 2003); 3-layer net
500+150 hidden units 2.95% (LeCun et al. 1998). The papers' training details
(learning-rate schedules, MSE targets, epochs in the hundreds) are not all
stated; every row here uses one modern recipe: pixels / 255, He-normal ReLU
(the linear classifier has no hidden layer), Adam 1e-3, batch 128, 20
epochs, softmax cross-entropy; and the linear classifier once more with the
mean squared error of LeCun's 1998 setup. REFERENCES gives no accept band
for these rows: the table states the difference and the test-set noise.
"""

from experiments import bands
from research import results
from research.config import base_config
from research.registry import register
from research.search import Choice

# Each option names its loss, so that no option's overrides hold another's.
MODELS = {
    'linear classifier': {'model.hidden': (), 'loss.name': 'cross_entropy'},
    'linear classifier, MSE': {'model.hidden': (), 'loss.name': 'mse'},
    '2-layer, 800 HU': {'model.hidden': (800,), 'loss.name': 'cross_entropy'},
    '3-layer, 500+150 HU': {'model.hidden': (500, 150), 'loss.name': 'cross_entropy'},
}
PUBLISHED = {
    'linear classifier': '12.0% error (LeCun et al. 1998)',
    'linear classifier, MSE': '12.0% error (LeCun et al. 1998)',
    '2-layer, 800 HU': '1.6% error (Simard et al. 2003, cross-entropy)',
    '3-layer, 500+150 HU': '2.95% error (LeCun et al. 1998)',
}


def report(inputs) -> str:
  return bands.accept_section(
      inputs.records,
      [bands.Target(name, results.format_overrides(keys), PUBLISHED[name], None)
       for name, keys in MODELS.items()],
      'REFERENCES.md §7')


@register('lecun_mnist',
          description='LeCun\'s MNIST table, fully-connected rows: linear classifier (cross-entropy '
                      'and MSE), 784-800-10, 784-500-150-10; one modern recipe (needs the MNIST files)',
          reference='REFERENCES.md §7: 12.0% / 1.6% / 2.95% test error (no accept band)',
          axes={'model': Choice(MODELS)},
          published={' '.join(results.format_overrides(k)): PUBLISHED[n] for n, k in MODELS.items()},
          report=report)
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.activation = 'relu'
  c.model.init = 'he_normal'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = 20
  c.train.monitor = ''
  return c
