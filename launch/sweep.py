"""From an experiment's sweep axes to trials: its search points times seeds.

    trials = expand('quickstart', search='grid', seeds=(0, 1, 2))
    records = local.launch(trials, output_dir='runs')

Values become override strings that `research.config.apply_overrides` parses
back exactly (floats as their shortest round-trip repr).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from research import config as config_lib
from research.results import format_override  # re-exported: launchers use it
from research import search as search_lib
from research.errors import ConfigError
from research.train.resolve import resolve

from launch.trials import Trial, load_registry


def override_key(item: str) -> str:
  return item.split('=', 1)[0].strip()


def check_overrides(axes: Mapping[str, Any], overrides: Sequence[str]) -> None:
  """Common overrides may not fix what the sweep varies, nor the seed."""
  varied = search_lib.config_keys(axes)
  for item in overrides:
    key = override_key(item)
    if key in varied:
      raise ConfigError(f'{key}: the sweep varies this key (axes: '
                        f'{", ".join(axes)}); it cannot also be --set')
    if key == 'seed':
      raise ConfigError('seed: a sweep sets the seeds itself (--seeds N)')


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
  seeds = tuple(seeds)
  if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                      for s in seeds):
    raise ConfigError(f'seeds: {seeds!r} must be one or more integers')
  if len(set(seeds)) != len(seeds):
    raise ConfigError(f'seeds: {seeds!r} repeats a seed')
  return tuple(int(s) for s in seeds)


def expand(experiment: str, *, search: str = 'grid',
           num_trials: int | None = None, seeds: Sequence[int] = (0,),
           overrides: Sequence[str] = (), search_seed: int = 0) -> list[Trial]:
  """The trials of a sweep: each search point with each seed, points first.

  `overrides` ('key=value', from --set) are common to every trial and come
  before the point's own. A point drawn twice (random search over a Discrete
  axis) runs once. Every trial's config is validated here, before anything
  is launched.
  """
  exp = load_registry().get(experiment)
  seeds = check_seeds(seeds)
  check_overrides(exp.axes, overrides)
  base = config_lib.apply_overrides(exp.config(), overrides)
  search_lib.validate(exp.axes, base)
  points = search_lib.points(exp.axes, search, num_trials, seed=search_seed)

  trials, seen = [], set()
  for point in points:
    point_overrides = tuple(
        format_override(k, v)
        for k, v in search_lib.overrides_of(exp.axes, point).items())
    for seed in seeds:
      trial = Trial(experiment, (*overrides, *point_overrides), seed)
      if trial not in seen:
        seen.add(trial)
        trials.append(trial)
  for trial in trials:
    # The directory is a placeholder: validation does not look at it.
    resolve(trial.config('runs'))
  return trials
