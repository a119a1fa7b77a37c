"""One run as the training loop sees it: its config, directory, logger,
checkpoints, early-stopping monitor, and where it stands.

The loop (research/train/loop.py) trains k >= 1 members at once: a run is
k = 1, a population k > 1. Everything a run does on its own behalf (resume
from its latest checkpoint, a record per epoch, the latest and best
checkpoints, its summary) is here, once, so a population's member leaves
exactly the run directory that a run of its config would.
"""

import dataclasses
from typing import Any

import ml_collections

from research import distributed
from research.tracking import Logger, RunDir
from research.train.checkpointing import Checkpointer
from research.train.early_stopping import Monitor

# How a member stands: 'running' until it ends as one of the others.
RUNNING = 'running'


def divergence_message(problem: str, epoch: int, checkpointer: Checkpointer
                       ) -> str:
  """What a diverged run says: where it diverged and what it kept."""
  saved = checkpointer.latest_steps()
  kept = (f'the last good checkpoint is step {saved[-1]} in '
          f'{checkpointer.directory / "latest"}' if saved else
          'no checkpoint had been saved yet')
  return f'Run diverged: {problem} (epoch {epoch}). Stopped; {kept}.'


@dataclasses.dataclass(eq=False)  # members are compared (and hashed) by identity
class Member:
  """One run's bookkeeping in the loop (its state lives in the loop's
  placed state: alone, or at index `index` of a population's)."""
  config: ml_collections.ConfigDict
  run_dir: RunDir
  logger: Logger
  index: int = 0
  checkpointer: Checkpointer | None = None
  monitor: Monitor | None = None
  status: str = RUNNING
  error: str | None = None
  problem: str | None = None  # what diverged: the first non-finite step
  epoch: int = 0
  step: int = 0
  start_epoch: int = 0
  start_step: int = 0
  elapsed_before: float = 0.0  # seconds trained before this process resumed

  def __post_init__(self):
    cfg = self.config.train
    self.checkpointer = Checkpointer(self.run_dir.checkpoint_dir,
                                     keep=cfg.keep_checkpoints)
    self.monitor = Monitor(mode=cfg.monitor_mode, patience=cfg.patience,
                           min_delta=cfg.min_delta)

  @property
  def running(self) -> bool:
    return self.status == RUNNING

  def resume(self, initial: Any) -> Any:
    """The state to train from: the newest readable latest checkpoint (the
    epoch, monitor and time restored with it; its metrics rows past it
    dropped, to be trained and logged again), else `initial`. A restored run
    that had already stopped early or trained every epoch trains no more."""
    restored = self.checkpointer.restore_latest(initial)
    state = initial
    if restored is not None:
      state, meta = restored
      self.epoch, self.elapsed_before = meta['epoch'], meta['elapsed_s']
      self.monitor = Monitor.from_dict(meta['monitor'])
      if distributed.is_primary():
        self.run_dir.truncate_metrics(int(state.step))
    self.step = self.start_step = int(state.step)
    self.start_epoch = self.epoch
    if self.monitor.should_stop:
      self.status = 'early_stopped'
    elif self.epoch >= self.config.train.num_epochs:
      self.status = 'done'
    return state

  def meta(self, elapsed_s: float) -> dict:
    """What a checkpoint holds besides the state: enough to continue."""
    return {'epoch': self.epoch, 'monitor': self.monitor.to_dict(),
            'elapsed_s': self.elapsed_before + elapsed_s}

  def needs_evaluation(self) -> bool:
    cfg = self.config.train
    return (self.epoch % cfg.eval_every_epochs == 0
            or self.epoch == cfg.num_epochs)

  def log(self, record: dict) -> bool:
    """Writes an epoch's record; returns whether its monitored metric is the
    best so far (and updates the status: early-stopped, or done)."""
    cfg = self.config.train
    is_best = False
    if cfg.monitor in record:
      is_best = self.monitor.update(record[cfg.monitor], self.epoch,
                                    record['step'])
    if distributed.is_primary():
      self.run_dir.append_metrics(record)
    self.logger.log_metrics(record, step=record['step'])
    if self.monitor.should_stop:
      self.status = 'early_stopped'
    elif self.epoch >= cfg.num_epochs:
      self.status = 'done'
    return is_best

  def wants_checkpoint(self, stop_requested: bool) -> bool:
    """A latest checkpoint every `checkpoint_every_epochs`, and whenever the
    run stops (the end, early stopping, a signal)."""
    return (self.epoch % self.config.train.checkpoint_every_epochs == 0
            or stop_requested or not self.running)

  def diverge(self, problem: str) -> None:
    """Stops the member; `explain_divergence` once its checkpoints are saved."""
    self.status, self.problem = 'diverged', problem

  def explain_divergence(self) -> None:
    self.error = divergence_message(self.problem, self.epoch + 1,
                                    self.checkpointer)

  def best_record(self) -> dict | None:
    """The metrics row of the best epoch, as the summary reports it."""
    if self.monitor.best_epoch is None or not distributed.is_primary():
      return None
    best = next((r for r in self.run_dir.read_metrics()
                 if r['epoch'] == self.monitor.best_epoch), {})
    return {'monitor': self.config.train.monitor, **best}

  def finish(self, summary: dict) -> dict:
    """Writes and logs the summary (whoever made the logger finishes it)."""
    if distributed.is_primary():
      self.run_dir.write_summary(summary)
    self.logger.log_summary(summary)
    return summary
