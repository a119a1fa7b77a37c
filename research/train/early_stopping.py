"""Tracks a monitored metric: is this epoch the best so far, and should we stop?"""

import dataclasses
import math


@dataclasses.dataclass
class Monitor:
  """Best value of a metric, with patience. `patience=0` never stops.

  Plain data, saved in each checkpoint's meta so a resumed run stops at the
  same epoch as an uninterrupted one.
  """
  mode: str = 'max'  # 'max' or 'min'
  patience: int = 0
  min_delta: float = 0.0
  best: float | None = None
  best_epoch: int | None = None
  best_step: int | None = None
  bad_epochs: int = 0

  def improved(self, value: float) -> bool:
    if not math.isfinite(value):
      return False
    if self.best is None:
      return True
    if self.mode == 'max':
      return value > self.best + self.min_delta
    return value < self.best - self.min_delta

  def update(self, value: float, epoch: int, step: int) -> bool:
    """Records one evaluation; returns True if it is the new best."""
    if self.improved(value):
      self.best, self.best_epoch, self.best_step = value, epoch, step
      self.bad_epochs = 0
      return True
    self.bad_epochs += 1
    return False

  @property
  def should_stop(self) -> bool:
    return self.patience > 0 and self.bad_epochs >= self.patience

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> 'Monitor':
    return cls(**d)
