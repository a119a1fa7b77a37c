"""Search spaces over dotted config keys, and the points that a sweep runs.

An experiment declares its axes, e.g.
`{'optimizer.learning_rate': LogUniform(3e-3, 3e-2, grid=(3e-3, 1e-2, 3e-2))}`;
`grid`, `random` and `halton` turn them into points, each a
`{dotted_key: value}` dict. A `Choice` axis sets several keys together (a
schedule with its own settings); it is named by a label rather than a key,
its points hold the option's name, and `overrides_of` expands them. Every axis maps the unit interval onto its values
(by the inverse CDF), so random and quasi-random search share one mapping and
differ only in where the unit-cube points come from (AlgoPerf's
quasi-random search is `halton`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any, Union

import numpy as np

from research import config as config_lib
from research.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Discrete:
  """A choice among `values`; a grid search tries each of them."""
  values: tuple[Any, ...]

  def __post_init__(self):
    object.__setattr__(self, 'values', tuple(self.values))

  @property
  def grid(self) -> tuple[Any, ...]:
    return self.values

  def check(self, key: str) -> None:
    if not self.values:
      raise ConfigError(f'{key}: a Discrete axis needs at least one value')

  def from_unit(self, u: float) -> Any:
    n = len(self.values)
    return self.values[min(int(math.floor(u * n)), n - 1)]


@dataclasses.dataclass(frozen=True)
class Uniform:
  """Uniform on [low, high]; `grid` is what a grid search tries."""
  low: float
  high: float
  grid: tuple[float, ...] = ()

  def __post_init__(self):
    object.__setattr__(self, 'grid', tuple(self.grid))

  def check(self, key: str) -> None:
    _check_bounds(self, key)

  def from_unit(self, u: float) -> float:
    return float(self.low + u * (self.high - self.low))


@dataclasses.dataclass(frozen=True)
class LogUniform(Uniform):
  """Uniform in log space on [low, high], low > 0 (learning rates, decays)."""

  def check(self, key: str) -> None:
    if _is_number(self.low) and self.low <= 0:
      raise ConfigError(f'{key}: LogUniform needs low > 0, got {self.low!r}')
    _check_bounds(self, key)

  def from_unit(self, u: float) -> float:
    log_low, log_high = math.log(self.low), math.log(self.high)
    # Clipped: exp(log(x)) may round just outside the bounds.
    return float(min(max(math.exp(log_low + u * (log_high - log_low)),
                         self.low), self.high))


@dataclasses.dataclass(frozen=True)
class Choice:
  """A choice among named settings of several keys at once, e.g.

    Choice({'cosine': {'optimizer.schedule.name': 'cosine'},
            'step': {'optimizer.schedule.name': 'step',
                     'optimizer.schedule.step_epochs': (30, 45)}})

  for settings that only make sense together (a key another option must
  leave unset). Points hold the option's name; a grid tries every option.
  """
  options: Mapping[str, Mapping[str, Any]]

  def __post_init__(self):
    object.__setattr__(self, 'options',
                       {name: dict(keys) for name, keys in
                        dict(self.options).items()})

  @property
  def values(self) -> tuple[str, ...]:
    return tuple(self.options)

  @property
  def grid(self) -> tuple[str, ...]:
    return self.values

  @property
  def keys(self) -> tuple[str, ...]:
    """Every config key an option sets, in order of first appearance."""
    return tuple(dict.fromkeys(k for keys in self.options.values() for k in keys))

  def check(self, key: str) -> None:
    if not self.options:
      raise ConfigError(f'{key}: a Choice axis needs at least one option')
    for name, keys in self.options.items():
      if not isinstance(name, str) or not keys:
        raise ConfigError(f'{key}: option {name!r} must be a name with at '
                          'least one {dotted key: value}')

  def from_unit(self, u: float) -> str:
    n = len(self.options)
    return self.values[min(int(math.floor(u * n)), n - 1)]


Axis = Union[Discrete, Uniform, LogUniform, Choice]
AXIS_TYPES = (Discrete, Uniform, LogUniform, Choice)
Point = dict[str, Any]


def _is_number(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_bounds(axis: Uniform | LogUniform, key: str) -> None:
  name = type(axis).__name__
  if not (_is_number(axis.low) and _is_number(axis.high)
          and math.isfinite(axis.low) and math.isfinite(axis.high)):
    raise ConfigError(f'{key}: {name} bounds must be finite numbers, got '
                      f'low={axis.low!r}, high={axis.high!r}')
  if not axis.low < axis.high:
    raise ConfigError(f'{key}: {name} needs low < high, got '
                      f'low={axis.low!r}, high={axis.high!r}')
  for value in axis.grid:
    if not _is_number(value) or not axis.low <= value <= axis.high:
      raise ConfigError(f'{key}: grid point {value!r} is outside '
                        f'[{axis.low!r}, {axis.high!r}]')


def validate(axes: Mapping[str, Axis], config=None) -> None:
  """Raises ConfigError naming the key of a bad axis.

  With a `config` (an `ml_collections.ConfigDict`), each key must exist in it
  and accept the axis's values (its grid points and bounds).
  """
  for key, axis in axes.items():
    if not isinstance(axis, AXIS_TYPES):
      raise ConfigError(f'{key}: {axis!r} is not a search axis (Discrete, '
                        'Uniform, LogUniform or Choice)')
    axis.check(key)
  keys = config_keys(axes)
  if len(set(keys)) != len(keys):
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    raise ConfigError(f'{", ".join(repeated)}: set by more than one axis')
  if config is not None:
    probe = config_lib.copy(config)
    for key, axis in axes.items():
      if isinstance(axis, Choice):
        for option in axis.options.values():
          for option_key, value in option.items():
            config_lib.set_value(probe, option_key, value)
        continue
      samples = (axis.values if isinstance(axis, Discrete)
                 else (axis.low, axis.high, *axis.grid))
      for value in samples:
        config_lib.set_value(probe, key, value)  # Names the key if it fails.


def config_keys(axes: Mapping[str, Axis]) -> list[str]:
  """The config keys the axes set (a Choice sets each of its options' keys)."""
  return [k for name, axis in axes.items()
          for k in (axis.keys if isinstance(axis, Choice) else (name,))]


def overrides_of(axes: Mapping[str, Axis], point: Point) -> Point:
  """A point as {config key: value}: a Choice's option name becomes the
  keys that option sets."""
  values = {}
  for name, value in point.items():
    axis = axes.get(name)
    if isinstance(axis, Choice):
      if value not in axis.options:
        raise ConfigError(f'{name}: {value!r} is not one of its options '
                          f'{list(axis.options)}')
      values.update(axis.options[value])
    else:
      values[name] = value
  return values


def choice_names(axes: Mapping[str, Axis], overrides: Point) -> Point:
  """The inverse of `overrides_of` for display: the keys of each Choice
  option that `overrides` holds (all its keys, equal values; the option
  setting the most keys wins) replaced by {Choice name: option name}.
  Overrides no option explains are kept as they are."""
  point = dict(overrides)
  for name, axis in axes.items():
    if not isinstance(axis, Choice):
      continue
    matches = [(len(keys), option) for option, keys in axis.options.items()
               if all(k in point and point[k] == v for k, v in keys.items())]
    if matches:
      _, option = max(matches, key=lambda m: m[0])
      for key in axis.options[option]:
        del point[key]
      point[name] = option
  return point


def point_of(axes: Mapping[str, Axis], flat_config: Mapping[str, Any]) -> Point:
  """The overrides a sweep's trial would name for the point of `axes` where
  a config sits (a run trained without a sweep): each plain axis's key with
  the config's value, and each Choice's keys of the option whose values the
  config has (the option setting the most keys); keys the config lacks are
  left out."""
  point = {}
  for name, axis in axes.items():
    if not isinstance(axis, Choice):
      if name in flat_config:
        point[name] = flat_config[name]
      continue
    matches = [(len(keys), option) for option, keys in axis.options.items()
               if all(k in flat_config and config_lib.same_value(flat_config[k], v)
                      for k, v in keys.items())]
    if matches:
      _, option = max(matches, key=lambda m: m[0])
      point.update({k: flat_config[k] for k in axis.options[option]})
  return point


def _check_num_trials(num_trials: int) -> None:
  if (isinstance(num_trials, bool) or not isinstance(num_trials, int)
      or num_trials < 1):
    raise ConfigError(f'num_trials: {num_trials!r} must be an integer >= 1')


def from_unit_cube(axes: Mapping[str, Axis],
                   unit: np.ndarray) -> list[Point]:
  """Maps rows of a [0, 1)^d array (d = number of axes) onto the axes."""
  keys = list(axes)
  return [{k: axes[k].from_unit(float(u)) for k, u in zip(keys, row)}
          for row in np.asarray(unit, dtype=np.float64).reshape(-1, len(keys))]


def grid(axes: Mapping[str, Axis]) -> list[Point]:
  """The cartesian product of the axes' grids; the last axis varies fastest."""
  validate(axes)
  for key, axis in axes.items():
    if not axis.grid:
      raise ConfigError(f'{key}: a grid search needs grid points; give '
                        f'{type(axis).__name__}(..., grid=(...))')
  keys = list(axes)
  return [dict(zip(keys, values))
          for values in itertools.product(*(axes[k].grid for k in keys))]


def random(axes: Mapping[str, Axis], num_trials: int,
           seed: int = 0) -> list[Point]:
  """`num_trials` independent draws from each axis's distribution."""
  validate(axes)
  _check_num_trials(num_trials)
  if not axes:
    return [{} for _ in range(num_trials)]
  unit = np.random.default_rng(seed).random((num_trials, len(axes)))
  return from_unit_cube(axes, unit)


def halton_unit_cube(dimension: int, num_points: int, seed: int) -> np.ndarray:
  """Scrambled Halton points in [0, 1)^dimension."""
  # Imported here: scipy.stats is slow to import and the registry imports us.
  from scipy.stats import qmc  # pylint: disable=g-import-not-at-top  (slow; `research list` imports this module)
  try:
    engine = qmc.Halton(d=dimension, scramble=True, rng=seed)
  except TypeError:  # scipy < 1.15 names the argument `seed`.
    engine = qmc.Halton(d=dimension, scramble=True, seed=seed)
  return engine.random(num_points)


def halton(axes: Mapping[str, Axis], num_trials: int,
           seed: int = 0) -> list[Point]:
  """`num_trials` quasi-random points: they fill the space more evenly than
  independent draws (Bergstra & Bengio 2012; AlgoPerf)."""
  validate(axes)
  _check_num_trials(num_trials)
  if not axes:
    return [{} for _ in range(num_trials)]
  return from_unit_cube(axes, halton_unit_cube(len(axes), num_trials, seed))


SEARCHES = {'grid': grid, 'random': random, 'halton': halton}


def points(axes: Mapping[str, Axis], search: str,
           num_trials: int | None = None, seed: int = 0) -> list[Point]:
  """The points of `search` ('grid', 'random' or 'halton') by name."""
  if search not in SEARCHES:
    raise ConfigError(f'unknown search {search!r}; known searches: '
                      f'{", ".join(SEARCHES)}')
  if search == 'grid':
    if num_trials is not None:
      raise ConfigError('num_trials: a grid search runs every grid point; '
                        'a number of trials is for random and halton search')
    return grid(axes)
  if num_trials is None:
    raise ConfigError(f'num_trials: a {search} search needs a number of trials')
  return SEARCHES[search](axes, num_trials, seed)
