"""Markdown tables and the provenance block written under each generated table."""

import dataclasses
import datetime
import pathlib
import platform
from collections.abc import Callable, Sequence
from typing import Any

from research.tracking import environment_info
from research.tracking.environment import git_info


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
               time_note: str = '') -> str:
  """Command, seeds, hardware, versions, commit, date and wall time."""
  env = environment_info()
  # Generated tables do not make the code that generates them dirty.
  git = git_info(ignore=('experiments/results',))
  commit = (git.get('commit') or 'unknown')[:12] + (' (dirty)' if git.get('dirty') else '')
  return '\n'.join([
      f'- Command: `{command}`',
      f'- Seeds: {", ".join(map(str, seeds))}',
      f'- Hardware: {env.get("cpu_count")} CPU cores ({platform.processor() or platform.machine()}), '
      f'JAX backend {env.get("jax_backend")} ({env.get("device_kind")})',
      f'- Versions: jax {env["packages"].get("jax")}, flax {env["packages"].get("flax")}, '
      f'optax {env["packages"].get("optax")}; commit {commit}',
      f'- Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC '
      f'in {wall_time_s / 60:.1f} min' + (f' ({time_note})' if time_note else ''),
  ])
