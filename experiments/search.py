"""Random against grid search at an equal budget (Bergstra & Bengio 2012).

    research sweep search --search grid --launcher population
    research sweep search --search random --trials 27 --launcher population
    research table search

MNIST-1D (1,000 training examples held out as dev), the quickstart's residual
MLP, Adam, batch 100, 40 epochs. Two axes: the learning rate, log-uniform on
[1e-4, 1e-1], which matters; decoupled weight decay, log-uniform on
[1e-6, 1e-5], which at these rates shrinks the weights by ~1e-4 over a whole
run and so does not (the report checks it). The 3 x 3 grid is 9 trials that
try only 3 learning rates (the centres of three equal log-thirds of the
range); 9 random trials try 9. The random sweep of 27 trials is cut, in the
order it drew them, into 3 independent random searches of the grid's budget
(the draws are independent, so each block of 9 is a search of its own;
`research sweep` seeds its random points with a fixed seed, so two sweeps of
9 would repeat the same points). Population launcher: every trial of a sweep
is one vmapped program (learning rate and weight decay are traced).
"""

import math
import pathlib

import numpy as np

from research import tables
from research.config import base_config
from research.registry import register
from research.search import LogUniform

LR_RANGE = (1e-4, 1e-1)
WD_RANGE = (1e-6, 1e-5)
# Centres of three equal thirds of each range in log space.
LR_GRID = tuple(10.0 ** e for e in (-3.5, -2.5, -1.5))
WD_GRID = tuple(10.0 ** e for e in (-6.0, -5.5, -5.0))
AXES = {
    'optimizer.learning_rate': LogUniform(*LR_RANGE, grid=LR_GRID),
    'optimizer.weight_decay': LogUniform(*WD_RANGE, grid=WD_GRID),
}
NUM_EPOCHS = 40
SELECT_BY = 'dev/accuracy'
# (q, n) checked against 1 - (1 - q)^n; the published pair is (0.05, 60).
CHECKS = ((0.05, 9), (0.05, 60), (0.10, 9), (0.01, 60))
PUBLISHED = {(0.05, 60): 0.95}
FINE_POINTS = 10_000
NUM_SIMULATED_SEARCHES = 20_000


# --------------------------------------------------------------------------
# The chance of landing in the best fraction q.


def formula(q: float, n: int) -> float:
  """1 - (1 - q)^n: at least one of n independent draws in a set of mass q."""
  return 1.0 - (1.0 - q) ** n


def top_fraction(scores: np.ndarray, q: float) -> np.ndarray:
  """A mask of the round(q * len) best scores (at least one): the best
  fraction q of a pool whose members are equally likely draws."""
  scores = np.asarray(scores, dtype=np.float64)
  if not 0 < q < 1:
    raise ValueError(f'q must be in (0, 1), got {q!r}')
  k = max(1, int(round(q * len(scores))))
  mask = np.zeros(len(scores), dtype=bool)
  mask[np.argsort(-scores, kind='stable')[:k]] = True
  return mask


def simulate_random(top: np.ndarray, n: int, num_searches: int,
                    rng: np.random.Generator) -> float:
  """The fraction of `num_searches` random searches of n uniform draws from
  the pool that hit `top` at least once."""
  draws = rng.integers(0, len(top), size=(num_searches, n))
  return float(top[draws].any(axis=1).mean())


def simulate_grid(top: np.ndarray, num_values: int, num_searches: int,
                  rng: np.random.Generator) -> float:
  """The same for a grid of `num_values` evenly spaced values of a pool laid
  out in order on [0, 1) (e.g. learning rates in log space), shifted by a
  uniformly random offset: each search tries only `num_values` places."""
  offsets = rng.uniform(0.0, 1.0 / num_values, size=(num_searches, 1))
  places = offsets + np.arange(num_values) / num_values
  indices = np.minimum((places * len(top)).astype(int), len(top) - 1)
  return float(top[indices].any(axis=1).mean())


