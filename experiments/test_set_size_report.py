"""The test_set_size experiment's tables and figure: the width of an error
rate's 95% interval against the test-set size, the test examples a given width
needs, and REFERENCES.md's statistical yardstick."""

import numpy as np
from scipy import stats

from research import metrics
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research.tables import TableInputs, markdown_table

LEVEL = 0.95
ERROR_RATES = (0.01, 0.10, 0.30)
SIZES = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
HALF_WIDTHS = (0.1, 0.25, 0.5, 1.0, 2.0)  # ± points wanted
FIGURE = 'interval_width.png'

# (setting, error rate, test examples, half-width REFERENCES.md states in points).
YARDSTICKS = (
    ('MNIST, error near 1.5%', 0.015, 10_000, 0.25),
    ('MNIST-1D MLP, error near 35%', 0.35, 1_000, 3.0),
    ('MNIST-1D logistic regression, error near 68.5%', 0.685, 1_000, 3.0),
)
# "About ±x" holds when the computed half-width is within this fraction of x.
YARDSTICK_TOLERANCE = 0.1


def half_width(error_rate: float, n: int) -> float:
  """Half the width of the interval, in points (percent)."""
  low, high = metrics.error_interval(error_rate * n, n, LEVEL)
  return 100 * (high - low) / 2


def _percent(rate: float) -> str:
  return f'{100 * rate:g}%'


def width_table() -> str:
  rows = [(f'{n:,}', *(f'±{half_width(p, n):.2f}' for p in ERROR_RATES)) for n in SIZES]
  return markdown_table(['test examples', *(f'error {_percent(p)}' for p in ERROR_RATES)],
                        rows)


def size_table() -> str:
  rows = [(f'±{h:g}', *(f'{metrics.test_set_size(p, 2 * h / 100, LEVEL):,}'
                        for p in ERROR_RATES)) for h in HALF_WIDTHS]
  return markdown_table(['half-width (points)',
                         *(f'error {_percent(p)}' for p in ERROR_RATES)], rows)


def yardstick_table() -> tuple[str, bool]:
  rows, all_hold = [], True
  for setting, error_rate, n, stated in YARDSTICKS:
    low, high = metrics.error_interval(error_rate * n, n, LEVEL)
    computed = half_width(error_rate, n)
    holds = abs(computed - stated) <= YARDSTICK_TOLERANCE * stated
    all_hold &= holds
    rows.append((setting, f'{n:,}', f'[{100 * low:.2f}, {100 * high:.2f}]',
                 f'±{computed:.2f}', f'about ±{stated:g}', 'yes' if holds else 'no'))
  table = markdown_table(['setting', 'test examples', '95% interval of the error (%)',
                          'half-width (points)', 'REFERENCES.md', 'holds'], rows,
                         align='lrrrrl')
  return table, all_hold


def plot_widths(path) -> None:
  """Log-log half-width against n, one line per error rate; dashed: the normal
  approximation z * sqrt(p (1 - p) / n), which fails for small n p."""
  fig, ax = plt.subplots(figsize=plots.FIGSIZE)
  ns = np.unique(np.geomspace(SIZES[0], SIZES[-1], 60).astype(int))
  z = stats.norm.ppf(0.5 + LEVEL / 2)
  for i, p in enumerate(ERROR_RATES):
    s = plots.style(i)
    ax.plot(ns, [half_width(p, n) for n in ns], color=s['color'], linewidth=1.5,
            label=f'error {_percent(p)}')
    ax.plot(SIZES, [half_width(p, n) for n in SIZES], color=s['color'],
            marker=s['marker'], linestyle='none', markersize=5)
    ax.plot(ns, 100 * z * np.sqrt(p * (1 - p) / ns), color=s['color'], linewidth=0.8,
            linestyle='--', alpha=0.7)
  # The logistic-regression yardstick would sit on the MLP's star.
  for setting, error_rate, n, _ in YARDSTICKS[:2]:
    ax.plot(n, half_width(error_rate, n), marker='*', color='black', markersize=11,
            linestyle='none', zorder=4)
    ax.annotate(setting, (n, half_width(error_rate, n)), textcoords='offset points',
                xytext=(6, 6), fontsize=8)
  ax.plot([], [], color='grey', linestyle='--', label='normal approximation')
  ax.set_xscale('log')
  ax.set_yscale('log')
  ax.set_xlabel('test examples n')
  ax.set_ylabel(f'half-width of the {LEVEL:.0%} interval (± points)')
  ax.set_title('Uncertainty of a measured error rate')
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize=8, loc='upper right', framealpha=0.85)
  fig.savefig(path, dpi=plots.DPI, bbox_inches='tight')
  plt.close(fig)


def report(inputs: TableInputs) -> str:
  inputs.figures_dir.mkdir(parents=True, exist_ok=True)
  plot_widths(inputs.figures_dir / FIGURE)
  inputs.log(f'wrote {inputs.figures_dir / FIGURE}')
  yardsticks, all_hold = yardstick_table()
  return f"""## How precise is a test error?

A model that makes k mistakes on n test examples has an error rate whose
posterior, under a uniform prior, is Beta(k + 1, n - k + 1). The tables give
half the width of its equal-tailed {LEVEL:.0%} interval in points (percent):
two models whose test errors differ by less than about that are not
distinguishable on that test set. The width shrinks as 1 / sqrt(n): four times
the test examples halve it. A difference between two models scored on
separate test sets is about sqrt(2) times less certain still; on the same test
set their mistakes are correlated, and a paired test (McNemar's) resolves finer.

## Half-width of the {LEVEL:.0%} interval against test-set size (± points)

{width_table()}

## Test examples needed for a given half-width

The smallest n whose interval is at most twice the half-width wide
(`research.metrics.test_set_size`, a bisection on n).

{size_table()}

## REFERENCES.md's statistical yardstick

"About ±x" holds when the computed half-width is within {YARDSTICK_TOLERANCE:.0%} of x.
{'Every' if all_hold else 'Not every'} stated yardstick holds.

{yardsticks}

## Figure

Solid: the Beta interval; dashed: the normal approximation, which is too
narrow where n × error is small; stars: the yardsticks above.

![half-width of the interval against test-set size](figures/{inputs.experiment}/{FIGURE})
"""
