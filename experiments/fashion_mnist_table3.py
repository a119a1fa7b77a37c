"""Fashion-MNIST paper, Table 3: scikit-learn's MLPClassifier rows
(REFERENCES.md §2, Xiao, Rasul & Vollgraf 2017).

    research sweep fashion_mnist_table3 --launcher population --seeds 5 --set data.dir=../shared/data
    research table fashion_mnist_table3

MLPClassifier with its defaults, as this project's config: Adam lr 1e-3
(b1 0.9, b2 0.999, eps 1e-8), batch 200, shuffled, up to 200 epochs, L2
alpha 1e-4 on the weights (scikit-learn adds 0.5 alpha ||W||^2 / batch to a
batch's mean loss: our `regularization.l2 = alpha / 200`), Glorot-uniform
kernels, inputs standardized with training-split statistics, and its stopping
rule: training stops when the epoch's training loss has not improved by
1e-4 for 10 epochs (`train.monitor=train/loss`, patience 10, min_delta 1e-4;
scikit-learn waits one epoch more). Differences left: scikit-learn also draws
the biases from the Glorot range (ours start at 0), and its epoch loss
includes the penalty. The paper reports the mean of 5 runs; accept: each cell
within ±1.0 point of it.
"""

from experiments import bands
from research import results
from research.config import base_config
from research.registry import register
from research.search import Choice, Discrete

NETWORKS = {
    '(100,), relu': {'model.hidden': (100,), 'model.activation': 'relu'},
    '(100, 10), relu': {'model.hidden': (100, 10), 'model.activation': 'relu'},
    '(100,), tanh': {'model.hidden': (100,), 'model.activation': 'tanh'},
    '(10,), relu': {'model.hidden': (10,), 'model.activation': 'relu'},
    '(10,), tanh': {'model.hidden': (10,), 'model.activation': 'tanh'},
}
DATASETS = ('fashion_mnist', 'mnist')
# Test accuracy (%) in the paper's Table 3: {network: (Fashion-MNIST, MNIST)}.
PUBLISHED = {
    '(100,), relu': (87.1, 97.2),
    '(100, 10), relu': (87.0, 97.2),
    '(100,), tanh': (86.8, 96.2),
    '(10,), relu': (84.8, 93.3),
    '(10,), tanh': (84.0, 92.1),
}
ALPHA, BATCH = 1e-4, 200


def _overrides(network: str, dataset: str) -> tuple[str, ...]:
  keys = {**NETWORKS[network], 'data.name': dataset}
  return results.format_overrides(keys)


def _published(network: str, dataset: str) -> float:
  return PUBLISHED[network][DATASETS.index(dataset)]


def report(inputs) -> str:
  targets = [bands.Target(f'{dataset}, {network}', _overrides(network, dataset),
                          f'{_published(network, dataset):.1f}% (mean of 5 runs)',
                          (_published(network, dataset) - 1.0,
                           _published(network, dataset) + 1.0))
             for dataset in DATASETS for network in NETWORKS]
  return bands.accept_section(inputs.records, targets, 'REFERENCES.md §2')


@register('fashion_mnist_table3',
          description='Fashion-MNIST paper Table 3: scikit-learn MLPClassifier defaults, 5 '
                      'networks x Fashion-MNIST / MNIST (needs the IDX files: --set data.dir=...)',
          reference='REFERENCES.md §2: each cell within ±1.0 point of the published mean of 5 runs',
          axes={'network': Choice(NETWORKS), 'data.name': Discrete(DATASETS)},
          published={' '.join(_overrides(n, d)): f'{_published(n, d):.1f}%'
                     for n in NETWORKS for d in DATASETS},
          report=report)
def get_config():
  c = base_config()
  c.data.name = 'fashion_mnist'
  c.data.normalization = 'standardize'
  c.model.hidden = (100,)
  c.model.activation = 'relu'
  c.model.init = 'xavier_uniform'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.regularization.l2 = ALPHA / BATCH
  c.train.batch_size = BATCH
  c.train.num_epochs = 200
  c.train.monitor = 'train/loss'
  c.train.monitor_mode = 'min'
  c.train.patience = 10
  c.train.min_delta = 1e-4
  c.train.checkpoint_every_epochs = 10
  return c
