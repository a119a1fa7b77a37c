"""Step 2 of the recipe: can the network memorize a few batches?

With regularization, dropout, augmentation and early stopping off, a network
that cannot reach 100% training accuracy on a handful of examples has a bug
(a layer cut from the graph, labels shuffled against their inputs), too
little capacity, or too low a learning rate: no amount of tuning will fix
that, so it is worth knowing before any.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research import config as config_lib
from research import losses
from research.augment import default_augment_config
from research.errors import ConfigError
from research.optim import optimizer_for
from research.parallel import Parallel
from research.penalties import default_penalty_config
from research.train.epoch import make_evaluate, make_train_epoch
from research.train.hparams import initial_hparams
from research.train.loop import build
from research.train.resolve import resolve
from research.train.state import create_train_state
from research.train.steps import make_eval_step, make_train_step

DEFAULT_MAX_STEPS = 500
# The lectures overfit 5-10 batches, not one: a single batch is memorized
# even by a network with a bug that a few batches expose.
DEFAULT_NUM_BATCHES = 5
_PASSES_PER_CALL = 50  # passes over the batches per compiled call


def overfit_config(config: ml_collections.ConfigDict
                   ) -> ml_collections.ConfigDict:
  """`config` without what fights memorization: penalties, the max-norm
  constraint, weight decay, dropout and its relatives, augmentation and early
  stopping. The architecture and the optimizer (schedule included) stay."""
  config = config_lib.merge(config, {
      'optimizer.weight_decay': 0.0, 'model.dropout': 0.0,
      'model.input_dropout': 0.0, 'model.dropconnect': 0.0,
      'model.stochastic_depth': 0.0, 'train.patience': 0, 'train.monitor': ''})
  with config.unlocked():
    config.regularization = default_penalty_config()
    config.augment = default_augment_config()
  return config


@dataclasses.dataclass(frozen=True)
class OverfitResult:
  """Training curve on the first `num_batches` batches alone."""
  num_batches: int
  num_examples: int
  max_steps: int
  learning_rate: float
  # Steps after which every example is classified right; None: never.
  steps_to_fit: int | None
  step_losses: tuple[float, ...]  # training loss of each step
  pass_accuracies: tuple[float, ...]  # accuracy on all examples after each pass
  final_loss: float  # on all examples, after the last pass
  final_accuracy: float
  message: str

  @property
  def reached(self) -> bool:
    return self.steps_to_fit is not None

  def to_dict(self) -> dict:
    return {**dataclasses.asdict(self), 'reached': self.reached}


def overfit_batches(config: ml_collections.ConfigDict, *,
                    num_batches: int = DEFAULT_NUM_BATCHES,
                    max_steps: int = DEFAULT_MAX_STEPS,
                    learning_rate: float | None = None) -> OverfitResult:
  """Trains `overfit_config(config)` on its first `num_batches` batches of
  `train.batch_size` (in order, the same batches every pass) for up to
  `max_steps` steps (rounded up to whole passes); stops once every example
  is classified right.

  Accuracy is measured after each pass over the batches, without dropout and
  (with BatchNorm) on each batch's own statistics, as training saw them.
  `learning_rate` replaces the config's (it is traced, so 0 is allowed: the
  check then fails, as it must).
  """
  for name, value, minimum in (('num_batches', num_batches, 1),
                               ('max_steps', max_steps, 1)):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
      raise ConfigError(f'{name}: {value!r} must be an integer >= {minimum}')
  if learning_rate is not None and not learning_rate >= 0:
    raise ConfigError(f'learning_rate: {learning_rate!r} must be >= 0')
  config = overfit_config(config)
  config = resolve(config)
  parts = build(config, Parallel('jit'))
  size = config.train.batch_size
  n = num_batches * size
  if n > len(parts.dataset.x_train):
    raise ConfigError(
        f'num_batches: {num_batches} batches of train.batch_size={size} need '
        f'{n} examples; the training split has {len(parts.dataset.x_train)}')
  x, y = parts.x_train[:n], parts.y_train[:n]
  loss_fn = losses.get(config.loss.name)

  hparams = initial_hparams(config)
  if learning_rate is not None:
    hparams['learning_rate'] = jnp.asarray(learning_rate, jnp.float32)
  state = create_train_state(config.seed, parts.model, parts.tx, x[:1],
                             hparams=hparams)
  train_step = make_train_step(
      parts.model, optimizer_for(config, steps_per_epoch=parts.batches),
      loss_fn, num_classes=parts.dataset.num_classes)
  one_pass = make_train_epoch(train_step, num_examples=n, batch_size=size,
                              shuffle=False)
  evaluate = make_evaluate(
      make_eval_step(parts.model, loss_fn,
                     bn_batch_statistics=config.model.batchnorm != 'none'),
      batch_size=size)

  total_passes = math.ceil(max_steps / num_batches)
  passes_per_call = min(_PASSES_PER_CALL, total_passes)

  @jax.jit
  def run_passes(state, x, y):
    def body(state, _):
      state, metrics = one_pass(state, x, y)
      after = evaluate(state, x, y)
      return state, (metrics['loss'], after['loss'], after['accuracy'])
    return jax.lax.scan(body, state, None, length=passes_per_call)

  step_losses, pass_losses, pass_accuracies = [], [], []
  steps_to_fit = None
  while len(pass_accuracies) < total_passes and steps_to_fit is None:
    state, (steps, after_loss, after_accuracy) = run_passes(state, x, y)
    keep = min(passes_per_call, total_passes - len(pass_accuracies))
    step_losses.extend(np.asarray(steps)[:keep].ravel().tolist())
    pass_losses.extend(np.asarray(after_loss)[:keep].tolist())
    pass_accuracies.extend(np.asarray(after_accuracy)[:keep].tolist())
    fitted = np.flatnonzero(np.asarray(pass_accuracies) >= 1.0)
    if fitted.size:
      passes = int(fitted[0]) + 1
      steps_to_fit = passes * num_batches
      del step_losses[steps_to_fit:], pass_losses[passes:]
      del pass_accuracies[passes:]
    if not np.all(np.isfinite(step_losses)):
      break

  lr = float(hparams['learning_rate'])
  what = (f'{n} examples ({num_batches} batch{"es" if num_batches > 1 else ""}'
          f' of {size})')
  if steps_to_fit is not None:
    message = (f'reached 100% training accuracy on {what} after '
               f'{steps_to_fit} steps (loss {pass_losses[-1]:.3g})')
  else:
    bad = np.flatnonzero(~np.isfinite(step_losses))
    cause = (f'the loss became {step_losses[bad[0]]} at step {bad[0] + 1}: '
             'the learning rate is too high' if bad.size else
             'a bug (labels, the loss, a layer cut from the graph), too small '
             'a model, or too low a learning rate')
    best = np.nanmax(pass_accuracies)
    message = (f'never reached 100% training accuracy on {what} in '
               f'{len(step_losses)} steps (best {best:.1%}, learning rate '
               f'{lr:.3g}): {cause}')
  return OverfitResult(
      num_batches=num_batches, num_examples=n, max_steps=max_steps,
      learning_rate=lr, steps_to_fit=steps_to_fit,
      step_losses=tuple(step_losses), pass_accuracies=tuple(pass_accuracies),
      final_loss=pass_losses[-1], final_accuracy=pass_accuracies[-1],
      message=message)
