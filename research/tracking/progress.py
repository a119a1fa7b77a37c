"""One run's progress on stderr: a tqdm bar, or a line per epoch in a log.

    bar = ProgressBar(total_steps, initial_step=0, enabled=True, desc='quickstart')
    bar.update(step, epoch, num_epochs, metrics)            # a run
    bar.update(step, epoch, num_epochs, {}, members={       # a population
        'running': 30, 'total': 32, 'monitor': 'dev/accuracy', 'best': 0.971})
    bar.close()

On a terminal it is a bar of steps with e.g. 'ep 3/10 loss 0.3412 acc 90.1%
dev 89.7%' (a population: 'ep 3/10 · 30/32 running · best dev/accuracy
97.1%'). When stderr is not a terminal (a log file, a sweep's pipe) it draws
no bar and prints one plain line per epoch instead, e.g. 'quickstart ep 3/10
loss 0.3412 acc 90.1% dev 89.7% (12.3 s)'. Disabled, it prints nothing.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any

import tqdm

# Postfix entries: (label, metric keys tried in order, shown as a percentage).
_FIELDS = (
    ('loss', ('train/loss', 'train_loss', 'loss'), False),
    ('acc', ('train/accuracy', 'train_accuracy', 'accuracy'), True),
    ('dev', ('dev/accuracy', 'dev_accuracy'), True),
)


def _is_terminal(stream) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError):  # no isatty, or a closed stream
    return False


class ProgressBar:
  """Steps done out of `total_steps`, with epoch, loss and accuracies.

  Disabled, it writes nothing at all (e.g. on every host but the first, or in
  sweeps with many runs per process).
  """

  def __init__(self, total_steps: int, initial_step: int = 0,
               enabled: bool = True, desc: str = ''):
    self._enabled, self._desc = enabled, desc
    self._file = sys.stderr
    self._started = time.perf_counter()
    self._step = initial_step
    self._last_epoch = None
    self._bar = None
    if enabled and _is_terminal(self._file):
      self._bar = tqdm.tqdm(
          total=total_steps, initial=initial_step, desc=desc or None,
          file=self._file, unit='step', dynamic_ncols=True, mininterval=0.1)

  def update(self, step: int, epoch: int, num_epochs: int,
             metrics: Mapping[str, Any],
             members: Mapping[str, Any] | None = None) -> None:
    """Moves the bar to `step` and shows `epoch`/`num_epochs` and metrics.

    `members` is None for a run, or for a population {'running': int,
    'total': int, 'monitor': str, 'best': float | None} (members still
    training, all members, the monitored metric and its best value so far).
    """
    if not self._enabled:
      return
    postfix = format_postfix(epoch, num_epochs, metrics)
    if members is not None:
      postfix = ' · '.join([postfix, *format_members(members)])
    if self._bar is not None:
      self._bar.set_postfix_str(postfix, refresh=False)
      self._bar.update(step - self._step)
    elif epoch != self._last_epoch:
      seconds = metrics.get('time_s')
      if not isinstance(seconds, (int, float)):
        seconds = time.perf_counter() - self._started
      line = ' '.join(filter(None, [self._desc, postfix, f'({seconds:.1f} s)']))
      print(line, file=self._file, flush=True)
    self._step, self._last_epoch = step, epoch

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()

  def __enter__(self) -> ProgressBar:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def format_value(key: str, value: Any) -> str:
  """A metric as shown: accuracies in percent ('97.1%'), others '0.3412'."""
  try:
    value = float(value)
  except (TypeError, ValueError):
    return str(value)
  if key.rsplit('/', 1)[-1].endswith('accuracy') and math.isfinite(value):
    return f'{100 * value:.1f}%'
  return f'{value:.4g}'


def format_members(members: Mapping[str, Any]) -> list[str]:
  """E.g. ['30/32 running', 'best dev/accuracy 97.1%'] (no best: the first
  only)."""
  parts = [f"{members['running']}/{members['total']} running"]
  best = members.get('best')
  if best is not None:
    monitor = members.get('monitor') or 'monitor'
    parts.append(f'best {monitor} {format_value(monitor, best)}')
  return parts


def format_postfix(epoch: int, num_epochs: int,
                   metrics: Mapping[str, Any]) -> str:
  """E.g. 'ep 3/10 loss 0.3412 acc 90.1% dev 89.7%'."""
  parts = [f'ep {epoch}/{num_epochs}']
  for label, keys, percent in _FIELDS:
    key = next((k for k in keys if k in metrics), None)
    if key is None:
      continue
    try:
      value = float(metrics[key])
    except (TypeError, ValueError):
      continue
    if percent and math.isfinite(value):
      parts.append(f'{label} {100 * value:.1f}%')
    else:
      parts.append(f'{label} {value:.4g}')
  return ' '.join(parts)
