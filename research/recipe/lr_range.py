"""Step 3 of the recipe: the learning-rate range test.

Smith (2017), "Cyclical learning rates for training neural networks", §3.3,
and fastai's `lr_find`: train as usual while the learning rate grows
geometrically from `lr_min` to `lr_max`, one value per step,

  lr_i = lr_min * (lr_max / lr_min) ** (i / (S - 1)),   i = 0 .. S - 1,

and watch the training loss. It stays flat while the rate is too small to
matter, falls once the rate is useful, and blows up once it is too large. The
loss is smoothed by an exponential moving average with Adam's bias correction,
and the test stops as soon as the smoothed loss exceeds `divergence_factor`
times its minimum so far, or is not finite.

The learning rate is the state's traced `hparams['learning_rate']`: it is set
before each step inside one compiled `lax.scan`, so every rate runs the same
program. The rates are base rates (`optimizer.learning_rate`, before the
linear scaling rule, if the config sets one), and so is the suggestion: the
test runs with a constant schedule; the config's schedule applies on top.
"""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import scipy.signal

from research import losses
from research.errors import ConfigError
from research.optim import optimizer_for
from research.optim.schedules import default_schedule_config
from research.parallel import Parallel
from research.penalties import penalty_fn
from research.train.epoch import epoch_batch_indices
from research.train.hparams import initial_hparams
from research.train.loop import build, build_augment
from research.train.resolve import resolve
from research.train.state import create_train_state
from research.train.steps import make_train_step

RULES = ('minimum', 'steepest')
_STEPS_PER_CALL = 25


def geometric_learning_rates(lr_min: float, lr_max: float,
                             num_steps: int) -> np.ndarray:
  """lr_min * (lr_max / lr_min) ** (i / (num_steps - 1)), i = 0 .. S - 1."""
  if not 0 < lr_min < lr_max:
    raise ConfigError(f'lr_min, lr_max: need 0 < lr_min < lr_max, got '
                      f'{lr_min!r}, {lr_max!r}')
  if isinstance(num_steps, bool) or not isinstance(num_steps, int) or (
      num_steps < 2):
    raise ConfigError(f'num_steps: {num_steps!r} must be an integer >= 2')
  exponents = np.arange(num_steps, dtype=np.float64) / (num_steps - 1)
  return lr_min * (lr_max / lr_min) ** exponents


def _check_beta(beta: float) -> None:
  if not 0 <= beta < 1:
    raise ConfigError(f'beta: {beta!r} must be in [0, 1)')


def _check_divergence_factor(divergence_factor: float) -> None:
  if not divergence_factor > 1:
    raise ConfigError(
        f'divergence_factor: {divergence_factor!r} must be > 1')


def _check_rule(rule: str) -> None:
  if rule not in RULES:
    raise ConfigError(f'rule: unknown rule {rule!r}; known: {", ".join(RULES)}')


def smooth(values, beta: float) -> np.ndarray:
  """Bias-corrected exponential moving average, as Adam's first moment:

    m_i = beta m_{i-1} + (1 - beta) v_i,  m_{-1} = 0,
    smoothed_i = m_i / (1 - beta ** (i + 1)).
  """
  _check_beta(beta)
  values = np.asarray(values, np.float64)
  m = scipy.signal.lfilter([1.0 - beta], [1.0, -beta], values)
  return m / (1.0 - beta ** np.arange(1, len(values) + 1))


def stopping_index(smoothed, divergence_factor: float = 4.0) -> int | None:
  """The first i whose smoothed loss is not finite or exceeds
  `divergence_factor` times the minimum of the ones before it; None if none."""
  _check_divergence_factor(divergence_factor)
  smoothed = np.asarray(smoothed, np.float64)
  bad = np.flatnonzero(~np.isfinite(smoothed))
  end = int(bad[0]) if bad.size else len(smoothed)
  finite = smoothed[:end]
  if len(finite) > 1:
    best_before = np.minimum.accumulate(finite)[:-1]
    above = np.flatnonzero(finite[1:] > divergence_factor * best_before)
    if above.size:
      return int(above[0]) + 1
  return end if bad.size else None


