"""The online_vs_batch report: training loss and dev accuracy against examples
seen, the examples each batching needs to reach a training loss, the
redundancy check, throughput per batch size, and a reading of the lecture's
claims.

Examples seen after epoch e of a run = e x its training-set size (every batch
size divides it: no partial batch is dropped). A logged epoch's training loss
is the mean loss of its batches in training mode, each taken before its step:
for full batch the exact loss of the model that starts the epoch; for
minibatches a running mean that lags the model by up to an epoch, which
counts against small batches.
"""

import math

import numpy as np

from experiments.online_vs_batch import (BATCHINGS, COPIES, EXAMPLES_SEEN,
                                         TRAINING_SETS, UNIQUE)
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import results, tables
from research.results import FINISHED
from research.tracking.run_dir import RunDir

TARGET_LOSSES = (1.0, 0.1)  # training-loss targets of the speed table
EARLY_BUDGET = 3000  # the early dev accuracy column: examples seen
REDUNDANT, UNIQUE_SET, ONCE = TRAINING_SETS  # the three names, in order
ONLINE, FULL = 'online (batch 1)', 'full batch'


def _lookup(config: dict, dotted: str):
  node = config
  for part in dotted.split('.'):
    node = node.get(part) if isinstance(node, dict) else None
  return node


def option_of(config: dict, options: dict) -> str | None:
  """The name of the Choice option whose keys `config` has, else None."""
  for name, keys in options.items():
    if all(_lookup(config, k) == v for k, v in keys.items()):
      return name
  return None


