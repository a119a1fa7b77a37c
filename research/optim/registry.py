"""Optimizers by name. An optimizer registers itself, in its own file:

    register('lion', lion, summary='sign of an interpolated momentum',
             ranges={'b1': '[0, 1)', 'b2': '[0, 1)'})

Its hyperparameters are the arguments of its factory after `learning_rate`
that have a JSON scalar default (bool, int, float or str); their defaults are
the factory's. A run's config holds them under `optimizer.hparams`. Every
optimizer is returned as a `GradientTransformationExtraArgs`, so the train step
can always pass `value`, `grad` and `value_fn` (line searches need them).
"""

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import optax

from research import search
from research.config.keys import checked_value
from research.errors import ConfigError

_SCALARS = (bool, int, float, str)
# The optimizer's config keys that a population trains as data (see
# research.train.hparams): what a tuning search space may vary.
TUNABLE = ('optimizer.learning_rate', 'optimizer.weight_decay')


@dataclasses.dataclass(frozen=True)
class Interval:
  """A range of valid values, written as '[0, 1)', '(0, inf)', '[1, inf)'."""
  low: float
  high: float
  low_closed: bool
  high_closed: bool

  @classmethod
  def parse(cls, text: str) -> 'Interval':
    text = text.strip()
    if len(text) < 5 or text[0] not in '[(' or text[-1] not in '])' or (
        ',' not in text):
      raise ValueError(f'{text!r} is not an interval such as [0, 1)')
    low, high = (float(part) for part in text[1:-1].split(','))
    return cls(low, high, text[0] == '[', text[-1] == ']')

  def __contains__(self, value: float) -> bool:
    above = value >= self.low if self.low_closed else value > self.low
    below = value <= self.high if self.high_closed else value < self.high
    return above and below and not math.isnan(value)

  def __str__(self) -> str:
    def bound(x):
      return 'inf' if x == math.inf else '-inf' if x == -math.inf else f'{x:g}'
    return (f'{"[" if self.low_closed else "("}{bound(self.low)}, '
            f'{bound(self.high)}{"]" if self.high_closed else ")"}')


@dataclasses.dataclass(frozen=True)
class OptimizerEntry:
  name: str
  factory: Callable[..., optax.GradientTransformation]
  summary: str
  # True when `update` needs `value_fn` (and `value`, `grad`): line searches,
  # SAM's gradient at a perturbed point.
  needs_value_fn: bool = False
  # A line search checks its own step on the loss: nothing may change the
  # step after it (clipping, decoupled weight decay).
  line_search: bool = False
  # It trains at one point and keeps another, an average, to evaluate
  # (Schedule-Free's x): research.optim.evaluation finds it.
  evaluates_average: bool = False
  # Its tuning search space, {config key: search axis}, over the keys a
  # population trains as data (TUNABLE), so a whole tuning study is one
  # vmapped program, and any key fixed to one value (Discrete((v,))) for
  # every trial; empty: not tuned (a line search's rate is its first trial
  # step).
  tuning: Mapping[str, search.Axis] = dataclasses.field(default_factory=dict)
  # False: it cannot train in a vmapped population yet (why, in `summary`'s
  # module); research.train.population refuses it before anything runs.
  vmaps: bool = True
  ranges: Mapping[str, Interval] = dataclasses.field(default_factory=dict)

  @property
  def defaults(self) -> dict[str, Any]:
    """{hyperparameter: default}, read from the factory's signature."""
    params = inspect.signature(self.factory).parameters
    return {name: p.default for name, p in params.items()
            if name != 'learning_rate' and isinstance(p.default, _SCALARS)}

  @property
  def hparams(self) -> tuple[str, ...]:
    return tuple(self.defaults)

  def takes(self) -> str:
    return ', '.join(['learning_rate', *self.hparams])

  def resolve(self, given: Mapping[str, Any], prefix: str = 'optimizer.hparams'
             ) -> dict[str, Any]:
    """Every hyperparameter: `given` over the defaults, each checked against
    its default's type and its range; a ConfigError names the key."""
    defaults = self.defaults
    values = dict(defaults)
    for key, value in given.items():
      if key not in defaults:
        raise ConfigError(f'{prefix}.{key}: {self.name!r} takes no {key}; it '
                          f'takes {self.takes()}')
      # The type of its default, as `--set` keeps the type of a config key.
      values[key] = checked_value(f'{prefix}.{key}', defaults[key], value)
    for key, interval in self.ranges.items():
      if values[key] not in interval:
        raise ConfigError(f'{prefix}.{key}: {values[key]!r} is outside '
                          f'{interval} for {self.name!r}')
    return values