def fine_scores(log_lrs: np.ndarray, scores: np.ndarray, low: float, high: float,
                num_points: int = FINE_POINTS) -> tuple[np.ndarray, np.ndarray]:
  """The trials' scores against log10 learning rate, averaged over trials
  at the same rate and interpolated linearly onto `num_points` rates evenly
  spaced in log space on [low, high] (the search distribution's support)."""
  by_rate: dict[float, list[float]] = {}
  for x, s in zip(log_lrs, scores):
    by_rate.setdefault(float(x), []).append(float(s))
  xs = np.asarray(sorted(by_rate))
  ys = np.asarray([np.mean(by_rate[x]) for x in xs])
  fine = np.linspace(math.log10(low), math.log10(high), num_points)
  return fine, np.interp(fine, xs, ys)


def grid_values(n: int, num_axes: int = len(AXES)) -> int:
  """Distinct values per axis of a square grid of about n trials."""
  return max(1, int(round(n ** (1.0 / num_axes))))


def chance_rows(fine: np.ndarray, seed: int = 0) -> list[tuple]:
  """Per (q, n) of CHECKS: the formula at the q used (a whole number of the
  fine rates), the simulated chance of n random trials and of a shifted grid
  of n trials (which tries `grid_values(n)` learning rates), the published
  number."""
  rng = np.random.default_rng(seed)
  rows = []
  for q, n in CHECKS:
    top = top_fraction(fine, q)
    rows.append((f'{q:g}', n, grid_values(n), f'{formula(float(top.mean()), n):.3f}',
                 f'{simulate_random(top, n, NUM_SIMULATED_SEARCHES, rng):.3f}',
                 f'{simulate_grid(top, grid_values(n), NUM_SIMULATED_SEARCHES, rng):.3f}',
                 f'{PUBLISHED[(q, n)]:.2f}' if (q, n) in PUBLISHED else '—'))
  return rows


# --------------------------------------------------------------------------
# The trials of each search.


def _lr(record) -> float:
  return float(record['config']['optimizer']['learning_rate'])


def _wd(record) -> float:
  return float(record['config']['optimizer']['weight_decay'])


def _score(record) -> float | None:
  return (record.get('final') or {}).get(SELECT_BY)


def searches(sweeps: list[dict], records: list[dict]) -> list[tuple[str, str, list[dict]]]:
  """[(label, kind, trials)]: the finished trials of each sweep in the
  order it ran them; a random or halton sweep is cut into blocks of the
  grid's budget (its number of trials, or the axes' grid size without a grid
  sweep), each an independent search. Repeated sweeps count once."""
  by_dir = {pathlib.Path(r['run_dir']).name: r for r in records if r.get('run_dir')}
  runs, seen = [], set()
  for sweep in sweeps:
    names = tuple(pathlib.Path(d).name for d in sweep.get('run_dirs') or ())
    if names and names not in seen:
      seen.add(names)
      runs.append((sweep.get('search', 'grid'), [by_dir[n] for n in names if n in by_dir]))
  grids = [trials for kind, trials in runs if kind == 'grid']
  budget = len(grids[0]) if grids else math.prod(len(a.grid) for a in AXES.values())
  out, count = [], {}
  for kind, trials in runs:
    blocks = ([trials] if kind == 'grid' or len(trials) < budget else
              [trials[i:i + budget] for i in range(0, len(trials) - budget + 1, budget)])
    for block in blocks:
      count[kind] = count.get(kind, 0) + 1
      finished = [r for r in block if r.get('status') in tables.FINISHED
                  and _score(r) is not None]
      out.append((f'{kind} {count[kind]}', kind, finished))
  return out


def search_rows(found: list[tuple[str, str, list[dict]]]) -> list[tuple]:
  rows = []
  for label, _, trials in found:
    if not trials:
      rows.append((label, 0, 0, '—', '—', '—', '—'))
      continue
    best = max(trials, key=_score)
    rows.append((label, len(trials), len({_lr(r) for r in trials}),
                 tables.format_value(_lr(best), log_scale=True),
                 tables.format_value(_wd(best), log_scale=True),
                 f'{100 * _score(best):.1f}',
                 _percent((best.get('final') or {}).get('test/accuracy'))))
  return rows


def _percent(x) -> str:
  return '—' if x is None else f'{100 * x:.1f}'


