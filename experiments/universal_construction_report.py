"""The universal_approximation table's section on Cybenko's construction:
research/universal_construction.py's sum of sigmoid steps for the same target
and test grid, its error against width and steepness beside the trained
networks of universal_approximation_report.py, figures and a reading."""

import numpy as np

from experiments.universal_approximation import DOMAIN, NUM_TEST, TARGET
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import tables
from research import universal_construction as uc

# The construction ('steps' form: width w has w + 1 cells): the trained
# widths, 1-128, and wider, since it needs more units.
CONSTRUCTION_WIDTHS = tuple(2 ** k for k in range(11))  # 1 ... 1024
# Steepness s times the cell width D: the step's rise (10% to 90%) is 4.4 / s,
# so s D = 64 is a sharp step, s D = 0.5 a ramp several cells long.
STEEPNESSES = (0.5, 1, 2, 4, 16, 64)
SHARP = 64  # s D of the table's main columns and of the error bound
STEEPNESS_WIDTHS = (4, 16, 64, 128, 256, 1024)  # the steepness table's columns
LIPSCHITZ = 3 * np.pi + 1  # max |f'| of the target


def target64(x):
  """The target (universal_approximation_report.target) in float64 NumPy."""
  return np.sin(3 * np.pi * x) + x


def construct_widths(widths=CONSTRUCTION_WIDTHS, steepnesses=STEEPNESSES,
                     num_test: int = NUM_TEST, log=print) -> dict:
  """Errors of the construction of the target for each width and s D, on the
  test grid of `fit`: 'max', 'rms' and 'bound' arrays (steepnesses, widths),
  with 'widths', 'steepnesses', 'x' and 'boxcar_end_error'."""
  x = np.linspace(*DOMAIN, num_test)
  f = target64
  shape = (len(steepnesses), len(widths))
  out = {'widths': tuple(widths), 'steepnesses': tuple(steepnesses), 'x': x,
         'max': np.zeros(shape), 'rms': np.zeros(shape), 'bound': np.zeros(shape)}
  for j, w in enumerate(widths):
    n = uc.cells(w)
    for i, k in enumerate(steepnesses):
      s = k * n / (DOMAIN[1] - DOMAIN[0])  # for the bound
      error = construction_curve(w, k, x) - f(x)
      out['max'][i, j] = np.max(np.abs(error))
      out['rms'][i, j] = np.sqrt(np.mean(error ** 2))
      out['bound'][i, j] = uc.error_bound(LIPSCHITZ, *DOMAIN, n, s)
  # Why the 'steps' form: the literal 2N-unit boxcars at 64 units, whose
  # outer steps are half on at x = -1 and 1.
  y = construction_curve(64, SHARP, x, form='boxcars')
  out['boxcar_end_error'] = float(np.max(np.abs(y - f(x))))
  out['boxcar_end_at'] = float(x[np.argmax(np.abs(y - f(x)))])
  log(f'construction: max error at s D = {SHARP} by width '
      f'{np.round(out["max"][_column(out, SHARP)], 4)}')
  return out


def construction_curve(width: int, steepness: float, x, form: str = 'steps') -> np.ndarray:
  """The construction of the target with `width` hidden units at s D = steepness."""
  n = uc.cells(width, form)
  s = steepness * n / (DOMAIN[1] - DOMAIN[0])
  return np.asarray(uc.apply(uc.construct(target64, *DOMAIN, n, s, form=form), x), np.float64)


