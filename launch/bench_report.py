"""The optimizer benchmark's table, profile figure and W&B run."""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable

import numpy as np

from launch.bench_optimizers import (CALIBRATION_FRACTION, CALIBRATION_OPTIMIZER,
                                     Benchmark, calibrated_target)
from launch.registry import load_registry
from launch.table import log_to_wandb
from research import plots
from research import optimizer_scoring as scoring
from research.results import ResultsTable
from research.tables import markdown_table, provenance

TAUS = np.linspace(1.0, scoring.R_MAX, 301)
PROFILE_FIGURE = 'performance_profile.png'


def _seconds(t: float) -> str:
  return f'{t:.3g}' if math.isfinite(t) else '—'


def _steps(s: float) -> str:
  return f'{s:.0f}' if math.isfinite(s) else '—'


def _rates(points: list[dict]) -> str:
  rates = [p.get('optimizer.learning_rate') for p in points]
  rates = sorted(r for r in rates if r is not None)
  return ', '.join(f'{r:.2g}' for r in rates) or '—'


def budget_steps(bench: Benchmark, workload: str) -> int:
  """The workload's step budget: the last step any of its trials logged."""
  return max((s for o in bench.optimizers for t in bench.cells[workload, o].trials
              for s, _ in t.curve), default=0)


def score_rows(bench: Benchmark) -> tuple[list[str], list[list[str]]]:
  by_time, by_steps = bench.scores('time'), bench.scores('steps')
  reference = (CALIBRATION_OPTIMIZER if CALIBRATION_OPTIMIZER in bench.optimizers
               else bench.optimizers[0])
  headers = ['optimizer', 'score (time)', 'score (steps)', 'workloads reached',
             f'time per step / {reference}\'s (geometric mean)']
  rows = []
  for o in sorted(bench.optimizers, key=lambda o: (-by_time[o], -by_steps[o], o)):
    reached = sum(math.isfinite(bench.cells[w, o].median_steps)
                  for w in bench.workloads)
    ratios = [bench.cells[w, o].step_seconds / bench.cells[w, reference].step_seconds
              for w in bench.workloads]
    ratios = [r for r in ratios if math.isfinite(r) and r > 0]
    cost = (f'{math.exp(np.mean(np.log(ratios))):.2f}' if ratios else '—')
    rows.append([o, f'{by_time[o]:.3f}', f'{by_steps[o]:.3f}',
                 f'{reached} / {len(bench.workloads)}', cost])
  return headers, rows


def workload_section(bench: Benchmark, workload: str) -> str:
  target = load_registry().get(workload).target
  headers = ['optimizer', 'median time to target (s)', 'median steps to target',
             'studies reaching', 'trials reaching', 'time per step (ms)',
             'learning rates of the studies\' fastest trials',
             f'best {target.metric} of any trial']
  rows = []
  for o in sorted(bench.optimizers,
                  key=lambda o: (bench.cells[workload, o].median_time, o)):
    cell = bench.cells[workload, o]
    reached = sum(math.isfinite(t.steps) for t in cell.trials)
    bests = [t.best for t in cell.trials if t.best is not None]
    pick = max if target.mode == 'max' else min
    rows.append([o, _seconds(cell.median_time), _steps(cell.median_steps),
                 f'{cell.studies_reached} / {bench.budget.studies}',
                 f'{reached} / {len(cell.trials)}',
                 f'{1e3 * cell.step_seconds:.2f}' if math.isfinite(cell.step_seconds) else '—',
                 _rates(cell.fastest_points),
                 f'{pick(bests):.4f}' if bests else '—'])
  experiment = load_registry().get(workload)
  return '\n\n'.join([
      f'### {workload}: {target}, budget {budget_steps(bench, workload)} steps',
      experiment.description + '.',
      markdown_table(headers, rows, 'l' + 'r' * (len(headers) - 1))])


