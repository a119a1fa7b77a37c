"""One run as the training loop sees it: its config, directory, logger,
checkpoints, early-stopping monitor, and where it stands.

The loop (research/train/loop.py) trains k >= 1 members at once: a run is
k = 1, a population k > 1. Everything a run does on its own behalf (resume
from its latest checkpoint, a record per epoch, the latest and best
checkpoints, its summary) is here, once, so a population's member leaves
exactly the run directory that a run of its config would.
"""

import dataclasses
import logging
import math
import warnings
from typing import Any

import ml_collections

from research import distributed
from research.errors import ConfigError
from research.tracking import Logger, RunDir
from research.train.checkpointing import Checkpointer
from research.train.early_stopping import Monitor
from research.train.resolve import config_hash

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
  first_loss: float | None = None  # the run's first step's training loss
  finished: bool = False  # its summary is written

  def __post_init__(self):
    cfg = self.config.train
    self.checkpointer = Checkpointer(self.run_dir.checkpoint_dir,
                                     keep=cfg.keep_checkpoints,
                                     primary=distributed.is_primary())
    self.monitor = self._new_monitor()

  def _new_monitor(self) -> Monitor:
    cfg = self.config.train
    return Monitor(mode=cfg.monitor_mode, patience=cfg.patience,
                   min_delta=cfg.min_delta)

  @property
  def running(self) -> bool:
    return self.status == RUNNING

  def resume(self, initial: Any) -> Any:
    """The state to train from: the newest latest checkpoint that is intact
    and agrees with the rest of the run directory (the epoch, monitor and
    time restored with it; its metrics rows past it dropped, to be trained
    and logged again), else `initial`. A restored run that had already
    stopped early or trained every epoch trains no more.

    Whatever was left past that point (a killed attempt's rows and
    checkpoints, a damaged checkpoint's) is removed, so the run continues
    exactly as an uninterrupted one would: a damaged checkpoint costs the
    epochs since the previous one, never the result."""
    lines = self.run_dir.scan_metrics()
    restored, rejected = None, []
    for step, state, meta in self.checkpointer.latest_candidates(initial):
      self._check_identity(step, meta)
      problem = (self._metrics_problem(lines, step, meta['epoch'])
                 or self._best_problem(step, meta, initial))
      if problem is None:
        restored = state, meta
        break
      rejected.append(f'step {step} ({problem})')
    state = initial
    if restored is not None:
      state, meta = restored
      self.epoch, self.elapsed_before = meta['epoch'], meta['elapsed_s']
      self.monitor = Monitor.from_dict(meta['monitor'])
      self.first_loss = meta.get('first_loss')
    self.step = self.start_step = int(state.step)
    self.start_epoch = self.epoch
    if rejected or (restored is None and lines):
      self._warn(f'{self.run_dir.path}: '
                 + (f'passed over latest checkpoint(s) {"; ".join(rejected)}; '
                    if rejected else '')
                 + (f'resuming from step {self.step}' if restored
                    else 'no usable checkpoint: training from the start')
                 + ', dropping what was recorded after it')
    self.checkpointer.keep_latest_up_to(self.step)
    if distributed.is_primary():
      self.run_dir.truncate_metrics(self.step)
    if self.monitor.should_stop:
      self.status = 'early_stopped'
    elif self.epoch >= self.config.train.num_epochs:
      self.status = 'done'
    return state

  def _check_identity(self, step: int, meta: dict) -> None:
    """Checkpoints of another config (a --workdir reused, a config.json
    replaced) are never continued from."""
    written = meta.get('config_hash')
    if written is not None and written != config_hash(self.config):
      raise ConfigError(
          f'{self.run_dir.path}: its checkpoint at step {step} was written by '
          f'a run of another config (hash {written}, this one is '
          f'{config_hash(self.config)}); choose another directory or pass '
          '--restart to replace it')

  @staticmethod
  def _metrics_problem(lines, step: int, epoch: int) -> str | None:
    """Why metrics.jsonl cannot go with a checkpoint of `epoch` at `step`:
    it must hold one readable record per epoch up to there (the record of an
    epoch is written before its checkpoint)."""
    kept = [(n, r) for n, r in lines if r is None or r.get('step', 0) <= step]
    last_kept = max((n for n, r in kept if r is not None), default=0)
    torn = [n for n, r in kept if r is None and n < last_kept]
    if torn:
      return f'metrics.jsonl line {torn[0]} is unreadable'
    epochs = [r.get('epoch') for _, r in kept if r is not None]
    if epochs != list(range(1, epoch + 1)):
      return (f'metrics.jsonl holds epochs {_ranges(epochs)} up to it, not '
              f'1-{epoch}')
    return None

  def _best_problem(self, step: int, meta: dict, like: Any) -> str | None:
    """Why best/ cannot go with a checkpoint whose monitor names a best
    step: best/ must hold that step intact, or a later one (from an attempt
    past this checkpoint, which training on will write again)."""
    best_step = meta['monitor'].get('best_step')
    saved = self.checkpointer.best_steps()
    if best_step is None or (saved and saved[-1] > step):
      return None
    if self.checkpointer.best_is_readable(best_step, like):
      return None
    return f'the best checkpoint of step {best_step} is missing or damaged'

  def _warn(self, message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    logging.warning(message)

  def loss_limit(self) -> float:
    """The training loss above which this run's step counts as diverged:
    `train.divergence_factor` times its first step's loss (at least 1); inf
    when the check is off; -factor until the first loss is known (the
    compiled epoch then takes its own first step's; see loop._loss_bound)."""
    factor = float(self.config.train.divergence_factor)
    if not factor:
      return math.inf
    if self.first_loss is None or not math.isfinite(self.first_loss):
      return -factor
    return factor * max(self.first_loss, 1.0)

  def meta(self, elapsed_s: float) -> dict:
    """What a checkpoint holds besides the state: enough to continue."""
    return {'epoch': self.epoch, 'monitor': self.monitor.to_dict(),
            'elapsed_s': self.elapsed_before + elapsed_s,
            'first_loss': self.first_loss,
            'config_hash': config_hash(self.config)}

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
    self.finished = True
    return summary

  def fail(self, error: BaseException) -> None:
    """A `failed` summary naming `error`, unless the member had finished:
    best effort, since what failed may be the disk itself."""
    if self.finished or not distributed.is_primary():
      return
    summary = {'status': 'failed', 'experiment': self.config.experiment,
               'seed': self.config.seed, 'run_dir': str(self.run_dir.path),
               'epochs': self.epoch, 'steps': self.step,
               'error': f'{type(error).__name__}: {error}'}
    try:
      self.run_dir.write_summary(summary)
    except OSError:
      pass  # the error itself says why (e.g. no space left on device)


def _ranges(values: list) -> str:
  """[1, 2, 3, 5] -> '1-3, 5' (what a warning can show of a long list)."""
  if not values:
    return 'none'
  if not all(isinstance(v, int) for v in values):
    return str(values[:10])
  parts, start = [], values[0]
  for prev, v in zip(values, values[1:] + [None]):
    if v != prev + 1:
      parts.append(f'{start}' if start == prev else f'{start}-{prev}')
      start = v
  return ', '.join(parts)
