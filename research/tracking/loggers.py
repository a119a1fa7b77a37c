"""Where metrics go besides the run directory: a small Logger interface.

`MemoryLogger` keeps everything in memory (unit tests), `WandbLogger` writes to
Weights & Biases and `MultiLogger` fans out to several. A W&B failure never
fails or stalls a run: every wandb call is guarded, and the first failure
turns the `WandbLogger` into a no-op with one warning.
"""

from __future__ import annotations

import copy
import logging
import os
import pathlib
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from research.tracking import environment
from research.tracking import jsonio
from research.tracking import wandb_mode

# wandb.init waits 90 s by default when the server does not answer; we only go
# online after a successful TCP probe, so a short wait is enough.
INIT_TIMEOUT_S = 20.0
# Bounds run.finish() when uploads stall; unsent data stays on disk for
# `wandb sync`.
FINISH_TIMEOUT_S = 120.0


@runtime_checkable
class Logger(Protocol):
  """What the training loop writes to, besides the run directory."""

  def log_config(self, config: dict[str, Any]) -> None:
    """Records (or updates) the run's resolved config."""

  def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
    """Records metrics at `step`, e.g. {'epoch': 3, 'train/loss': 0.2}."""

  def log_summary(self, summary: dict[str, Any]) -> None:
    """Records final / best values of the run."""

  def finish(self) -> None:
    """Flushes and closes; later calls may be ignored."""


class MemoryLogger:
  """Keeps what is logged in memory, for unit tests."""

  def __init__(self):
    self.config: dict[str, Any] = {}
    self.history: list[tuple[int, dict[str, Any]]] = []
    self.summary: dict[str, Any] = {}
    self.finished = False

  def log_config(self, config: dict[str, Any]) -> None:
    self.config.update(copy.deepcopy(dict(config)))

  def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
    self.history.append((int(step), dict(metrics)))

  def log_summary(self, summary: dict[str, Any]) -> None:
    self.summary.update(summary)

  def finish(self) -> None:
    self.finished = True


class MultiLogger:
  """Sends every call to each of several loggers, in order."""

  def __init__(self, *loggers: Logger):
    self.loggers = list(loggers)

  def log_config(self, config: dict[str, Any]) -> None:
    for logger in self.loggers:
      logger.log_config(config)

  def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
    for logger in self.loggers:
      logger.log_metrics(metrics, step)

  def log_summary(self, summary: dict[str, Any]) -> None:
    for logger in self.loggers:
      logger.log_summary(summary)

  def finish(self) -> None:
    for logger in self.loggers:
      logger.finish()


