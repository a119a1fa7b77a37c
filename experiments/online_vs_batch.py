"""Online vs minibatch vs full-batch learning, with the lecture's redundancy
example: a training set of 10 copies of the same 100 examples.

    research sweep online_vs_batch --launcher population --seeds 3
    research table online_vs_batch

MNIST-1D (1,000 training examples held out as dev), the quickstart's residual
MLP (40-100-100-10, PyTorch init), plain SGD. Three training sets, all
nested (`data.train_size` draws nested subsets): '100 x 10 copies' (the 100
examples repeated, `data.train_repeats=10`), '1000 unique' (the 1,000 they
sit in) and '100 once'. Four ways to batch: online (batch 1), minibatches of
10 and 100, and full batch (`train.batching='full'`: one step on the whole
split per epoch; on '100 once' it is the same run as minibatch 100). Every
run sees the same budget of examples, EXAMPLES_SEEN (30 passes over a 1,000
example set, 300 over '100 once'), so the curves compare at equal numbers of
gradient evaluations. The learning rate is swept over LEARNING_RATES at
every point (one vmapped population per point); the report keeps each
point's rate with the best mean final dev accuracy
(experiments/online_vs_batch_report.py).
"""

from experiments.common import mnist1d_residual_config
from research.registry import register
from research.search import Choice, Discrete

EXAMPLES_SEEN = 30_000  # the budget of every run: examples processed
UNIQUE = 100  # the redundancy example's unique examples
COPIES = 10
# Evaluations on dev / test per run: every 1,000 examples seen.
EVAL_EVERY_EXAMPLES = 1000
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def training_set(size: int, repeats: int) -> dict:
  """The overrides of a training set of `size` unique examples x `repeats`,
  with the epochs that spend EXAMPLES_SEEN on it."""
  examples = size * repeats
  return {'data.train_size': size, 'data.train_repeats': repeats,
          'train.num_epochs': EXAMPLES_SEEN // examples,
          'train.eval_every_epochs': EVAL_EVERY_EXAMPLES // examples,
          'train.checkpoint_every_epochs': EXAMPLES_SEEN // examples}


TRAINING_SETS = {
    f'{UNIQUE} x {COPIES} copies': training_set(UNIQUE, COPIES),
    f'{UNIQUE * COPIES} unique': training_set(UNIQUE * COPIES, 1),
    f'{UNIQUE} once': training_set(UNIQUE, 1),
}
BATCHINGS = {
    'online (batch 1)': {'train.batching': 'epoch', 'train.batch_size': 1},
    'minibatch 10': {'train.batching': 'epoch', 'train.batch_size': 10},
    'minibatch 100': {'train.batching': 'epoch', 'train.batch_size': 100},
    'full batch': {'train.batching': 'full'},
}
AXES = {'training set': Choice(TRAINING_SETS),
        'batching': Choice(BATCHINGS),
        'optimizer.learning_rate': Discrete(LEARNING_RATES)}


@register('online_vs_batch',
          description='Online (batch 1) vs minibatch 10 / 100 vs full-batch SGD at an equal 30,000 examples seen, on 100 MNIST-1D examples x 10 copies, 1,000 unique, and 100 once; lr best of 7 by dev per point',
          reference='the lecture: full batch takes one exact step per pass; online learning takes N noisy steps and, on redundant data, learns far faster per example; 10 copies of 100 examples make full batch waste 90% of its work; minibatches are the practical compromise',
          axes=AXES, report='experiments.online_vs_batch_report:report')
def get_config():
  c = mnist1d_residual_config(dev_size=1000)
  c.optimizer.name = 'sgd'
  c.optimizer.learning_rate = 0.1
  c.train.batch_size = 1
  c.train.monitor = ''  # the model at the end of the budget counts
  for key, value in {**TRAINING_SETS[f'{UNIQUE} x {COPIES} copies'],
                     **BATCHINGS['online (batch 1)']}.items():
    section, name = key.split('.')
    c[section][name] = value
  return c
