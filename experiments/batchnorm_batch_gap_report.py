"""The report of `research table batchnorm_batch_gap`: each trained network
restored and evaluated with BN's running averages and with batch statistics.

Batch statistics are taken over whole chunks only: a split is cut to a
multiple of the chunk size (at most chunk - 1 examples left out), since the
zero rows that pad a last chunk would enter its mean and variance.
"""

import functools

import jax
import numpy as np

from experiments import batchnorm_batch_gap
from experiments.batchnorm_batch_gap import BATCH_SIZES, EPOCHS
from research import losses, plots, results
from research.tables import markdown_table, mean_std
from research.train.epoch import make_evaluate
from research.train.restore import load_trained
from research.train.steps import make_eval_step

FIGURE = 'accuracy_by_batch.png'
# What the trials are, from the experiment's docstring (after its commands).
SETUP = ' '.join(batchnorm_batch_gap.__doc__.split('research table batchnorm_batch_gap')[1].split())
TEST_CHUNKS = (2, 8, 32, 128, 1000)  # test batch sizes for batch statistics


@functools.lru_cache(maxsize=None)
def _evaluator(model, chunk: int, batch_statistics: bool):
  step = make_eval_step(model, losses.get('cross_entropy'),
                        bn_batch_statistics=batch_statistics)
  return jax.jit(make_evaluate(step, batch_size=chunk))


def accuracy(run, x, y, chunk: int, batch_statistics: bool) -> float:
  """Accuracy over the whole chunks of (x, y): with the chunk's own BN
  statistics, or the running averages."""
  n = len(x) // chunk * chunk
  evaluate = _evaluator(run.model, chunk, batch_statistics)
  return float(evaluate(run.state, x[:n], y[:n])['accuracy'])


def evaluate_run(run_dir: str, dataset) -> dict[str, float]:
  run = load_trained(run_dir, dataset=dataset)
  batch = int(run.config.train.batch_size)
  d = run.dataset
  out = {'train running': accuracy(run, d.x_train, d.y_train, 1000, False),
         'train batch': accuracy(run, d.x_train, d.y_train, batch, True),
         'test running': accuracy(run, d.x_test, d.y_test, 1000, False)}
  for chunk in TEST_CHUNKS:
    out[f'test batch {chunk}'] = accuracy(run, d.x_test, d.y_test, chunk, True)
  return out


def _by_batch(records, placement: str) -> dict[int, list[dict]]:
  """{batch size: finished records} of one BN placement ('before' is the
  base config's, so its trials may not name it among their overrides)."""
  control = set(results.format_overrides({'model.batchnorm': 'none'}))
  runs = {}
  for b in BATCH_SIZES:
    done = [r for r in results.finished_holding(
        records, results.format_overrides({'train.batch_size': b}))
            if (placement == 'none') == bool(control & set(r.get('overrides') or ()))]
    if done:
      runs[b] = done
  return runs


def _pm(values) -> str:
  return mean_std(values, scale=100.0, digits=1)


def report(inputs) -> str:
  by_batch = _by_batch(inputs.records, 'before')
  control = {b: [r['final']['test/accuracy'] for r in runs]
             for b, runs in _by_batch(inputs.records, 'none').items()}
  if not by_batch:
    return '## No finished runs\n\nRun the sweep first.'
  # The runs differ in batch size only: they share their data.
  dataset = load_trained(next(iter(by_batch.values()))[0]['run_dir']).dataset
  measured = {b: [evaluate_run(r['run_dir'], dataset) for r in runs]
              for b, runs in by_batch.items()}
  inputs.log(f'evaluated {sum(map(len, measured.values()))} runs')

  def column(b, key):
    return [m[key] for m in measured[b]]

  rows = []
  for b, ms in measured.items():
    optimizer = by_batch[b][0]['config']['optimizer']  # the linear scaling rule
    lr = optimizer['learning_rate'] * b / optimizer['reference_batch_size']
    gap_train = [m['train batch'] - m['train running'] for m in ms]
    rows.append([str(b), f'{lr:.4g}', str(len(ms)), _pm(column(b, 'train batch')),
                 _pm(column(b, 'train running')), _pm(gap_train),
                 _pm(control[b]) if b in control else '—',
                 _pm(column(b, 'test running')),
                 *(_pm(column(b, f'test batch {c}')) for c in TEST_CHUNKS)])

  curves = {name: (np.log2(list(measured)),
                   np.array([100 * np.mean(column(b, key)) for b in measured]))
            for name, key in [('train, batch statistics (train mode)', 'train batch'),
                              ('train, running averages', 'train running'),
                              ('test, running averages', 'test running'),
                              ('test, batch statistics of 1000', 'test batch 1000'),
                              ('test, batch statistics of 32', 'test batch 32'),
                              ('test, batch statistics of 2', 'test batch 2')]}
  curves['test, no BN (control)'] = (
      np.log2(list(control)), np.array([100 * np.mean(v) for v in control.values()]))
  inputs.figures_dir.mkdir(parents=True, exist_ok=True)
  plots.curves_against(curves, inputs.figures_dir / FIGURE,
                       xlabel='log2 of the training batch size',
                       ylabel='accuracy %')
  inputs.log(f'wrote {inputs.figures_dir / FIGURE}')
  return '\n\n'.join([
      '## Setup',
      SETUP,
      '## Accuracy with running averages and with batch statistics',
      f'Accuracy % (mean ± std over seeds) of each network after {EPOCHS} epochs. '
      '"train mode" evaluates the training set in chunks of the training batch '
      'size with each chunk\'s own statistics, what the network saw while it '
      'trained; "running" is the normal evaluation; "test, batch stats k" '
      'normalizes each chunk of k test examples by its own statistics.',
      markdown_table(['train batch', 'lr', 'seeds', 'train, train mode',
                      'train, running', 'gap (train mode − running)',
                      'test, no BN (control)', 'test, running',
                      *(f'test, batch stats {c}' for c in TEST_CHUNKS)], rows,
                     align='r' * (8 + len(TEST_CHUNKS))),
      f'![accuracy against the training batch size](figures/{inputs.experiment}/{FIGURE})',
      verdict(measured, control),
  ])