class WandbLogger:
  """Logs to one W&B run; resumes the run with the same `run_id`.

  `mode` is 'auto' (see `wandb_mode.resolve_mode`: $WANDB_MODE, else online
  only with an API key and a reachable server, else offline), 'online',
  'offline' or 'disabled'. W&B writes its files under `directory`
  (`directory/wandb/offline-run-*/run-<run_id>.wandb` when offline; upload
  them later with `wandb sync`). 'disabled' does not even import wandb.

  Attributes:
    mode_used: 'online', 'offline' or 'disabled': the mode in effect. It
      becomes 'disabled' after a failure.
    failure: what failed, or None.
    run: the wandb Run, or None.
  """

  def __init__(self, *, project: str, directory: str | os.PathLike,
               run_id: str, name: str | None = None, mode: str = 'auto',
               entity: str | None = None, group: str | None = None,
               tags: Sequence[str] = (), config: dict[str, Any] | None = None):
    self.mode_used = wandb_mode.resolve_mode(mode)
    self.failure: str | None = None
    self.run = None
    if self.mode_used == 'disabled':
      return
    directory = pathlib.Path(directory)
    init_kwargs = dict(
        project=project, entity=entity, group=group, name=name,
        tags=list(tags) or None, id=run_id, resume='allow', dir=str(directory))
    try:
      init_kwargs['config'] = None if config is None else _config_values(config)
      directory.mkdir(parents=True, exist_ok=True)
      self.run = self._init(self.mode_used, init_kwargs)
    except Exception as e:  # pylint: disable=broad-except
      if self.mode_used != 'online' or 'config' not in init_kwargs:
        self._fail('init', e)
        return
      # No or a bad API key: keep the data locally instead, for `wandb sync`.
      # (After a server timeout this fails too: wandb 0.31 still holds the
      # run id, "run ID ... is in use", and we end up disabled.)
      warnings.warn(f'W&B online init failed ({_describe(e)}); trying offline.',
                    RuntimeWarning, stacklevel=2)
      self.mode_used = 'offline'
      try:
        self.run = self._init('offline', init_kwargs)
      except Exception as e2:  # pylint: disable=broad-except
        self._fail('init', e2)
    if self.run is not None:
      logging.getLogger(__name__).info(
          'W&B run %s (%s) writes under %s%s', run_id, self.mode_used,
          directory / 'wandb',
          '; upload it later with `wandb sync`' if self.mode_used == 'offline'
          else '')

  @staticmethod
  def _init(mode: str, init_kwargs: dict[str, Any]):
    import wandb  # pylint: disable=g-import-not-at-top  (seconds to import; only a W&B run needs it)

    git_root = environment.git_root()
    settings = wandb.Settings(
        silent=True, quiet=True, console='off',  # No console capture or spam.
        init_timeout=INIT_TIMEOUT_S, finish_timeout=FINISH_TIMEOUT_S,
        # Several runs may live in one process (sweeps, populations).
        reinit='create_new', save_code=False, disable_code=True,
        # wandb looks for git in `dir` by default and warns when it is none.
        **({'git_root': str(git_root)} if git_root else {'disable_git': True}))
    return wandb.init(mode=mode, settings=settings, **init_kwargs)

  @property
  def active(self) -> bool:
    """Whether calls still reach W&B."""
    return self.run is not None

  def log_config(self, config: dict[str, Any]) -> None:
    if self.run is not None:
      self._guard('config update', lambda: self.run.config.update(
          _config_values(config), allow_val_change=True))

  def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
    # Without commit=True, logs at the same step merge into one W&B row; a
    # step is written once a later step is logged (or at finish).
    if self.run is not None:
      self._guard('log', lambda: self.run.log(_values(metrics), step=int(step)))

  def log_summary(self, summary: dict[str, Any]) -> None:
    if self.run is not None:
      self._guard('summary update',
                  lambda: self.run.summary.update(_values(summary)))

  def finish(self) -> None:
    if self.run is not None:
      if self._guard('finish', self.run.finish):
        self.run = None

  def _guard(self, what: str, call) -> bool:
    """Runs `call`; on any exception, warns and turns this logger off."""
    try:
      call()
      return True
    except Exception as e:  # pylint: disable=broad-except
      self._fail(what, e)
      return False

  def _fail(self, what: str, error: Exception) -> None:
    self.run = None
    self.mode_used = 'disabled'
    if self.failure is None:  # Warn once.
      self.failure = f'{what}: {_describe(error)}'
      warnings.warn(f'W&B {what} failed ({_describe(error)}); the run goes on '
                    'without W&B.', RuntimeWarning, stacklevel=3)


def _describe(error: Exception) -> str:
  return f'{type(error).__name__}: {error}'[:500]


def _config_values(config: Mapping[str, Any]) -> dict[str, Any]:
  # Configs are plain data; anything odd (a callable, a schedule) as text.
  return jsonio.to_jsonable(config, default=repr)


def _values(obj: Any) -> Any:
  """NumPy / JAX values as Python numbers; other objects (wandb media) kept."""
  if isinstance(obj, Mapping):
    return {str(k): _values(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_values(v) for v in obj]
  if isinstance(obj, (np.generic, np.ndarray)) or _is_jax_array(obj):
    return jsonio.to_jsonable(obj)
  return obj


def _is_jax_array(obj: Any) -> bool:
  jax = sys.modules.get('jax')  # Not imported here just to ask.
  return jax is not None and isinstance(obj, jax.Array)
