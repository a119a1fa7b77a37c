"""Optimizers by name, each entry carrying the hyperparameters it takes.

Every optimizer is returned as a `GradientTransformationExtraArgs`, so the train
step can always pass `value`, `grad` and `value_fn` (line-search methods need
them; the others ignore them).
"""

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import optax

from research.errors import ConfigError
from research.optim.adadelta import adadelta
from research.optim.adagrad import adagrad
from research.optim.adam import adam, nadam
from research.optim.lbfgs import lbfgs
from research.optim.momentum import momentum, nesterov
from research.optim.rmsprop import rmsprop
from research.optim.sgd import sgd


@dataclasses.dataclass(frozen=True)
class OptimizerEntry:
  factory: Callable[..., optax.GradientTransformation]
  hparams: tuple[str, ...]  # names it takes besides learning_rate
  summary: str
  # True when `update` needs `value_fn` (and `value`, `grad`): line searches.
  needs_value_fn: bool = False

  @property
  def defaults(self) -> dict[str, Any]:
    """The factory's default for each of `hparams`, read from its signature."""
    params = inspect.signature(self.factory).parameters
    return {name: params[name].default for name in self.hparams}


REGISTRY: dict[str, OptimizerEntry] = {
    'sgd': OptimizerEntry(sgd, (), 'p -= lr g'),
    'momentum': OptimizerEntry(momentum, ('momentum', 'nesterov'),
                               'v = mu v + g; p -= lr v'),
    'nesterov': OptimizerEntry(nesterov, ('momentum',),
                               'v = mu v + g; p -= lr (g + mu v)'),
    'adagrad': OptimizerEntry(adagrad, ('eps', 'initial_accumulator'),
                              'G += g^2; p -= lr g / (sqrt(G) + eps)'),
    'adadelta': OptimizerEntry(adadelta, ('decay', 'eps'),
                               'E = decay E + (1 - decay) g^2; d = sqrt(D + eps) / '
                               'sqrt(E + eps) g; D = decay D + (1 - decay) d^2; '
                               'p -= lr d (Zeiler: lr 1, decay 0.95, eps 1e-6)'),
    'rmsprop': OptimizerEntry(rmsprop, ('decay', 'eps'),
                              'E = decay E + (1 - decay) g^2; '
                              'p -= lr g / (sqrt(E) + eps)'),
    'adam': OptimizerEntry(adam, ('b1', 'b2', 'eps', 'bias_correction'),
                           'p -= lr m_hat / (sqrt(v_hat) + eps) (Kingma & Ba)'),
    'nadam': OptimizerEntry(nadam, ('b1', 'b2', 'eps'),
                            'Adam with Nesterov momentum (Dozat), as optax.nadam'),
    'lbfgs': OptimizerEntry(lbfgs, ('memory_size',),
                            'two-loop recursion over m pairs, strong-Wolfe line '
                            'search on value_fn; lr = first trial step',
                            needs_value_fn=True),
}


def names() -> list[str]:
  return sorted(REGISTRY)


def _entry(name: str) -> OptimizerEntry:
  if name not in REGISTRY:
    raise ConfigError(f'optimizer.name: unknown optimizer {name!r}; '
                      f'known: {", ".join(names())}')
  return REGISTRY[name]


def get(name: str, learning_rate: optax.ScalarOrSchedule,
        **hparams) -> optax.GradientTransformationExtraArgs:
  """The optimizer `name` with the given hyperparameters (others at default)."""
  entry = _entry(name)
  unknown = set(hparams) - set(entry.hparams)
  if unknown:
    raise ConfigError(
        f'optimizer {name!r} takes no {sorted(unknown)}; it takes learning_rate'
        f'{"".join(", " + h for h in entry.hparams)}')
  return optax.with_extra_args_support(entry.factory(learning_rate, **hparams))
