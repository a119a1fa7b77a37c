"""`research bench-optimizers`: scores optimizers as AlgoPerf's external
tuning does (Dahl et al. 2023), on small workloads, in minutes.

For every workload (a registered experiment with a validation target, see
experiments/optimizer_benchmark.py) and every optimizer:

  1. A study is `trials_per_study` quasi-random (scrambled Halton, seeded by
     the study's index) points of the optimizer's own search space, declared
     beside its registration (`research.optim.register(..., tuning=...)`).
     Each trial has its own initialization seed.
  2. Every trial of every study trains as ONE vmapped population (the
     search space holds only keys a population trains as data), each with its
     run directory and trial record, so a rerun skips finished trials.
  3. A trial's steps to target are the step of its first evaluation (once
     per epoch) at which the validation metric reaches the target. Its time
     to target is those steps times the optimizer's cost per step on the
     workload: the population's training time (compilation excluded) divided
     by its members and its steps, so SAM's second gradient shows as twice
     the cost.
  4. A study's time is its fastest trial's; the optimizer's time on the
     workload is the median over studies (infinite where half or more never
     reached the target). Ratios to the fastest optimizer, the performance
     profile and the score to r_max = 4 follow (research.optimizer_scoring),
     once on time and once on steps.

The optimizers' schedules: the workload's (warmup then cosine decay to the
budget), except for those that evaluate an average (Schedule-Free), which
keep the warmup and no decay.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Sequence

from launch import population
from launch.registry import load_registry
from launch.trials import Trial
from research import optim, run_index, search
from research import optimizer_scoring as scoring
from research.errors import ConfigError
from research.registry import Target
from research.results import format_override

# Trials train without W&B (hundreds of runs); the table goes to W&B.
TRIAL_OVERRIDES = ('tracking.wandb=disabled',)
# The calibration's rule: the target is what the reference optimizer's
# studies reach within this fraction of the budget (median over studies),
# floored to a multiple of CALIBRATION_STEP.
CALIBRATION_OPTIMIZER = 'nadamw'
CALIBRATION_FRACTION = 1 / 3
CALIBRATION_STEP = 0.005
MAX_TRIALS_PER_STUDY = 1000


@dataclasses.dataclass(frozen=True)
class Budget:
  studies: int
  trials_per_study: int

  def __post_init__(self):
    for key in ('studies', 'trials_per_study'):
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'{key}: {value!r} must be an integer >= 1')
    if self.trials_per_study > MAX_TRIALS_PER_STUDY:
      raise ConfigError(f'trials_per_study: {self.trials_per_study} is more '
                        f'than {MAX_TRIALS_PER_STUDY}')

  @staticmethod
  def seed(study: int, trial: int) -> int:
    """The initialization seed of a study's trial: distinct for every trial,
    and the same in a larger budget (whose studies extend these: the first
    n Halton points of a seed do not depend on how many are drawn)."""
    return study * MAX_TRIALS_PER_STUDY + trial


@dataclasses.dataclass(frozen=True)
class TrialResult:
  study: int
  point: dict  # the trial's point of the search space
  status: str
  steps: float  # steps to target; inf if never reached
  best: float | None  # the best value of the target metric it reached
  curve: tuple  # ((step, value), ...) of the target metric
  step_seconds: float | None  # its population's epoch time per member-step
  population_seconds: float | None  # its population's wall time (shared)


@dataclasses.dataclass
class Cell:
  """One optimizer on one workload: its trials and what they add up to."""
  workload: str
  optimizer: str
  trials: list[TrialResult]
  step_seconds: float = math.nan  # the optimizer's time per step here
  median_steps: float = math.inf
  median_time: float = math.inf
  studies_reached: int = 0
  fastest_points: list = dataclasses.field(default_factory=list)


def optimizer_overrides(optimizer: str) -> tuple[str, ...]:
  """What makes a workload's config train `optimizer` (see the docstring)."""
  overrides = (f'optimizer.name={optimizer}',)
  if optim.entry(optimizer).evaluates_average:
    overrides += ('optimizer.schedule.name=constant',)
  return overrides


def check_plan(workloads: Sequence[str], optimizers: Sequence[str]) -> None:
  """Every workload has a target and every optimizer a search space."""
  registry = load_registry()
  if not workloads or not optimizers:
    raise ConfigError('bench-optimizers needs at least one workload and one '
                      'optimizer')
  for name in workloads:
    if registry.get(name).target is None:
      raise ConfigError(
          f'workload {name!r} has no validation target; workloads: '
          f'{", ".join(registry.workloads())}')
  for name in optimizers:
    entry = optim.entry(name)  # an unknown name lists the known ones
    if not entry.tuning:
      tuned = [n for n in optim.names() if optim.entry(n).tuning]
      raise ConfigError(f'optimizer {name!r} declares no tuning search space '
                        f'(register(..., tuning=...)); optimizers that do: '
                        f'{", ".join(tuned)}')
    if not entry.vmaps:
      raise ConfigError(f'optimizer {name!r} cannot train as a vmapped '
                        'population, and the benchmark trains every study so')


def trials_of(workload: str, optimizer: str, budget: Budget
              ) -> list[tuple[int, dict, Trial]]:
  """(study, point, trial) for every trial of every study."""
  space = optim.entry(optimizer).tuning
  planned = []
  for study in range(budget.studies):
    points = search.halton(space, budget.trials_per_study, seed=study)
    for i, point in enumerate(points):
      overrides = (*optimizer_overrides(optimizer),
                   *(format_override(k, v) for k, v in point.items()))
      planned.append((study, point, Trial(workload, overrides,
                                          budget.seed(study, i))))
  return planned


