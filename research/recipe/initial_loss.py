"""Step 1 of the recipe: is the loss at initialization what chance predicts?

A freshly initialized classifier should be unsure of every class: with
softmax cross-entropy its predictions are about uniform, so its loss is about
log C for C classes. A loss far above that (weights initialized too large,
logits that start confident and wrong) or far below it (labels leaking into
the inputs, a wrong label encoding) is a bug to fix before any tuning.
Regularization terms are not part of that value: they are reported beside it.
"""

import dataclasses
import math
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import linen as nn

from research import losses
from research.errors import ConfigError
from research.parallel import Parallel
from research.penalties import penalty_fn
from research.train.hparams import initial_hparams
from research.train.loop import build
from research.train.resolve import resolve
from research.train.state import TrainState, create_train_state
from research.train.steps import make_eval_step

# Relative. A well-scaled init (LeCun, Xavier) gives logits of standard
# deviation s near 1/sqrt(2) to 1, which costs about s^2 / 2 (1 - 1/C) nats
# over log C: some 10-15% for C between 3 and 10. A quarter leaves room for
# that and still flags logits of He-init scale or larger (~37% at C = 10) and
# anything broken.
DEFAULT_TOLERANCE = 0.25
DEFAULT_NUM_BATCHES = 5


class InitialLossWarning(UserWarning):
  """The loss at initialization is far from the value chance predicts."""


def expected_initial_loss(loss_name: str,
                          num_classes: int) -> tuple[float | None, str]:
  """(the loss an unsure classifier has, or None where there is none; why).

  Only the cross-entropies have a value that any reasonable initialization
  approaches: the others depend on the scale of the initial outputs.
  """
  losses.get(loss_name)  # an unknown name lists the known ones
  if loss_name == 'cross_entropy':
    return math.log(num_classes), (
        f'softmax cross-entropy of uniform predictions: log C = '
        f'log {num_classes}')
  if loss_name == 'binary_cross_entropy':
    return math.log(2.0), ('sigmoid cross-entropy of p = 1/2 on every unit '
                           '(zero logits): log 2')
  if loss_name in ('mse', 'mae'):
    return None, (f'no fixed value: {loss_name} grows with the scale of the '
                  f'initial outputs (it is 1/C = {1 / num_classes:.3g} at '
                  'zero outputs)')
  if loss_name == 'hinge':
    return None, (f'no fixed value: the hinge loss grows with the spread of '
                  f'the initial scores (it is C - 1 = {num_classes - 1} when '
                  'all scores are equal)')
  return None, f'no expected value is known for {loss_name!r}'


@dataclasses.dataclass(frozen=True)
class InitialLoss:
  """The data loss at initialization against its expected value."""
  loss_name: str
  num_classes: int
  batch_losses: tuple[float, ...]  # mean data loss of each batch
  loss: float  # their mean (examples weigh equally: batches are equal)
  accuracy: float  # at initialization; about 1/C
  penalty: float  # regularization terms at initialization, not in `loss`
  expected: float | None
  expected_note: str
  relative_error: float | None  # |loss - expected| / expected
  tolerance: float
  flagged: bool
  message: str

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def measure_initial_loss(model: nn.Module, state: TrainState,
                         batches: Sequence[tuple[np.ndarray, np.ndarray]], *,
                         loss_name: str, num_classes: int,
                         penalty: float = 0.0,
                         batch_statistics: bool = False,
                         tolerance: float = DEFAULT_TOLERANCE,
                         warn: bool = True) -> InitialLoss:
  """The mean data loss of `state` on `batches`, checked against chance.

  Dropout and its relatives are off; with `batch_statistics` (a model with
  BatchNorm) each batch is normalized by its own statistics, as in the first
  training step, rather than by running statistics that have seen nothing.
  Warns with `InitialLossWarning` (and sets `flagged`) when the loss is not
  finite or is more than `tolerance` (relative) away from the expected value.
  """
  if not tolerance > 0:
    raise ConfigError(f'tolerance: {tolerance!r} must be > 0')
  if not batches:
    raise ConfigError('num_batches: the initial-loss check needs a batch')
  eval_step = jax.jit(make_eval_step(model, losses.get(loss_name),
                                     bn_batch_statistics=batch_statistics))
  batch_losses, correct, count = [], 0.0, 0.0
  for x, y in batches:
    out = eval_step(state, x, y, jnp.ones((len(x),), jnp.bool_))
    batch_losses.append(float(out['loss_sum'] / out['count']))
    correct += float(out['correct'])
    count += float(out['count'])
  loss = float(np.mean(batch_losses))
  expected, note = expected_initial_loss(loss_name, num_classes)

  relative_error, flagged = None, not math.isfinite(loss)
  if expected is not None and math.isfinite(loss):
    relative_error = abs(loss - expected) / expected
    flagged = relative_error > tolerance
  if not math.isfinite(loss):
    message = (f'the loss at initialization is {loss}: the network overflows '
               'before training starts (look at the initialization and the '
               'input scale)')
  elif expected is None:
    message = f'loss at initialization {loss:.4g}; expected value: {note}'
  elif flagged:
    direction = 'above' if loss > expected else 'below'
    hint = ('initial weights too large (confident, wrong logits), or a '
            'wrong label encoding' if loss > expected else
            'a loss against the wrong targets (a wrong label encoding, soft '
            'targets that do not sum to 1) or labels leaking into the inputs')
    message = (f'the loss at initialization, {loss:.4g}, is '
               f'{relative_error:.0%} {direction} the expected {expected:.4g} '
               f'({note}); more than the tolerated {tolerance:.0%}. '
               f'Suspect {hint}.')
  else:
    message = (f'loss at initialization {loss:.4g}, within {tolerance:.0%} of '
               f'the expected {expected:.4g} ({note})')
  if flagged and warn:
    warnings.warn(message, InitialLossWarning, stacklevel=2)
  return InitialLoss(
      loss_name=loss_name, num_classes=num_classes,
      batch_losses=tuple(batch_losses), loss=loss,
      accuracy=correct / count, penalty=float(penalty), expected=expected,
      expected_note=note, relative_error=relative_error, tolerance=tolerance,
      flagged=flagged, message=message)


def check_initial_loss(config: ml_collections.ConfigDict, *,
                       num_batches: int = DEFAULT_NUM_BATCHES,
                       tolerance: float = DEFAULT_TOLERANCE,
                       warn: bool = True) -> InitialLoss:
  """The initial-loss check of `config`'s network on the first `num_batches`
  batches (of `train.batch_size`) of its training split, in order."""
  if isinstance(num_batches, bool) or not isinstance(num_batches, int) or (
      num_batches < 1):
    raise ConfigError(f'num_batches: {num_batches!r} must be an integer >= 1')
  config = resolve(config)
  parts = build(config, Parallel('jit'))
  dataset, size = parts.dataset, config.train.batch_size
  state = create_train_state(config.seed, parts.model, parts.tx,
                             dataset.x_train[:1],
                             hparams=initial_hparams(config))
  available = max(1, len(dataset.x_train) // size)
  batches = [(dataset.x_train[i * size:(i + 1) * size],
              dataset.y_train[i * size:(i + 1) * size])
             for i in range(min(num_batches, available))]
  penalty = penalty_fn(config.regularization)
  return measure_initial_loss(
      parts.model, state, batches, loss_name=config.loss.name,
      num_classes=dataset.num_classes,
      penalty=float(jax.jit(penalty)(state.params)) if penalty else 0.0,
      batch_statistics=config.model.batchnorm != 'none',
      tolerance=tolerance, warn=warn)
