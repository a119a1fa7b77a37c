"""Per-layer statistics at initialization of a sweep's points, and their figures.

Shared by the `initialization` and `activations` reports. Nothing trains: each
point's network is initialized as its seed-0 trial was (research/diagnostics.py)
and looked at on a fixed batch of that trial's training data.

A point is what a trial's overrides say of the keys the sweep sets
(`search.config_keys`), e.g. {'model.activation': 'relu', 'model.residual':
False}: a Choice option that leaves a key unset (no `model.maxout_pieces`) is
told apart from one that sets it by the overrides, not by the config (where
the unset key has its default). A point's config is that of its trial records
when there are any (so `--set` overrides such as data.dir and a smaller model
carry over), else the registered config with the grid point's overrides.
"""

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use('Agg')  # before pyplot: headless machines have no display
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import ticker  # pylint: disable=g-import-not-at-top
import ml_collections  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

# pylint: disable=g-import-not-at-top
from research import config as config_lib
from research import diagnostics
from research import registry
from research import search
from research import results
from research.data import load_dataset
from research.plots import save_figure, style
from research.train.resolve import config_from_record

# Examples in the fixed batch: enough for stable per-unit statistics.
BATCH_SIZE = 1000
# The initialization described: that of each point's seed-0 trial.
SEED = 0
DPI = 110


@dataclasses.dataclass(frozen=True)
class PointStatistics:
  point: dict[str, Any]  # {config key: value}: a grid point's overrides
  config: ml_collections.ConfigDict
  layers: list[dict[str, Any]]  # diagnostics.layer_statistics


def _canonical(overrides: Mapping[str, Any]) -> dict[str, Any]:
  """Values as they read back from a trial's 'key=value' overrides (tuples
  for lists), so that grid points and records compare equal."""
  return results.parse_overrides(
      [f'{k}={tuple(v) if isinstance(v, list) else v!r}'
       for k, v in overrides.items()])


