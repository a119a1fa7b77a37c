"""The report of `research table label_noise`: per noise fraction, how much
of the noisy training set the net fits, the test error at the end of training
and at the best dev checkpoint (early stopping on clean dev data), a figure,
and the lecture's claims beside what was measured."""

import numpy as np

from research import plots  # first: it selects matplotlib's headless backend
from research import metrics
from research import results
from research import tables

FIGURE = 'label_noise.png'
# "Fairly robust": the test error grows by less than this share of the
# fraction of labels corrupted (0.2: 50% noise costs under 10 points).
ROBUST_RATIO = 0.2


def _fraction(record: dict) -> float:
  return float(record['config']['data']['label_noise'])


def summarize(records: list[dict]) -> list[dict]:
  """Per fraction, means over the finished seeds (errors as fractions):
  'train_acc' on the noisy labels, 'memorized' (a lower bound of the share of
  corrupted labels the net predicts: (train_acc - (1 - f)) / f, as it can
  get at most all the clean ones), 'test_end', 'test_best' (at the best dev
  checkpoint), 'dev_end', 'best_epoch', and the pooled test errors and
  examples for an interval."""
  finished = [r for r in records if r.get('status') in results.FINISHED
              and 'test/accuracy' in (r.get('final') or {})]
  rows = []
  for f in sorted({_fraction(r) for r in finished}):
    runs = [r for r in finished if _fraction(r) == f]
    train = [r['final']['train/accuracy'] for r in runs]
    best = [r['best'] for r in runs if 'test/accuracy' in (r.get('best') or {})]
    n_test = [r['data']['test'] for r in runs]
    test_end = [1 - r['final']['test/accuracy'] for r in runs]
    rows.append({
        'fraction': f, 'seeds': len(runs), 'train_acc': train,
        'memorized': ([(a - (1 - f)) / f for a in train] if f else []),
        'test_end': test_end,
        'test_best': [1 - b['test/accuracy'] for b in best],
        'dev_end': [1 - r['final']['dev/accuracy'] for r in runs],
        'best_epoch': [b['epoch'] for b in best],
        'epochs': [r['epochs'] for r in runs],
        'test_errors': sum(round(e * n) for e, n in zip(test_end, n_test)),
        'test_total': sum(n_test)})
  return rows


def _pct(xs) -> str:
  return tables.mean_std(xs, digits=1) if xs else '—'


def table(rows: list[dict]) -> str:
  body = []
  for r in rows:
    low, high = metrics.error_interval(r['test_errors'], r['test_total'])
    body.append([f"{100 * r['fraction']:.0f}%", r['seeds'], _pct(r['train_acc']),
                 f"{100 * (1 - r['fraction']):.0f}",
                 _pct(r['memorized']), _pct(r['test_end']),
                 f'{100 * low:.1f}–{100 * high:.1f}', _pct(r['test_best']),
                 f"{np.mean(r['best_epoch']):.0f} of {np.mean(r['epochs']):.0f}"
                 if r['best_epoch'] else '—'])
  return tables.markdown_table(
      ['labels corrupted', 'seeds', 'train acc. % (noisy labels)',
       'clean share %', 'corrupted labels fitted % (≥)', 'test error % (end)',
       'test error % (end, 95%)', 'test error % (best dev ckpt)',
       'best epoch'], body)


