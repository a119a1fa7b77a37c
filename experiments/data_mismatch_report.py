"""The data_mismatch experiment's report: the train, train-dev, dev and test
errors of each maximum rotation, their bias / variance / data-mismatch
decomposition, a figure of its terms and a reading of them."""

import math
import pathlib
from collections import defaultdict

import matplotlib

matplotlib.use('Agg')  # before pyplot: headless machines have no display
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

# pylint: disable=g-import-not-at-top
from experiments.data_mismatch import BAYES_ERROR, EXPERIMENT
from research import metrics
from research.plots import style
from research.results import FINISHED
from research.tables import TableInputs, markdown_table
from research.tracking import jsonio
# pylint: enable=g-import-not-at-top

SPLITS = ('train', 'train_dev', 'dev', 'test')
TERMS = ('avoidable_bias', 'variance', 'data_mismatch', 'dev_overfitting')
TERM_LABELS = {'avoidable_bias': 'avoidable bias', 'variance': 'variance',
               'data_mismatch': 'data mismatch',
               'dev_overfitting': 'dev overfitting'}
FIGURE = 'decomposition.png'


# --------------------------------------------------------------------------
# From records to the decomposition


def _point(record: dict) -> tuple[str, float]:
  data = record['config']['data']
  return data['shift'], float(data['shift_amount'])


def mean_errors(records, log=print) -> dict[tuple[str, float], dict]:
  """{(shift, amount): {'seeds', 'train', 'train_dev', 'dev', 'test'}}: mean
  errors (fractions) over the finished trials of each point."""
  grouped = defaultdict(list)
  for r in records:
    final = r.get('final') or {}
    missing = [s for s in SPLITS if f'{s}/accuracy' not in final]
    if r.get('status') not in FINISHED or missing:
      log(f"{EXPERIMENT}: left out {r.get('label', r.get('run_dir'))} "
          f"(status {r.get('status')}, missing {missing})")
      continue
    grouped[_point(r)].append(r)
  out = {}
  for point in sorted(grouped):
    runs = grouped[point]
    out[point] = {'seeds': sorted(r['seed'] for r in runs),
                  **{s: float(np.mean([1 - r['final'][f'{s}/accuracy']
                                       for r in runs])) for s in SPLITS},
                  'sizes': _split_sizes(runs[0])}
  return out


def _split_sizes(record: dict) -> dict | None:
  """The run's split sizes from its summary.json, if it is still there."""
  if not record.get('run_dir'):
    return None
  path = pathlib.Path(record['run_dir']) / 'summary.json'
  try:
    return (jsonio.read_json(path) or {}).get('data')
  except (OSError, ValueError):
    return None


def decompositions(errors: dict) -> dict:
  """{point: research.metrics.error_decomposition of its mean errors}."""
  return {p: metrics.error_decomposition(
      e['train'], e['train_dev'], e['dev'], e['test'], bayes_error=BAYES_ERROR)
          for p, e in errors.items()}


# --------------------------------------------------------------------------
# The report


def _pct(x: float) -> str:
  return f'{100 * x:.2f}'


def _amount_label(shift: str, amount: float) -> str:
  return f'±{amount:g}°' if shift == 'rotate' else f'{shift} {amount:g}'


def decomposition_figure(errors: dict, terms: dict, path) -> None:
  """Stacked bars of the terms per point on the Bayes proxy; negative terms
  stack downwards from 0; a black dot marks the test error they add up to."""
  points = list(errors)
  fig, ax = plt.subplots(figsize=(6.5, 4.5))
  x = np.arange(len(points))
  up = np.full(len(points), 100 * BAYES_ERROR)
  down = np.zeros(len(points))
  ax.bar(x, up, color='0.75', label=f'Bayes proxy ({_pct(BAYES_ERROR)}%)')
  for i, term in enumerate(TERMS):
    values = np.array([100 * terms[p][term] for p in points])
    bottom = np.where(values >= 0, up, down)
    ax.bar(x, values, bottom=bottom, color=style(i)['color'],
           label=TERM_LABELS[term])
    up += np.maximum(values, 0)
    down += np.minimum(values, 0)
  ax.plot(x, [100 * errors[p]['test'] for p in points], 'ko',
          label='test error')
  ax.axhline(0, color='black', linewidth=0.6)
  ax.set_xticks(x, [_amount_label(*p) for p in points])
  ax.set_xlabel('maximum rotation of dev and test')
  ax.set_ylabel('error (%)')
  ax.set_title('Test error = Bayes proxy + the four terms')
  ax.grid(True, axis='y', alpha=0.3)
  ax.legend(fontsize=8, loc='upper left')
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(fig)


