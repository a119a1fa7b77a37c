"""Run a table's cells over seeds and turn their summaries into table cells.

A cell is a label and config overrides on top of an experiment's base config;
each (cell, seed) is one run in its own run directory, so running a table's
command again skips the runs already finished and resumes an interrupted one.
"""

import dataclasses
import math
import shlex
import sys
from collections.abc import Callable, Sequence

from research import config as config_lib
from research import registry
from research.errors import DivergedError


@dataclasses.dataclass(frozen=True)
class Cell:
  label: str
  overrides: tuple[str, ...] = ()


def run_cells(experiment: str, cells: Sequence[Cell], seeds: Sequence[int], *,
              common: Sequence[str] = (), output_dir: str = 'runs',
              log: Callable[[str], None] = print) -> dict[str, list[dict | None]]:
  """{label: [summary per seed, None where the run diverged]}."""
  # JAX, imported when a grid runs: the experiments whose commands run
  # grids import this module when they register (`import experiments`).
  from research.train import run  # pylint: disable=g-import-not-at-top
  results = {}
  for cell in cells:
    results[cell.label] = []
    for seed in seeds:
      config = config_lib.apply_overrides(
          registry.get(experiment).config(),
          [*common, *cell.overrides, f'seed={seed}', 'tracking.progress=false',
           f'tracking.output_dir={output_dir}'])
      try:
        summary = run(config)
      except DivergedError as e:
        log(f'  {cell.label} seed {seed}: {e}')
        results[cell.label].append(None)
        continue
      final = summary.get('final', {})
      log(f"  {cell.label} seed {seed}: train {final.get('train/accuracy', math.nan):.4f} "
          f"test {final.get('test/accuracy', math.nan):.4f} ({summary['wall_time_s']:.0f} s)")
      results[cell.label].append(summary)
  return results


def values(summaries: Sequence[dict | None], key: str, section: str = 'final'):
  return [s[section][key] for s in summaries if s and key in s.get(section, {})]


def total_wall_time(results: dict[str, list[dict | None]]) -> float:
  return sum(s['wall_time_s'] for runs in results.values() for s in runs if s)


def command_line(module: str, argv: Sequence[str] | None) -> str:
  """The command that produced a table, to write next to it."""
  return shlex.join(['python', '-m', module, *(argv if argv is not None else sys.argv[1:])])


def write(path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)
  print(f'wrote {path}', file=sys.stderr)
