"""Learning-rate schedules, built from the `optimizer.schedule` config section.

Every schedule is `lr(t) = learning_rate * m(t)`, with m a jittable function of
the int step count t (the number of updates done so far, as optax counts) built
from optax's schedule primitives. Epochs become steps as round(epochs *
steps_per_epoch). With W warmup steps and T = num_epochs * steps_per_epoch:

  warmup (t < W):   m(t) = f0 + (1 - f0) t / W      (f0 = warmup_init_fraction)
  then, with s = t - W and D = T - W:
  constant:         m = 1
  step:             m = gamma^(number of step_epochs e with t >= round(e * spe))
                    (step_epochs are epochs of the run, counted from its start)
  cosine:           m = f + (1 - f) (1 + cos(pi min(s, D) / D)) / 2
                    (f = final_fraction)
  linear:           m = 1 - (1 - f) min(s, D) / D
  inverse_sqrt:     m = sqrt(w / max(t, w)), w = max(W, 1)
  sgdr:             cosine from 1 to f within each period, restarting at 1.
  wsd:              m = 1 until the decay starts at S = T - E, E = max(1,
                    round(decay_fraction T)) steps before the end; then with
                    u = min(t - S, E) / E,
                    m = f + (1 - f) (1 - u)         (decay_shape 'linear')
                    m = f + (1 - f) (1 - sqrt(u))   (decay_shape '1-sqrt')

inverse_sqrt is the Transformer's rsqrt rule normalized to peak 1: with f0 = 0
it is min(t / W, sqrt(W / t)), continuous at W. Without warmup (w = 1) it is 1
at t = 0 and 1 / sqrt(t) after; it never ends, so T does not enter.

SGDR (Loshchilov & Hutter 2017): periods P_0 = T0, P_k = T0 mult^k epochs;
restarts (counted from the end of warmup) at round(spe T0 (1 + mult + ... +
mult^(k-1))), k = 1, 2, ...; within period k, at step r of its length L_k,
m = f + (1 - f) (1 + cos(pi r / L_k)) / 2. Periods are added until they cover
the run; the last one is not cut short, so a run may end mid-period.

WSD (warmup-stable-decay; Hägele et al. 2024, MiniCPM, Hu et al. 2024): a
constant peak after warmup and a short cooldown at the end; '1-sqrt' is the
cooldown shape Hägele et al. recommend. Its decay must start after warmup.

With gradient accumulation (`accumulate_steps` k > 1) t counts the updates,
one per k batches: a run has T = (num_epochs spe) // k of them, and an epoch
e is the update round(e spe / k).

Every m(W) = 1 (unless a step epoch falls on warmup's end), so warmup joins
continuously. Decay and restarts are in steps, so a run resumed from a
checkpoint at step t sees the same learning rate.
"""

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from research.config.sections import schedule_config as default_schedule_config
from research.errors import ConfigError, check_section_keys

SCHEDULES = ('constant', 'step', 'cosine', 'linear', 'inverse_sqrt', 'sgdr',
             'wsd')
DECAY_SHAPES = ('linear', '1-sqrt')

# The keys each schedule reads besides warmup; a key the chosen schedule does
# not read must keep its default (as optimizer hyperparameters).
_USES = {
    'constant': (),
    'step': ('step_epochs', 'gamma'),
    'cosine': ('final_fraction',),
    'linear': ('final_fraction',),
    'inverse_sqrt': (),
    'sgdr': ('final_fraction', 'sgdr_period_epochs', 'sgdr_period_mult'),
    'wsd': ('final_fraction', 'decay_fraction', 'decay_shape'),
}
_WARMUP_KEYS = ('warmup_epochs', 'warmup_init_fraction')

# Decay schedules end at the run's end, so warmup must leave them a step.
_DECAYING = ('cosine', 'linear', 'sgdr', 'wsd')
_MAX_SGDR_PERIODS = 1000


# --------------------------------------------------------------------------
# Validation


