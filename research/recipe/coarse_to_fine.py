"""Step 4 of the recipe: coarse-to-fine random search.

Round 1 (coarse) samples the axes at random over their wide range and trains
every point for a short budget (a fraction of the config's epochs); the points
are ranked by one metric. Each next round narrows every axis to the span of the
top-k points, widened by a margin (in log space for log-uniform axes) and
never beyond the original bounds, and samples again (Bergstra & Bengio 2012
for random over grid search; the lectures' "coarse to fine").

A round's points differ only in traced hyperparameters (learning rate, weight
decay, dropout rates, mixup alpha), so a round trains as one vmapped
population (`research.train.population`). The ranking, the narrowing and the
sampling are pure functions of plain values.

The lectures' prescription (CS231n, "Training neural networks" part 1): search
the learning rate and the weight decay together, in log space, first a coarse
round of a few epochs, then finer rounds that train longer: the rounds after
the first train for `fine_epoch_fraction` of the epochs. The best point is
the best of the rounds with the longest budget (a point trained longer is not
comparable with a coarse one).
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import time
from collections.abc import Mapping, Sequence

import ml_collections

from research import config as config_lib
from research import search
from research.errors import ConfigError
from research.search import Axis, Discrete, LogUniform, Point
from research.recipe.lr_diagnosis import diagnose_learning_rate
from research.tracking import MemoryLogger, RunDir
from research.train.hparams import TRACED
from research.train.population import train_population
from research.train.resolve import config_hash

DEFAULT_MARGIN = 0.1
# The weight decay's range (decoupled, per unit of learning rate): around the
# lectures' {1e-4, 1e-5} (0, their third value, is not on a log scale).
DEFAULT_WEIGHT_DECAY_RANGE = (1e-6, 1e-2)


def ranking_metric(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """(metric, 'max' or 'min'): dev accuracy when the config holds out a dev
  split, else the training loss (measured at the end, without noise)."""
  if config.data.dev_size > 0:
    return 'dev/accuracy', 'max'
  return 'train/loss', 'min'


def rank(scores: Sequence[float | None], mode: str) -> list[int]:
  """Indices of `scores`, best first; a missing or non-finite score (a run
  that diverged) ranks last. Ties keep their order."""
  if mode not in ('max', 'min'):
    raise ConfigError(f"mode: {mode!r} is not one of ['max', 'min']")
  valid = [i for i, s in enumerate(scores)
           if s is not None and math.isfinite(s)]
  sign = -1.0 if mode == 'max' else 1.0
  valid.sort(key=lambda i: sign * scores[i])
  ranked = set(valid)
  return valid + [i for i in range(len(scores)) if i not in ranked]


def narrow_axis(axis: Axis, values: Sequence, original: Axis,
                margin: float = DEFAULT_MARGIN) -> Axis:
  """The span of `values` (the top points' values on this axis), widened on
  each side by `margin` times the width of `axis` (in log space for a
  LogUniform), cut to `original`'s bounds. A Discrete axis keeps the values
  that occur in `values`."""
  if not values:
    raise ValueError('narrowing needs at least one value')
  if isinstance(axis, Discrete):
    return Discrete(tuple(v for v in axis.values if v in values))
  if not margin > 0:
    raise ConfigError(f'margin: {margin!r} must be > 0')
  log = isinstance(axis, LogUniform)
  to_space = math.log if log else float
  from_space = math.exp if log else float
  width = to_space(axis.high) - to_space(axis.low)
  low = from_space(to_space(min(values)) - margin * width)
  high = from_space(to_space(max(values)) + margin * width)
  # Round trips through log may land an ulp inside a value or outside a
  # bound: the values must stay in, the original bounds must hold.
  low = max(original.low, min(low, min(values)))
  high = min(original.high, max(high, max(values)))
  return type(axis)(low, high)


def narrow_axes(axes: Mapping[str, Axis], original: Mapping[str, Axis],
                top: Sequence[Point], margin: float = DEFAULT_MARGIN
                ) -> dict[str, Axis]:
  """Every axis narrowed to the top points (see `narrow_axis`)."""
  return {key: narrow_axis(axis, [p[key] for p in top], original[key], margin)
          for key, axis in axes.items()}


def describe_axis(axis: Axis) -> str:
  if isinstance(axis, Discrete):
    return '{' + ', '.join(f'{v:.3g}' if isinstance(v, float) else str(v)
                           for v in axis.values) + '}'
  kind = 'log-uniform' if isinstance(axis, LogUniform) else 'uniform'
  return f'{kind} [{axis.low:.3g}, {axis.high:.3g}]'


def short_budget(num_epochs: int, fraction: float) -> int:
  """Epochs of a search point: `fraction` of the run's, at least one."""
  if not 0 < fraction <= 1:
    raise ConfigError(f'epoch_fraction: {fraction!r} must be in (0, 1]')
  return max(1, round(num_epochs * fraction))


def check_axes(axes: Mapping[str, Axis],
               config: ml_collections.ConfigDict) -> None:
  """Axes must exist in `config` and be traced hyperparameters, so that a
  round's points share one compiled program."""
  if not axes:
    raise ConfigError('axes: coarse-to-fine search needs at least one axis')
  search.validate(axes, config)
  traced = sorted(TRACED.values())
  for key in axes:
    if key not in traced:
      raise ConfigError(
          f'{key}: a round trains as one vmapped population, which varies '
          f'traced hyperparameters only: {", ".join(traced)}')


def default_axes(config: ml_collections.ConfigDict,
                 center: float | None = None,
                 weight_decay: tuple[float, float] | None =
                 DEFAULT_WEIGHT_DECAY_RANGE) -> dict[str, Axis]:
  """The learning rate, log-uniform over a decade each side of `center`
  (the config's rate by default), and `optimizer.weight_decay` log-uniform
  over `weight_decay` (None: not searched)."""
  center = center or config.optimizer.learning_rate
  axes = {'optimizer.learning_rate': LogUniform(center / 10, center * 10)}
  if weight_decay is not None:
    axes['optimizer.weight_decay'] = LogUniform(*weight_decay)
  return axes


@dataclasses.dataclass(frozen=True)
class Round:
  """One round: the ranges it sampled, its points and their scores."""
  index: int  # from 1
  epochs: int
  ranges: dict[str, str]  # key -> the axis sampled, described
  points: list[Point]
  scores: list[float | None]  # None: the run diverged
  # `diagnose_learning_rate` of each point's per-epoch training loss.
  verdicts: list[str]
  order: list[int]  # indices of points, best first
  run_dirs: list[str]
  wall_time_s: float

  @property
  def best_point(self) -> Point:
    return self.points[self.order[0]]

  @property
  def best_score(self) -> float | None:
    return self.scores[self.order[0]]

  def to_dict(self) -> dict:
    return {**dataclasses.asdict(self), 'best_point': self.best_point,
            'best_score': self.best_score}


@dataclasses.dataclass(frozen=True)
class CoarseToFineResult:
  """Every round, and the best point of all of them by `metric`."""
  metric: str
  mode: str
  rounds: list[Round]
  best_point: Point  # over the rounds of the longest budget
  best_score: float | None
  best_round: int

  def to_dict(self) -> dict:
    return {'metric': self.metric, 'mode': self.mode,
            'rounds': [r.to_dict() for r in self.rounds],
            'best_point': self.best_point, 'best_score': self.best_score,
            'best_round': self.best_round}


def _score(summary: dict, metric: str) -> float | None:
  value = (summary.get('final') or {}).get(metric)
  return float(value) if value is not None else None


def epoch_verdict(run_dir: str | pathlib.Path) -> str:
  """The learning-rate verdict on a run's per-epoch training loss ('n/a'
  without one)."""
  history = [math.nan if row['train/loss'] is None else row['train/loss']
             for row in RunDir(run_dir).read_metrics() if 'train/loss' in row]
  return diagnose_learning_rate(history).verdict if history else 'n/a'


def short_run_config(config: ml_collections.ConfigDict,
                     epochs: int) -> ml_collections.ConfigDict:
  """`config` trained for `epochs`, its schedule compressed to match: the
  warmup, the step epochs and the SGDR period shrink by the same factor as
  the run (a warmup of 5 epochs would not fit in a budget of 2)."""
  factor = epochs / config.train.num_epochs
  schedule = config.optimizer.schedule
  values = {'train.num_epochs': epochs, 'train.checkpoint_every_epochs': epochs,
            'tracking.progress': False,
            'optimizer.schedule.warmup_epochs': schedule.warmup_epochs * factor}
  if schedule.name == 'step':
    values['optimizer.schedule.step_epochs'] = tuple(
        e * factor for e in schedule.step_epochs)
  if schedule.name == 'sgdr':
    values['optimizer.schedule.sgdr_period_epochs'] = (
        schedule.sgdr_period_epochs * factor)
  return config_lib.merge(config, values)


def train_round(config: ml_collections.ConfigDict, points: Sequence[Point], *,
                epochs: int, directory: str | pathlib.Path) -> list[dict]:
  """Trains `config` at every point for `epochs` (`short_run_config`) as one
  population under `directory`; returns the members' summaries. Run
  directories are named after each point's config, so the same round run
  again is found finished."""
  directory = pathlib.Path(directory)
  base = short_run_config(config, epochs)
  configs = [config_lib.merge(base, point) for point in points]
  run_dirs = [directory / f'{i:02d}-{config_hash(c)}'
              for i, c in enumerate(configs)]
  return train_population(
      configs, run_dirs=run_dirs,
      # Short probes: kept in their run directories, not sent to W&B.
      make_logger=lambda c, d: MemoryLogger())


def coarse_to_fine_search(config: ml_collections.ConfigDict,
                          axes: Mapping[str, Axis] | None = None, *,
                          output_dir: str | pathlib.Path, rounds: int = 3,
                          points_per_round: int = 8, top_k: int = 3,
                          margin: float = DEFAULT_MARGIN,
                          epoch_fraction: float = 0.1,
                          fine_epoch_fraction: float | None = 0.3,
                          seed: int = 0, log=None) -> CoarseToFineResult:
  """Coarse-to-fine random search of `axes` (default: `default_axes`).

  Round r (from 1) samples `points_per_round` points (seed `seed + r`),
  trains them for `short_budget(train.num_epochs, epoch_fraction)` epochs
  (rounds after the first: `fine_epoch_fraction`, None for the same budget)
  under `output_dir/round<r>`, and ranks them by `ranking_metric(config)`;
  the next round samples the axes narrowed to its `top_k` points. The best
  point is the best of the rounds with the most epochs.
  """
  for name, value in (('rounds', rounds), ('top_k', top_k),
                      ('points_per_round', points_per_round)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ConfigError(f'{name}: {value!r} must be an integer >= 1')
  if not margin > 0:
    raise ConfigError(f'margin: {margin!r} must be > 0')
  original = dict(axes or default_axes(config))
  check_axes(original, config)
  if fine_epoch_fraction is not None and not 0 < fine_epoch_fraction <= 1:
    raise ConfigError(f'fine_epoch_fraction: {fine_epoch_fraction!r} must be '
                      'in (0, 1]')
  coarse = short_budget(config.train.num_epochs, epoch_fraction)
  fine = (coarse if fine_epoch_fraction is None else
          short_budget(config.train.num_epochs, fine_epoch_fraction))
  metric, mode = ranking_metric(config)
  log = log or (lambda line: None)

  current, done = original, []
  for r in range(1, rounds + 1):
    started = time.perf_counter()
    epochs = coarse if r == 1 else fine
    points = search.random(current, points_per_round, seed=seed + r)
    log(f'round {r}/{rounds}: {len(points)} points of {epochs} epoch(s), '
        + ', '.join(f'{k} {describe_axis(a)}' for k, a in current.items()))
    directory = pathlib.Path(output_dir) / f'round{r}'
    summaries = train_round(config, points, epochs=epochs, directory=directory)
    scores = [_score(s, metric) for s in summaries]
    order = rank(scores, mode)
    done.append(Round(
        index=r, epochs=epochs,
        ranges={k: describe_axis(a) for k, a in current.items()},
        points=points, scores=scores,
        verdicts=[epoch_verdict(s['run_dir']) for s in summaries], order=order,
        run_dirs=[s['run_dir'] for s in summaries],
        wall_time_s=time.perf_counter() - started))
    top = [points[i] for i in order[:top_k] if scores[i] is not None
           and math.isfinite(scores[i])]
    # If every point diverged there is nothing to narrow to: the next round
    # samples the same ranges again.
    if top:
      current = narrow_axes(current, original, top, margin)

  longest = max(r.epochs for r in done)
  every = [(r, i) for r in done if r.epochs == longest
           for i in range(len(r.points))]
  best_round, best_index = every[rank([r.scores[i] for r, i in every], mode)[0]]
  return CoarseToFineResult(
      metric=metric, mode=mode, rounds=done,
      best_point=best_round.points[best_index],
      best_score=best_round.scores[best_index], best_round=best_round.index)