def point_of(record: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
  """The record's overrides of `keys` (the keys the sweep sets)."""
  overrides = results.parse_overrides(record.get('overrides') or ())
  return {k: overrides[k] for k in keys if k in overrides}


def grid_points(experiment: str) -> list[dict[str, Any]]:
  """The experiment's grid, each point as its overrides (a Choice's option
  expanded into its keys)."""
  axes = registry.get(experiment).axes
  return [_canonical(search.overrides_of(axes, p)) for p in search.grid(axes)]


def _frozen(point: Mapping[str, Any]) -> frozenset:
  return frozenset(point.items())


def point_configs(experiment: str, records: Sequence[Mapping[str, Any]]
                  ) -> list[tuple[dict[str, Any], ml_collections.ConfigDict]]:
  """(point, config) for the points that were run, in grid order; the whole
  grid when no record carries a config. A point's config is that of its
  lowest-seed record."""
  exp = registry.get(experiment)
  grid = grid_points(experiment)
  keys = search.config_keys(exp.axes)
  chosen: dict[frozenset, tuple[dict[str, Any], Mapping[str, Any]]] = {}
  for record in sorted((r for r in records if r.get('config')),
                       key=lambda r: r.get('seed', 0)):
    point = point_of(record, keys)
    chosen.setdefault(_frozen(point), (point, record['config']))
  if not chosen:
    return [(p, config_lib.merge(exp.config(), p)) for p in grid]
  order = {_frozen(p): i for i, p in enumerate(grid)}
  ranked = sorted(chosen, key=lambda v: (order.get(v, len(order)),
                                         repr(sorted(v, key=repr))))
  return [(chosen[v][0], config_from_record(chosen[v][1])) for v in ranked]


def fixed_batch(config: ml_collections.ConfigDict, cache: dict,
                size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray, int]:
  """The first `size` training examples as the trial saw them (normalized,
  after the dev hold-out), and the number of classes; loaded once per data
  config."""
  key = json.dumps(config.data.to_dict(), sort_keys=True, default=list)
  if key not in cache:
    data = load_dataset(config.data)
    cache[key] = (data.x_train[:size], data.y_train[:size], data.num_classes)
  return cache[key]


def statistics_by_point(experiment: str, records: Sequence[Mapping[str, Any]],
                        size: int = BATCH_SIZE) -> list[PointStatistics]:
  cache: dict = {}
  result = []
  for point, config in point_configs(experiment, records):
    x, y, num_classes = fixed_batch(config, cache, size)
    layers = diagnostics.layer_statistics(config, x, y, SEED,
                                          num_classes=num_classes)
    result.append(PointStatistics(point, config, layers))
  return result


def final_accuracies(records: Sequence[Mapping[str, Any]], point: Mapping[str, Any],
                     metric: str = 'test/accuracy',
                     keys: Sequence[str] | None = None) -> tuple[list[float], int]:
  """The point's finished trials' final `metric`, and how many diverged.

  A record is the point's when its overrides of `keys` are the point: pass
  the sweep's keys (`search.config_keys`) where points set different keys (a
  Choice), so that a point without a key does not take the records of one
  with it; by default the point's own keys.
  """
  keys = list(point) if keys is None else keys
  point = _canonical(point)
  matching = [r for r in records if point_of(r, keys) == point]
  done = [r['final'][metric] for r in matching
          if r.get('status') in results.FINISHED
          and metric in (r.get('final') or {})]
  return done, sum(r.get('status') == 'diverged' for r in matching)


def hidden(layers: Sequence[dict]) -> list[dict]:
  return [l for l in layers if l['name'] != 'output']


def ratio(a: float, b: float) -> float:
  return a / b if b else float('nan')


def sci(x: float) -> str:
  """A number that may span many orders of magnitude, e.g. 3.2e-07."""
  if not np.isfinite(x):
    return '—'  # e.g. 0 / 0: a binary step's gradients
  return f'{x:.2g}' if 1e-2 <= abs(x) < 1e3 else f'{x:.1e}'


# --------------------------------------------------------------------------
# Figures


def activation_histograms(rows: Mapping[str, Sequence[dict]], path,
                          title: str, max_columns: int = 8) -> None:
  """A grid of histograms: a row per series (e.g. an initializer), a column
  per hidden layer (at most `max_columns`, evenly spaced from first to last).
  Each panel has its own x range: a row whose values shrink to 1e-6 stays
  readable, and the range printed in the corner says how wide it is."""
  num_hidden = len(hidden(next(iter(rows.values()))))
  columns = sorted(set(np.linspace(0, num_hidden - 1, min(max_columns, num_hidden))
                       .round().astype(int)))
  fig, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                           figsize=(1.9 * len(columns) + 1, 1.6 * len(rows) + 0.8))
  for r, (label, layers) in enumerate(rows.items()):
    layers = hidden(layers)
    for c, layer_index in enumerate(columns):
      ax = axes[r][c]
      sample = np.asarray(layers[layer_index]['activation_sample'], np.float64)
      sample = sample[np.isfinite(sample)]
      ax.hist(sample, bins=40, color=style(r)['color'], alpha=0.85)
      ax.set_yticks([])
      ax.xaxis.set_major_locator(ticker.MaxNLocator(3))
      ax.tick_params(axis='x', labelsize=6)
      std = layers[layer_index]['activation_std']
      ax.text(0.97, 0.93, f'std {sci(std)}', transform=ax.transAxes,
              ha='right', va='top', fontsize=6)
      if r == 0:
        ax.set_title(f'hidden {layer_index + 1}', fontsize=8)
      if c == 0:
        ax.set_ylabel(label, fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  save_figure(fig, path, dpi=DPI)


def gradient_norms(panels: Mapping[str, Mapping[str, Sequence[dict]]], path,
                   title: str, columns: int = 3) -> None:
  """||dL/dW|| per layer (log y), a panel per group, a line per series.
  Exact zeros (a binary step's gradient) cannot sit on a log axis: they are
  drawn at the panel's floor with hollow markers."""
  n = len(panels)
  columns = min(columns, n)
  rows = -(-n // columns)
  fig, axes = plt.subplots(rows, columns, squeeze=False,
                           figsize=(4.2 * columns, 3.2 * rows))
  for p, (panel, series) in enumerate(panels.items()):
    ax = axes[p // columns][p % columns]
    positive = [l['grad_norm'] for layers in series.values() for l in layers
                if l['grad_norm'] > 0 and np.isfinite(l['grad_norm'])]
    floor = min(positive) / 10 if positive else 1e-12
    for i, (label, layers) in enumerate(series.items()):
      depth = np.arange(1, len(layers) + 1)
      norms = np.array([l['grad_norm'] for l in layers], np.float64)
      s = style(i)
      ax.plot(depth, np.where(norms > 0, norms, np.nan), color=s['color'],
              marker=s['marker'], markersize=3, linewidth=1.2, label=label)
      zero = norms == 0
      if zero.any():
        ax.plot(depth[zero], np.full(zero.sum(), floor), linestyle='none',
                marker=s['marker'], markersize=4, markerfacecolor='none',
                color=s['color'])
    ax.set_yscale('log')
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_title(panel, fontsize=9)
    ax.set_xlabel('layer (last = output)', fontsize=8)
    ax.set_ylabel('||dL/dW||', fontsize=8)
    ax.grid(True, which='major', alpha=0.3)
    ax.legend(fontsize=6, loc='best', framealpha=0.85)
  for p in range(n, rows * columns):
    axes[p // columns][p % columns].axis('off')
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  save_figure(fig, path, dpi=DPI)
