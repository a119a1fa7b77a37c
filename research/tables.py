"""Markdown tables, their cells, and the provenance block under each one.

`research.results` builds the results table of trial records on these;
`TableInputs` is what `research table` hands an experiment's report.
"""

import dataclasses
import datetime
import math
import pathlib
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from research.tracking import environment_info
from research.tracking.environment import GENERATED, git_info


@dataclasses.dataclass(frozen=True)
class TableInputs:
  """What `research table` gives an experiment's `report` (registry.Report).

  `records` are the trial.json records of the experiment's trials (every
  status: a report keeps what it needs), `sweeps` the sweep.json record of
  each `research sweep` that produced them ({'command', 'search', 'launcher',
  'seeds', 'run_dirs', 'wall_time_s', ...}). A report writes its figures
  under `figures_dir` (they are linked from the markdown as
  `figures/<experiment>/<file>` and logged to W&B with the table) and
  returns markdown sections, each starting with a '## ' heading.
  """
  experiment: str
  records: list[dict[str, Any]]
  sweeps: list[dict[str, Any]]
  figures_dir: pathlib.Path
  log: Callable[[str], None] = print


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                   align: str | None = None) -> str:
  """A GitHub markdown table; `align` is one of 'l', 'r', 'c' per column."""
  align = align or 'l' + 'r' * (len(headers) - 1)
  marks = {'l': ':---', 'r': '---:', 'c': ':---:'}
  lines = ['| ' + ' | '.join(headers) + ' |',
           '| ' + ' | '.join(marks[a] for a in align) + ' |']
  for row in rows:
    if len(row) != len(headers):
      raise ValueError(f'row {row!r} has {len(row)} cells, expected {len(headers)}')
    lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
  return '\n'.join(lines)


def provenance(command: str, wall_time_s: float, seeds: Sequence[int],
               time_note: str = '', *, sweep_commands: Sequence[str] = (),
               hardware: Sequence[Mapping[str, Any]] = (),
               commits: Sequence[Mapping[str, Any]] = ()) -> str:
  """Command, seeds, hardware, versions, commit, date and wall time.

  Hardware, versions and commit are this process's unless given: a table of
  trial records passes the records' 'hardware' and 'git' dicts (where the
  trials ran) and `sweep_commands`, the commands that ran them.
  """
  if hardware:
    machines = _distinct(_describe_hardware(h) for h in hardware)
    versions = _distinct(_describe_versions(h.get('packages') or {})
                         for h in hardware)
  else:
    env = environment_info()
    machines = [f'{env.get("cpu_count")} CPU cores '
                f'({platform.processor() or platform.machine()}), JAX backend '
                f'{env.get("jax_backend")} ({env.get("device_kind")})']
    versions = [_describe_versions(env['packages'])]
  if not commits:
    # Generated tables do not make the code that generates them dirty.
    commits = [git_info(ignore=GENERATED)]
  commit = ', '.join(_distinct(
      (c.get('commit') or 'unknown')[:12] + (' (dirty)' if c.get('dirty') else '')
      for c in commits))
  return '\n'.join([
      *(f'- Sweep command: `{c}`' for c in _distinct(sweep_commands)),
      f'- Command: `{command}`',
      f'- Seeds: {", ".join(map(str, seeds)) or "no trials (any seeds are stated in the sections above)"}',
      f'- Hardware: {"; ".join(machines)}',
      f'- Versions: {"; ".join(versions)}; commit {commit}',
      f'- Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC '
      f'in {wall_time_s / 60:.1f} min' + (f' ({time_note})' if time_note else ''),
  ])


def _distinct(items) -> list:
  """`items` without repeats, in order."""
  return list(dict.fromkeys(items))


def _describe_hardware(h: Mapping[str, Any]) -> str:
  count = h.get('device_count') or 1
  return (f'{h.get("cpu_count")} CPU cores, JAX backend {h.get("jax_backend")} '
          f'({h.get("device_kind")}' + (f' × {count}' if count > 1 else '') + ')')


def _describe_versions(packages: Mapping[str, Any]) -> str:
  return (f'jax {packages.get("jax")}, flax {packages.get("flax")}, '
          f'optax {packages.get("optax")}')


# Cells of generated tables.


def mean_std(xs: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
  """'98.12 ± 0.05' (std over seeds, ddof 1), or one value, or '—'."""
  xs = [scale * x for x in xs]
  if not xs:
    return '—'
  if len(xs) == 1:
    return f'{xs[0]:.{digits}f}'
  return f'{np.mean(xs):.{digits}f} ± {np.std(xs, ddof=1):.{digits}f}'


def format_duration(seconds: float | None) -> str:
  if seconds is None or not math.isfinite(seconds):
    return '—'
  if seconds < 60:
    return f'{seconds:.1f} s'
  if seconds < 3600:
    return f'{seconds / 60:.1f} min'
  return f'{seconds / 3600:.1f} h'


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scientific(value: float) -> str:
  """3e-3, 2.5e-4, 1 (3 significant digits, no exponent for 10^0)."""
  mantissa, exponent = f'{value:.2e}'.split('e')
  mantissa = mantissa.rstrip('0').rstrip('.')
  return mantissa if int(exponent) == 0 else f'{mantissa}e{int(exponent)}'


def format_value(value: Any, log_scale: bool = False) -> str:
  """A config value as a table cell: 1e-3 rather than 0.001.

  Floats of a log-scale axis (learning rates, decays) are always in 1e-3
  form; other floats only when tiny or huge.
  """
  if value is None:
    return '—'
  if isinstance(value, float) and math.isfinite(value):
    if value != 0 and (log_scale or not 1e-2 <= abs(value) < 1e5):
      return _scientific(value)
    return f'{value:.4g}'
  if isinstance(value, (tuple, list)):
    return '(' + ', '.join(format_value(v, log_scale) for v in value) + ')'
  return str(value)