def dev_noise(records: list[dict]) -> float | None:
  """Half the width of the 95% interval of a dev accuracy near the best one,
  in points: how far apart two dev accuracies can be by the dev set's
  sampling alone (roughly), or None without the dev set's size."""
  from research.metrics import error_interval  # pylint: disable=g-import-not-at-top
  sizes = [(r.get('data') or {}).get('dev') for r in records]
  scores = [_score(r) for r in records if _score(r) is not None]
  if not any(sizes) or not scores:
    return None
  n = max(s for s in sizes if s)
  low, high = error_interval((1 - max(scores)) * n, n)
  return 100 * (high - low) / 2


def comparison(found, noise: float | None = None) -> list[str]:
  """Sentences: the grid's best against each random search's best, by the
  selection metric and by the test accuracy of the trial each one picked."""
  picks = {label: max(trials, key=_score) for label, _, trials in found if trials}
  grid = [label for label, kind, _ in found if kind == 'grid' and label in picks]
  others = [label for label, kind, _ in found if kind != 'grid' and label in picks]
  if not grid or not others:
    return ['Both a grid and a random (or halton) sweep are needed for the comparison.']
  best = {label: _score(r) for label, r in picks.items()}
  test = {label: (r.get('final') or {}).get('test/accuracy') for label, r in picks.items()}
  g = best[grid[0]]
  wins = sum(best[o] > g for o in others)
  ties = sum(best[o] == g for o in others)
  lines = [f'Best {SELECT_BY} of the grid: {100 * g:.1f}%; of the {len(others)} '
           f'non-grid searches: {100 * np.mean([best[o] for o in others]):.1f}% on average '
           f'({", ".join(f"{100 * best[o]:.1f}" for o in others)}). '
           f'{wins} of {len(others)} found a better configuration than the grid'
           + (f', {ties} an equal one' if ties else '') + '.']
  if test[grid[0]] is not None and all(test[o] is not None for o in others):
    lines.append(f'On the test set, the grid\'s pick scores {100 * test[grid[0]]:.1f}%, '
                 f'the random searches\' picks {100 * np.mean([test[o] for o in others]):.1f}% '
                 'on average: the best of several noisy dev scores overstates its own '
                 'accuracy, the test set does not select.')
  if noise is not None:
    lines.append(f'One accuracy near these on a split of this size is known to about '
                 f'±{noise:.1f} points (95% interval of its sampling alone): differences '
                 'between searches smaller than that are not results.')
  return lines


def weight_decay_check(grid_trials: list[dict], noise: float | None = None) -> str:
  """How much the weight decay moves the score at each grid learning rate,
  against how much the learning rate moves it."""
  by_lr: dict[float, list[float]] = {}
  for r in grid_trials:
    by_lr.setdefault(_lr(r), []).append(_score(r))
  spreads = {lr: 100 * (max(s) - min(s)) for lr, s in by_lr.items() if len(s) > 1}
  if not spreads:
    return 'No grid learning rate has several weight decays: the check needs the grid sweep.'
  means = [np.mean(s) for s in by_lr.values()]
  each = ', '.join(f'lr {tables.format_value(lr, True)}: {s:.1f}'
                   for lr, s in sorted(spreads.items()))
  return (f'At each grid learning rate, the {max(len(s) for s in by_lr.values())} weight '
          f'decays give {SELECT_BY} spread over at most {max(spreads.values()):.1f} points '
          f'({each}); '
          f'the mean over weight decays moves {100 * (max(means) - min(means)):.1f} points '
          'across the learning rates'
          + (f' (a single dev score is known to ±{noise:.1f} points).' if noise else '.'))


def plot_trials(found, path, grid_lrs) -> None:
  """Score against learning rate, a marker per search, the grid's rates as
  vertical lines."""
  from research import plots  # pylint: disable=g-import-not-at-top  (matplotlib)
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(plots.FIGSIZE[0] * 1.4, plots.FIGSIZE[1] * 0.8))
  random_markers = ('o', '^', 'v', 'D', 'P', 'X', '*', '<', '>')
  for i, (label, kind, trials) in enumerate(found):
    color = plots.style(i)['color']
    marker = 's' if kind == 'grid' else random_markers[i % len(random_markers)]
    ax.scatter([_lr(r) for r in trials], [100 * _score(r) for r in trials],
               color=color, marker=marker, s=40 if kind == 'grid' else 25, alpha=0.85,
               label=f'{label} ({len(trials)} trials)')
  for lr in grid_lrs:
    ax.axvline(lr, color='grey', linestyle=':', linewidth=0.8)
  ax.set_xscale('log')
  ax.set_xlabel('learning rate (dotted: the grid\'s)')
  ax.set_ylabel(f'final {SELECT_BY} (%)')
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(fig)