def _reading(errors: dict, terms: dict) -> str:
  """A paragraph that reads the table, every number taken from it."""
  points = list(errors)
  labels = [_amount_label(*p) for p in points]
  runs = []  # consecutive points with the same largest term
  for label, p in zip(labels, points):
    term = terms[p]['largest']
    if runs and runs[-1][0] == term:
      runs[-1][1].append(label)
    else:
      runs.append((term, [label]))
  sentences = ['The largest term is ' + '; '.join(
      f'{TERM_LABELS[t]} at {ls[0]}' + (f' to {ls[-1]}' if len(ls) > 1 else '')
      for t, ls in runs) + '.']
  if len(points) > 1:
    first, last = terms[points[0]], terms[points[-1]]
    sentences.append(
        f'Data mismatch goes from {_pct(first["data_mismatch"])} points at '
        f'{labels[0]} to {_pct(last["data_mismatch"])} at {labels[-1]}, while '
        f'avoidable bias {_span(terms, "avoidable_bias")} and variance '
        f'{_span(terms, "variance")} points: train and train-dev never see '
        'the shift, so only the dev and test errors can move with it.')
  for p, label in zip(points, labels):
    noise = _difference_se(errors[p], 'train_dev', 'dev')
    if p[1] == 0 and noise:
      sentences.append(
          f'At {label} dev and train-dev come from the same distribution, so '
          f'the data-mismatch term there ({_pct(terms[p]["data_mismatch"])} '
          f'points) is sampling noise alone; one standard error of that '
          f'difference is {_pct(noise)} points.')
  overfit = [terms[p]['dev_overfitting'] for p in points]
  noise = [_difference_se(errors[p], 'dev', 'test') for p in points]
  text = f'Test - dev {_span(terms, "dev_overfitting")} points'
  if all(noise):
    z = max(abs(o) / n for o, n in zip(overfit, noise))
    text += (f', up to {z:.1f} standard errors of that difference from 0 '
             f'(one standard error is {_pct(min(noise))} to {_pct(max(noise))} '
             'points)')
  text += ('. Nothing was chosen on dev, so this is not dev overfitting: it is '
           'sampling noise plus whatever separates dev (held out of MNIST\'s '
           'training set) from test (the official test set, written by other '
           'people)')
  if len(points) > 1 and (all(o > 0 for o in overfit)
                          or all(o < 0 for o in overfit)):
    text += ('; its sign is the same at every point, which points to that '
             'difference')
  sentences.append(text + '.')
  top = terms[points[-1]]
  sentences.append(f'At {labels[-1]}, the largest term being '
                   f'{TERM_LABELS[top["largest"]]}, the advice of '
                   f'`error_decomposition` is: {top["advice"]}.')
  return ' '.join(sentences)


def _span(terms: dict, term: str) -> str:
  values = [terms[p][term] for p in terms]
  low, high = _pct(min(values)), _pct(max(values))
  return f'stays at {low}' if low == high else f'stays between {low} and {high}'


def _difference_se(e: dict, a: str, b: str) -> float | None:
  """Standard error of error(b) - error(a) over independent splits of the
  run's sizes (binomial errors), or None where the sizes are unknown."""
  sizes = e.get('sizes') or {}
  if not (sizes.get(a) and sizes.get(b)):
    return None
  return math.sqrt(sum(e[s] * (1 - e[s]) / sizes[s] for s in (a, b)))


def report(inputs: TableInputs) -> str:
  """The '## Bias, variance and data mismatch' section and its figure."""
  errors = mean_errors(inputs.records, log=inputs.log)
  heading = '## Bias, variance and data mismatch'
  if not errors:
    return (f'{heading}\n\nNo finished trials yet: run '
            f'`research sweep {EXPERIMENT}`.')
  terms = decompositions(errors)
  rows = []
  for point, e in errors.items():
    t = terms[point]
    rows.append((_amount_label(*point), len(e['seeds']),
                 *(_pct(e[s]) for s in SPLITS),
                 *(_pct(t[k]) for k in TERMS), TERM_LABELS[t['largest']]))
  table = markdown_table(
      ['max rotation', 'seeds', 'train err. %', 'train-dev err. %',
       'dev err. %', 'test err. %', 'avoidable bias', 'variance',
       'data mismatch', 'dev overfitting', 'largest'],
      rows, align='lr' + 'r' * 8 + 'l')
  decomposition_figure(errors, terms, inputs.figures_dir / FIGURE)
  return f"""{heading}

Train and train-dev are upright MNIST; dev and test are rotated, each example
by an angle drawn uniformly in ± the maximum. Errors are means over seeds, in
%; the terms are differences of those means, in points
(`research.metrics.error_decomposition`): avoidable bias = train - Bayes,
variance = train-dev - train, data mismatch = dev - train-dev, dev overfitting
= test - dev. Bayes error proxy: {_pct(BAYES_ERROR)}%, human-level error on
MNIST (Cireşan et al. 2012 call their 0.23% near-human); rotations of at most
60° leave digits readable, so it stands for the target too.

{table}

![Terms of the test error against the maximum rotation](figures/{EXPERIMENT}/{FIGURE})

{_reading(errors, terms)}
"""