def trial_result(study: int, point: dict, record: dict, target: Target
                 ) -> TrialResult:
  """What a trial's record and metrics say about reaching `target`."""
  if not record.get('run_dir'):
    return TrialResult(study, point, record.get('status', 'failed'),
                       math.inf, None, (), None, None)
  run = run_index.read_run(record['run_dir'])
  curve = tuple((r['step'], r[target.metric])
                for r in run_index.read_curves(run) if target.metric in r)
  steps = scoring.time_to_target([s for s, _ in curve], [v for _, v in curve],
                                 target.value, target.mode)
  finite = [v for _, v in curve if v is not None and math.isfinite(v)]
  best = (max(finite) if target.mode == 'max' else min(finite)) if finite else None
  summary = run.summary or {}
  per_step = summary.get('epoch_time_per_step_s')
  size = (summary.get('population') or {}).get('size', 1)
  step_seconds = per_step / size if per_step else None
  return TrialResult(study, point, run.status, steps, best, curve, step_seconds,
                     summary.get('wall_time_s'))


def summarize(cell: Cell, budget: Budget) -> Cell:
  """The cell's per-step cost, median steps and time over its studies."""
  # A member that diverged trained fewer steps in the same time: the
  # members that trained the whole budget give the cost.
  costs = [t.step_seconds for t in cell.trials if t.step_seconds]
  cell.step_seconds = min(costs) if costs else math.nan
  study_steps, fastest = [], []
  for study in range(budget.studies):
    trials = [t for t in cell.trials if t.study == study]
    best = min(trials, key=lambda t: t.steps, default=None)
    study_steps.append(best.steps if best else math.inf)
    if best is not None and math.isfinite(best.steps):
      fastest.append(best.point)
  cell.median_steps = scoring.median_time(study_steps)
  cell.median_time = cell.median_steps * cell.step_seconds
  if not math.isfinite(cell.median_time):
    cell.median_time = math.inf
  cell.studies_reached = sum(math.isfinite(s) for s in study_steps)
  cell.fastest_points = fastest
  return cell


@dataclasses.dataclass
class Benchmark:
  workloads: list[str]
  optimizers: list[str]
  budget: Budget
  cells: dict  # (workload, optimizer) -> Cell
  wall_time_s: float
  seeds: list[int]

  def times(self, key: str) -> dict[str, dict[str, float]]:
    """{optimizer: {workload: median time ('time') or steps ('steps')}}."""
    attr = {'time': 'median_time', 'steps': 'median_steps'}[key]
    return {o: {w: getattr(self.cells[w, o], attr) for w in self.workloads}
            for o in self.optimizers}

  def training_seconds(self) -> float:
    """What every study cost to train, wherever and whenever it trained:
    the sum over cells of their population's wall time (its summaries')."""
    return sum(max((t.population_seconds or 0.0 for t in cell.trials), default=0.0)
               for cell in self.cells.values())

  def scores(self, key: str) -> dict[str, float]:
    ratios = scoring.performance_ratios(self.times(key))
    return {o: scoring.benchmark_score(ratios[o]) for o in self.optimizers}


def run(workloads: Sequence[str], optimizers: Sequence[str], budget: Budget, *,
        output_dir: str, overrides: Sequence[str] = (),
        log: Callable[[str], None] = print, quiet: bool = False) -> Benchmark:
  """Trains (or finds finished) every study and scores them."""
  check_plan(workloads, optimizers)
  registry = load_registry()
  started = time.perf_counter()
  cells, seeds = {}, set()
  extra = (*TRIAL_OVERRIDES, *overrides)
  for workload in workloads:
    target = registry.get(workload).target
    for optimizer in optimizers:
      planned = trials_of(workload, optimizer, budget)
      log(f'{workload} / {optimizer}: {len(planned)} trials '
          f'({budget.studies} studies of {budget.trials_per_study})')
      records = population.launch([t for _, _, t in planned],
                                  output_dir=output_dir, extra=extra,
                                  log=log, quiet=quiet)
      trials = [trial_result(study, point, record, target)
                for (study, point, _), record in zip(planned, records)]
      seeds.update(t.seed for _, _, t in planned)
      cells[workload, optimizer] = summarize(
          Cell(workload, optimizer, trials), budget)
  return Benchmark(list(workloads), list(optimizers), budget, cells,
                   time.perf_counter() - started, sorted(seeds))


def calibrated_target(cell: Cell, budget_steps: int, mode: str = 'max') -> float:
  """The target the calibration rule gives from the reference optimizer's
  cell: per study, the best value any trial reached within
  CALIBRATION_FRACTION of the budget; their median, floored to
  CALIBRATION_STEP (ceiled for a 'min' metric)."""
  horizon = budget_steps * CALIBRATION_FRACTION
  pick = max if mode == 'max' else min
  per_study = []
  for study in sorted({t.study for t in cell.trials}):
    values = [v for t in cell.trials if t.study == study
              for s, v in t.curve if s <= horizon and v is not None
              and math.isfinite(v)]
    if values:
      per_study.append(pick(values))
  if not per_study:
    return math.nan
  value = statistics.median(per_study) / CALIBRATION_STEP
  rounded = math.floor(value + 1e-9) if mode == 'max' else math.ceil(value - 1e-9)
  return round(rounded * CALIBRATION_STEP, 6)
