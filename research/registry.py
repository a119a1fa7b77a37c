"""Experiments register by name with their base config and a description.

An experiment is a function returning an `ml_collections.ConfigDict` built from
`research.config.base_config()`, plus the search axes that `research sweep`
varies (`research.search`). The registry lives here (the library) while the
experiments themselves live in `experiments/`, which imports this module.
"""

import dataclasses
from collections.abc import Callable

import ml_collections

from research import search
from research.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str
  get_config: Callable[[], ml_collections.ConfigDict]
  description: str
  # What the experiment reproduces, e.g. "REFERENCES.md §1", and its accept band.
  reference: str = ''
  # What a sweep varies: {dotted config key: search axis}.
  axes: dict[str, search.Axis] = dataclasses.field(default_factory=dict)

  def config(self) -> ml_collections.ConfigDict:
    config = self.get_config()
    config.experiment = self.name
    return config


_REGISTRY: dict[str, Experiment] = {}


def register(name: str, *, description: str, reference: str = '',
             axes: dict[str, search.Axis] | None = None):
  """Decorator: `@register('quickstart', description=...)` on a get_config.

  `axes` ({dotted key: axis}) are checked here for their bounds; their keys
  are checked against the config when a sweep expands them.
  """
  axes = dict(axes or {})
  search.validate(axes)

  def decorator(get_config):
    if name in _REGISTRY:
      existing = _REGISTRY[name]
      # `python -m experiments.X` imports X twice (as a package member and as
      # __main__): the same definition again is not a conflict.
      if (existing.get_config.__qualname__ == get_config.__qualname__
          and existing.description == description):
        return get_config
      raise ValueError(f'experiment {name!r} is registered twice')
    _REGISTRY[name] = Experiment(name, get_config, description, reference,
                                 axes)
    return get_config

  return decorator


def get(name: str) -> Experiment:
  if name not in _REGISTRY:
    known = ', '.join(sorted(_REGISTRY)) or '(none registered)'
    raise ConfigError(f'unknown experiment {name!r}; known experiments: {known}')
  return _REGISTRY[name]


def names() -> list[str]:
  return sorted(_REGISTRY)
