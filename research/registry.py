"""Experiments register by name with their base config and a description.

An experiment is a function returning an `ml_collections.ConfigDict` built from
`research.config.base_config()`, plus the search axes that `research sweep`
varies (`research.search`), the published numbers its table sets beside its
own, and an optional `report` that adds experiment-specific sections (and
figures) to the table `research table` writes. An experiment whose table is
computed without training runs (e.g. interval widths against test-set size)
registers only a report, with `register_table`.

The registry lives here (the library) while the experiments themselves live in
`experiments/`, which imports this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import ml_collections

from research import search
from research.errors import ConfigError

if TYPE_CHECKING:
  from research.tables import TableInputs

# report(inputs) -> markdown sections appended to the experiment's table.
Report = Callable[['TableInputs'], str]


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str
  # None: the table is computed by `report` alone; there is nothing to run.
  get_config: Callable[[], ml_collections.ConfigDict] | None
  description: str
  # What the experiment reproduces, e.g. "REFERENCES.md §1", and its accept band.
  reference: str = ''
  # What a sweep varies: {dotted config key: search axis}.
  axes: dict[str, search.Axis] = dataclasses.field(default_factory=dict)
  # {point: published number as text}: a point is its overrides as
  # 'key=value key=value' (any order; '' is the base config), e.g.
  # {'model.hidden=(800, 800)': '1.60% test error (Srivastava 2014, Table 2)'}.
  published: Mapping[str, str] = dataclasses.field(default_factory=dict)
  report: Report | None = None

  @property
  def trainable(self) -> bool:
    return self.get_config is not None

  def config(self) -> ml_collections.ConfigDict:
    if self.get_config is None:
      raise ConfigError(
          f'experiment {self.name!r} has no training run: its table is '
          f'computed; write it with `research table {self.name}`')
    config = self.get_config()
    config.experiment = self.name
    return config


_REGISTRY: dict[str, Experiment] = {}


def _add(experiment: Experiment, qualname: str) -> None:
  existing = _REGISTRY.get(experiment.name)
  if existing is not None:
    # `python -m experiments.X` imports X twice (as a package member and as
    # __main__): the same definition again is not a conflict.
    existing_qualname = getattr(existing.get_config or existing.report,
                                '__qualname__', None)
    if (existing_qualname == qualname
        and existing.description == experiment.description):
      return
    raise ValueError(f'experiment {experiment.name!r} is registered twice')
  _REGISTRY[experiment.name] = experiment


def register(name: str, *, description: str, reference: str = '',
             axes: dict[str, search.Axis] | None = None,
             published: Mapping[str, str] | None = None,
             report: Report | None = None):
  """Decorator: `@register('quickstart', description=...)` on a get_config.

  `axes` ({dotted key: axis}) are checked here for their bounds; their keys
  are checked against the config when a sweep expands them.
  """
  axes = dict(axes or {})
  search.validate(axes)

  def decorator(get_config):
    _add(Experiment(name, get_config, description, reference, axes,
                    dict(published or {}), report), get_config.__qualname__)
    return get_config

  return decorator


def register_table(name: str, *, description: str, report: Report,
                   reference: str = '',
                   published: Mapping[str, str] | None = None) -> None:
  """Registers an experiment whose table `report` computes without runs."""
  _add(Experiment(name, None, description, reference, {},
                  dict(published or {}), report), report.__qualname__)


def get(name: str) -> Experiment:
  if name not in _REGISTRY:
    known = ', '.join(sorted(_REGISTRY)) or '(none registered)'
    raise ConfigError(f'unknown experiment {name!r}; known experiments: {known}')
  return _REGISTRY[name]


def names() -> list[str]:
  return sorted(_REGISTRY)
