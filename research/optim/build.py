"""The one place where a run's optimizer is built from its config.

The chain, in order: clip the gradient by global norm; the optimizer itself
(with its learning rate: the schedule, after the linear scaling rule); decoupled
weight decay on the weights; the max-norm projection, so it sees the final
update; the parameter EMA (`optimizer.ema_decay`), last, so it averages the
parameters after it. With `optimizer.accumulate_steps` k > 1 the whole chain
is wrapped in `optax.MultiSteps`: k batches make one update at their mean
gradient, and the schedule (and every count in the chain) counts updates.
"""

import ml_collections
import optax

from research.errors import ConfigError
from research.optim import registry
from research.optim.averaging import parameter_ema
from research.optim.clipping import clip_by_global_norm
from research.optim.constraints import max_norm
from research.optim.masks import weights_mask
from research.optim.schedules import (BATCH_SCALINGS, build_schedule,
                                      scaled_learning_rate,
                                      validate_schedule_config)
from research.optim.weight_decay import decoupled_weight_decay


def _validate_chain_options(config: ml_collections.ConfigDict, entry) -> None:
  """optimizer.accumulate_steps and optimizer.ema_decay."""
  k = config.accumulate_steps
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise ConfigError(f'optimizer.accumulate_steps: {k!r} must be an int >= 1 '
                      '(1 = off)')
  if k > 1 and entry.needs_value_fn:
    raise ConfigError(
        f'optimizer.accumulate_steps: {config.name!r} evaluates the loss '
        'itself (value_fn), which sees one batch, not the accumulated ones')
  decay = config.ema_decay
  if (isinstance(decay, bool) or not isinstance(decay, (int, float))
      or not 0 <= decay < 1):
    raise ConfigError(f'optimizer.ema_decay: {decay!r} must be in [0, 1) '
                      '(0 = off)')
  if decay and entry.evaluates_average:
    raise ConfigError(
        f'optimizer.ema_decay: {config.name!r} keeps its own average to '
        'evaluate; an EMA of the points it trains at is not that average')


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
  if config.batch_scaling not in BATCH_SCALINGS:
    raise ConfigError(f'optimizer.batch_scaling: {config.batch_scaling!r} must '
                      f'be one of {", ".join(BATCH_SCALINGS)}')
  validate_schedule_config(config.schedule)
  _validate_chain_options(config, entry)
  if entry.line_search and (config.grad_clip_norm or config.weight_decay):
    raise ConfigError(
        f'optimizer.name: {config.name!r} runs its own line search on the loss; '
        'gradient clipping and decoupled weight decay would change the step '
        'it checks. Use regularization.l2 (a penalty in the loss) instead.')
  if entry.needs_value_fn and config.grad_clip_norm:  # SAM
    raise ConfigError(
        f'optimizer.grad_clip_norm: {config.name!r} steps with the gradient it '
        'takes itself through value_fn; the clipped gradient would only set a '
        'direction it normalizes, so clipping would change nothing. '
        '(optimizer.weight_decay is fine.)')
  hparams = entry.resolve(config.hparams.to_dict())
  # AdamW, Lion, Prodigy decay by their own `weight_decay`: two decays at once
  # would add up unseen (and Prodigy's is scaled by its own step size).
  if config.weight_decay and hparams.get('weight_decay'):
    raise ConfigError(
        f'optimizer.weight_decay: {config.name!r} has its own decoupled decay, '
        f'optimizer.hparams.weight_decay={hparams["weight_decay"]}; set one of '
        'the two to 0 (optimizer.weight_decay is the one a population sweeps '
        'as data; optimizer.hparams.weight_decay is compiled in)')
  return hparams


def learning_rate_schedule(config: ml_collections.ConfigDict, *,
                           steps_per_epoch: int, learning_rate=None):
  """The learning rate after the linear scaling rule, as a float or schedule.

  `learning_rate` replaces the config's base rate: a traced array when the
  rate is a swept hyperparameter (see `optimizer_for`).

  `steps_per_epoch` counts batches. With `optimizer.accumulate_steps` k > 1
  an update averages k batches: the schedule's step counts updates (the
  count of the optimizer inside `optax.MultiSteps`), so an epoch is
  steps_per_epoch / k of them, and the linear scaling rule sees the batch of
  an update, k * train.batch_size.
  """
  opt = config.optimizer
  k = opt.accumulate_steps
  batch_size = config.train.batch_size * k
  base = opt.learning_rate if learning_rate is None else learning_rate
  lr = scaled_learning_rate(base, batch_size, opt.reference_batch_size,
                            opt.batch_scaling)
  return build_schedule(opt.schedule, lr, steps_per_epoch=steps_per_epoch,
                        num_epochs=config.train.num_epochs,
                        accumulate_steps=k)


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
    parts.append(clip_by_global_norm(opt.grad_clip_norm))
  parts.append(registry.get(opt.name, schedule, **opt.hparams.to_dict()))
  if opt.weight_decay:
    parts.append(decoupled_weight_decay(weight_decay, schedule,
                                        mask=weights_mask))
  if config.regularization.max_norm:
    parts.append(max_norm(config.regularization.max_norm))
  if opt.ema_decay:
    parts.append(parameter_ema(opt.ema_decay))
  tx = (parts[0] if len(parts) == 1
        else optax.with_extra_args_support(optax.chain(*parts)))
  if opt.accumulate_steps > 1:
    # MultiSteps' own transformation passes update's extra args (value, grad,
    # value_fn) to the chain; `with_extra_args_support` would drop them.
    multi = optax.MultiSteps(tx, every_k_schedule=opt.accumulate_steps)
    tx = optax.GradientTransformationExtraArgs(multi.init, multi.update)
  return tx


def optimizer_for(config: ml_collections.ConfigDict, *, steps_per_epoch: int):
  """`hparams -> optimizer chain`: what the train step calls with the state's
  traced hyperparameters (learning rate, weight decay) to build its update."""
  return lambda hparams: build_optimizer(
      config, steps_per_epoch=steps_per_epoch, hparams=hparams)