@dataclasses.dataclass(frozen=True)
class Suggestion:
  minimum_lr: float | None  # where the smoothed loss is lowest
  steepest_lr: float | None  # where it falls fastest (per unit of log lr)
  suggested_lr: float | None  # by `rule`; None when the loss never fell
  rule: str


def suggest_learning_rate(learning_rates, smoothed,
                          rule: str = 'steepest') -> Suggestion:
  """A learning rate from the smoothed loss of a range test (before it
  stopped).

  Rules:
    'steepest' (the default): the rate where the smoothed loss falls fastest
      against log(lr), before its minimum (fastai's `lr_steep`): the middle
      of the range where training makes progress, neither so small that the
      loss barely moves nor so large that it is about to blow up.
    'minimum': the rate at the minimum of the smoothed loss, divided by 10
      (fastai's `lr_min`). At the minimum the loss is about to blow up; a
      tenth of it is safely below that edge. Less sensitive to noise than the
      slope, often more conservative.
  If the smoothed loss is lowest at the first rate, it never fell: the range
  starts too high (or nothing trains); there is no suggestion.
  """
  _check_rule(rule)
  lrs = np.asarray(learning_rates, np.float64)
  smoothed = np.asarray(smoothed, np.float64)
  if len(lrs) != len(smoothed) or not len(lrs):
    raise ValueError(f'{len(lrs)} learning rates for {len(smoothed)} losses')
  lowest = int(np.argmin(smoothed))
  if lowest == 0:
    return Suggestion(float(lrs[0]), None, None, rule)
  slopes = np.gradient(smoothed[:lowest + 1], np.log(lrs[:lowest + 1]))
  steepest = float(lrs[int(np.argmin(slopes))])
  minimum = float(lrs[lowest])
  suggested = minimum / 10 if rule == 'minimum' else steepest
  return Suggestion(minimum, steepest, suggested, rule)


@dataclasses.dataclass(frozen=True)
class LRRangeResult:
  """The curve of a range test (up to and including the step that stopped
  it) and the suggestion made from the steps before that one."""
  lr_min: float
  lr_max: float
  num_steps: int
  beta: float
  divergence_factor: float
  learning_rates: tuple[float, ...]
  losses: tuple[float, ...]
  smoothed: tuple[float, ...]
  stopped_at: int | None  # the step that stopped the test; None: ran to lr_max
  minimum_lr: float | None
  steepest_lr: float | None
  suggested_lr: float | None
  rule: str
  message: str

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def range_test_config(config: ml_collections.ConfigDict
                      ) -> ml_collections.ConfigDict:
  """`config` with a constant learning rate (no warmup, no decay)."""
  config = ml_collections.ConfigDict(config.to_dict())
  with config.unlocked():
    config.optimizer.schedule = default_schedule_config()
  return config


def make_lr_steps(train_step, *, batching: str, batch_size: int):
  """`run(state, x, y, lrs, indices) -> (state, per-step metrics)`: one step
  per learning rate in `lrs`, the state's traced rate set before each.

  batching 'epoch': step i trains on `x[indices[i]]`; 'full': on all of x;
  'fixed': on its first `batch_size` rows (`indices` is then ignored).
  """

  def step(state, lr, rows, x, y):
    state = state.replace(hparams={**state.hparams, 'learning_rate': lr})
    if batching == 'epoch':
      return train_step(state, (x[rows], y[rows]))
    if batching == 'fixed':
      return train_step(state, (x[:batch_size], y[:batch_size]))
    return train_step(state, (x, y))

  def run(state, x, y, lrs, indices):
    return jax.lax.scan(
        lambda s, inputs: step(s, inputs[0], inputs[1], x, y), state,
        (lrs, indices))

  return run