class Run:
  """One finished run's curves against examples seen."""

  def __init__(self, record: dict, rows: list[dict]):
    c = record['config']
    self.seed = record['seed']
    self.size = c['data']['train_size'] * c['data']['train_repeats']
    loss_rows = [r for r in rows if 'train/loss' in r]
    self.examples = np.array([r['epoch'] * self.size for r in loss_rows])
    self.train_loss = np.array([r['train/loss'] for r in loss_rows])
    dev_rows = [r for r in rows if 'dev/accuracy' in r]
    self.dev = {r['epoch'] * self.size: r['dev/accuracy'] for r in dev_rows}
    self.final = record.get('final') or {}
    self.summary = RunDir(record['run_dir']).read_summary() or {}

  def examples_to(self, target: float, window: int = 0) -> float:
    """Examples seen at the end of the first epoch whose training loss was
    below `target`; inf if none was. With `window` (a multiple of the
    training set's size), the first window of that many examples whose mean
    loss was: the same statistic for runs whose epochs differ in size."""
    per = max(window // self.size, 1)
    n = len(self.train_loss) // per * per
    losses = self.train_loss[:n].reshape(-1, per).mean(axis=1)
    hit = np.flatnonzero(losses < target)
    return float(self.examples[per * hit[0] + per - 1]) if hit.size else math.inf


def collect(records) -> dict[tuple[str, str, float], list[Run]]:
  """{(training set, batching, lr): finished runs}, and the count of the
  runs left out (diverged, failed) under the key's 'left out' twin."""
  points: dict = {}
  for r in records:
    c = r.get('config')
    if not c:
      continue
    key = (option_of(c, TRAINING_SETS), option_of(c, BATCHINGS),
           float(c['optimizer']['learning_rate']))
    if None in key:
      continue
    runs = points.setdefault(key, {'runs': [], 'left_out': 0})
    if r.get('status') in FINISHED and r.get('run_dir'):
      runs['runs'].append(Run(r, results.trial_metrics(r)))
    else:
      runs['left_out'] += 1
  return points


def _mean_examples(runs: list[Run], target: float, window: int = 0) -> float:
  return float(np.mean([run.examples_to(target, window) for run in runs]))


def _complete(p: dict) -> bool:
  return bool(p['runs']) and not p['left_out']


def best_rates(points: dict) -> dict[tuple[str, str], dict[str, float]]:
  """{(set, batching): {'speed': lr, 'dev': lr}}. 'speed': fewest mean
  examples to the last TARGET_LOSSES (then to the first, then the lowest
  final training loss); 'dev': the highest mean final dev accuracy. Only
  rates whose every seed finished compete."""
  chosen = {}
  for (ts, b) in {(k[0], k[1]) for k in points}:
    rates = {lr: p['runs'] for (s, bb, lr), p in points.items()
             if (s, bb) == (ts, b) and _complete(p)}
    if not rates:
      continue
    chosen[(ts, b)] = {
        'speed': min(rates, key=lambda lr: (
            *(_mean_examples(rates[lr], t) for t in reversed(TARGET_LOSSES)),
            np.mean([r.final.get('train/loss', math.inf) for r in rates[lr]]))),
        'dev': max(rates, key=lambda lr: np.mean(
            [r.final.get('dev/accuracy', 0.0) for r in rates[lr]])),
    }
  return chosen


def _examples_cell(runs: list[Run], target: float) -> str:
  values = [run.examples_to(target) for run in runs]
  reached = [v for v in values if math.isfinite(v)]
  if not reached:
    return f'> {EXAMPLES_SEEN:,}'
  text = f'{np.mean(reached):,.0f}'
  if len(reached) < len(values):
    text += f' ({len(reached)}/{len(values)} seeds)'
  return text


def _dev_at(runs: list[Run], examples: int) -> list[float]:
  return [r.dev[examples] for r in runs if examples in r.dev]


def throughput(points: dict) -> dict[str, tuple[float, int]]:
  """{batching: (examples per second per member, population size)}: the
  compiled epochs' time per step of the largest population that trained a
  batching on the '1000 unique' set (the same split size for every batch)."""
  out = {}
  for (ts, b, _), p in points.items():
    for run in p['runs']:
      s = run.summary
      step_s = s.get('epoch_time_per_step_s')
      size = (s.get('population') or {}).get('size', 1)
      if ts != UNIQUE_SET or not step_s:
        continue
      batch = run.size if b == FULL else BATCHINGS[b]['train.batch_size']
      if b not in out or size > out[b][1]:
        out[b] = (batch / step_s, size)
  return out


def exact_gradient_check(points: dict) -> tuple[float, int] | None:
  """Full batch on the 10 copies against full batch on the 100 once, same
  rate and seed: the largest |difference| of the training loss at the same
  step over the copies' steps, and how many pairs were compared."""
  worst, pairs = 0.0, 0
  for (ts, b, lr), p in points.items():
    if ts != REDUNDANT or b != FULL:
      continue
    once = {r.seed: r for r in points.get((ONCE, FULL, lr), {}).get('runs', [])}
    for run in p['runs']:
      if run.seed not in once:
        continue
      n = len(run.train_loss)  # steps of the copies (one per epoch)
      worst = max(worst, float(np.max(np.abs(
          run.train_loss - once[run.seed].train_loss[:n]))))
      pairs += 1
  return (worst, pairs) if pairs else None


def plot_curves(points: dict, chosen: dict, path) -> None:
  """Training loss (top) and dev accuracy (bottom) against examples seen, a
  panel per training set, a line per batching at its 'speed' rate (mean
  over seeds)."""
  sets = list(TRAINING_SETS)
  fig, axes = plt.subplots(2, len(sets), figsize=(plots.FIGSIZE[0] * 1.8 * len(sets) / 2,
                                                  plots.FIGSIZE[1] * 1.5),
                           sharex=True, sharey='row')
  for col, ts in enumerate(sets):
    for i, b in enumerate(BATCHINGS):
      if (ts, b) not in chosen:
        continue
      lr = chosen[(ts, b)]['speed']
      runs = points[(ts, b, lr)]['runs']
      s = plots.style(i)
      label = f'{b}, lr {lr:g}'
      n = min(len(r.train_loss) for r in runs)
      axes[0, col].plot(runs[0].examples[:n],
                        np.mean([r.train_loss[:n] for r in runs], axis=0),
                        color=s['color'], linewidth=1.3, label=label)
      ex = sorted(set.intersection(*(set(r.dev) for r in runs)))
      axes[1, col].plot(ex, [100 * np.mean([r.dev[e] for r in runs]) for e in ex],
                        color=s['color'], marker=s['marker'], markersize=2,
                        linewidth=1.1, label=label)
    axes[0, col].set_title(ts)
    if axes[0, col].lines:
      axes[0, col].legend(fontsize=7)
    for ax in axes[:, col]:
      ax.set_xscale('log')
      ax.grid(True, alpha=0.3)
    axes[1, col].set_xlabel('examples seen (gradient evaluations)')
  axes[0, 0].set_yscale('log')
  axes[0, 0].set_ylabel('training loss (mean over the epoch\'s batches)')
  axes[1, 0].set_ylabel('dev accuracy (%)')
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(fig)


def _ratio(a: float, b: float) -> str:
  if not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
    return 'n/a (not reached)'
  return f'{a / b:.1f}x'


def _windows(points: dict, chosen: dict, ts: str, b: str, window: int,
             count: int = 2) -> str:
  """The mean training loss over the first `count` windows of `window`
  examples, mean over seeds, at the point's 'speed' rate."""
  if (ts, b) not in chosen:
    return 'n/a'
  runs = points[(ts, b, chosen[(ts, b)]['speed'])]['runs']
  per = max(window // runs[0].size, 1)
  means = np.mean([r.train_loss[:count * per].reshape(count, per).mean(axis=1)
                   for r in runs], axis=0)
  return '(' + ', '.join(f'{m:.2f}' for m in means) + ')'


def reading(points: dict, chosen: dict, speed: dict, check) -> list[str]:
  """The lecture's claims, each beside what was measured."""
  t = TARGET_LOSSES[0]
  lines = []

  def ex(ts, b, target=t, window=0):
    if (ts, b) not in chosen:
      return math.inf
    return _mean_examples(points[(ts, b, chosen[(ts, b)]['speed'])]['runs'],
                          target, window)

  if check:
    worst, pairs = check
    agrees = 'agrees' if worst < 1e-4 else 'DISAGREES'
    lines.append(
        f'Claim: full batch computes the exact gradient, so {COPIES} copies of '
        f'{UNIQUE} examples give the same step as the {UNIQUE} once, at '
        f'{COPIES}x the compute. Measured: over {pairs} (rate, seed) pairs the '
        f'training loss after the same number of full-batch steps differs by '
        f'at most {worst:.1e}, and each step costs {COPIES * UNIQUE:,} instead '
        f'of {UNIQUE} examples: {agrees}.')
  # Full batch: exact per-step losses, each set at its own resolution. Online:
  # running means, compared over the same windows of the copies' epoch.
  window = COPIES * UNIQUE
  full_ratio = _ratio(ex(REDUNDANT, FULL), ex(ONCE, FULL))
  online = [ex(s, ONLINE, target, window) for target in TARGET_LOSSES
            for s in (REDUNDANT, ONCE)]
  online_ratios = [_ratio(online[i], online[i + 1]) for i in (0, 2)]
  agrees = (full_ratio.endswith('x') and float(full_ratio[:-1]) >= 5
            and all(r.endswith('x') and float(r[:-1]) <= 1.5
                    for r in online_ratios))
  lines.append(
      f'Claim: on the redundant set full batch wastes 90% of its work, online '
      f'learning does not. Measured, each at its fastest rate: full batch '
      f'needs {full_ratio} the examples on the {COPIES} copies that it needs '
      f'on the {UNIQUE} once to reach training loss < {t:g} (exact losses, '
      f'one per step). Online, with the mean training loss taken over the '
      f'same windows of {window:,} examples on both sets: '
      + '; '.join(f'< {target:g} after {online[2 * i]:,.0f} examples on the '
                  f'copies and {online[2 * i + 1]:,.0f} on the {UNIQUE} once '
                  f'({online_ratios[i]})'
                  for i, target in enumerate(TARGET_LOSSES))
      + '. Mean training loss over the first two windows (examples 1-1,000, '
      '1,001-2,000), copies vs once: '
      + '; '.join(f'{b} {_windows(points, chosen, REDUNDANT, b, window)} vs '
                  f'{_windows(points, chosen, ONCE, b, window)}'
                  for b in (ONLINE, FULL))
      + '. ' + ('Agrees.' if agrees else 'Does not clearly agree.'))
  for ts in (REDUNDANT, UNIQUE_SET):
    a, b = ex(ts, ONLINE), ex(ts, FULL)
    verdict = ('agrees' if a < b else 'disagrees')
    lines.append(
        f'Claim: online learning learns much faster per example seen than full '
        f'batch. On {ts}: online reaches training loss < {t:g} after '
        f'{a:,.0f} examples, full batch after '
        + (f'{b:,.0f} ({_ratio(b, a)} as many)' if math.isfinite(b)
           else f'more than {EXAMPLES_SEEN:,} (it never did)')
        + f': {verdict}.')
  mini = [b for b in BATCHINGS if b not in (ONLINE, FULL)]
  if speed.get(ONLINE):
    parts = []
    for b in mini:
      if b in speed and (UNIQUE_SET, b) in chosen:
        parts.append(f'{b} needs {ex(UNIQUE_SET, b):,.0f} examples at '
                     f'{speed[b][0] / speed[ONLINE][0]:.0f}x the examples per '
                     'second of online')
    lines.append(
        'Claim: minibatches are the practical compromise: nearly online\'s '
        'progress per example at vectorized speed. On '
        f'{UNIQUE_SET} online needs {ex(UNIQUE_SET, ONLINE):,.0f} examples; '
        + '; '.join(parts) + '. With SGD the rate that works scales about '
        'linearly with the batch (see the rates chosen), so per example a '
        'minibatch step does about what its examples would do online. On '
        'this 2-core CPU a batch-1 step of this small MLP is cheap, so the '
        'throughput gap is modest (an accelerator was not measured here). '
        + ('Agrees.' if ex(UNIQUE_SET, mini[0]) <= 1.5 * ex(UNIQUE_SET, ONLINE)
           and all(speed.get(b, (0,))[0] > speed[ONLINE][0] for b in mini)
           else 'Does not clearly agree.'))
  return lines


def report(inputs: tables.TableInputs) -> str:
  points = collect(inputs.records)
  chosen = best_rates(points)
  speed = throughput(points)
  rows = []
  for ts in TRAINING_SETS:
    for b in BATCHINGS:
      if (ts, b) not in chosen:
        rows.append((ts, b) + ('—',) * 7)
        continue
      fast, best = chosen[(ts, b)]['speed'], chosen[(ts, b)]['dev']
      runs, dev_runs = points[(ts, b, fast)]['runs'], points[(ts, b, best)]['runs']
      rows.append((
          ts, b, f'{fast:g}',
          *(_examples_cell(runs, t) for t in TARGET_LOSSES),
          f'{best:g}',
          tables.mean_std(_dev_at(dev_runs, EARLY_BUDGET)),
          tables.mean_std(_dev_at(dev_runs, EXAMPLES_SEEN)),
          tables.mean_std([r.final['test/accuracy'] for r in dev_runs
                           if 'test/accuracy' in r.final])))
  table = tables.markdown_table(
      ['training set', 'batching', 'lr (speed)',
       *(f'examples to train loss < {t:g}' for t in TARGET_LOSSES),
       'lr (dev)', f'dev acc. @ {EARLY_BUDGET:,}',
       f'dev acc. @ {EXAMPLES_SEEN:,}', f'test acc. @ {EXAMPLES_SEEN:,}'],
      rows, align='ll' + 'r' * 7)
  speed_table = tables.markdown_table(
      ['batching', 'examples / s per model', 'models in the vmapped population'],
      [(b, f'{speed[b][0]:,.0f}', speed[b][1]) for b in BATCHINGS if b in speed])
  left_out = {f'{k[0]}, {k[1]}, lr {k[2]:g}': p['left_out']
              for k, p in points.items() if p['left_out']}
  diverged = ('Runs that did not finish (diverged: training loss NaN or above '
              '1000x its first value), never chosen: '
              + '; '.join(f'{k} ({n})' for k, n in sorted(left_out.items()))
              + '.') if left_out else 'Every run finished.'
  plot_curves(points, chosen, inputs.figures_dir / 'loss_against_examples.png')
  check = exact_gradient_check(points)
  return f"""## Equal numbers of examples seen

Every run processes {EXAMPLES_SEEN:,} examples (gradient evaluations), plain
SGD, 3 seeds. Each (training set, batching) is shown at two learning rates
from its grid: 'lr (speed)', the one that reaches training loss
< {TARGET_LOSSES[-1]:g} in the fewest examples (then < {TARGET_LOSSES[0]:g},
then the lowest final loss): each batching at its fastest; 'lr (dev)', the one
with the best mean dev accuracy at the end. 'examples to train loss < t': mean
over seeds of the examples seen at the end of the first epoch whose mean
training loss was below t, so at a resolution of one epoch (1,000 examples on
the 1,000-example sets, 100 on '{ONCE}'); for minibatches that mean lags the
model (it averages the epoch's batches before their steps). Dev and test
accuracy (%, mean ± std) of the 'lr (dev)' runs, dev after {EARLY_BUDGET:,} and
{EXAMPLES_SEEN:,} examples. On '{ONCE}' minibatch 100 is full batch (the same
run). {diverged}

{table}

![training loss and dev accuracy against examples seen](figures/{inputs.experiment}/loss_against_examples.png)

## Throughput per batch size

Examples per second of the compiled epochs on '{UNIQUE_SET}' (one model's
share of a vmapped population's time per step; measured on a CPU that other
jobs shared, so rough).

{speed_table}

## Reading

{chr(10).join('- ' + line for line in reading(points, chosen, speed, check))}"""
