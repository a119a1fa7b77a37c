"""The results table of trial records: one row per point of a sweep.

`results_table` turns the trial.json records of a sweep into one row per
point (the trials' overrides; seeds pooled): accuracies as mean ± std over
seeds, the 95% interval of the test error, the published number.
"""

import ast
import collections
import dataclasses
import math
import pathlib
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from research import config as config_lib
from research import search
# FINISHED: statuses whose final metrics are results; the others (diverged,
# failed, interrupted...) are counted in the table, never averaged.
from research.runs import FINISHED
from research.tracking import RunDir
from research.tables import format_duration, format_value, markdown_table, mean_std

# Results of trial records.


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_value(text: str) -> Any:
  """A Python literal ('1e-2', '(800, 800)', 'True'), else the text itself."""
  try:
    value = ast.literal_eval(text.strip())
  except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
    return text.strip()
  return _hashable(value)


def _hashable(value: Any) -> Any:
  if isinstance(value, (list, tuple)):
    return tuple(_hashable(v) for v in value)
  if isinstance(value, dict):
    return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
  if isinstance(value, set):
    return frozenset(value)
  return value


def format_override(key: str, value: Any) -> str:
  """'optimizer.learning_rate=0.01': `repr` of Python values parses back."""
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, list):  # W&B and JSON hand tuples back as lists.
    value = tuple(value)
  return f'{key}={value!r}'


def format_overrides(keys: Mapping[str, Any]) -> tuple[str, ...]:
  """{key: value} as the override strings a sweep gives its trials."""
  return tuple(format_override(k, v) for k, v in keys.items())


def finished_holding(records: Sequence[Mapping[str, Any]],
                     overrides: Sequence[str]) -> list[Mapping[str, Any]]:
  """The finished trial records whose overrides include every one of
  `overrides` (a point's, in `format_overrides` form)."""
  wanted = set(overrides)
  return [r for r in records if r.get('status') in FINISHED
          and wanted <= set(r.get('overrides') or ())]


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
  """['key=value', ...] -> {key: parsed value} (a later key wins)."""
  point = {}
  for item in overrides:
    key, sep, text = item.partition('=')
    if not sep:
      raise ValueError(f'override {item!r} is not key=value')
    point[key.strip()] = parse_value(text)
  return point


def computed_overrides(overrides: Sequence[str]) -> dict[str, Any]:
  """`parse_overrides` less the keys that say where or how a run was shown
  or computed, not what (`tracking.*`, `parallel.*`): a sweep run with
  `--set tracking.wandb=offline` is the same point as a run without it."""
  return {k: v for k, v in parse_overrides(overrides).items()
          if k.split('.', 1)[0] not in config_lib.PRESENTATION_SECTIONS}


def parse_point(text: str) -> dict[str, Any]:
  """'key=value key=value' (an experiment's `published` key) -> a point.

  Values may hold spaces ('model.hidden=(800, 800)'): an item starts where
  a dotted name and '=' follow whitespace.
  """
  text = text.strip()
  return parse_overrides(re.split(r'\s+(?=[A-Za-z_][\w.]*=)', text)
                         if text else [])


@dataclasses.dataclass
class PointResults:
  """The records of one point of a sweep (its overrides), seeds pooled."""
  point: dict[str, Any]  # parsed overrides, including the common ones
  finished: list[dict[str, Any]]  # status done / early_stopped, one per seed
  left_out: collections.Counter  # {status: count} of the other records

  def values(self, key: str, section: str = 'final') -> list[float]:
    """`key` of each finished record's `section` ('final' or 'best')."""
    values = [(r.get(section) or {}).get(key) for r in self.finished]
    return [float(v) for v in values if v is not None]


def group_by_point(records: Sequence[Mapping[str, Any]]
                   ) -> tuple[list[PointResults], int]:
  """Records grouped by their overrides, in order of first appearance.

  One record counts per point and seed: where several exist (the base
  config changed between sweeps, so the run hashes differ), the latest
  recorded wins. Returns the groups and how many records that replaced.
  """
  latest: dict[tuple, Mapping[str, Any]] = {}  # keeps first-appearance order
  for r in records:
    key = (frozenset(computed_overrides(r.get('overrides') or ()).items()),
           r.get('seed'))
    if key not in latest or (r.get('recorded_at') or '') >= (
        latest[key].get('recorded_at') or ''):
      latest[key] = r
  groups: dict[frozenset, PointResults] = {}
  for (point_key, _), r in latest.items():
    group = groups.setdefault(point_key, PointResults(
        dict(point_key), [], collections.Counter()))
    if r.get('status') in FINISHED:
      group.finished.append(r)
    else:
      group.left_out[r.get('status') or 'unknown'] += 1
  for group in groups.values():
    group.finished.sort(key=lambda r: _seed_order(r.get('seed')))
  return list(groups.values()), len(records) - len(latest)