def calibration_section(bench: Benchmark) -> str:
  if CALIBRATION_OPTIMIZER not in bench.optimizers:
    return ''
  rows = []
  for w in bench.workloads:
    target = load_registry().get(w).target
    suggested = calibrated_target(bench.cells[w, CALIBRATION_OPTIMIZER],
                                  budget_steps(bench, w), target.mode)
    rows.append([w, f'{target.value:g}', f'{suggested:g}'])
  return '\n\n'.join([
      '## Calibration of the targets',
      f'The rule (launch/bench_optimizers.py): per study of '
      f'{CALIBRATION_OPTIMIZER}, the best validation value any trial reached '
      f'within the first {CALIBRATION_FRACTION:.3g} of the budget; the median '
      'over studies, floored to 0.5 points. What this run\'s studies give, '
      'beside the target in use:',
      markdown_table(['workload', 'target in use', 'the rule on this run'], rows, 'lrr')])


def profile_figure(bench: Benchmark, path: pathlib.Path) -> None:
  panels = {}
  for key, title in (('time', 'time to target'), ('steps', 'steps to target')):
    ratios = scoring.performance_ratios(bench.times(key))
    panels[title] = {o: (TAUS, scoring.performance_profile(ratios[o], TAUS))
                     for o in bench.optimizers}
  plots.performance_profiles(panels, path)


def markdown(bench: Benchmark, *, title: str, command: str, figure: str) -> str:
  headers, rows = score_rows(bench)
  b = bench.budget
  intro = (
      f'{len(bench.optimizers)} optimizers on {len(bench.workloads)} workloads, '
      f'each tuned by {b.studies} independent studies of {b.trials_per_study} '
      'quasi-random (Halton) trials over its own search space, every study '
      "of an optimizer's trials trained as one vmapped population. A "
      "study's time is its fastest trial's time to the target; an optimizer's "
      'time on a workload is the median over its studies. Score: the area '
      f'under the performance profile over tau in [1, {scoring.R_MAX:g}], '
      'normalized (1: the fastest on every workload; 0: never within '
      f'{scoring.R_MAX:g}x of the fastest). Time is steps times the measured '
      "time per step of the optimizer's population on this machine (per "
      "member); the steps score leaves the optimizer's cost per step out. "
      'See launch/bench_optimizers.py and experiments/optimizer_benchmark.py. '
      f'Training every study took {bench.training_seconds() / 60:.1f} min on the '
      "machine below (the sum of the populations' wall times, compilation "
      'included, from their summaries).')
  sections = [f'# {title}', intro, '## Scores',
              markdown_table(headers, rows, 'l' + 'r' * (len(headers) - 1)),
              f'![performance profiles]({figure})',
              '## Time and steps to target, per workload',
              *(workload_section(bench, w) for w in bench.workloads),
              calibration_section(bench),
              '## Provenance',
              provenance(command, bench.wall_time_s, bench.seeds,
                         'trials found finished were not trained again')]
  return '\n\n'.join(s for s in sections if s) + '\n'


def write(bench: Benchmark, *, name: str, title: str, command: str,
          results_dir: pathlib.Path, wandb_mode: str, project: str,
          output_dir: str, log: Callable[[str], None] = print) -> pathlib.Path:
  """Writes `<results_dir>/<name>.md` and its profile figure, and logs both
  to W&B (a W&B failure only warns)."""
  figures_dir = results_dir / 'figures' / name
  profile_figure(bench, figures_dir / PROFILE_FIGURE)
  path = results_dir / f'{name}.md'
  path.write_text(markdown(bench, title=title, command=command,
                           figure=f'figures/{name}/{PROFILE_FIGURE}'))
  headers, rows = score_rows(bench)
  table = ResultsTable(headers, rows, [], [r[0] for r in rows], [])
  log_to_wandb(name, table, figures_dir, mode=wandb_mode, project=project,
               entity=None, directory=pathlib.Path(output_dir),
               sweep_commands=[command], log=log)
  return path
