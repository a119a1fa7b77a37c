"""The BatchNorm paper's MNIST experiment (REFERENCES.md §5, Ioffe & Szegedy
2015 §4.1).

    research sweep batchnorm_mnist --launcher population --seeds 3 --set data.dir=../shared/data
    research table batchnorm_mnist

784-100-100-100-10 sigmoid MLP, weights N(0, 0.01^2), cross-entropy, plain
SGD lr 0.5, batch 60, 55 epochs of 916 steps (50,380 steps: the paper's
50,000), without BatchNorm and with it before each sigmoid (the paper's
placement). The test accuracy is logged every epoch. Published as a figure
(1a): the BN network reaches a higher test accuracy and gets there sooner.
Accept: the same ordering at every logged step after the first few thousand
(here: from step 5,000), for every seed of >= 3.
"""

from experiments import batchnorm
from research import results
from research.registry import register
from research.search import Discrete
from research.tables import markdown_table, mean_std

EPOCHS = 55  # x 916 steps of batch 60 on 55,000 examples = 50,380 steps
FIRST_CHECKED_STEP = 5000
PLACEMENTS = ('none', 'before')
PUBLISHED = {'none': 'figure 1(a): the lower curve',
             'before': 'figure 1(a): higher test accuracy, sooner'}


def test_accuracy_by_step(record) -> dict[int, float]:
  """{step: test accuracy} from the trial's metrics.jsonl."""
  return {row['step']: row['test/accuracy'] for row in results.trial_metrics(record)
          if 'test/accuracy' in row and 'step' in row}


def _finished_by_seed(records, placement: str) -> dict[int, dict]:
  return {r['seed']: r for r in results.finished_holding(
      records, results.format_overrides({'model.batchnorm': placement}))}


def ordering_rows(records) -> tuple[list[list[str]], bool, dict[str, list[dict]]]:
  """Per seed: is BN ahead at every logged step from FIRST_CHECKED_STEP?

  Returns the table's rows, whether it holds for >= 3 seeds and every seed
  that has both runs, and each placement's curves (for the mean-curve table).
  """
  plain, normed = _finished_by_seed(records, 'none'), _finished_by_seed(records, 'before')
  rows, curves, holds = [], {'none': [], 'before': []}, True
  seeds = sorted(set(plain) | set(normed))
  for seed in seeds:
    if seed not in plain or seed not in normed:
      rows.append([str(seed), '—', '—', '0', 'one of the pair did not finish'])
      holds = False
      continue
    a, b = test_accuracy_by_step(plain[seed]), test_accuracy_by_step(normed[seed])
    curves['none'].append(a)
    curves['before'].append(b)
    checked = [s for s in sorted(a) if s >= FIRST_CHECKED_STEP and s in b]
    behind = [s for s in checked if b[s] <= a[s]]
    holds = holds and bool(checked) and not behind
    rows.append([str(seed), f"{100 * plain[seed]['final']['test/accuracy']:.2f}",
                 f"{100 * normed[seed]['final']['test/accuracy']:.2f}", str(len(checked)),
                 'yes' if checked and not behind else
                 f'no: behind at steps {behind[:5]}' if behind else 'no steps logged'])
  complete = len(curves['none'])
  return rows, holds and complete >= 3, curves


def mean_curve_rows(curves: dict[str, list[dict]], marks: int = 10) -> list[list[str]]:
  """Mean ± std over seeds at about `marks` steps that every curve logged."""
  every = [c for placement in PLACEMENTS for c in curves[placement]]
  if not every:
    return []
  steps = sorted(set.intersection(*(set(c) for c in every)))
  picked = sorted(set(steps[::max(1, len(steps) // marks)] + steps[-1:]))
  return [[str(s), *(mean_std([c[s] for c in curves[p]]) for p in PLACEMENTS)]
          for s in picked]


def report(inputs) -> str:
  rows, holds, curves = ordering_rows(inputs.records)
  seeds = len(curves['none'])
  return '\n\n'.join([
      '## Against REFERENCES.md §5',
      f'Test accuracy (%) at the end, and whether the BN network is ahead at every '
      f'logged step (one per epoch) from step {FIRST_CHECKED_STEP:,}.',
      markdown_table(['seed', 'without BN', 'with BN (before the sigmoid)',
                      'logged steps checked', 'BN ahead at every one'], rows,
                     align='rrrrl'),
      f'**Same ordering at every checked step, for every one of {seeds} seeds '
      f'(≥ 3 needed): {"yes" if holds else "NO"}.**',
      '## Test accuracy by step',
      'Mean ± std over seeds, in %: the BN network gets there sooner.',
      markdown_table(['step', 'without BN', 'with BN'], mean_curve_rows(curves),
                     align='rrr'),
  ])


@register('batchnorm_mnist',
          description='The BatchNorm paper\'s MNIST net (3x100 sigmoid, N(0, 0.01^2), SGD 0.5, '
                      'batch 60, 50k steps) with and without BN (needs the MNIST files)',
          reference='REFERENCES.md §5: the BN net ahead in test accuracy at every logged step '
                    f'from step {FIRST_CHECKED_STEP}, over >= 3 seeds',
          axes={'model.batchnorm': Discrete(PLACEMENTS)},
          published={results.format_override('model.batchnorm', p): text
                     for p, text in PUBLISHED.items()},
          report=report)
def get_config():
  c = batchnorm.get_config()
  c.train.num_epochs = EPOCHS
  return c
