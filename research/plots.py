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


def _save(fig: plt.Figure, path: str | pathlib.Path) -> None:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=DPI, bbox_inches='tight')
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
  _save(fig, path)


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
  _save(fig, path)


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


def learning_curves(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                    path: str | pathlib.Path, window: int = 5,
                    title: str | None = None) -> None:
  """Loss (left) and accuracy (right) against epoch, one color per series.

  `curves` is {label: {metric: (epochs, values)}} with metrics such as
  'train/loss', 'dev/loss', 'train/accuracy', 'dev/accuracy'; the split sets
  the line style (train dashed, dev solid, test dash-dotted). Each curve is
  drawn raw (faint) and as its trailing moving average over `window` epochs.
  The legend sits outside the axes; keep to about a dozen labels a figure.
  """
  fig, axes = plt.subplots(1, 2, figsize=(2 * FIGSIZE[0], FIGSIZE[1] * 0.8))
  panels = {'loss': axes[0], 'accuracy': axes[1]}
  splits = set()
  for i, (label, metrics) in enumerate(curves.items()):
    color = style(i)['color']
    for metric, (epochs, values) in metrics.items():
      split, _, kind = metric.partition('/')
      if kind not in panels or not len(epochs):
        continue
      splits.add(split)
      _smoothed(panels[kind], epochs, values, window, color=color,
                linestyle=_SPLIT_STYLES.get(split, ':'))
  for kind, ax in panels.items():
    ax.set_xlabel('epoch')
    ax.set_ylabel(kind)
    ax.grid(True, alpha=0.3)
  losses = [np.asarray(v, dtype=np.float64) for m in curves.values()
            for k, (_, v) in m.items() if k.endswith('/loss') and len(v)]
  if losses:
    low = min(np.nanmin(v) for v in losses)
    high = max(np.nanmax(v) for v in losses)
    if low > 0 and high > 10 * low:  # a log scale pays off past a decade
      axes[0].set_yscale('log')
  handles = [plt.Line2D([], [], color=style(i)['color'], label=label)
             for i, label in enumerate(curves)]
  handles += [plt.Line2D([], [], color='black', linestyle=_SPLIT_STYLES.get(s, ':'),
                         label=s) for s in sorted(splits)]
  handles.append(plt.Line2D([], [], color='black', alpha=_RAW_ALPHA,
                            label='raw (faint)'))
  handles.append(plt.Line2D([], [], color='black', linewidth=1.6,
                            label=f'moving average ({window} epochs)'))
  axes[1].legend(handles=handles, fontsize=8, loc='upper left',
                 bbox_to_anchor=(1.02, 1.0))
  if title:
    fig.suptitle(title)
  _save(fig, path)


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
  _save(fig, path)
