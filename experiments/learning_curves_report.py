"""The report of `research table learning_curves`: train, dev and test error
against the training-set size N for each model, the bias / variance reading at
each N (`research.metrics.error_decomposition`), a figure on log N, and the
lecture's claims beside what was measured."""

import numpy as np

from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from experiments.data_mismatch import BAYES_ERROR
from experiments.learning_curves import MODELS
from research import metrics
from research import results
from research import tables

FIGURE = 'learning_curves.png'
SPLITS = ('train', 'dev', 'test')
READING = {'avoidable_bias': 'bias: more data will not help',
           'variance': 'variance: more data helps'}


def _model(record: dict) -> str | None:
  hidden = tuple(record['config']['model']['hidden'])
  return next((name for name, keys in MODELS.items()
               if tuple(keys['model.hidden']) == hidden), None)


def curves(records: list[dict]) -> dict[str, list[dict]]:
  """{model: [{'n', 'seeds', 'train', 'dev', 'test' (mean errors), 'std'
  ({split: std over seeds}), 'terms' (error_decomposition)}] by N}."""
  out = {}
  finished = [r for r in records if r.get('status') in results.FINISHED
              and all(f'{s}/accuracy' in (r.get('final') or {}) for s in SPLITS)
              and _model(r)]
  for model in MODELS:
    runs = [r for r in finished if _model(r) == model]
    points = []
    for n in sorted({int(r['data']['train']) for r in runs}):
      at = [r for r in runs if int(r['data']['train']) == n]
      errors = {s: [1 - r['final'][f'{s}/accuracy'] for r in at] for s in SPLITS}
      mean = {s: float(np.mean(v)) for s, v in errors.items()}
      # No distribution shift here: dev is held out of the training
      # distribution, so it is also the train-dev split.
      terms = metrics.error_decomposition(mean['train'], mean['dev'], mean['dev'],
                                          bayes_error=BAYES_ERROR)
      points.append({'n': n, 'seeds': len(at), **mean,
                     'std': {s: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
                             for s, v in errors.items()},
                     'terms': terms})
    if points:
      out[model] = points
  return out


def _next_drop(points: list[dict], i: int) -> float | None:
  """Relative drop of the dev error from point i to the next N."""
  if i + 1 >= len(points) or points[i]['dev'] <= 0:
    return None
  return (points[i]['dev'] - points[i + 1]['dev']) / points[i]['dev']


def _reading(terms: dict) -> str:
  bias, variance = terms['avoidable_bias'], terms['variance']
  return READING['variance' if variance > bias else 'avoidable_bias']


def table(points: list[dict]) -> str:
  rows = []
  for i, p in enumerate(points):
    drop = _next_drop(points, i)
    rows.append([p['n'], p['seeds'],
                 *(f"{100 * p[s]:.2f} ± {100 * p['std'][s]:.2f}" for s in SPLITS),
                 f"{100 * p['terms']['avoidable_bias']:.2f}",
                 f"{100 * p['terms']['variance']:.2f}", _reading(p['terms']),
                 '—' if drop is None else f'{100 * drop:.0f}%'])
  return tables.markdown_table(
      ['N', 'seeds', 'train error %', 'dev error %', 'test error %',
       'avoidable bias (train − Bayes)', 'variance (dev − train)', 'reading',
       'dev error drop at the next N'], rows, align='rrrrrrrlr')


def figure(data: dict[str, list[dict]], path) -> None:
  fig, ax = plt.subplots(figsize=plots.FIGSIZE)
  for i, (model, points) in enumerate(data.items()):
    n = [p['n'] for p in points]
    color = plots.style(i)['color']
    ax.plot(n, [100 * p['dev'] for p in points], color=color, marker='o',
            markersize=3, linewidth=1.5, label=f'{model}: dev')
    ax.plot(n, [100 * p['train'] for p in points], color=color, marker='o',
            markersize=3, linewidth=1.2, linestyle='--', label=f'{model}: train')
  ax.axhline(100 * BAYES_ERROR, color='0.4', linestyle=':', linewidth=1.0,
             label='Bayes error proxy')
  ax.set_xscale('log')
  ax.set_xlabel('training examples N (log scale)')
  ax.set_ylabel('error (%)')
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8, loc='best', framealpha=0.85)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(fig)


def claims(data: dict[str, list[dict]]) -> list[tuple[str, str, str]]:
  """(claim, measured, agrees?)."""
  drops = {'variance': [], 'avoidable_bias': []}
  for points in data.values():
    for i, p in enumerate(points):
      drop = _next_drop(points, i)
      if drop is not None:
        key = 'variance' if p['terms']['variance'] > p['terms']['avoidable_bias'] \
            else 'avoidable_bias'
        drops[key].append(drop)
  out = []
  if drops['variance'] and drops['avoidable_bias']:
    v, b = np.median(drops['variance']), np.median(drops['avoidable_bias'])
    out.append((
        'Where the train-dev gap (variance) dominates, more data helps; where '
        'both errors are high (bias), it does not.',
        f"median relative drop of the dev error at the next N: {100 * v:.0f}% at "
        f"the {len(drops['variance'])} variance-dominated points, {100 * b:.0f}% "
        f"at the {len(drops['avoidable_bias'])} bias-dominated ones",
        'yes' if v > 2 * b else ('partly' if v > b else 'no')))
  for model, points in data.items():
    first, last = points[0], points[-1]
    gap0, gap1 = first['dev'] - first['train'], last['dev'] - last['train']
    reading = _reading(last['terms'])
    out.append((
        f'{model}: the gap closes as N grows, and what is left says what to do.',
        f"N={first['n']}: train {100 * first['train']:.2f}%, dev "
        f"{100 * first['dev']:.2f}% (gap {100 * gap0:.2f}); N={last['n']}: train "
        f"{100 * last['train']:.2f}%, dev {100 * last['dev']:.2f}% (gap "
        f"{100 * gap1:.2f}); largest term at the largest N: {reading}",
        'yes' if gap1 < gap0 else 'no'))
  return out


def report(inputs: tables.TableInputs) -> str:
  data = curves(inputs.records)
  if not data:
    return '## Learning curves\n\nNo finished run: nothing to report.'
  figure(data, inputs.figures_dir / FIGURE)
  sections = [
      '## Train, dev and test error against N',
      'Means ± std over seeds, the model at the end of training (evaluation '
      'mode). Bias / variance as `research.metrics.error_decomposition` (Ng): '
      f'avoidable bias = train − Bayes (proxy {100 * BAYES_ERROR:.1f}%, human '
      'error on MNIST), variance = dev − train (dev is held out of the '
      'training distribution, so it is the train-dev split too). The reading '
      'names the larger of the two (a negative avoidable bias is a training '
      'error below the Bayes proxy: the set is memorized); the last column is '
      'how much the dev error falls, relative, at the next size of the grid '
      '(twice N, except 32,000 -> 50,000).',
      f'![learning curves](figures/{inputs.experiment}/{FIGURE})',
  ]
  for model, points in data.items():
    sections += [f'### {model}', table(points)]
  sections += ['## The lecture\'s claims against the measurements',
               tables.markdown_table(['claim', 'measured', 'agrees'], claims(data),
                                     align='lll')]
  return '\n\n'.join(sections)
