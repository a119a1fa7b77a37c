"""Figures written as PNG files (matplotlib, Agg backend: no display needed).

One function per kind of figure; each takes plain NumPy data and a path, draws
one figure and closes it. Colors and markers follow the order of the series
given, so figures drawn from the same ordered dict match each other.
"""

import pathlib

import matplotlib

matplotlib.use('Agg')  # before pyplot: headless machines have no display
import matplotlib.colors as mcolors  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

# pylint: disable-next=g-import-not-at-top
from research.playground import Surface, grid_values, shown_length

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