def _seed_order(seed) -> tuple:
  return (0, seed) if _is_number(seed) else (1, str(seed))


def varied_keys(groups: Sequence[PointResults],
                axes: Mapping[str, search.Axis] = ()) -> list[str]:
  """Keys whose value differs between points: the axes' keys first, in
  their order, then the others sorted."""
  keys = {k for g in groups for k in g.point}
  varied = {k for k in keys
            if len({repr(g.point.get(k, _MISSING)) for g in groups}) > 1}
  return [k for k in axes if k in varied] + sorted(varied - set(axes))


_MISSING = object()


def short_names(keys: Sequence[str]) -> dict[str, str]:
  """The shortest dotted suffix of each key that no other key ends with."""
  names = {}
  for key in keys:
    parts = key.split('.')
    for n in range(1, len(parts) + 1):
      suffix = '.'.join(parts[-n:])
      if not any(o != key and (o == suffix or o.endswith('.' + suffix))
                 for o in keys):
        break
    names[key] = suffix
  return names


def sort_points(groups: Sequence[PointResults], keys: Sequence[str],
                axes: Mapping[str, search.Axis] = ()) -> list[PointResults]:
  """In the order of the axes' values: numbers numerically, others in the
  order of a Discrete axis's values, then as text."""

  def value_order(key: str, value: Any) -> tuple:
    if value is _MISSING:
      return (3, '')
    if _is_number(value):
      return (0, float(value))
    choices = getattr(axes.get(key), 'values', ())
    choices = [_hashable(c) for c in choices]
    if value in choices:
      return (1, choices.index(value))
    return (2, repr(value))

  return sorted(groups, key=lambda g: tuple(
      value_order(k, g.point.get(k, _MISSING)) for k in keys))


def point_label(point: Mapping[str, Any], keys: Sequence[str],
                axes: Mapping[str, search.Axis] = ()) -> str:
  """'lr=1e-2 dropout=0.5' over `keys` (short names); '(base config)'."""
  names = short_names(keys)
  label = ' '.join(f'{names[k]}={_cell(k, point.get(k), axes)}' for k in keys)
  return label or '(base config)'


def _cell(key: str, value: Any, axes: Mapping[str, search.Axis]) -> str:
  return format_value(value, log_scale=isinstance(axes.get(key),
                                                  search.LogUniform))


def published_for(point: Mapping[str, Any], keys: Sequence[str],
                  published: Mapping[str, str]) -> str | None:
  """The published number of the point, if any.

  A published point matches when all of its key=value pairs are among the
  point's overrides and it names every varied key (`keys`): common
  overrides (a data directory) need not be spelled out.
  """
  items = set(point.items())
  varied = {(k, point.get(k)) for k in keys}
  for text, number in published.items():
    wanted = set(parse_point(text).items())
    if wanted <= items and varied <= wanted:
      return number
  return None


@dataclasses.dataclass(frozen=True)
class ResultsTable:
  headers: list[str]
  rows: list[list[str]]  # cells as text (the best test accuracy in bold)
  groups: list[PointResults]  # the rows' points, in row order
  labels: list[str]  # point_label of each row
  notes: list[str]  # lines to print under the table

  def markdown(self) -> str:
    return '\n\n'.join([markdown_table(self.headers, self.rows,
                                       'r' * len(self.headers)), *self.notes])


