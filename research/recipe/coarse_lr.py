"""The coarse learning-rate step of the recipe: which of a few rates makes the
loss go down?

The lectures' step 4 (CS231n, "Training neural networks" part 1: babysitting
the learning process): with the network that overfits a small set, all the
training data and a small weight decay, try learning rates 1e-1, 1e-2, 1e-3,
1e-4 for about 100 iterations each, and keep the one whose loss drops
fastest. Each rate's history gets a verdict ('too small', 'ok', 'too
large', research/recipe/lr_diagnosis.py); the pick is the rate whose loss
ends lowest (mean of the last tenth of the steps) among those not too large:
every rate starts from the same loss, so that is the one that fell fastest.

Every rate starts from the same initial state and sees the same batches (the
range test's, research/recipe/lr_range.py, at a constant rate): the rates
train as one program, `vmap`-ed over a member axis of states and rates.
"""

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research import config as config_lib
from research.errors import ConfigError
from research.recipe.lr_diagnosis import diagnose_learning_rate
from research.recipe.lr_range import batch_rows, prepare_lr_steps

DEFAULT_RATES = (1e-1, 1e-2, 1e-3, 1e-4)
DEFAULT_STEPS = 100
DEFAULT_WEIGHT_DECAY = 1e-4  # "small": the lectures' grid is {1e-4, 1e-5, 0}


@dataclasses.dataclass(frozen=True)
class RateTrial:
  learning_rate: float
  losses: tuple[float, ...]  # training loss of each step
  start: float  # mean loss of the first tenth of the steps
  end: float  # of the last tenth (nan once diverged)
  drop: float  # start - end
  relative_drop: float  # drop / |start|
  verdict: str
  reason: str


@dataclasses.dataclass(frozen=True)
class CoarseLRResult:
  num_steps: int
  weight_decay: float
  trials: tuple[RateTrial, ...]  # in the order of the rates given
  best_lr: float | None  # lowest end, not too large; None: every rate was
  message: str

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def check_rates(learning_rates: Sequence[float]) -> tuple[float, ...]:
  rates = tuple(float(r) for r in learning_rates)
  if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
    raise ConfigError(f'learning_rates: {learning_rates!r} must be one or more '
                      'positive finite numbers')
  return rates


def pick(trials: Sequence[RateTrial]) -> RateTrial | None:
  """The trial whose loss ends lowest among those not too large."""
  fine = [t for t in trials if t.verdict != 'too large'
          and math.isfinite(t.end)]
  return min(fine, key=lambda t: t.end) if fine else None


def coarse_lr_step(config: ml_collections.ConfigDict, *,
                   learning_rates: Sequence[float] = DEFAULT_RATES,
                   num_steps: int = DEFAULT_STEPS,
                   weight_decay: float = DEFAULT_WEIGHT_DECAY
                   ) -> CoarseLRResult:
  """Trains `config` with `optimizer.weight_decay = weight_decay` (decoupled,
  0 for none) at each learning rate, constant, for `num_steps` steps on
  batches of the whole training split; see the module's docstring."""
  rates = check_rates(learning_rates)
  if isinstance(num_steps, bool) or not isinstance(num_steps, int) or (
      num_steps < 2):
    raise ConfigError(f'num_steps: {num_steps!r} must be an integer >= 2')
  if not (math.isfinite(weight_decay) and weight_decay >= 0):
    raise ConfigError(f'weight_decay: {weight_decay!r} must be >= 0')
  config = config_lib.merge(config, {'optimizer.weight_decay': weight_decay})
  config, parts, state, steps = prepare_lr_steps(config)
  k = len(rates)
  states = jax.tree.map(lambda leaf: jnp.stack([leaf] * k), state)
  lrs = jnp.asarray(np.repeat(np.asarray(rates)[:, None], num_steps, 1),
                    jnp.float32)
  rows = jnp.asarray(batch_rows(config, len(parts.dataset.x_train), num_steps))
  run = jax.jit(jax.vmap(steps, in_axes=(0, None, None, 0, None)))
  _, metrics = run(states, parts.x_train, parts.y_train, lrs, rows)
  histories = np.asarray(metrics['loss'], np.float64)  # (rate, step)

  trials = []
  for lr, history in zip(rates, histories):
    d = diagnose_learning_rate(history)
    trials.append(RateTrial(
        learning_rate=lr, losses=tuple(history.tolist()), start=d.start,
        end=d.end, drop=d.start - d.end, relative_drop=d.drop, verdict=d.verdict,
        reason=d.reason))
  best = pick(trials)
  summary = ', '.join(f'{t.learning_rate:.3g}: {t.verdict}' for t in trials)
  if best is None:
    message = (f'every rate was too large in {num_steps} steps ({summary}): '
               'try smaller ones')
  else:
    message = (f'in {num_steps} steps the loss fell fastest at lr '
               f'{best.learning_rate:.3g} (to {best.end:.4g} from '
               f'{best.losses[0]:.4g}; {summary})')
    if best.verdict == 'too small':
      message += ': even the best rate barely moved the loss; try larger ones'
  return CoarseLRResult(num_steps=num_steps, weight_decay=weight_decay,
                        trials=tuple(trials),
                        best_lr=None if best is None else best.learning_rate,
                        message=message)
