"""Where metrics go besides the run directory: a small Logger interface.

`MemoryLogger` keeps everything in memory (unit tests), `WandbLogger` writes to
Weights & Biases and `MultiLogger` fans out to several. A W&B failure never
fails or stalls a run: every wandb call is guarded, and the first failure
turns the `WandbLogger` into a no-op with one warning. When the server does not
answer in time, the run is kept offline instead, ready for `wandb sync`.
"""

from __future__ import annotations

import copy
import logging
import os
import pathlib
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from research.tracking import environment
from research.tracking import jsonio
from research.tracking import wandb_mode

# wandb.init waits 90 s by default for a server that does not answer (one that
# accepts connections passes the TCP probe); after this long we keep the run
# offline instead. $WANDB_INIT_TIMEOUT overrides it.
INIT_TIMEOUT_S = 6.0
# Bounds run.finish() when uploads stall; unsent data stays on disk for
# `wandb sync`. $WANDB_FINISH_TIMEOUT overrides it.
FINISH_TIMEOUT_S = 15.0
# How long wandb-core may take to drop the run of a failed online init.
RELEASE_TIMEOUT_S = 5.0
# After an online init timed out, later runs of the process (population
# members, sweep trials) go offline at once for this long.
SKIP_ONLINE_S = 600.0
# Base URL -> time.monotonic() of its last online init timeout.
_timed_out_at: dict[str, float] = {}


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
  them later with `wandb sync`). 'disabled' does not even import wandb. An
  online init that fails (no key, or no answer within INIT_TIMEOUT_S) keeps
  the run offline instead, with one warning that says how to upload it; so do
  the later runs of the process for SKIP_ONLINE_S after such a timeout.

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
      if self.mode_used == 'online':
        self.run = self._init_online(init_kwargs)
      else:
        self.run = self._init(self.mode_used, init_kwargs)
    except Exception as e:  # pylint: disable=broad-except
      if self.mode_used != 'online' or 'config' not in init_kwargs:
        self._fail('init', e)
        return
      # No or a bad API key, or no answer: keep the run offline instead.
      self._fall_back_offline(e, init_kwargs)
    if self.run is not None:
      logging.getLogger(__name__).info(
          'W&B run %s (%s) writes under %s%s', run_id, self.mode_used,
          directory / 'wandb',
          '; upload it later with `wandb sync`' if self.mode_used == 'offline'
          else '')

  @staticmethod
  def _init(mode: str, init_kwargs: dict[str, Any]):
    # wandb reports its own errors to the same server, and at exit waits up
    # to 12 s for one that does not answer (wandb 0.31). Set before wandb-core
    # starts; an explicit $WANDB_ERROR_REPORTING wins.
    os.environ.setdefault('WANDB_ERROR_REPORTING', 'false')
    import wandb  # pylint: disable=g-import-not-at-top  (seconds to import; only a W&B run needs it)

    git_root = environment.git_root()
    settings = wandb.Settings(
        silent=True, quiet=True, console='off',  # No console capture or spam.
        init_timeout=_init_timeout(), finish_timeout=_finish_timeout(),
        finish_timeout_raises=True,  # To say how to upload the rest.
        # Several runs may live in one process (sweeps, populations).
        reinit='create_new', save_code=False, disable_code=True,
        # wandb looks for git in `dir` by default and warns when it is none.
        **({'git_root': str(git_root)} if git_root else {'disable_git': True}))
    return wandb.init(mode=mode, settings=settings, **init_kwargs)

  def _init_online(self, init_kwargs: dict[str, Any]):
    """An online run, unless the server timed out earlier in this process."""
    server = wandb_mode.base_url()
    if _timed_out_recently(server):
      raise TimeoutError(f'{server} did not answer an earlier wandb.init of '
                         'this process')
    start = time.monotonic()
    try:
      return self._init('online', init_kwargs)
    except Exception:  # pylint: disable=broad-except
      if time.monotonic() - start >= 0.9 * _init_timeout():
        _timed_out_at[server] = time.monotonic()
      raise

  def _fall_back_offline(self, online_error: Exception,
                         init_kwargs: dict[str, Any]) -> None:
    """Keeps the run offline (same directory, same id) for `wandb sync`."""
    self.mode_used = 'offline'
    try:
      self.run = self._init_offline(init_kwargs)
    except Exception as e:  # pylint: disable=broad-except
      self._fail('init', e,
                 f'online: {_describe(online_error)}; offline: {_describe(e)}')
      return
    sync_dir = _sync_dir(self.run, pathlib.Path(init_kwargs['dir']))
    warnings.warn(
        f'W&B online init failed ({_describe(online_error)}); this run is kept '
        f'offline in {sync_dir}: upload it later with `wandb sync {sync_dir}`.',
        RuntimeWarning, stacklevel=3)

  def _init_offline(self, init_kwargs: dict[str, Any]):
    try:
      return self._init('offline', init_kwargs)
    except Exception:  # pylint: disable=broad-except
      # After an init timeout wandb-core still holds the run id ("run ID ...
      # is in use"): drop that run, then try once more.
      if not _release_run(init_kwargs['id']):
        raise
      return self._init('offline', init_kwargs)

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
    if self.run is None:
      return
    run, sync_dir = self.run, _sync_dir(self.run, None)
    try:
      run.finish()
    except TimeoutError:  # finish_timeout passed; the run is closed all the same.
      self.run = None
      self.failure = self.failure or 'finish: timed out'
      warnings.warn(
          f'W&B did not finish uploading within {_finish_timeout():g} s; what '
          f'was not sent stays in {sync_dir}: upload it with '
          f'`wandb sync {sync_dir}`.', RuntimeWarning, stacklevel=2)
    except Exception as e:  # pylint: disable=broad-except
      self._fail('finish', e)
    else:
      self.run = None

  def _guard(self, what: str, call) -> bool:
    """Runs `call`; on any exception, warns and turns this logger off."""
    try:
      call()
      return True
    except Exception as e:  # pylint: disable=broad-except
      self._fail(what, e)
      return False

  def _fail(self, what: str, error: Exception, why: str | None = None) -> None:
    self.run = None
    self.mode_used = 'disabled'
    if self.failure is None:  # Warn once.
      why = why or _describe(error)
      self.failure = f'{what}: {why}'
      warnings.warn(f'W&B {what} failed ({why}); the run goes on without W&B.',
                    RuntimeWarning, stacklevel=3)