def plot_construction(fits: dict[int, dict], path, *, cells: int = 8,
                      steepnesses=(SHARP, 2, 0.5), compare_width: int = 32) -> None:
  """Left: the construction with `cells` cells at a few s D over the target,
  and its boxcars h_i w_i(x) at the sharpest. Right: construction against
  the best trained seed at `compare_width` hidden units."""
  x = np.linspace(*DOMAIN, NUM_TEST)
  f = target64(x)
  fig, axes = plt.subplots(1, 2, figsize=(plots.FIGSIZE[0] * 2.2, plots.FIGSIZE[1] * 0.8),
                           sharey=True)
  edges, mids = uc.grid(*DOMAIN, cells)
  heights = target64(mids)
  s = steepnesses[0] * cells / (DOMAIN[1] - DOMAIN[0])
  # The weights w_i that sum to 1 (outer cells open-ended, as in 'steps').
  on = 1 / (1 + np.exp(-s * np.subtract.outer(x, edges[1:-1])))
  weights = -np.diff(np.concatenate([np.ones((x.size, 1)), on, np.zeros((x.size, 1))], 1), axis=1)
  for i in range(cells):
    axes[0].fill_between(x, 0, heights[i] * weights[:, i], color='tab:gray', alpha=0.15,
                         linewidth=0, label='boxcars h_i w_i(x)' if i == 0 else None)
  panels = ((axes[0], cells - 1, [(k, f's D = {k:g}') for k in steepnesses]),
            (axes[1], compare_width, [(SHARP, f's D = {SHARP:g}'), (2, 's D = 2')]))
  for ax, width, curves in panels:
    ax.plot(x, f, color='black', linewidth=2.5, alpha=0.35, label=f'target {TARGET}')
    for i, (k, label) in enumerate(curves):
      y = construction_curve(width, k, x)
      ax.plot(x, y, color=plots.style(i)['color'], linewidth=1.2,
              label=f'construction, {label} (max error {np.max(np.abs(y - f)):.2g})')
    ax.set_title(f'{width} hidden units ({uc.cells(width)} cells)', fontsize=10)
    ax.set_xlabel('x')
    ax.grid(True, alpha=0.3)
  if compare_width in fits:
    best = int(np.argmin(fits[compare_width]['rms']))
    y = fits[compare_width]['prediction'][best]
    axes[1].plot(fits[compare_width]['x'], y, color='tab:red', linewidth=1.2, linestyle='--',
                 label=f'trained, best seed (max error {np.max(np.abs(y - f)):.2g})')
  axes[0].set_ylabel('f(x)')
  for ax in axes:
    ax.legend(fontsize=7, loc='lower right')
  plots.save_figure(fig, path)


def plot_construction_errors(construction: dict, fits: dict[int, dict], path) -> None:
  """Max and RMS error against hidden units, log-log: the construction at each
  s D, the trained networks' median, and L (b - a) / (2N)."""
  widths = np.array(construction['widths'])
  fig, axes = plt.subplots(1, 2, figsize=(plots.FIGSIZE[0] * 2.2, plots.FIGSIZE[1] * 0.8))
  trained = sorted(fits)
  for ax, key, name in ((axes[0], 'max', 'max'), (axes[1], 'rms', 'RMS')):
    for i, k in enumerate(construction['steepnesses']):
      s = plots.style(i)
      ax.plot(widths, construction[key][i], color=s['color'], marker=s['marker'],
              markersize=3, linewidth=1, label=f'construction, s D = {k:g}')
    ax.plot(trained, [np.median(fits[w][key]) for w in trained], color='black',
            marker='o', linewidth=2, label='trained (median of seeds)')
    if key == 'max':
      ax.plot(widths, LIPSCHITZ * (DOMAIN[1] - DOMAIN[0]) / (2 * (widths + 1)), color='black',
              linestyle=':', label='L (b - a) / (2N), N = width + 1')
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.set_xticks([], minor=True)
    ax.set_xlabel('hidden units')
    ax.set_ylabel(f'{name} error on the test grid')
    ax.grid(True, which='both', alpha=0.3)
  axes[0].legend(fontsize=7)
  plots.save_figure(fig, path)


def _column(construction: dict, steepness: float) -> int:
  return construction['steepnesses'].index(steepness)