def _is_real(value: Any) -> bool:
  return (isinstance(value, (numbers.Real, np.floating))
          and not isinstance(value, bool) and bool(np.isfinite(value)))


def _number(cfg, key: str, low: float, high: float | None = None, *,
            low_open: bool = False) -> None:
  value = cfg[key]
  name = f'optimizer.schedule.{key}'
  if not _is_real(value):
    raise ConfigError(f'{name}: {value!r} must be a number')
  too_low = value <= low if low_open else value < low
  if too_low or (high is not None and value > high):
    left = '(' if low_open else '['
    right = 'inf)' if high is None else f'{high}]'
    bounds = f'{left}{low}, {right}'
    raise ConfigError(f'{name}: {value!r} is outside {bounds}')


def validate_schedule_config(
    schedule_config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming `optimizer.schedule.<key>` for a bad value."""
  defaults = default_schedule_config()
  check_section_keys(schedule_config, defaults, 'optimizer.schedule')
  c = schedule_config
  if c.name not in SCHEDULES:
    raise ConfigError(f'optimizer.schedule.name: unknown schedule {c.name!r}; '
                      f'known: {", ".join(SCHEDULES)}')
  _number(c, 'warmup_epochs', 0.0)
  _number(c, 'warmup_init_fraction', 0.0, 1.0)
  _number(c, 'gamma', 0.0, low_open=True)
  _number(c, 'final_fraction', 0.0, 1.0)
  _number(c, 'sgdr_period_epochs', 0.0, low_open=True)
  _number(c, 'sgdr_period_mult', 1.0)  # < 1 would need infinitely many periods
  _number(c, 'decay_fraction', 0.0, 1.0, low_open=True)
  if c.decay_shape not in DECAY_SHAPES:
    raise ConfigError(f'optimizer.schedule.decay_shape: {c.decay_shape!r} is '
                      f'not one of {", ".join(DECAY_SHAPES)}')
  epochs = c.step_epochs
  if (not isinstance(epochs, (tuple, list))
      or not all(_is_real(e) and e > 0 for e in epochs)
      or list(epochs) != sorted(set(epochs))):
    raise ConfigError(f'optimizer.schedule.step_epochs: {epochs!r} must be a '
                      'tuple of increasing epochs > 0, e.g. (10, 20)')
  if c.name == 'step':
    if not epochs:
      raise ConfigError("optimizer.schedule.step_epochs: the 'step' schedule "
                        'needs at least one epoch, e.g. (10, 20)')
    if epochs[0] <= c.warmup_epochs:
      raise ConfigError(
          f'optimizer.schedule.step_epochs: {epochs!r} decays during warmup '
          f'(warmup_epochs={c.warmup_epochs}); steps must come after it')
  # A key the chosen schedule ignores must not silently differ from its
  # default: in a sweep that is almost always a mistake.
  used = set(_USES[c.name]) | set(_WARMUP_KEYS) | {'name'}
  for key in defaults.keys():
    if key not in used and _differs(c[key], defaults[key]):
      raise ConfigError(
          f'optimizer.schedule.{key}: the {c.name!r} schedule does not use '
          f'{key} (it reads {", ".join(_WARMUP_KEYS + _USES[c.name])})')
  if c.warmup_init_fraction != defaults.warmup_init_fraction and not (
      c.warmup_epochs > 0):
    raise ConfigError('optimizer.schedule.warmup_init_fraction: has no effect '
                      'without optimizer.schedule.warmup_epochs > 0')


def _differs(value: Any, default: Any) -> bool:
  if isinstance(default, tuple):
    return tuple(value) != default
  return value != default


# --------------------------------------------------------------------------
# Building


def _steps(epochs: float, steps_per_epoch: int) -> int:
  return int(round(epochs * steps_per_epoch))


def _sgdr_lengths(period_epochs: float, mult: float, steps_per_epoch: int,
                  total_steps: int) -> list[int]:
  """Period lengths in steps (from rounded restarts) covering total_steps."""
  lengths, end, cumulative, period = [], 0, 0.0, period_epochs
  while end < total_steps:
    cumulative += period
    # Every period is at least one step, so the loop ends.
    restart = max(_steps(cumulative, steps_per_epoch), end + 1)
    lengths.append(restart - end)
    end, period = restart, period * mult
  return lengths


def _wsd(c: ml_collections.ConfigDict, *, warmup_steps: int,
         total_steps: int) -> optax.Schedule:
  """m(s) of WSD after warmup: 1, then the decay over its last E steps."""
  final = float(c.final_fraction)
  length = max(_steps(c.decay_fraction, total_steps), 1)
  start = total_steps - length - warmup_steps  # S, counted from warmup's end
  if start < 0:
    raise ConfigError(
        f'optimizer.schedule.decay_fraction: {c.decay_fraction} starts the '
        f'decay at step {total_steps - length}, during warmup (which ends at '
        f'step {warmup_steps}); lower it or optimizer.schedule.warmup_epochs')

  def unit(s):
    r = jnp.clip(s - start, 0, length)
    if c.decay_shape == 'linear':
      # From the steps left, as 'linear' (no tiny negative rate at the end).
      left = (length - r) / length
    else:
      left = 1.0 - jnp.sqrt(jnp.clip(r / length, 0.0, 1.0))
    return jnp.where(s < start, 1.0, final + (1.0 - final) * left)
  return unit


def _decay(c: ml_collections.ConfigDict, *, warmup_steps: int,
           decay_steps: int, steps_per_epoch: float) -> optax.Schedule:
  """m(s) of the schedule after warmup, s counted from warmup's end."""
  if c.name == 'constant':
    return optax.constant_schedule(1.0)
  if c.name == 'step':
    scales: dict[int, float] = {}
    for epoch in c.step_epochs:  # two epochs may round to one step
      boundary = _steps(epoch, steps_per_epoch) - warmup_steps
      scales[boundary] = scales.get(boundary, 1.0) * float(c.gamma)
    return optax.piecewise_constant_schedule(1.0, scales)
  final = float(c.final_fraction)
  if c.name == 'cosine':
    return optax.cosine_decay_schedule(1.0, decay_steps, alpha=final)
  if c.name == 'linear':
    # From the steps left, not 1 - s / D: XLA turns / D into * (1 / D), and
    # 1 - D * (1 / D) can be a tiny negative learning rate at the end.
    return lambda s: final + (1.0 - final) * (
        decay_steps - jnp.clip(s, 0, decay_steps)) / decay_steps
  if c.name == 'inverse_sqrt':
    w = max(warmup_steps, 1)
    return lambda s: jnp.sqrt(w / jnp.maximum(s + warmup_steps, w))
  if c.name == 'wsd':
    return _wsd(c, warmup_steps=warmup_steps,
                total_steps=warmup_steps + decay_steps)
  if c.name == 'sgdr':
    lengths = _sgdr_lengths(float(c.sgdr_period_epochs),
                            float(c.sgdr_period_mult), steps_per_epoch,
                            decay_steps)
    if len(lengths) > _MAX_SGDR_PERIODS:
      # Each period is one more branch in the traced schedule.
      raise ConfigError(
          f'optimizer.schedule.sgdr_period_epochs: {c.sgdr_period_epochs} '
          f'with sgdr_period_mult={c.sgdr_period_mult} gives {len(lengths)} '
          f'restarts; at most {_MAX_SGDR_PERIODS} are supported')
    return optax.sgdr_schedule([
        dict(init_value=1.0, peak_value=1.0, warmup_steps=0, decay_steps=n,
             end_value=final) for n in lengths])
  raise AssertionError(f'unreachable: {c.name}')


def build_schedule(schedule_config: ml_collections.ConfigDict,
                   learning_rate: float | jax.Array, *, steps_per_epoch: int,
                   num_epochs: int, accumulate_steps: int = 1
                  ) -> optax.ScalarOrSchedule:
  """The learning rate of `schedule_config`: `t -> learning_rate * m(t)`.

  Returns `learning_rate` itself (not a function) for 'constant' without
  warmup, so such a run's optimizer is exactly the unscheduled one. Otherwise
  an `optax.Schedule`. `learning_rate` may be a jax array (a swept
  hyperparameter, traced under `vmap`): it only multiplies m.

  `steps_per_epoch` counts batches. With `accumulate_steps` k > 1 (gradient
  accumulation: one update per k batches) the schedule's step is the number
  of updates, as optax counts inside `optax.MultiSteps`, so epochs convert
  with steps_per_epoch / k updates each, and the run has
  (num_epochs * steps_per_epoch) // k updates.

  The section was checked when the run's config was resolved
  (`validate_schedule_config`).

  Raises:
    ConfigError: for warmup that leaves a decaying schedule no steps.
  """
  c = schedule_config
  if steps_per_epoch < 1 or num_epochs < 1 or accumulate_steps < 1:
    raise ValueError(f'steps_per_epoch={steps_per_epoch}, num_epochs='
                     f'{num_epochs} and accumulate_steps={accumulate_steps} '
                     'must be >= 1')
  total_steps = num_epochs * steps_per_epoch // accumulate_steps
  if total_steps < 1:
    raise ConfigError(
        f'optimizer.accumulate_steps: {accumulate_steps} batches per update '
        f'leave no update in a run of {num_epochs * steps_per_epoch} batches')
  if accumulate_steps > 1:  # the schedule counts updates, not batches
    steps_per_epoch = steps_per_epoch / accumulate_steps
  warmup_steps = _steps(c.warmup_epochs, steps_per_epoch)
  if c.warmup_epochs > num_epochs or (
      c.name in _DECAYING and warmup_steps >= total_steps):
    raise ConfigError(
        f'optimizer.schedule.warmup_epochs: {c.warmup_epochs} leaves the '
        f'{c.name!r} schedule no steps in a run of {num_epochs} epochs')
  if c.name == 'constant' and warmup_steps == 0:
    return learning_rate

  unit = _decay(c, warmup_steps=warmup_steps,
                decay_steps=max(total_steps - warmup_steps, 1),
                steps_per_epoch=steps_per_epoch)
  if warmup_steps:
    warmup = optax.linear_schedule(float(c.warmup_init_fraction), 1.0,
                                   warmup_steps)
    unit = optax.join_schedules([warmup, unit], [warmup_steps])
  return lambda step: learning_rate * unit(step)


BATCH_SCALINGS = ('linear', 'inverse')


def scaled_learning_rate(learning_rate: float, batch_size: int,
                         reference_batch_size: int,
                         scaling: str = 'linear') -> float:
  """The learning rate at `batch_size` of a rate tuned at the reference batch.

  'linear' is the linear scaling rule (Goyal et al. 2017): lr * batch_size /
  reference; with a loss averaged over the batch, the minibatch gradient's
  mean does not depend on the batch size, so k times the batch takes about
  the steps of k small ones only at k times the rate. 'inverse' is the
  lecture slides' "batch x N -> learning rate / N": lr * reference /
  batch_size, which keeps the step the same with a loss SUMMED over the
  batch (its gradient grows N-fold) and shrinks it N-fold with a mean.
  `reference_batch_size` = 0 turns scaling off (returns `learning_rate`).
  """
  if reference_batch_size < 0 or batch_size < 1:
    raise ValueError(f'batch_size={batch_size} must be >= 1 and '
                     f'reference_batch_size={reference_batch_size} >= 0')
  if scaling not in BATCH_SCALINGS:
    raise ValueError(f'scaling {scaling!r} must be one of {", ".join(BATCH_SCALINGS)}')
  if reference_batch_size == 0:
    return learning_rate
  if scaling == 'inverse':
    return learning_rate * reference_batch_size / batch_size
  return learning_rate * batch_size / reference_batch_size
