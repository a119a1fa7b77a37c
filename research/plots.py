"""Figures written as PNG files (matplotlib, Agg backend: no display needed).

One function per kind of figure; each takes plain NumPy data and a path, draws
one figure and closes it. Colors and markers follow the order of the series
given, so figures drawn from the same ordered dict match each other.
"""

import pathlib
import warnings

import matplotlib
import matplotlib.colors as mcolors
import numpy as np

from research.playground import Surface, grid_values, shown_length

matplotlib.use('Agg')  # before pyplot: headless machines have no display
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top  (after the backend is chosen)

FIGSIZE = (6.0, 5.0)
DPI = 120
_MARKERS = ('o', 's', '^', 'v', 'D', 'P', 'X', '*', '<', '>')
_GRID = 300  # contour resolution per axis
_NUM_LEVELS = 25
_MAX_MARKERS = 40  # per line: more would hide the path


def style(index: int) -> dict:
  """Color and marker of the index-th series (tab10, then cycling)."""
  return {'color': plt.get_cmap('tab10')(index % 10),
          'marker': _MARKERS[index % len(_MARKERS)]}


def save_figure(fig: plt.Figure, path: str | pathlib.Path, dpi: int = DPI) -> None:
  """Writes `fig` to `path` (its directory made), trimmed, and closes it."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=dpi, bbox_inches='tight')
  plt.close(fig)


def contour_with_trajectories(surface: Surface, trajectories: dict[str, np.ndarray],
                              path: str | pathlib.Path, title: str | None = None,
                              log_levels: bool = True) -> None:
  """Contours of `surface` with one line per optimizer's path, start and minimum.

  Log-spaced levels (when `log_levels` and the surface is >= 0 on the window)
  resolve both the steep walls and the flat floor of a valley. Each path is cut
  by `shown_length`: before non-finite points and, on a surface unbounded
  below, where it leaves the window.
  """
  gx, gy, z = grid_values(surface, _GRID)
  fig, ax = plt.subplots(figsize=FIGSIZE)
  if log_levels and z.min() >= 0:
    low = max(float(z.min()), float(z.max()) * 1e-6)
    levels = np.geomspace(low, float(z.max()), _NUM_LEVELS)
    norm = mcolors.LogNorm(levels[0], levels[-1])
  else:
    levels = np.linspace(float(z.min()), float(z.max()), _NUM_LEVELS)
    norm = None
  ax.contour(gx, gy, z, levels=levels, norm=norm, cmap='Greys', linewidths=0.6, alpha=0.7)

  for i, (name, traj) in enumerate(trajectories.items()):
    traj = np.asarray(traj)
    shown = shown_length(surface, traj)
    cut, traj = shown < len(traj), traj[:shown]
    s = style(i)
    ax.plot(traj[:, 0], traj[:, 1], color=s['color'], marker=s['marker'], markersize=3,
            markevery=max(1, len(traj) // _MAX_MARKERS), linewidth=1.2, alpha=0.9,
            label=name)
    if cut:
      continue  # it left the window (or blew up): no end point to show
    # The end point, enlarged: paths overlap in valleys, where they stop differs.
    ax.plot(*traj[-1], color=s['color'], marker=s['marker'], markersize=9,
            markeredgecolor='black', linestyle='none', zorder=4)

  ax.plot(*surface.start, marker='o', color='black', markersize=8, linestyle='none',
          label='start', zorder=5)
  if surface.minimum is not None:
    ax.plot(*surface.minimum, marker='*', color='red', markersize=14, linestyle='none',
            label='minimum', zorder=5)
  ax.set_xlim(*surface.xlim)
  ax.set_ylim(*surface.ylim)
  ax.set_aspect('equal', adjustable='box')
  ax.set_xlabel('x')
  ax.set_ylabel('y')
  ax.set_title(title or surface.name)
  # Outside the axes: inside, it would hide the paths near the minimum.
  ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  save_figure(fig, path)


def loss_curves(curves: dict[str, np.ndarray], path: str | pathlib.Path, ylabel: str,
                logy: bool = True, title: str | None = None,
                ylim: tuple[float, float] | None = None) -> None:
  """One line per series of a value against its step (the index).

  Series may differ in length. `ylim` fixes the value axis (lines beyond it are
  clipped), e.g. to what f takes on a window when a series runs off to -inf.
  """
  fig, ax = plt.subplots(figsize=FIGSIZE)
  for i, (name, curve) in enumerate(curves.items()):
    curve = np.asarray(curve, dtype=np.float64)
    s = style(i)
    ax.plot(np.arange(len(curve)), curve, color=s['color'], marker=s['marker'],
            markersize=3, markevery=max(1, len(curve) // _MAX_MARKERS), linewidth=1.2,
            label=name)
  if logy:
    ax.set_yscale('log')  # non-positive values (an exact 0) are left out
  if ylim is not None:
    ax.set_ylim(*ylim)
  ax.set_xlabel('step')
  ax.set_ylabel(ylabel)
  if title:
    ax.set_title(title)
  ax.grid(True, which='major', alpha=0.3)
  ax.legend(fontsize=8, loc='best', framealpha=0.85)
  save_figure(fig, path)


def moving_average(values, window: int) -> np.ndarray:
  """Trailing mean over the last `window` values, defined from the start.

  Point i averages values[max(0, i - window + 1) : i + 1]: the first
  window - 1 points average what there is so far. NaNs are skipped (a window
  of NaNs only gives NaN).
  """
  if isinstance(window, bool) or not isinstance(window, int) or window < 1:
    raise ValueError(f'window must be an integer >= 1, got {window!r}')
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 1:
    raise ValueError(f'values must be 1-D, got shape {values.shape}')
  padded = np.concatenate([np.full(window - 1, np.nan), values])
  windows = np.lib.stride_tricks.sliding_window_view(padded, window)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN windows: NaN
    return np.nanmean(windows, axis=1)


# Line style of a metric's split in learning curves.
_SPLIT_STYLES = {'train': '--', 'dev': '-', 'test': '-.'}
_RAW_ALPHA = 0.25


def _smoothed(ax, x, y, window: int, **line) -> None:
  """The raw curve faint, its moving average solid, in one color."""
  x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
  ax.plot(x, y, alpha=_RAW_ALPHA, linewidth=0.8, **line)
  ax.plot(x, moving_average(y, window), linewidth=1.6, **line)


def best_point(epochs, values) -> tuple[float, float] | None:
  """(epoch, value) of the highest finite value of a curve, or None."""
  values = np.asarray(values, dtype=np.float64)
  if not values.size or not np.isfinite(values).any():
    return None
  i = int(np.nanargmax(np.where(np.isfinite(values), values, np.nan)))
  return float(np.asarray(epochs)[i]), float(values[i])


# Panels per row of the small multiples: each point gets an accuracy panel
# with its loss panel below it.
_COLUMNS = 5


def learning_curves(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                    path: str | pathlib.Path, window: int = 5,
                    title: str | None = None) -> None:
  """Small multiples: one column per series (point), its accuracy above its
  loss, every panel on the same axes so they compare at a glance.

  `curves` is {label: {metric: (epochs, values)}} with metrics such as
  'train/loss', 'dev/loss', 'train/accuracy', 'dev/accuracy'; the split sets
  the line style (train dashed, dev solid, test dash-dotted). Each curve is
  drawn raw (faint) and as its trailing moving average over `window` epochs;
  the other series' held-out accuracy is drawn in light gray behind, for
  context. Each panel marks its best held-out accuracy (a dot and its value),
  and the best series of the figure has a bold title.
  """
  labels = [label for label, m in curves.items()
            if any(len(e) for e, _ in m.values())] or list(curves)[:1]
  n = max(len(labels), 1)
  cols = min(n, _COLUMNS)
  blocks = -(-n // cols)
  fig, axes = plt.subplots(2 * blocks, cols, squeeze=False, sharex=True,
                           figsize=(2.6 * cols + 1.5, 2.0 * 2 * blocks + 0.6))
  held_out = {label: _held_out_accuracy(curves[label]) for label in labels}
  bests = {label: best_point(*held) for label, held in held_out.items()
           if held is not None}
  bests = {label: b for label, b in bests.items() if b is not None}
  winner = max(bests, key=lambda l: bests[l][1]) if bests else None
  splits = set()
  for i, label in enumerate(labels):
    acc_ax = axes[2 * (i // cols), i % cols]
    loss_ax = axes[2 * (i // cols) + 1, i % cols]
    for other, held in held_out.items():
      if other != label and held is not None and len(held[0]):
        acc_ax.plot(held[0], moving_average(held[1], window), color='0.85',
                    linewidth=0.8, zorder=0)
    for metric, (epochs, values) in curves[label].items():
      split, _, kind = metric.partition('/')
      if kind not in ('loss', 'accuracy') or not len(epochs):
        continue
      splits.add(split)
      _smoothed(acc_ax if kind == 'accuracy' else loss_ax, epochs, values,
                window, color=style(0 if split == 'train' else 1)['color'],
                linestyle=_SPLIT_STYLES.get(split, ':'))
    if label in bests:
      epoch, value = bests[label]
      acc_ax.plot([epoch], [value], 'o', color='black', markersize=4)
      acc_ax.annotate(f'{value:.3f}', (epoch, value), fontsize=7,
                      xytext=(0, -10), textcoords='offset points',
                      ha='center', va='top')
    acc_ax.set_title(label, fontsize=8,
                     fontweight='bold' if label == winner else 'normal')
  _share_y(axes[0::2], log=False)
  _share_y(axes[1::2], log=True)
  for ax in axes.flat:
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=7)
  for i in range(n, blocks * cols):  # empty cells of the last block
    axes[2 * (i // cols), i % cols].set_visible(False)
    axes[2 * (i // cols) + 1, i % cols].set_visible(False)
  for row in range(blocks):
    axes[2 * row, 0].set_ylabel('accuracy', fontsize=8)
    axes[2 * row + 1, 0].set_ylabel('loss', fontsize=8)
  for col in range(cols):
    axes[-1, col].set_xlabel('epoch', fontsize=8)
  handles = [plt.Line2D([], [], color=style(0 if s == 'train' else 1)['color'],
                        linestyle=_SPLIT_STYLES.get(s, ':'), label=s)
             for s in sorted(splits)]
  handles += [
      plt.Line2D([], [], color='0.85', label='other points (held-out)'),
      plt.Line2D([], [], color='black', marker='o', linestyle='',
                 markersize=4, label='best held-out accuracy'),
      plt.Line2D([], [], color='black', alpha=_RAW_ALPHA, label='raw (faint)'),
      plt.Line2D([], [], color='black', linewidth=1.6,
                 label=f'moving average ({window} epochs)')]
  fig.legend(handles=handles, fontsize=8, loc='upper left',
             bbox_to_anchor=(1.0, 0.95))
  if title:
    fig.suptitle(title + (f' (best: {winner})' if winner else ''))
  fig.tight_layout()
  save_figure(fig, path)


def _held_out_accuracy(metrics: dict) -> tuple[np.ndarray, np.ndarray] | None:
  """The dev accuracy curve of a series, else its test accuracy."""
  for split in ('dev', 'test'):
    epochs, values = metrics.get(f'{split}/accuracy', ((), ()))
    if len(epochs):
      return np.asarray(epochs), np.asarray(values, dtype=np.float64)
  return None


def _share_y(axes, log: bool) -> None:
  """One y range over `axes` (a log scale for losses spanning a decade)."""
  lows, highs = [], []
  for ax in np.asarray(axes).flat:
    for line in ax.get_lines():
      y = np.asarray(line.get_ydata(), dtype=np.float64)
      y = y[np.isfinite(y) & ((y > 0) if log else True)]
      if y.size:
        lows.append(y.min())
        highs.append(y.max())
  if not lows:
    return
  low, high = min(lows), max(highs)
  use_log = log and low > 0 and high > 10 * low
  for ax in np.asarray(axes).flat:
    if use_log:
      ax.set_yscale('log')
      ax.set_ylim(low / 1.2, high * 1.2)
    else:
      pad = 0.05 * (high - low or 1.0)
      ax.set_ylim(low - pad, high + pad)


def generalization_gap(gaps: dict[str, tuple[np.ndarray, np.ndarray]],
                       path: str | pathlib.Path, window: int = 5,
                       ylabel: str = 'train − dev accuracy (points)',
                       title: str | None = None) -> None:
  """A gap (train minus held-out accuracy) against epoch, one line a label.

  `gaps` is {label: (epochs, gap)}; raw faint, moving average solid, a
  dotted line at zero; the legend outside the axes.
  """
  fig, ax = plt.subplots(figsize=(FIGSIZE[0] * 1.3, FIGSIZE[1] * 0.8))
  for i, (label, (epochs, gap)) in enumerate(gaps.items()):
    if len(epochs):
      _smoothed(ax, epochs, gap, window, color=style(i)['color'])
  ax.axhline(0.0, color='black', linewidth=0.8, linestyle=':')
  handles = [plt.Line2D([], [], color=style(i)['color'], label=label)
             for i, label in enumerate(gaps)]
  ax.legend(handles=handles, fontsize=8, loc='upper left',
            bbox_to_anchor=(1.02, 1.0))
  ax.set_xlabel('epoch')
  ax.set_ylabel(ylabel)
  ax.grid(True, alpha=0.3)
  if title:
    ax.set_title(title)
  save_figure(fig, path)


def performance_profiles(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                         path: str | pathlib.Path) -> None:
  """AlgoPerf's performance profiles: one panel per {title: {name: (taus,
  rho)}}, each a step function of the fraction of workloads an optimizer
  solves within tau times the fastest."""
  fig, axes = plt.subplots(1, len(panels), figsize=(FIGSIZE[0] * len(panels), FIGSIZE[1]),
                           squeeze=False)
  for ax, (title, profiles) in zip(axes[0], panels.items()):
    for i, (name, (taus, rho)) in enumerate(profiles.items()):
      s = style(i)
      ax.step(taus, rho, where='post', color=s['color'], linewidth=1.5,
              linestyle='-' if i < 10 else '--', label=name)
    ax.set_xlabel('tau (ratio to the fastest)')
    ax.set_ylabel('fraction of workloads')
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
  axes[0][-1].legend(fontsize=7, loc='lower right', framealpha=0.85)
  save_figure(fig, path)


def curves_against(curves: dict[str, tuple[np.ndarray, np.ndarray]],
                   path: str | pathlib.Path, *, xlabel: str, ylabel: str,
                   vlines: tuple[float, ...] = ()) -> None:
  """One line per {name: (x, y)}, with dotted vertical lines at `vlines`."""
  fig, ax = plt.subplots(figsize=FIGSIZE)
  for i, (name, (x, y)) in enumerate(curves.items()):
    ax.plot(x, y, color=style(i)['color'], linewidth=1.4, label=name)
  for v in vlines:
    ax.axvline(v, color='0.4', linestyle=':', linewidth=1.0)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8, loc='best', framealpha=0.85)
  save_figure(fig, path)