def construction_claims(construction: dict, fits: dict[int, dict]) -> list[tuple[str, str, str]]:
  """(lecture's claim, what was measured, agrees?) rows, from the numbers."""
  widths = list(construction['widths'])
  sharp = construction['max'][_column(construction, SHARP)]
  within = bool(np.all(sharp <= construction['bound'][_column(construction, SHARP)]))
  # Slope of log max error against log N over the widest half of the widths.
  cells = np.array([uc.cells(w) for w in widths], float)
  wide = slice(len(widths) // 2, None)
  slope = float(np.polyfit(np.log(cells[wide]), np.log(sharp[wide]), 1)[0])
  rows = [(
      'Cybenko: a sum of steep sigmoids gets within any ε of a continuous f '
      '(the boxcar construction: max error ≤ L (b − a) / (2N) + step blur)',
      f'at s D = {SHARP} the max error falls from {sharp[0]:.3g} ({widths[0]} unit) to '
      f'{sharp[-1]:.3g} ({widths[-1]} units), log-log slope {slope:.2f} against N over '
      f'widths {widths[wide][0]}–{widths[-1]}; {"every" if within else "NOT every"} width '
      'within the bound',
      'yes' if within and -1.25 < slope < -0.75 else 'no')]
  best_trained = min(fits, key=lambda w: np.median(fits[w]['max']))
  target_error = float(np.median(fits[best_trained]['max']))
  best_max = construction['max'].min(axis=0)  # over steepness
  reached = [w for w, e in zip(widths, best_max) if e <= target_error]
  rows.append((
      'The construction needs many units: ε ≈ L (b − a) / (2N) means N ≈ L (b − a) / (2ε) '
      'hidden units',
      f'the best trained network (width {best_trained}, median max error {target_error:.3g}) '
      + (f'is matched by the construction from width {reached[0]} (best steepness), '
         f'{reached[0] / best_trained:.0f}× the units' if reached else
         f'is not matched by the construction up to width {widths[-1]} '
         f'(best {best_max[-1]:.3g})'),
      'yes' if not reached or reached[0] > best_trained else 'no'))
  # "Few" fixed beforehand: up to a quarter of the widest trained layer.
  # "Few" fixed beforehand: up to a quarter of the widest trained layer. Where
  # both miss by more than 1 (max error), neither fits: a tie, left out.
  best_rms = construction['rms'].min(axis=0)
  def ratios(key, best):
    return {w: best[widths.index(w)] / np.median(fits[w][key]) for w in fits if w in widths}
  by_max, by_rms = ratios('max', best_max), ratios('rms', best_rms)
  few = [w for w in sorted(by_max) if w <= max(fits) // 4]
  tied = [w for w in few if min(best_max[widths.index(w)], np.median(fits[w]['max'])) > 1]
  few = [w for w in few if w not in tied]
  better = [w for w in few if by_max[w] > 1 and by_rms[w] > 1]
  rows.append((
      'Training finds a better use of few units than the construction',
      'construction (best steepness per width) ÷ trained median, max error: '
      + ', '.join(f'{by_max[w]:.2g} at {w}' for w in sorted(by_max)) + '; RMS: '
      + ', '.join(f'{by_rms[w]:.2g} at {w}' for w in sorted(by_rms))
      + f'. Training is better on both at {len(better)} of the {len(few)} widths '
      f'{few[0] if few else ""}–{max(fits) // 4}'
      + (f' (not at {", ".join(str(w) for w in few if w not in better)})'
         if len(better) < len(few) else '')
      + (f'; at {", ".join(str(w) for w in tied)} both miss by more than 1 (a tie)'
         if tied else ''),
      'n/a' if not few else 'yes' if len(better) == len(few) else
      'partly' if len(better) >= len(few) / 2 else 'no'))
  return rows


def construction_reading(construction: dict, fits: dict[int, dict]) -> list[str]:
  widths = list(construction['widths'])
  steep = construction['steepnesses']
  i_sharp, i_flat = _column(construction, SHARP), 0
  j = widths.index(STEEPNESS_WIDTHS[1]) if STEEPNESS_WIDTHS[1] in widths else 0
  best_rms = int(np.argmin(construction['rms'][:, -1]))
  sharp_n = [uc.cells(w) * construction['max'][i_sharp, k] for k, w in enumerate(widths)]
  return [
      f'Sharp steps (s D = {SHARP}) behave as the proof says: N × max error stays near '
      f'L (b − a) / 2 = {LIPSCHITZ:.3g} ({min(sharp_n[3:]):.3g}–{max(sharp_n[3:]):.3g} from '
      f'width {widths[3]} on), the error of a staircase whose stairs are f at the midpoints '
      '(below it because the test points do not all fall just beside a cell edge, where '
      'the error peaks).',
      f'Too shallow a step under-fits smoothly: at {widths[j]} units, s D = {steep[i_flat]:g} '
      f'misses by {construction["max"][i_flat, j]:.3g} (max) where s D = {SHARP} misses by '
      f'{construction["max"][i_sharp, j]:.3g}; the ramps, several cells long, average the '
      'peaks of sin(3πx) away.',
      f'The steepest is not the best, though: at {widths[-1]} units the RMS error is lowest at '
      f's D = {steep[best_rms]:g} ({construction["rms"][best_rms, -1]:.3g}, against '
      f'{construction["rms"][i_sharp, -1]:.3g} at s D = {SHARP}). Moderately soft steps '
      'interpolate between the stairs (the sum is the staircase smoothed by the logistic '
      'density, which removes its sawtooth); the max error does not gain as much, since at '
      'the ends of [−1, 1] the staircase has no neighbour to average with.',
      'The construction spends its units evenly along x, one per cell, whatever f does there, '
      'with heights read off f; training places its sigmoids and sets their steepness and '
      'heights jointly, by least squares.' + _compare_few(construction, fits),
  ] + _catch_up(construction, fits)


def _compare_few(construction: dict, fits: dict[int, dict]) -> str:
  """Training's advantage where it fits, and the widths where both fail."""
  widths = list(construction['widths'])
  shared = [w for w in sorted(fits) if w in widths]
  best_max = {w: construction['max'][:, widths.index(w)].min() for w in shared}
  failed = [w for w in shared if min(best_max[w], np.median(fits[w]['max'])) > 1]
  fitted = [w for w in shared if w not in failed and w <= max(fits) // 4]
  text = ''
  if fitted:
    ratio = [best_max[w] / np.median(fits[w]['max']) for w in fitted]
    text += (f' Where training fits ({fitted[0]}–{fitted[-1]} units) its max error is '
             f'{min(ratio):.0f}–{max(ratio):.0f}× smaller than the construction\'s.')
  if failed:
    text += (f' At {" and ".join(str(w) for w in failed)} units both miss by more than 1: '
             'too few sigmoids for three half-periods of the sine.')
  return text


def _catch_up(construction: dict, fits: dict[int, dict]) -> list[str]:
  """Where the construction's RMS error (best steepness) beats training."""
  widths = list(construction['widths'])
  beaten = [w for w in sorted(fits) if w in widths
            and construction['rms'][:, widths.index(w)].min() < np.median(fits[w]['rms'])]
  if not beaten:
    return []
  w = beaten[0]
  j = widths.index(w)
  i = int(np.argmin(construction['rms'][:, j]))
  return [f'At {w} units the construction with s D = {construction["steepnesses"][i]:g} '
          f'has a lower RMS error ({construction["rms"][i, j]:.3g}) than the trained median '
          f'({np.median(fits[w]["rms"]):.3g}), though its max error is '
          f'{construction["max"][:, j].min() / np.median(fits[w]["max"]):.1f}× the trained '
          'one: past 16 units the trained error stops falling (see the reading above), the '
          'construction\'s keeps falling.']


def sections(construction: dict, fits: dict[int, dict], figures_dir,
                          name: str) -> str:
  """The construction's tables, figures and reading, beside the trained `fits`."""
  widths = list(construction['widths'])
  i_sharp = _column(construction, SHARP)
  rows = []
  for j, w in enumerate(widths):
    n = uc.cells(w)
    best = int(np.argmin(construction['rms'][:, j]))
    trained = fits.get(w)
    rows.append((
        w, n, f'{LIPSCHITZ * (DOMAIN[1] - DOMAIN[0]) / (2 * n):.3g}',
        f'{construction["bound"][i_sharp, j]:.3g}',
        f'{construction["max"][i_sharp, j]:.3g}', f'{construction["rms"][i_sharp, j]:.3g}',
        f'{construction["rms"][best, j]:.3g} (s D = {construction["steepnesses"][best]:g})',
        f'{np.median(trained["max"]):.3g}' if trained else '—',
        f'{np.median(trained["rms"]):.3g}' if trained else '—'))
  by_width = tables.markdown_table(
      ['hidden units', 'cells N', 'L (b−a)/(2N)', f'bound (s D = {SHARP})',
       f'construction max (s D = {SHARP})', f'construction RMS (s D = {SHARP})',
       'construction RMS (best s D)', 'trained max (median)', 'trained RMS (median)'], rows)
  columns = [w for w in STEEPNESS_WIDTHS if w in widths]
  by_steepness = tables.markdown_table(
      ['s D'] + [f'{w} units' for w in columns],
      [[f'{k:g}'] + [f'{construction["max"][i, widths.index(w)]:.3g} / '
                     f'{construction["rms"][i, widths.index(w)]:.2g}' for w in columns]
       for i, k in enumerate(construction['steepnesses'])])
  claims = tables.markdown_table(['lecture', 'measured', 'agrees'],
                                 construction_claims(construction, fits), align='lll')
  plot_construction(fits, figures_dir / 'construction.png')
  plot_construction_errors(construction, fits, figures_dir / 'construction_errors.png')
  return f"""## The construction

Cybenko's proof, built: `research/universal_construction.py` cuts [−1, 1] into N cells of
width D = 2 / N and sums one sigmoid step s (x − x_i) per inner cell edge, of height
f(m_i) − f(m_(i−1)) (m_i the cell midpoints), with f(m_0) in the output bias: the
telescoped sum of the N boxcars f(m_i) (σ(s (x − x_i)) − σ(s (x − x_(i+1)))), whose two
outer steps are dropped. So N cells cost N − 1 hidden units, not 2N, and the error at ±1
does not stay near |f(±1)| / 2: at 64 units and s D = {SHARP}, the max error of the literal
2N-unit boxcars is {construction['boxcar_end_error']:.2f} (at x = {construction['boxcar_end_at']:g}), that of these
steps {construction['max'][i_sharp, widths.index(64)] if 64 in widths else float('nan'):.2f}.
The weights are written straight into `research.models.MLP(hidden=(N − 1,),
activation='sigmoid')`, the trained networks' model, and evaluated on the same
{construction['x'].size:,} test points. The steepness is given per cell, s D. The bound is
L D / 2 + 2L (0.2785 / s + D q / (1 − q)²), q = e^(−s D), with L = 3π + 1 = max |f'|
(derived in the module). Trained columns: the median over seeds of the table above; the
construction is deterministic.

{by_width}

![construction and trained error against width](figures/{name}/construction_errors.png)

Max / RMS error of the construction against the steepness s D, for a few widths:

{by_steepness}

Left: 8 cells (7 hidden units) at three steepnesses over the target, with the boxcars of the
sharpest; right: 32 hidden units, construction against the best trained seed.

![the construction over the target](figures/{name}/construction.png)

### The lecture's claims and the construction

{claims}

{chr(10).join('- ' + line for line in construction_reading(construction, fits))}"""