def results_table(records: Sequence[Mapping[str, Any]], *,
                  axes: Mapping[str, search.Axis] = (),
                  published: Mapping[str, str] = (),
                  level: float = 0.95) -> ResultsTable:
  """One row per point of `records` (trial.json dicts): see the module doc.

  The interval is that of the test error rate with errors = (mean test
  error over seeds) × n_test, n_test from each record's 'data'.
  """
  from research import metrics  # pylint: disable=g-import-not-at-top  (SciPy)
  axes, published = dict(axes), dict(published)
  groups, replaced = group_by_point(records)
  # Rows show a Choice axis by its option names; published numbers are
  # matched against the overrides themselves.
  overrides = {id(g): g.point for g in groups}
  for g in groups:
    g.point = search.choice_names(axes, g.point)
  keys = varied_keys(groups, axes)
  groups = sort_points(groups, keys, axes)
  names = short_names(keys)

  def config_keys(g, shown_keys):
    """The config keys behind a row's shown keys (a Choice's option keys)."""
    return [k for key in shown_keys for k in (
        axes[key].options[g.point[key]] if isinstance(axes.get(key), search.Choice)
        and key in g.point else (key,))]

  def has(key, section='final'):
    return any(g.values(key, section) for g in groups)

  with_dev, with_best = has('dev/accuracy'), has('test/accuracy', 'best')
  with_train_dev = has('train_dev/accuracy')
  with_left_out = any(g.left_out for g in groups)
  percent = f'{100 * level:g}%'
  headers = [names[k] for k in keys] + ['seeds', 'train acc. %'] + (
      ['train-dev acc. %'] if with_train_dev else []) + (
      ['dev acc. %'] if with_dev else []) + ['test acc. %'] + (
      ['test acc. % at best checkpoint'] if with_best else []) + [
      f'test error % ({percent} interval)'] + (
      ['published'] if published else []) + ['wall time / trial'] + (
      ['left out'] if with_left_out else [])

  rows, means = [], []
  for g in groups:
    test = g.values('test/accuracy')
    means.append(np.mean(test) if test else -math.inf)
    row = [_cell(k, g.point.get(k), axes) for k in keys]
    row += [str(len(test)), mean_std(g.values('train/accuracy'))]
    if with_train_dev:
      row.append(mean_std(g.values('train_dev/accuracy')))
    if with_dev:
      row.append(mean_std(g.values('dev/accuracy')))
    row.append(mean_std(test))
    if with_best:
      row.append(mean_std(g.values('test/accuracy', 'best')))
    row.append(_interval(metrics.error_interval, test, g.finished, level))
    if published:
      row.append(published_for(overrides[id(g)], config_keys(g, keys), published)
                 or '—')
    walls = [r['wall_time_s'] for r in g.finished
             if r.get('wall_time_s') is not None]
    row.append(format_duration(np.mean(walls) if walls else None))
    if with_left_out:
      row.append(', '.join(f'{n} {status}'
                           for status, n in sorted(g.left_out.items())))
    rows.append(row)
  if sum(m > -math.inf for m in means) > 1:
    best = int(np.argmax(means))
    column = headers.index('test acc. %')
    rows[best][column] = f'**{rows[best][column]}**'

  n_tests = sorted({(r.get('data') or {}).get('test') for g in groups
                    for r in g.finished} - {None, 0})
  notes = [
      'Accuracies are mean ± std over seeds (std with ddof 1), at the end of '
      f'training in evaluation mode. The {percent} interval is of the test '
      'error of the mean over seeds: the equal-tailed interval of '
      'Beta(errors + 1, n_test - errors + 1) with errors = mean test error × '
      'n_test' + (f' (n_test = {", ".join(map(str, n_tests))})' if n_tests
                  else '') + '. It measures test-set sampling noise, while ± '
      'measures seed noise.']
  common = [f'`{k}={_literal(groups[0].point[k])}`'
            for k in sorted(groups[0].point) if k not in keys] if groups else []
  if common:
    notes.append('Every trial: ' + ', '.join(common) + '.')
  left_out = sum((g.left_out for g in groups), collections.Counter())
  if left_out:
    notes.append('Left out of the means: ' + ', '.join(
        f'{n} {status}' for status, n in sorted(left_out.items())) + ' run(s).')
  if replaced:
    notes.append(f'{replaced} older record(s) of a point and seed that was '
                 'run again (the base config changed) are left out.')
  unmatched = [p for p in published if not any(
      published_for(overrides[id(g)], config_keys(g, keys), {p: ''}) is not None
      for g in groups)]
  if unmatched:
    notes.append('Published, not run here: ' + '; '.join(
        f'{p or "(base config)"}: {published[p]}' for p in unmatched) + '.')
  labels = [point_label(g.point, keys, axes) for g in groups]
  return ResultsTable(headers, rows, groups, labels, notes)


def _literal(value: Any) -> str:
  """As an override writes it: strings bare, other values as literals."""
  return value if isinstance(value, str) else repr(value)


def _interval(error_interval, accuracies: Sequence[float],
              finished: Sequence[Mapping[str, Any]], level: float) -> str:
  """'1.52–1.98' (%), or '—' without accuracies or a test-set size."""
  sizes = [(r.get('data') or {}).get('test') for r in finished]
  sizes = [s for s in sizes if s]
  if not accuracies or not sizes:
    return '—'
  n_test = min(sizes)  # the same for every seed; the smaller if not
  errors = (1.0 - float(np.mean(accuracies))) * n_test
  low, high = error_interval(errors, n_test, level=level)
  return f'{100 * low:.2f}–{100 * high:.2f}'


def trial_metrics(record: Mapping[str, Any]) -> list[dict[str, Any]]:
  """The metrics.jsonl rows of a trial record's run ([] when it is gone)."""
  directory = record.get('record_dir') or record.get('run_dir')
  if not directory or not pathlib.Path(directory).is_dir():
    return []
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)  # a torn last line
    return RunDir(directory).read_metrics()
