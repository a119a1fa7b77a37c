"""Dropout on permutation-invariant MNIST (REFERENCES.md §4, Srivastava et al.
2014, Tables 2 and 9).

The full budget, every row of both tables (a GPU job: 10 points x 3 seeds of
up to 1,000 epochs, 600,000 updates each):

    research sweep dropout_mnist --launcher population --seeds 3 --set data.dir=../shared/data
    research table dropout_mnist

The budget of a 2-core CPU, within an hour: the two rows the accept band
judges (Table 9's net with L2 only, and with dropout + max-norm), one seed,
CPU_EPOCHS epochs:

    research sweep dropout_mnist_cpu --seeds 1 --set data.dir=../shared/data
    research table dropout_mnist_cpu

The paper's stated setup, not tuned again here: keep-probability 0.8 at the
input and 0.5 in the hidden layers, SGD with momentum 0.95 (the paper's final
value; it ramps momentum up from 0.5, and we hold it), max-norm c = 2 on each
unit's incoming weights, batch 100, all 60,000 training images, pixels / 255.
The learning rate decays to zero on a cosine over the budget, standing in for
the paper's exponential decay over many more epochs; L2 rows use 1e-4 x
||W||^2 / 2 and L1 1e-5 x ||W||_1, on weights only. Table 9's KL-sparsity row
has no penalty here and is not run.

Accept (at a reduced budget): dropout + max-norm <= 1.30% test error, and L2
only at least 0.3 points worse. On 10,000 test images one error rate near
1.3% is known to about ±0.22 points (95%): only differences of half a point
or more are beyond test-set noise.
"""

import dataclasses

from experiments import bands
from research import results
from research.config import base_config
from research.registry import register
from research.search import Choice
from research.tables import markdown_table

FULL_EPOCHS = 1000  # x 600 steps of batch 100 = 600,000 updates (the paper: up to 10^6)
CPU_EPOCHS = 100
L2, L1, MAX_NORM = 1e-4, 1e-5, 2.0
TABLE_9_NET = (1024, 1024, 2048)
ACCEPT_ERROR = 1.30  # %, dropout + max-norm
ACCEPT_GAP = 0.3  # points: L2 only at least this much worse


@dataclasses.dataclass(frozen=True)
class Row:
  table: str
  published_error: float  # %
  hidden: tuple[int, ...]
  activation: str = 'relu'
  dropout: bool = False
  l2: float = 0.0
  l1: float = 0.0
  max_norm: float = 0.0

  def keys(self) -> dict:
    """Every row sets the same keys, so no row's overrides hold another's."""
    return {'model.hidden': self.hidden, 'model.activation': self.activation,
            'model.dropout': 0.5 if self.dropout else 0.0,
            'model.input_dropout': 0.2 if self.dropout else 0.0,
            'regularization.l2': self.l2, 'regularization.l1': self.l1,
            'regularization.max_norm': self.max_norm}


ROWS = {
    'Table 2: standard net 2x800, logistic': Row('2', 1.60, (800, 800), 'sigmoid'),
    'Table 2: dropout 3x1024, logistic': Row('2', 1.35, (1024,) * 3, 'sigmoid', dropout=True),
    'Table 2: dropout 3x1024, ReLU': Row('2', 1.25, (1024,) * 3, dropout=True),
    'Table 2: dropout + max-norm 3x1024, ReLU': Row('2', 1.06, (1024,) * 3, dropout=True,
                                                    max_norm=MAX_NORM),
    'Table 2: dropout + max-norm 2x8192, ReLU': Row('2', 0.95, (8192, 8192), dropout=True,
                                                    max_norm=MAX_NORM),
    'Table 9: L2': Row('9', 1.62, TABLE_9_NET, l2=L2),
    'Table 9: L2 + L1': Row('9', 1.60, TABLE_9_NET, l2=L2, l1=L1),
    'Table 9: max-norm': Row('9', 1.35, TABLE_9_NET, max_norm=MAX_NORM),
    'Table 9: dropout + L2': Row('9', 1.25, TABLE_9_NET, dropout=True, l2=L2),
    'Table 9: dropout + max-norm': Row('9', 1.05, TABLE_9_NET, dropout=True,
                                       max_norm=MAX_NORM),
}
CPU_ROWS = ('Table 9: L2', 'Table 9: dropout + max-norm')
NOT_RUN = {'Table 9: L2 + KL-sparsity': '1.55% error (Table 9): no KL-sparsity penalty here'}


