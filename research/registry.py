"""Experiments register by name with their base config and a description.

An experiment is a function returning an `ml_collections.ConfigDict` built from
`research.config.base_config()`, plus the search axes that `research sweep`
varies (`research.search`), the published numbers its table sets beside its
own, and an optional `report` that adds experiment-specific sections (and
figures) to the table `research table` writes. An experiment whose table is
computed without training runs (e.g. interval widths against test-set size)
registers only a report, with `register_table`.

A report is a function or, where it needs heavy imports (JAX, SciPy,
matplotlib), the string 'package.module:function' naming it: the registry's
plugin mechanism. The module is imported (`importlib.import_module`) only when
the report is needed (`Experiment.make_report`), so that registering every
experiment (`import experiments`, what `research list` does) stays light.

The registry lives here (the library) while the experiments themselves live in
`experiments/`, which imports this module.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import ml_collections

from research import search
from research.errors import ConfigError

if TYPE_CHECKING:
  from research.tables import TableInputs

# report(inputs) -> markdown sections appended to the experiment's table.
Report = Callable[['TableInputs'], str]
# A report where it is defined: 'package.module:function'.
_REPORT_PATH = re.compile(r'[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*')
TARGET_MODES = ('max', 'min')


@dataclasses.dataclass(frozen=True)
class Target:
  """A validation target: what makes an experiment a benchmark workload.

  A run reaches it at the first evaluation where `metric` (a metrics.jsonl
  key such as 'dev/accuracy') is >= `value` ('max') or <= it ('min'); its
  step budget is the config's `train.num_epochs`.
  """
  metric: str
  value: float
  mode: str = 'max'

  def __post_init__(self):
    if not isinstance(self.metric, str) or '/' not in self.metric:
      raise ValueError(f"target metric {self.metric!r} must name a split's "
                       "metric, such as 'dev/accuracy'")
    if self.mode not in TARGET_MODES:
      raise ValueError(f'target mode {self.mode!r} must be one of {TARGET_MODES}')
    if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
      raise ValueError(f'target value {self.value!r} must be a number')

  def __str__(self) -> str:
    return f'{self.metric} {">=" if self.mode == "max" else "<="} {self.value:g}'


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
  # None: no report of its own. A function, or 'package.module:function'
  # imported when the report is needed (see the module's docstring).
  report: Report | str | None = None
  # A validation target that makes it a workload of `research
  # bench-optimizers`; None: it is not one.
  target: Target | None = None

  @property
  def trainable(self) -> bool:
    return self.get_config is not None

  def load_report(self) -> Report | None:
    """The report function, its module imported first where `report` names
    it; None without a report."""
    if not isinstance(self.report, str):
      return self.report
    module_name, function_name = self.report.split(':')
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
      raise ValueError(f'experiment {self.name!r}: its report {self.report!r} '
                       'is not a function of that module')
    return function

  def make_report(self, inputs: TableInputs) -> str:
    """The experiment's own sections of its table (`report(inputs)`)."""
    report = self.load_report()
    if report is None:
      raise ConfigError(f'experiment {self.name!r} has no report')
    return report(inputs)

  def config(self) -> ml_collections.ConfigDict:
    if self.get_config is None:
      raise ConfigError(
          f'experiment {self.name!r} has no training run: its table is '
          f'computed; write it with `research table {self.name}`')
    config = self.get_config()
    config.experiment = self.name
    return config


_REGISTRY: dict[str, Experiment] = {}


def _check_report(name: str, report: Report | str | None, *,
                  required: bool = False) -> None:
  """A report is a function or 'package.module:function' (its form checked
  here, at registration; the module is imported when the report is needed)."""
  if report is None and not required:
    return
  if not (callable(report) or (isinstance(report, str)
                               and _REPORT_PATH.fullmatch(report))):
    raise ValueError(f'experiment {name!r}: report {report!r} must be a '
                     "function or 'package.module:function'")


def _origin(experiment: Experiment) -> str | None:
  """What defines the experiment: its get_config's (else its report's)
  qualified name, or the report's 'module:function'."""
  defined_by = experiment.get_config or experiment.report
  if isinstance(defined_by, str):
    return defined_by
  return getattr(defined_by, '__qualname__', None)


def _add(experiment: Experiment) -> None:
  existing = _REGISTRY.get(experiment.name)
  if existing is not None:
    # `python -m experiments.X` imports X twice (as a package member and as
    # __main__): the same definition again is not a conflict.
    if (_origin(existing) == _origin(experiment)
        and existing.description == experiment.description):
      return
    raise ValueError(f'experiment {experiment.name!r} is registered twice')
  _REGISTRY[experiment.name] = experiment


def register(name: str, *, description: str, reference: str = '',
             axes: dict[str, search.Axis] | None = None,
             published: Mapping[str, str] | None = None,
             report: Report | str | None = None,
             target: Target | None = None):
  """Decorator: `@register('quickstart', description=...)` on a get_config.

  `axes` ({dotted key: axis}) are checked here for their bounds; their keys
  are checked against the config when a sweep expands them. `report` is a
  function or 'package.module:function'. `target` makes the experiment an
  optimizer benchmark's workload.
  """
  if target is not None and not isinstance(target, Target):
    raise ValueError(f'experiment {name!r}: target {target!r} must be a '
                     'research.registry.Target')
  axes = dict(axes or {})
  search.validate(axes)
  _check_report(name, report)

  def decorator(get_config):
    _add(Experiment(name, get_config, description, reference, axes,
                    dict(published or {}), report, target))
    return get_config

  return decorator


def register_table(name: str, *, description: str, report: Report | str,
                   reference: str = '',
                   published: Mapping[str, str] | None = None) -> None:
  """Registers an experiment whose table `report` (a function or
  'package.module:function') computes without runs."""
  _check_report(name, report, required=True)
  _add(Experiment(name, None, description, reference, {},
                  dict(published or {}), report))


def get(name: str) -> Experiment:
  if name not in _REGISTRY:
    known = ', '.join(sorted(_REGISTRY)) or '(none registered)'
    raise ConfigError(f'unknown experiment {name!r}; known experiments: {known}')
  return _REGISTRY[name]


def names() -> list[str]:
  return sorted(_REGISTRY)


def workloads() -> list[str]:
  """The experiments with a validation target (benchmark workloads)."""
  return sorted(n for n, e in _REGISTRY.items() if e.target is not None)