def report(inputs: tables.TableInputs) -> str:
  found = searches(inputs.sweeps, inputs.records)
  pool = [r for r in inputs.records if r.get('status') in tables.FINISHED
          and _score(r) is not None]
  if not pool:
    return '## Search\n\nNo finished trial: nothing to compare.'
  grid_trials = next((t for _, kind, t in found if kind == 'grid'), [])
  grid_lrs = sorted({_lr(r) for r in grid_trials}) or list(LR_GRID)
  noise = dev_noise(pool)
  sections = []
  if found:
    plot_trials(found, inputs.figures_dir / 'trials.png', grid_lrs)
    sections += [
        '## Grid against random search',
        f'Each search\'s best trial by final {SELECT_BY} and that trial\'s test '
        'accuracy; a random sweep is cut into blocks of the grid\'s budget, in the '
        'order it drew its points.',
        tables.markdown_table(['search', 'trials', 'distinct learning rates', 'best lr',
                               'its weight decay', f'best {SELECT_BY} %', 'its test acc. %'],
                              search_rows(found), align='lrrrrrr'),
        '\n'.join('- ' + line for line in [*comparison(found, noise),
                                             weight_decay_check(grid_trials, noise)]),
        f'![trials](figures/{inputs.experiment}/trials.png)',
    ]
  else:
    sections += ['## Grid against random search',
                 'No sweep record names these trials: run the sweeps with '
                 '`research sweep` so that each leaves one.']
  fine, scores = fine_scores(np.log10([_lr(r) for r in pool]),
                             np.asarray([_score(r) for r in pool]), *LR_RANGE)
  sections += [
      '## The chance of landing in the best fraction (§8)',
      f'The {len(pool)} finished trials\' {SELECT_BY} against log learning rate '
      f'(averaged at equal rates; the weight decay does not matter) interpolated onto '
      f'{FINE_POINTS:,} rates evenly spaced in log space over the search range: a '
      'random trial is a uniform draw from them. The best fraction q is the q '
      f'best of those rates. Simulated over {NUM_SIMULATED_SEARCHES:,} searches: n '
      'random trials, and a square grid of n trials over the two axes, which tries '
      '"grid rates" = n^(1/2) learning rates evenly spaced in log space (with a '
      'uniformly random offset).',
      tables.markdown_table(['q', 'n', 'grid rates', '1 - (1 - q)^n', 'random, simulated',
                             'grid, simulated', 'published'],
                            chance_rows(scores), align='rrrrrrr'),
      'Bergstra & Bengio: "the chance that at least one of n random trials lands in '
      'the best fraction q is 1 - (1 - q)^n (q = 5%, n = 60 -> 0.95)". The grid, with '
      'its trials spent on the weight decay, tries only its distinct learning rates.',
  ]
  return '\n\n'.join(sections)


@register('search',
          description='Random vs grid search at an equal budget of 9 trials: learning rate (matters) x weight decay in [1e-6, 1e-5] (does not); MNIST-1D residual MLP, Adam, 40 epochs, selected by dev accuracy',
          reference='REFERENCES.md §8 (Bergstra & Bengio 2012): P(at least one of n random trials in the best fraction q) = 1 - (1 - q)^n; q = 5%, n = 60 -> 0.95',
          axes=AXES, report=report)
def get_config():
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.dev_size = 1000
  c.model.hidden = (100, 100)
  c.model.residual = True
  c.model.init = 'pytorch'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-2
  c.optimizer.weight_decay = 1e-6
  c.train.batch_size = 100
  c.train.num_epochs = NUM_EPOCHS
  c.train.monitor = ''  # selection is by the final dev accuracy
  c.train.checkpoint_every_epochs = NUM_EPOCHS
  return c
