"""The report of `research table adam_vs_sgd`."""

import numpy as np

from experiments.adam_vs_sgd import RECIPES, OPTIONS, option_name
from research import metrics, results
from research.tables import markdown_table, mean_std


def _runs(records, option: str) -> list[dict]:
  return results.finished_holding(records, results.format_overrides(OPTIONS[option]))


def _accuracy(runs, split: str) -> list[float]:
  return [r['final'][f'{split}/accuracy'] for r in runs]


def report(inputs) -> str:
  rows, picked = [], {}
  for recipe, (_, grid) in RECIPES.items():
    by_lr = {lr: _runs(inputs.records, option_name(recipe, lr)) for lr in grid}
    by_lr = {lr: runs for lr, runs in by_lr.items() if runs}
    if not by_lr:
      continue
    best = max(by_lr, key=lambda lr: np.mean(_accuracy(by_lr[lr], 'dev')))
    picked[recipe] = by_lr[best]
    runs = by_lr[best]
    errors = sum(round((1 - a) * r['data']['test']) for a, r in
                 zip(_accuracy(runs, 'test'), runs))
    low, high = metrics.error_interval(errors, sum(r['data']['test'] for r in runs))
    edge = ' (grid edge)' if best in (min(grid), max(grid)) else ''
    rows.append([recipe, f'{best:g}{edge}', len(runs), mean_std(_accuracy(runs, 'dev')),
                 mean_std(_accuracy(runs, 'test')),
                 f'{100 * low:.2f}–{100 * high:.2f}',
                 '; '.join(f'{lr:g}: {100 * np.mean(_accuracy(r, "dev")):.2f}'
                           for lr, r in by_lr.items())])
  verdict = '—'
  if len(picked) == 2:
    (a, adam), (s, sgd) = picked.items()
    gap = 100 * (np.mean(_accuracy(sgd, 'test')) - np.mean(_accuracy(adam, 'test')))
    verdict = (f'SGD + momentum + cosine minus Adam, test accuracy: {gap:+.2f} '
               'points (mean over seeds, each at its best rate by dev).')
  return '\n\n'.join([
      '## The two recipes, each at its best learning rate',
      'Best rate by mean final dev accuracy; the test error interval pools the '
      'seeds\' test predictions (95%, Beta posterior).',
      markdown_table(['recipe', 'best lr', 'seeds', 'dev acc. %', 'test acc. %',
                      'test error % (95%)', 'mean dev acc. % per lr'], rows,
                     align='lrrrrrl'),
      verdict,
  ])