def verdict(measured: dict[int, list[dict]],
            control: dict[int, list[float]]) -> str:
  """The lecture's claim against the numbers, computed."""
  sizes = sorted(set(measured) & set(control))
  small = [b for b in sizes if b < 32]
  large = [b for b in sizes if b >= 32]
  if not small or not large:
    return '## Against the lecture\n\nNeeds batches below 32 and of 32 or more.'

  def mean(b, key):
    return 100 * float(np.mean([m[key] for m in measured[b]]))

  def plain(b):
    return 100 * float(np.mean(control[b]))

  best = max(large, key=lambda b: mean(b, 'test running'))
  smallest = small[0]
  # BN's own loss at the smallest batch: its drop from its best large batch,
  # less the control's drop over the same batches.
  drop = mean(best, 'test running') - mean(smallest, 'test running')
  plain_drop = plain(best) - plain(smallest)
  gaps = {b: mean(b, 'train batch') - mean(b, 'train running') for b in sizes}
  widest = max(small, key=lambda b: abs(gaps[b]))
  agrees = drop > plain_drop + 5 and abs(gaps[widest]) > abs(gaps[best]) + 5
  return '\n\n'.join([
      '## Against the lecture',
      'Claim: BN degrades at small batches, because their statistics are noisy and '
      'differ from the population\'s.',
      f'Measured: test accuracy {mean(smallest, "test running"):.1f}% at batch '
      f'{smallest} against {mean(best, "test running"):.1f}% at batch {best} '
      f'({drop:.1f} points lost); without BN, {plain(smallest):.1f}% against '
      f'{plain(best):.1f}% ({plain_drop:.1f} points). The noise: on the training set, '
      f'the same weights normalized by the statistics of training-size batches '
      f'("train mode") score {gaps[widest]:+.1f} points against the population '
      f'(running) statistics at batch {widest}, {gaps[best]:+.1f} at batch {best}.',
      f'**{"Agrees" if agrees else "Does not agree"}** (criterion: BN loses more than '
      '5 points more than the control at the smallest batch, and its train-mode vs '
      'running gap is more than 5 points wider at some batch below 32 than at the '
      'best batch of 32 or more).',
      _reading(measured, gaps, small),
  ])


def _reading(measured, gaps, small) -> str:
  """What the gap's sign and the small test batches say, from the numbers."""
  def mean(b, key):
    return 100 * float(np.mean([m[key] for m in measured[b]]))

  if all(gaps[b] < 0 for b in small):
    sign = ('Below 32 every gap is negative: the noisy statistics of training-size '
            'batches make the network worse than the population statistics do. So '
            'the running averages are not what hurts at test time; training on a '
            'noisy normalization leaves a worse network (at batch 2 each unit is '
            'normalized to about ±1 whatever the input).')
  else:
    sign = ('The gaps below 32 are of both signs: '
            + ', '.join(f'{gaps[b]:+.1f} at {b}' for b in small) + '.')
  tiny = [mean(b, 'test batch 2') for b in measured]
  running = [mean(b, 'test running') for b in measured]
  return (f'{sign} Test batches of 2 give {min(tiny):.1f}–{max(tiny):.1f}% '
          f'whatever the training batch, against {min(running):.1f}–'
          f'{max(running):.1f}% with the running averages.')
