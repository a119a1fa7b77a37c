"""The search experiment's report: each search's best trial against the
grid's, a figure of the trials, and the chance of landing in the best
fraction q simulated on the pool of every trial (§8)."""

import math
import pathlib
from typing import NamedTuple

import numpy as np

from experiments.search import (AXES, CHECKS, LR_GRID, LR_RANGE, PUBLISHED,
                                SELECT_BY)
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import results
from research import tables
from research.metrics import error_interval

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


class Search(NamedTuple):
  """The trials of one search: every sweep record with the same search,
  search seed (not for a grid, which has none) and common overrides."""
  label: str  # 'grid', 'random, seed 1'
  kind: str  # the sweeps' 'search': grid, random, halton (W&B: bayes)
  trials: list[dict]  # the finished trials with a score, in listed order
  listed: int  # how many distinct trials its sweeps listed, finished or not


def searches(sweeps: list[dict], records: list[dict]) -> list[Search]:
  """The searches that the sweep records ran, in order of their first sweep.

  A trial is matched to its record by the name of its run directory; one
  that several sweeps of the same search list (a re-run that skipped it)
  counts once. A trial that two different searches list counts in both.
  """
  by_dir = {pathlib.Path(r['run_dir']).name: r for r in records if r.get('run_dir')}
  listed: dict[tuple, dict[str, None]] = {}  # search -> run directory names
  for sweep in sweeps:
    kind = sweep.get('search', 'grid')
    seed = None if kind == 'grid' else sweep.get('search_seed', 0)
    key = (kind, seed, tuple(sweep.get('overrides') or ()))
    names = listed.setdefault(key, {})
    for run_dir in sweep.get('run_dirs') or ():
      names.setdefault(pathlib.Path(run_dir).name)
  found, labels = [], set()
  for (kind, seed, _), names in listed.items():
    if not names:
      continue
    # The same search with other common overrides is another search.
    base = kind if seed is None else f'{kind}, seed {seed}'
    label, n = base, 1
    while label in labels:
      n += 1
      label = f'{base} ({n})'
    labels.add(label)
    trials = [by_dir[name] for name in names if name in by_dir]
    found.append(Search(label, kind, [r for r in trials if r.get('status') in results.FINISHED
                                      and _score(r) is not None], len(names)))
  return found


def search_rows(found: list[Search]) -> list[tuple]:
  rows = []
  for label, _, trials, listed in found:
    count = str(len(trials)) if len(trials) == listed else f'{len(trials)} of {listed}'
    if not trials:
      rows.append((label, count, 0, '—', '—', '—', '—'))
      continue
    best = max(trials, key=_score)
    rows.append((label, count, len({_lr(r) for r in trials}),
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
  sizes = [(r.get('data') or {}).get('dev') for r in records]
  scores = [_score(r) for r in records if _score(r) is not None]
  if not any(sizes) or not scores:
    return None
  n = max(s for s in sizes if s)
  low, high = error_interval((1 - max(scores)) * n, n)
  return 100 * (high - low) / 2


def comparison(found: list[Search], noise: float | None = None) -> list[str]:
  """Sentences: each non-grid search's best against the grid's, by the
  selection metric and by the test accuracy of the trial each one picked,
  and whether their budgets were equal."""
  picks = {f.label: max(f.trials, key=_score) for f in found if f.trials}
  grid = [f for f in found if f.kind == 'grid' and f.label in picks]
  others = [f for f in found if f.kind != 'grid' and f.label in picks]
  if not grid or not others:
    return ['Both a grid and a random (or halton) sweep are needed for the comparison.']
  best = {label: _score(r) for label, r in picks.items()}
  test = {label: (r.get('final') or {}).get('test/accuracy') for label, r in picks.items()}
  g = best[grid[0].label]

  def verdict(o: Search) -> str:
    b = best[o.label]
    return 'better' if b > g else 'equal' if b == g else 'worse'

  wins = sum(best[o.label] > g for o in others)
  ties = sum(best[o.label] == g for o in others)
  lines = [f'Best {SELECT_BY} of the grid ({len(grid[0].trials)} trials): {100 * g:.1f}%; '
           + '; '.join(f'{o.label} ({len(o.trials)} trials): {100 * best[o.label]:.1f}% '
                       f'({verdict(o)})' for o in others)
           + f'. {wins} of {len(others)} non-grid searches found a better configuration '
           'than the grid' + (f', {ties} an equal one' if ties else '') + '.']
  budgets = {len(f.trials) for f in (grid[0], *others)}
  if len(budgets) > 1:
    lines.append('The budgets differ (finished trials per search above): the '
                 'comparison is not at an equal budget.')
  if test[grid[0].label] is not None and all(test[o.label] is not None for o in others):
    lines.append(f'On the test set, the grid\'s pick scores {100 * test[grid[0].label]:.1f}%, '
                 'the other searches\' picks '
                 f'{100 * np.mean([test[o.label] for o in others]):.1f}% on average: the '
                 'test set, which did not select them, is the fair comparison of the picks.')
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


def plot_trials(found: list[Search], path, grid_lrs) -> None:
  """Score against learning rate, a marker per search, the grid's rates as
  vertical lines."""
  fig, ax = plt.subplots(figsize=(plots.FIGSIZE[0] * 1.4, plots.FIGSIZE[1] * 0.8))
  random_markers = ('o', '^', 'v', 'D', 'P', 'X', '*', '<', '>')
  for i, (label, kind, trials, _) in enumerate(found):
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
  pool = [r for r in inputs.records if r.get('status') in results.FINISHED
          and _score(r) is not None]
  if not pool:
    return '## Search\n\nNo finished trial: nothing to compare.'
  grid_trials = next((f.trials for f in found if f.kind == 'grid'), [])
  grid_lrs = sorted({_lr(r) for r in grid_trials}) or list(LR_GRID)
  noise = dev_noise(pool)
  sections = []
  if found:
    plot_trials(found, inputs.figures_dir / 'trials.png', grid_lrs)
    sections += [
        '## Grid against random search',
        f'Each search\'s best trial by final {SELECT_BY} and that trial\'s test '
        'accuracy. A search is the trials that its sweep records list: a random '
        'search per `--search-seed`, where a sweep run again counts each trial once '
        '("trials" counts the finished ones, "k of n" when some of its n did not finish).',
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