def claims(rows: list[dict]) -> list[tuple[str, str, str]]:
  """(claim, measured, agrees?) for each of the lecture's claims."""
  if not rows:
    return []
  out = []
  end = [float(np.mean(r['test_end'])) for r in rows]
  best = [float(np.mean(r['test_best'])) if r['test_best'] else float('nan')
          for r in rows]
  fractions = [r['fraction'] for r in rows]
  rising = all(b >= a for a, b in zip(end, end[1:]))
  out.append(('Test error grows with the noise.',
              'mean test error at the end, by fraction: '
              + ', '.join(f'{100 * f:.0f}%: {100 * e:.1f}' for f, e in zip(fractions, end)),
              'yes' if rising else 'partly (not monotonic)'))
  clean = rows[0] if fractions[0] == 0 else None
  if clean is not None and len(rows) > 1:
    base = float(np.mean(clean['test_best']))
    ratios = [(f, (b - base) / f) for f, b in zip(fractions[1:], best[1:])]
    end_ratios = [(f, (e - end[0]) / f) for f, e in zip(fractions[1:], end[1:])]
    robust = [f for f, q in ratios if q < ROBUST_RATIO]
    if len(robust) == len(ratios):
      verdict = f'yes, at every fraction up to {100 * max(fractions):.0f}%'
    elif robust:
      verdict = ('partly: at ' + ', '.join(f'{100 * f:.0f}%' for f in robust)
                 + ' of the labels corrupted, not at the others')
    else:
      verdict = 'no'
    out.append((f'Fairly robust to random label noise, up to a point (here: the test '
                f'error, early-stopped, grows by less than {ROBUST_RATIO:g} × the '
                'fraction corrupted).',
                'test error added per label corrupted, at the best dev checkpoint: '
                + ', '.join(f'{100 * f:.0f}%: {q:.2f}' for f, q in ratios)
                + '; at the end of training: '
                + ', '.join(f'{100 * f:.0f}%: {q:.2f}' for f, q in end_ratios),
                verdict))
    noisy = rows[1:]
    mem = [(r['fraction'], float(np.mean(r['memorized']))) for r in noisy]
    fits = all(m > 0.5 for _, m in mem)
    out.append(('A net big enough to memorize fits the noisy labels if trained long.',
                'share of the corrupted training labels the final model predicts '
                '(lower bound): ' + ', '.join(f'{100 * f:.0f}%: {100 * m:.0f}%' for f, m in mem),
                'yes' if fits else ('partly' if any(m > 0.5 for _, m in mem) else 'no')))
    gains = [(f, e - b) for f, e, b in zip(fractions[1:], end[1:], best[1:])]
    helps = all(g > 0 for _, g in gains)
    grows = gains[-1][1] > (end[0] - best[0])
    out.append(('Early stopping on clean dev data keeps what memorizing the noise costs.',
                'test error at the end minus at the best dev checkpoint, points: '
                + ', '.join(f'{100 * f:.0f}%: {100 * g:+.1f}' for f, g in gains)
                + f' (clean: {100 * (end[0] - best[0]):+.1f})',
                'yes' if helps and grows else ('partly' if helps or grows else 'no')))
  return out


def figure(rows: list[dict], path) -> None:
  x = np.array([100 * r['fraction'] for r in rows])
  curves = {
      'test error, end of training': (x, [100 * np.mean(r['test_end']) for r in rows]),
      'test error, best dev checkpoint': (x, [100 * np.mean(r['test_best']) for r in rows]),
      'train error on the noisy labels': (x, [100 * (1 - np.mean(r['train_acc'])) for r in rows]),
      'train error fitting only the clean labels (= % corrupted)': (x, x),
  }
  plots.curves_against(curves, path, xlabel='training labels corrupted (%)',
                       ylabel='error (%)')


def report(inputs: tables.TableInputs) -> str:
  rows = summarize(inputs.records)
  if not rows:
    return '## Label noise\n\nNo finished run: nothing to report.'
  figure(rows, inputs.figures_dir / FIGURE)
  return '\n\n'.join([
      '## Label noise: what the net fits and what it costs',
      'Means ± std over seeds. Train accuracy is on the training labels as '
      'corrupted (evaluation mode, end of training); predicting every clean '
      'label and no corrupted one would score the clean share. "Corrupted '
      'labels fitted" is (train acc. − clean share) / fraction corrupted, a '
      'lower bound of how many wrong labels the net reproduces. Test error '
      'is on the clean test set; the 95% interval pools the seeds\' test '
      'predictions (Beta posterior). "Best dev ckpt" is the checkpoint with the '
      'best accuracy on the clean dev set: what early stopping would keep.',
      table(rows),
      f'![label noise](figures/{inputs.experiment}/{FIGURE})',
      '## The lecture\'s claims against the measurements',
      tables.markdown_table(['claim', 'measured', 'agrees'], claims(rows), align='lll'),
  ])