def _overrides(name: str) -> tuple[str, ...]:
  return results.format_overrides(ROWS[name].keys())


def _published(name: str) -> str:
  return f'{ROWS[name].published_error:.2f}% error (Table {ROWS[name].table})'


def _targets(names):
  targets = []
  for name in names:
    band = (100 - ACCEPT_ERROR, 100.0) if name == 'Table 9: dropout + max-norm' else None
    targets.append(bands.Target(name, _overrides(name), _published(name), band))
  return targets


def report(inputs) -> str:
  names = [n for n in ROWS if results.finished_holding(inputs.records, _overrides(n))]
  l2, _ = bands.mean_accuracy(inputs.records, _overrides('Table 9: L2'))
  best, _ = bands.mean_accuracy(inputs.records, _overrides('Table 9: dropout + max-norm'))
  if l2 is None or best is None:
    gap_line = 'L2 only against dropout + max-norm: not both run.'
  else:
    gap = best - l2  # error(L2) - error(dropout + max-norm), in points
    gap_line = (f'L2 only is {gap:.2f} points worse than dropout + max-norm '
                f'(accept: ≥ {ACCEPT_GAP}): **{"yes" if gap >= ACCEPT_GAP else "no"}**.')
  accept = bands.accept_section(inputs.records, _targets(names), 'REFERENCES.md §4')
  not_run = markdown_table(['row', 'published', 'why'],
                           [[n, *why.split(': ', 1)] for n, why in NOT_RUN.items()],
                           align='lll')
  return '\n\n'.join([
      accept,
      f'Accept at a reduced budget: dropout + max-norm ≤ {ACCEPT_ERROR:.2f}% test error '
      f'(the band above), and L2 only at least {ACCEPT_GAP} points worse.',
      gap_line,
      'Rows of the tables not run:', not_run,
  ])


def _config(epochs: int):
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.init = 'he_normal'
  c.optimizer.name = 'momentum'
  c.optimizer.hparams.momentum = 0.95
  c.optimizer.learning_rate = 0.02
  c.optimizer.schedule.name = 'cosine'
  c.train.batch_size = 100
  c.train.num_epochs = epochs
  c.train.monitor = ''  # no hyperparameter is chosen here: train on all 60,000
  # The 60,000 training images take as long to evaluate as 1/4 epoch to train.
  c.train.eval_every_epochs = 10
  c.train.checkpoint_every_epochs = 10
  return c


@register('dropout_mnist',
          description='Dropout, Tables 2 and 9 (Srivastava et al. 2014), every row at the full '
                      f'budget ({FULL_EPOCHS} epochs; a GPU job; needs the MNIST files)',
          reference=f'REFERENCES.md §4: dropout + max-norm <= {ACCEPT_ERROR}% test error, '
                    f'L2 only >= {ACCEPT_GAP} points worse',
          axes={'regularizer': Choice({n: ROWS[n].keys() for n in ROWS})},
          published={' '.join(_overrides(n)): _published(n) for n in ROWS},
          report=report)
def get_config():
  return _config(FULL_EPOCHS)


@register('dropout_mnist_cpu',
          description='Dropout, Table 9\'s net with L2 only and with dropout + max-norm, '
                      f'{CPU_EPOCHS} epochs: the accept rows within an hour of a 2-core CPU',
          reference=f'REFERENCES.md §4 at a reduced budget: dropout + max-norm <= '
                    f'{ACCEPT_ERROR}% test error, L2 only >= {ACCEPT_GAP} points worse',
          axes={'regularizer': Choice({n: ROWS[n].keys() for n in CPU_ROWS})},
          published={' '.join(_overrides(n)): _published(n) for n in CPU_ROWS},
          report=report)
def get_cpu_config():
  return _config(CPU_EPOCHS)