def prepare_lr_steps(config: ml_collections.ConfigDict):
  """(resolved config, its built parts, its initial state, steps): what a
  test of learning rates on `config` trains, everything as configured but a
  constant schedule (`range_test_config`). `steps` is `make_lr_steps` of the
  config's train step, not yet compiled: `jax.vmap` it over a leading member
  axis of states and rates to try several rates at once."""
  config = resolve(range_test_config(config))
  parts = build(config, Parallel('jit'))
  dataset = parts.dataset
  train_step = make_train_step(
      parts.model, optimizer_for(config, steps_per_epoch=parts.batches),
      losses.get(config.loss.name), penalty=penalty_fn(config.regularization),
      augment=build_augment(config, dataset), num_classes=dataset.num_classes)
  state = create_train_state(config.seed, parts.model, parts.tx,
                             dataset.x_train[:1],
                             hparams=initial_hparams(config))
  steps = make_lr_steps(train_step, batching=config.train.batching,
                        batch_size=config.train.batch_size)
  return config, parts, state, steps


def batch_rows(config, num_examples: int, num_steps: int) -> np.ndarray:
  """(num_steps, batch) example indices of 'epoch' batching: epoch after
  epoch, each shuffled (or not) as the config trains."""
  size = config.train.batch_size
  if config.train.batching != 'epoch':
    return np.zeros((num_steps, 1), np.int32)
  per_epoch = num_examples // size
  epochs = -(-num_steps // per_epoch)
  key = jax.random.PRNGKey(config.seed)
  rows = [np.asarray(epoch_batch_indices(jax.random.fold_in(key, e),
                                         num_examples, size,
                                         config.train.shuffle))
          for e in range(epochs)]
  return np.concatenate(rows)[:num_steps].astype(np.int32)


def lr_range_test(config: ml_collections.ConfigDict, *, lr_min: float = 1e-6,
                  lr_max: float = 10.0, num_steps: int = 200,
                  beta: float = 0.9, divergence_factor: float = 4.0,
                  rule: str = 'steepest') -> LRRangeResult:
  """The range test of `config`'s network with everything else as
  configured (optimizer, regularization, augmentation, batches); see the
  module's docstring. fastai smooths with beta = 0.98 over 100 steps; a
  smaller beta lags less (about beta / (1 - beta) steps), which matters when
  a decade of rates lasts only some 30 steps."""
  learning_rates = geometric_learning_rates(lr_min, lr_max, num_steps)
  _check_beta(beta)
  _check_divergence_factor(divergence_factor)
  _check_rule(rule)
  config, parts, state, steps = prepare_lr_steps(config)
  dataset = parts.dataset
  run = jax.jit(steps)

  # Fixed-length calls (the last one padded): one compilation, and a check
  # of the stopping rule every few steps instead of after all of them.
  per_call = min(_STEPS_PER_CALL, num_steps)
  calls = -(-num_steps // per_call)
  padded = calls * per_call
  lrs = np.concatenate([learning_rates, np.full(padded - num_steps, lr_max)])
  rows = batch_rows(config, len(dataset.x_train), num_steps)
  rows = np.concatenate([rows, np.repeat(rows[-1:], padded - num_steps, 0)])
  recorded, stop = [], None
  for c in range(calls):
    part = slice(c * per_call, (c + 1) * per_call)
    state, metrics = run(state, parts.x_train, parts.y_train,
                         jnp.asarray(lrs[part], jnp.float32),
                         jnp.asarray(rows[part]))
    recorded.extend(np.asarray(metrics['loss'], np.float64).tolist())
    recorded = recorded[:num_steps]
    stop = stopping_index(smooth(recorded, beta), divergence_factor)
    if stop is not None:
      recorded = recorded[:stop + 1]
      break

  smoothed = smooth(recorded, beta)
  used = len(recorded) if stop is None else stop  # before the stopping step
  suggestion = (suggest_learning_rate(learning_rates[:used], smoothed[:used],
                                      rule)
                if used else Suggestion(None, None, None, rule))
  if stop is None:
    ending = f'ran all {num_steps} steps to lr {lr_max:.3g} without diverging'
  else:
    why = ('was not finite' if not np.isfinite(smoothed[stop]) else
           f'exceeded {divergence_factor:g}x its minimum')
    ending = (f'stopped at step {stop} (lr {learning_rates[stop]:.3g}): the '
              f'smoothed loss {why}')
  if not used:
    message = (f'{ending}, at the first rate: lr_min={lr_min:.3g} is already '
               'too high, or the network overflows. No suggestion.')
  elif suggestion.suggested_lr is None:
    message = (f'{ending}; the smoothed loss never fell below its first '
               f'value: lr_min={lr_min:.3g} is already too high, or nothing '
               'trains. No suggestion.')
  else:
    message = (f'{ending}; lowest smoothed loss at lr '
               f'{suggestion.minimum_lr:.3g}, steepest descent at lr '
               f'{suggestion.steepest_lr:.3g}; suggested learning rate '
               f'{suggestion.suggested_lr:.3g} (rule {rule!r})')
  return LRRangeResult(
      lr_min=lr_min, lr_max=lr_max, num_steps=num_steps, beta=beta,
      divergence_factor=divergence_factor,
      learning_rates=tuple(learning_rates[:len(recorded)].tolist()),
      losses=tuple(recorded), smoothed=tuple(smoothed.tolist()),
      stopped_at=stop, minimum_lr=suggestion.minimum_lr,
      steepest_lr=suggestion.steepest_lr,
      suggested_lr=suggestion.suggested_lr, rule=rule, message=message)


def plot_lr_range(result: LRRangeResult, path: str | pathlib.Path,
                  title: str | None = None) -> pathlib.Path:
  """Loss against learning rate (log x): raw and smoothed, the minimum, the
  steepest descent and the suggestion marked."""
  from research import plots  # pylint: disable=g-import-not-at-top  (matplotlib)
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top  (after research.plots picks the headless backend)

  lrs = np.asarray(result.learning_rates)
  raw, smoothed = np.asarray(result.losses), np.asarray(result.smoothed)
  fig, ax = plt.subplots(figsize=plots.FIGSIZE)
  ax.plot(lrs, raw, color=plots.style(0)['color'], alpha=0.3, linewidth=0.8,
          label='training loss')
  ax.plot(lrs, smoothed, color=plots.style(0)['color'], linewidth=1.8,
          label=f'smoothed (EMA, beta {result.beta:g})')
  for i, (name, lr) in enumerate((('minimum', result.minimum_lr),
                                  ('steepest', result.steepest_lr)), start=1):
    if lr is None:
      continue
    k = int(np.argmin(np.abs(np.log(lrs) - np.log(lr))))
    s = plots.style(i)
    ax.plot(lrs[k], smoothed[k], marker=s['marker'], color=s['color'],
            markersize=8, linestyle='none', label=f'{name}: {lr:.3g}')
  if result.suggested_lr is not None:
    ax.axvline(result.suggested_lr, color=plots.style(3)['color'],
               linestyle='--', label=f'suggested: {result.suggested_lr:.3g} '
               f'(rule {result.rule!r})')
  finite = smoothed[np.isfinite(smoothed)]
  if finite.size:
    # From the lowest raw loss to a bit above the starting one: the blow-up
    # at the end would otherwise flatten the part that matters.
    low = float(np.min(raw[np.isfinite(raw)]))
    start, best = float(finite[0]), float(finite.min())
    high = start + 0.5 * max(start - best, 0.1 * abs(start))
    ax.set_ylim(low - 0.05 * (high - low), high)
  ax.set_xscale('log')
  ax.set_xlabel('learning rate')
  ax.set_ylabel('training loss')
  ax.set_title(title or 'learning-rate range test')
  ax.grid(True, which='major', alpha=0.3)
  ax.legend(fontsize=8, loc='upper left', framealpha=0.85)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=plots.DPI, bbox_inches='tight')
  plt.close(fig)
  return path
