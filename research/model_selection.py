"""Picking a model from a sweep by one optimizing metric under satisficing
constraints (the lecture's "single-number evaluation metric").

Of N metrics a product cares about, one is optimized (dev accuracy, say) and
the other N - 1 only have to be good enough: each a bound that a candidate
satisfies or not (model size <= a memory budget, a false-positive rate on
dev <= 1%, latency <= 100 ms). The pick is the best candidate by the
optimizing metric among those that satisfy every bound; nothing is traded
off by arbitrary weights.

Metric names address a run's summary.json:
  'num_params', 'wall_time_s', 'epoch_time_per_step_s'  top-level values;
  'final/dev/accuracy', 'best/dev/loss'...               its final/best values;
  '<split>/fpr@<class>'    the false-positive rate of a class on a split: the
                           fraction of the split's examples of other classes
                           predicted as it, from its confusion matrix;
  '<split>/recall@<class>', '<split>/precision@<class>' likewise;
  '<split>/min_recall'     the worst class's recall;
  '<split>/macro_f1'       the unweighted mean of the per-class F1.
A class is its name (as the data names it) or its index. Pure Python and
NumPy: no JAX, nothing is trained.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from research.errors import ConfigError

_OPS: dict[str, Callable[[float, float], bool]] = {
    '<=': operator.le, '>=': operator.ge, '<': operator.lt, '>': operator.gt}
_CONSTRAINT = re.compile(r'^\s*(?P<metric>[^<>=\s]+)\s*(?P<op><=|>=|<|>)\s*'
                         r'(?P<bound>[^<>=\s]+)\s*$')
_TOP_LEVEL = ('num_params', 'wall_time_s', 'epoch_time_per_step_s', 'steps',
              'epochs', 'steps_per_second', 'examples_per_second')
_PER_CLASS = ('fpr', 'recall', 'precision')
_PER_SPLIT = ('min_recall', 'macro_f1')


@dataclasses.dataclass(frozen=True)
class Constraint:
  """A satisficing bound: `metric op bound`, e.g. num_params <= 1e5."""
  metric: str
  op: str
  bound: float

  def __post_init__(self):
    if self.op not in _OPS:
      raise ConfigError(f'constraint {self.metric!r}: operator {self.op!r} '
                        f'must be one of {", ".join(_OPS)}')

  @classmethod
  def parse(cls, text: str) -> Constraint:
    """'dev/fpr@Shirt<=0.02' -> Constraint('dev/fpr@Shirt', '<=', 0.02)."""
    match = _CONSTRAINT.match(text)
    if not match:
      raise ConfigError(f'constraint {text!r}: write it METRIC<=BOUND (or >=, '
                        '<, >), e.g. num_params<=100000')
    try:
      bound = float(match['bound'])
    except ValueError:
      raise ConfigError(f'constraint {text!r}: the bound {match["bound"]!r} '
                        'is not a number') from None
    return cls(match['metric'], match['op'], bound)

  def holds(self, value: float | None) -> bool:
    """A missing or non-finite value satisfies nothing."""
    return (value is not None and math.isfinite(value)
            and _OPS[self.op](value, self.bound))

  def __str__(self) -> str:
    return f'{self.metric} {self.op} {self.bound:g}'


def _class_index(report: Mapping[str, Any], cls: str, metric: str) -> int:
  names = list((report.get('per_class') or {}).get('class_names') or [])
  if cls in names:
    return names.index(cls)
  if cls.isdigit() and int(cls) < len(report['confusion']):
    return int(cls)
  raise ConfigError(f'metric {metric!r}: no class {cls!r}; the classes are '
                    f'{", ".join(names) or "indices 0-" + str(len(report["confusion"]) - 1)}')


def per_class_rates(confusion: np.ndarray) -> dict[str, np.ndarray]:
  """Per-class recall, precision and false-positive rate of a confusion
  matrix whose rows are true classes and columns predictions. A rate whose
  denominator is 0 is NaN."""
  c = np.asarray(confusion, dtype=np.float64)
  total, true_pos = c.sum(), np.diag(c)
  actual, predicted = c.sum(axis=1), c.sum(axis=0)
  with np.errstate(invalid='ignore', divide='ignore'):
    return {'recall': true_pos / actual,
            'precision': true_pos / predicted,
            'fpr': (predicted - true_pos) / (total - actual)}


def metric_value(summary: Mapping[str, Any], metric: str) -> float | None:
  """The value of `metric` (see the module's docstring) in a run's summary;
  None where the summary lacks it (a run without a report on that split).
  An unknown metric name raises ConfigError listing the forms."""
  if metric in _TOP_LEVEL:
    return summary.get(metric)
  part, _, key = metric.partition('/')
  if part in ('final', 'best') and key:
    return (summary.get(part) or {}).get(key)
  split, _, name = metric.partition('/')
  name, _, cls = name.partition('@')
  if split and (name in _PER_CLASS and cls or name in _PER_SPLIT and not cls):
    report = (summary.get('report') or {}).get(split)
    if report is None:
      return None
    rates = per_class_rates(report['confusion'])
    if name in _PER_CLASS:
      return float(rates[name][_class_index(report, cls, metric)])
    if name == 'min_recall':
      return float(np.nanmin(rates['recall']))
    p, r = rates['precision'], rates['recall']
    with np.errstate(invalid='ignore'):
      f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return float(np.nanmean(f1))
  raise ConfigError(
      f'metric {metric!r}: unknown; use one of {", ".join(_TOP_LEVEL)}, '
      "'final/<key>' or 'best/<key>' (e.g. final/dev/accuracy), "
      "'<split>/fpr@<class>', '<split>/recall@<class>', "
      "'<split>/precision@<class>', '<split>/min_recall', '<split>/macro_f1'")


@dataclasses.dataclass(frozen=True)
class Candidate:
  """A model to choose from (a sweep point), with its metric values (means
  over its seeds)."""
  label: str
  values: Mapping[str, float | None]


@dataclasses.dataclass(frozen=True)
class Selection:
  """Every candidate, best first by the optimizing metric; which bounds each
  one fails; and the pick, the best that fails none (None if none)."""
  optimize: str
  maximize: bool
  constraints: tuple[Constraint, ...]
  ranked: tuple[Candidate, ...]
  failed: Mapping[str, tuple[Constraint, ...]]
  chosen: Candidate | None


def _score(value: float | None, maximize: bool) -> float:
  if value is None or not math.isfinite(value):
    return -math.inf
  return value if maximize else -value


def select(candidates: Sequence[Candidate], optimize: str,
           constraints: Sequence[Constraint] = (), *,
           maximize: bool = True) -> Selection:
  """The best candidate by `optimize` among those meeting all `constraints`.

  Ties keep the candidates' order. A candidate lacking the optimizing
  metric ranks last and is never chosen.
  """
  ranked = sorted(candidates, key=lambda c: -_score(c.values.get(optimize), maximize))
  failed = {c.label: tuple(k for k in constraints if not k.holds(c.values.get(k.metric)))
            for c in ranked}
  chosen = next((c for c in ranked if not failed[c.label]
                 and math.isfinite(_score(c.values.get(optimize), maximize))), None)
  return Selection(optimize, maximize, tuple(constraints), tuple(ranked),
                   failed, chosen)


def candidates_from_summaries(groups: Mapping[str, Sequence[Mapping[str, Any]]],
                              metrics: Sequence[str]) -> list[Candidate]:
  """A candidate per group of runs (a sweep point's seeds): each metric the
  mean over the runs that have it (None if none has)."""
  found = []
  for label, summaries in groups.items():
    values = {}
    for metric in metrics:
      xs = [metric_value(s, metric) for s in summaries]
      xs = [x for x in xs if x is not None]
      values[metric] = float(np.mean(xs)) if xs else None
    found.append(Candidate(label, values))
  return found
