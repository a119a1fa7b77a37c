"""A one-line training progress bar on stderr (a thin wrapper on tqdm)."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

import tqdm

# Postfix entries: (label, metric keys tried in order, shown as a percentage).
_FIELDS = (
    ('loss', ('train/loss', 'train_loss', 'loss'), False),
    ('acc', ('train/accuracy', 'train_accuracy', 'accuracy'), True),
    ('dev', ('dev/accuracy', 'dev_accuracy'), True),
)


class ProgressBar:
  """Steps done out of `total_steps`, with epoch, loss and accuracies.

  Disabled, it writes nothing at all (e.g. on every host but the first, or in
  sweeps with many runs per process).
  """

  def __init__(self, total_steps: int, initial_step: int = 0,
               enabled: bool = True, desc: str = ''):
    interactive = enabled and sys.stderr.isatty()
    self._bar = tqdm.tqdm(
        total=total_steps, initial=initial_step, disable=not enabled,
        desc=desc or None, file=sys.stderr, unit='step', dynamic_ncols=True,
        # Redrawn lines in a log file are noise: refresh rarely there.
        mininterval=0.1 if interactive else 30.0)
    self._step = initial_step

  def update(self, step: int, epoch: int, num_epochs: int,
             metrics: Mapping[str, Any]) -> None:
    """Moves the bar to `step` and shows `epoch`/`num_epochs` and metrics."""
    if self._bar.disable:
      return
    postfix = format_postfix(epoch, num_epochs, metrics)
    self._bar.set_postfix_str(postfix, refresh=False)
    self._bar.update(step - self._step)
    self._step = step

  def close(self) -> None:
    self._bar.close()

  def __enter__(self) -> ProgressBar:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


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
