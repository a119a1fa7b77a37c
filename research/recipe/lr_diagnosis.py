"""Is the learning rate too small, too large or fine? A verdict from the
training loss of the first steps or epochs.

The lectures' babysitting rules (CS231n, "Training neural networks" part 1):
the loss barely changing means the learning rate is too low; the loss
exploding, NaN, means it is too high. In numbers, over the logged history
`l_1 .. l_n` (per step or per epoch; minibatch noise included), with
`start` the mean of its first `w` values and `end` the mean of its last `w`
(`w = window`, default max(1, n // 10): averaging out the noise of single
batches), and `drop = (start - end) / |start|`:

  'too large'  a value is NaN or infinite (it diverged);
               or a value exceeds `spike_factor` (2) times the first one,
               the loss before any update (it exploded);
               or `drop < -rise_tolerance` (-5%: it rose);
               or `drop < min_drop` while the values after the first window
               swing by more than `oscillation` (0.5) times `start`
               (max - min: it oscillated without progress).
  'too small'  otherwise `drop < min_drop` (10%): it barely moved.
  'ok'         otherwise: it fell by at least `min_drop`.

A pure function of plain numbers: the recipe applies it to each candidate
rate of the coarse learning-rate step (research/recipe/coarse_lr.py). It
cannot see the lectures' third failure, a rate so high that the loss drops
fast and then plateaus too high: that needs a lower rate to compare with
(which the coarse step's ranking supplies).
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from research.errors import ConfigError

VERDICTS = ('too small', 'ok', 'too large')
DEFAULT_MIN_DROP = 0.1
DEFAULT_RISE_TOLERANCE = 0.05
DEFAULT_SPIKE_FACTOR = 2.0
DEFAULT_OSCILLATION = 0.5


@dataclasses.dataclass(frozen=True)
class Diagnosis:
  verdict: str  # one of VERDICTS
  reason: str
  start: float  # mean of the first `window` losses
  end: float  # mean of the last `window` losses (nan once diverged)
  drop: float  # (start - end) / |start|; nan once diverged

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def thresholds_text(min_drop: float = DEFAULT_MIN_DROP,
                    rise_tolerance: float = DEFAULT_RISE_TOLERANCE,
                    spike_factor: float = DEFAULT_SPIKE_FACTOR,
                    oscillation: float = DEFAULT_OSCILLATION) -> str:
  """The rules above, with their numbers, for reports."""
  return (f"'too large': a loss not finite, or above {spike_factor:g}x the "
          f'first, or the end {rise_tolerance:.0%} above the start, or a '
          f'relative drop under {min_drop:.0%} while the loss swings by more '
          f"than {oscillation:g}x the start; 'too small': a relative drop "
          f"under {min_drop:.0%}; else 'ok' (start, end: means of the first "
          'and last tenth of the steps)')


def diagnose_learning_rate(losses: Sequence[float], *,
                           window: int | None = None,
                           min_drop: float = DEFAULT_MIN_DROP,
                           rise_tolerance: float = DEFAULT_RISE_TOLERANCE,
                           spike_factor: float = DEFAULT_SPIKE_FACTOR,
                           oscillation: float = DEFAULT_OSCILLATION
                           ) -> Diagnosis:
  """The verdict on a training-loss history; see the module's docstring."""
  values = np.asarray(losses, np.float64).ravel()
  if not values.size:
    raise ValueError('diagnosing a learning rate needs at least one loss')
  if window is not None and (isinstance(window, bool) or not isinstance(
      window, int) or window < 1):
    raise ConfigError(f'window: {window!r} must be an integer >= 1')
  for name, value in (('min_drop', min_drop), ('rise_tolerance', rise_tolerance),
                      ('oscillation', oscillation)):
    if not value >= 0:
      raise ConfigError(f'{name}: {value!r} must be >= 0')
  if not spike_factor > 1:
    raise ConfigError(f'spike_factor: {spike_factor!r} must be > 1')
  w = min(window or max(1, values.size // 10), values.size)
  bad = np.flatnonzero(~np.isfinite(values))
  if bad.size:
    # The start is what came before the first bad value (nan if that is the
    # first value).
    start = float(np.mean(values[:min(w, bad[0])])) if bad[0] else np.nan
    return Diagnosis('too large', f'the loss became {values[bad[0]]} at step '
                     f'{bad[0] + 1}: it diverged', start, np.nan, np.nan)
  start, end = float(values[:w].mean()), float(values[-w:].mean())
  scale = abs(start) or 1.0
  drop = (start - end) / scale
  later = values[w:] if values.size > w else values
  made = lambda verdict, reason: Diagnosis(verdict, reason, start, end, drop)
  # Against the first loss, not `start`: the first window may hold the
  # explosion itself.
  if values.max() > spike_factor * values[0] and values[0] > 0:
    peak = int(np.argmax(values))
    return made('too large', f'the loss rose to {values[peak]:.4g} at step '
                f'{peak + 1}, over {spike_factor:g}x its first value '
                f'{values[0]:.4g}: it exploded')
  if drop < -rise_tolerance:
    return made('too large', f'the loss rose from {start:.4g} to {end:.4g} '
                f'({-drop:.0%})')
  if drop < min_drop:
    swing = (later.max() - later.min()) / scale
    if swing > oscillation:
      return made('too large', f'the loss swung by {swing:.0%} of its start '
                  f'but fell only {drop:.1%} ({start:.4g} to {end:.4g}): it '
                  'oscillated')
    return made('too small', f'the loss barely moved: {start:.4g} to '
                f'{end:.4g} ({drop:.1%}, under {min_drop:.0%})')
  return made('ok', f'the loss fell {drop:.0%}, from {start:.4g} to {end:.4g}')
