"""The one place where a run's optimizer is built from its config.

The chain, in order: clip the gradient by global norm; the optimizer itself
(with its learning rate: the schedule, after the linear scaling rule); decoupled
weight decay on the weights; the max-norm projection, last, so it sees the
final update.
"""

import ml_collections
import optax

from research.errors import ConfigError
from research.optim import registry
from research.optim.constraints import max_norm
from research.optim.masks import weights_mask
from research.optim.schedules import (build_schedule, scaled_learning_rate,
                                      validate_schedule_config)
from research.optim.weight_decay import decoupled_weight_decay

def validate_optimizer_config(config: ml_collections.ConfigDict) -> dict:
  """Checks the `optimizer` section; returns the optimizer's hyperparameters,
  those the section does not give at their factory's defaults."""
  entry = registry.entry(config.name)
  lr = config.learning_rate
  if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
    raise ConfigError(f'optimizer.learning_rate: {lr!r} must be a number > 0')
  for key in ('grad_clip_norm', 'weight_decay'):
    if config[key] < 0:
      raise ConfigError(f'optimizer.{key}: {config[key]} must be >= 0')
  if config.reference_batch_size < 0:
    raise ConfigError('optimizer.reference_batch_size: '
                      f'{config.reference_batch_size} must be >= 0 (0 = off)')
  validate_schedule_config(config.schedule)
  if entry.needs_value_fn and (config.grad_clip_norm or config.weight_decay):
    raise ConfigError(
        f'optimizer.name: {config.name!r} runs its own line search on the loss; '
        'gradient clipping and decoupled weight decay would change the step '
        'it checks. Use regularization.l2 (a penalty in the loss) instead.')
  return entry.resolve(config.hparams.to_dict())


def learning_rate_schedule(config: ml_collections.ConfigDict, *,
                           steps_per_epoch: int, learning_rate=None):
  """The learning rate after the linear scaling rule, as a float or schedule.

  `learning_rate` replaces the config's base rate: a traced array when the
  rate is a swept hyperparameter (see `optimizer_for`).
  """
  opt = config.optimizer
  batch_size = config.train.batch_size
  base = opt.learning_rate if learning_rate is None else learning_rate
  lr = scaled_learning_rate(base, batch_size, opt.reference_batch_size)
  return build_schedule(opt.schedule, lr, steps_per_epoch=steps_per_epoch,
                        num_epochs=config.train.num_epochs)


def build_optimizer(config: ml_collections.ConfigDict, *,
                    steps_per_epoch: int = 1, hparams: dict | None = None
                   ) -> optax.GradientTransformationExtraArgs:
  """Builds the optimizer chain of `config` (validated before).

  `hparams` may hold 'learning_rate' and 'weight_decay' as arrays (the train
  state's traced hyperparameters); they replace the config's values, so the
  same compiled step serves every value, and a population `vmap`s over them.
  The chain's structure (and so its state) depends only on the config.
  """
  opt = config.optimizer
  hparams = hparams or {}
  schedule = learning_rate_schedule(config, steps_per_epoch=steps_per_epoch,
                                    learning_rate=hparams.get('learning_rate'))
  weight_decay = hparams.get('weight_decay', opt.weight_decay)
  parts = []
  if opt.grad_clip_norm:
    parts.append(optax.clip_by_global_norm(opt.grad_clip_norm))
  parts.append(registry.get(opt.name, schedule, **opt.hparams.to_dict()))
  if opt.weight_decay:
    parts.append(decoupled_weight_decay(weight_decay, schedule,
                                        mask=weights_mask))
  if config.regularization.max_norm:
    parts.append(max_norm(config.regularization.max_norm))
  if len(parts) == 1:
    return parts[0]
  return optax.with_extra_args_support(optax.chain(*parts))


def optimizer_for(config: ml_collections.ConfigDict, *, steps_per_epoch: int):
  """`hparams -> optimizer chain`: what the train step calls with the state's
  traced hyperparameters (learning rate, weight decay) to build its update."""
  return lambda hparams: build_optimizer(
      config, steps_per_epoch=steps_per_epoch, hparams=hparams)
