"""Optimizers by name, each entry carrying the hyperparameters it takes.

For now the entries are Optax's built-ins; the project's own transforms replace
them entry by entry behind the same `get(name, **hparams)`. Every optimizer is
returned as a `GradientTransformationExtraArgs`, so the train step can always
pass `value`, `grad` and `value_fn` (line-search methods need them).
"""

import dataclasses
from collections.abc import Callable

import optax

from research.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class OptimizerEntry:
  factory: Callable[..., optax.GradientTransformation]
  hparams: tuple[str, ...]  # names it takes besides learning_rate
  summary: str


def _momentum(learning_rate, momentum=0.9, nesterov=False):
  return optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)


def _rmsprop(learning_rate, decay=0.9, eps=1e-8):
  # eps outside the square root, as in Hinton's slides and Keras.
  return optax.rmsprop(learning_rate, decay=decay, eps=eps, eps_in_sqrt=False)


def _adagrad(learning_rate, eps=1e-8):
  return optax.adagrad(learning_rate, initial_accumulator_value=0.0, eps=eps)


REGISTRY: dict[str, OptimizerEntry] = {
    'sgd': OptimizerEntry(optax.sgd, (), 'p -= lr * g'),
    'momentum': OptimizerEntry(_momentum, ('momentum', 'nesterov'),
                               'v = mu v + g; p -= lr v'),
    'adagrad': OptimizerEntry(_adagrad, ('eps',), 'G += g^2; p -= lr g / (sqrt(G) + eps)'),
    'rmsprop': OptimizerEntry(_rmsprop, ('decay', 'eps'),
                              'p -= lr g / (sqrt(E[g^2]) + eps)'),
    'adam': OptimizerEntry(optax.adam, ('b1', 'b2', 'eps'), 'Kingma & Ba'),
    'nadam': OptimizerEntry(optax.nadam, ('b1', 'b2', 'eps'), 'Adam with Nesterov momentum'),
}


def names() -> list[str]:
  return sorted(REGISTRY)


def _entry(name: str) -> OptimizerEntry:
  if name not in REGISTRY:
    raise ConfigError(f'optimizer.name: unknown optimizer {name!r}; '
                      f'known: {", ".join(names())}')
  return REGISTRY[name]


def get(name: str, learning_rate, **hparams) -> optax.GradientTransformationExtraArgs:
  """The optimizer `name` with the given hyperparameters."""
  entry = _entry(name)
  unknown = set(hparams) - set(entry.hparams)
  if unknown:
    raise ConfigError(
        f'optimizer {name!r} takes no {sorted(unknown)}; it takes learning_rate'
        f'{"".join(", " + h for h in entry.hparams)}')
  return optax.with_extra_args_support(entry.factory(learning_rate, **hparams))