def _describe(error: Exception) -> str:
  return f'{type(error).__name__}: {error}'[:500]


def _seconds_from_env(name: str, default: float) -> float:
  try:
    return float(os.environ[name])
  except (KeyError, ValueError):
    return default


def _init_timeout() -> float:
  return _seconds_from_env('WANDB_INIT_TIMEOUT', INIT_TIMEOUT_S)


def _finish_timeout() -> float:
  return _seconds_from_env('WANDB_FINISH_TIMEOUT', FINISH_TIMEOUT_S)


def _timed_out_recently(server: str) -> bool:
  at = _timed_out_at.get(server)
  return at is not None and time.monotonic() - at < SKIP_ONLINE_S


def _sync_dir(run, directory: pathlib.Path | None) -> str:
  """The folder that `wandb sync` uploads for `run` (best effort)."""
  try:
    return str(run.settings.sync_dir)
  except Exception:  # pylint: disable=broad-except
    return str(directory / 'wandb') if directory else 'its wandb/ folder'


def _release_run(run_id: str) -> bool:
  """Makes wandb-core drop run `run_id`, left open by a failed wandb.init.

  Returns whether it did. wandb 0.31 keeps the run's stream after an init
  timeout, and a stream closes only after an exit record: closing it without
  one blocks every later wandb.init. No public API does this, so any surprise
  (another wandb version) returns False, and the run goes on without W&B.
  """
  try:
    from wandb.sdk import wandb_setup  # pylint: disable=g-import-not-at-top
    from wandb.sdk.interface import interface_sock  # pylint: disable=g-import-not-at-top

    service = wandb_setup.singleton().assert_service()
    stream = interface_sock.InterfaceSock(
        service._asyncer, service._client, stream_id=run_id)  # pylint: disable=protected-access
    stream.deliver_exit(1).wait_or(timeout=RELEASE_TIMEOUT_S)
    service.inform_finish(run_id)
    return True
  except Exception:  # pylint: disable=broad-except
    return False


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