REGISTRY: dict[str, OptimizerEntry] = {}


def register(name: str, factory: Callable[..., optax.GradientTransformation],
             *, summary: str = '', needs_value_fn: bool = False,
             line_search: bool = False, evaluates_average: bool = False,
             ranges: Mapping[str, str] | None = None,
             tuning: Mapping[str, search.Axis] | None = None,
             vmaps: bool = True):
  """Registers `factory(learning_rate, **hparams)` as optimizer `name`.

  `ranges` ({hyperparameter: '[0, 1)'}) are checked when a config is
  resolved. `tuning` is its search space for a tuning study, e.g.
  {'optimizer.learning_rate': LogUniform(1e-5, 1e-1)}, over TUNABLE keys
  (other keys only fixed to one value: Discrete((value,))).
  Returns the factory, so it also works as a decorator's body.
  """
  params = inspect.signature(factory).parameters
  if 'learning_rate' not in params:
    raise TypeError(f'optimizer {name!r}: its factory must take learning_rate')
  required = [p for p, v in params.items() if p != 'learning_rate'
              and v.default is inspect.Parameter.empty
              and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
  if required:
    raise TypeError(f'optimizer {name!r}: {required} need defaults (a config '
                    'gives only the hyperparameters it changes)')
  tuning = dict(tuning or {})
  untunable = sorted(
      key for key, axis in tuning.items() if not is_fixed(axis)
      for key in search.config_keys({key: axis}) if key not in TUNABLE)
  if untunable:
    raise TypeError(f'optimizer {name!r}: tuning over {untunable}; a tuning '
                    f'study trains as one population over {TUNABLE} only '
                    '(any other key may be fixed: Discrete((value,)))')
  search.validate(tuning)
  entry = OptimizerEntry(
      name, factory, summary, needs_value_fn=needs_value_fn,
      line_search=line_search, evaluates_average=evaluates_average,
      ranges={k: Interval.parse(v) for k, v in (ranges or {}).items()},
      tuning=tuning, vmaps=vmaps)
  unknown = set(entry.ranges) - set(entry.hparams)
  if unknown:
    raise TypeError(f'optimizer {name!r}: ranges for {sorted(unknown)}, which '
                    f'are not among its hyperparameters {entry.hparams}')
  existing = REGISTRY.get(name)
  # A module imported again (reload, `python -m`) registers the same factory.
  if existing is not None and (existing.factory.__qualname__, existing.factory.__module__) != (
      factory.__qualname__, factory.__module__):
    raise ValueError(f'optimizer {name!r} is already registered '
                     f'({existing.factory.__module__}.{existing.factory.__qualname__})')
  REGISTRY[name] = entry
  return factory


def is_fixed(axis: search.Axis) -> bool:
  """A one-value axis: a setting every trial of a study shares."""
  return isinstance(axis, search.Discrete) and len(axis.values) == 1


def learning_rates(low: float, high: float) -> dict[str, search.Axis]:
  """A tuning space over the learning rate alone, log-uniform in [low, high]
  (the optimizer's other hyperparameters at their defaults)."""
  return {'optimizer.learning_rate': search.LogUniform(low, high)}


def names() -> list[str]:
  return sorted(REGISTRY)


def entry(name: str) -> OptimizerEntry:
  if name not in REGISTRY:
    raise ConfigError(f'optimizer.name: unknown optimizer {name!r}; '
                      f'known: {", ".join(names())}')
  return REGISTRY[name]


def get(name: str, learning_rate: optax.ScalarOrSchedule,
        **hparams) -> optax.GradientTransformationExtraArgs:
  """The optimizer `name` with the given hyperparameters (others at default)."""
  known = entry(name)
  unknown = set(hparams) - set(known.hparams)
  if unknown:  # values may be arrays here: only the names are checked
    raise ConfigError(f'optimizer {name!r} takes no {sorted(unknown)}; it '
                      f'takes {known.takes()}')
  return optax.with_extra_args_support(known.factory(learning_rate, **hparams))
