"""The run directory: resolved config, metrics as JSON lines, a summary.

Layout of a run directory:

  config.json      the resolved config (atomic rewrite)
  metrics.jsonl    one JSON object per line, each with 'step' (and 'epoch')
  summary.json     final / best values (atomic rewrite)
  <name>.json      any other small file, e.g. the W&B run id (atomic rewrite)
  run.lock         who trains the run now (PID, host), while it trains
  checkpoints/     orbax checkpoints (created by the checkpointing code)
  wandb/           W&B's own files when a WandbLogger writes here

JSON files follow `jsonio`: NumPy / JAX values become Python numbers and
lists; NaN and Inf are written as the tokens NaN / Infinity / -Infinity, which
`json.loads` reads back as floats.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import pathlib
import socket
import warnings
from typing import Any

from research.tracking import jsonio

CONFIG = 'config.json'
METRICS = 'metrics.jsonl'
SUMMARY = 'summary.json'
LOCK = 'run.lock'


class DamagedFileError(ValueError):
  """A run file exists but does not parse; the message names it."""


class RunDirInUseError(RuntimeError):
  """Another process holds the run directory's lock; the message names it."""


class RunDir:
  """One run's directory on disk; every write leaves a readable file."""

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)
    self.path.mkdir(parents=True, exist_ok=True)

  def __repr__(self) -> str:
    return f'RunDir({str(self.path)!r})'

  @property
  def checkpoint_dir(self) -> pathlib.Path:
    """Where checkpoints go (created by the checkpointing code, not here)."""
    return self.path / 'checkpoints'

  @property
  def metrics_path(self) -> pathlib.Path:
    return self.path / METRICS

  # Generic small JSON files.

  def write_json(self, name: str, obj: Any) -> None:
    """Writes `obj` to `<path>/<name>` atomically ('.json' added if absent)."""
    jsonio.atomic_write_json(self._json_path(name), obj)

  def read_json(self, name: str) -> Any | None:
    """Reads `<path>/<name>`; None if it does not exist, DamagedFileError
    if it does not parse (files here are written atomically: something else
    damaged it)."""
    path = self._json_path(name)
    try:
      return jsonio.read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise DamagedFileError(f'{path} is damaged ({e})') from None

  def read_json_or_warn(self, name: str) -> Any | None:
    """`read_json`, but a damaged file reads as absent, with a warning: for
    the files a run rewrites (its config, summary, W&B run id)."""
    try:
      return self.read_json(name)
    except DamagedFileError as e:
      warnings.warn(f'{e}; writing it again', RuntimeWarning, stacklevel=2)
      return None

  def _json_path(self, name: str) -> pathlib.Path:
    if os.sep in name or (os.altsep and os.altsep in name):
      raise ValueError(f'A run file name, not a path, is expected: {name!r}')
    return self.path / (name if name.endswith('.json') else f'{name}.json')

  # Config and summary.

  def write_config(self, config: dict[str, Any]) -> None:
    self.write_json(CONFIG, config)

  def read_config(self) -> dict[str, Any] | None:
    return self.read_json(CONFIG)

  def write_summary(self, summary: dict[str, Any]) -> None:
    self.write_json(SUMMARY, summary)

  def read_summary(self) -> dict[str, Any] | None:
    return self.read_json(SUMMARY)

  # Metrics.

  def append_metrics(self, record: dict[str, Any]) -> None:
    """Appends one record (it must carry 'step') as a line of metrics.jsonl.

    The line goes out in a single write and is flushed, so a killed process
    loses at most a torn last line, which `read_metrics` skips.
    """
    if 'step' not in record:
      raise ValueError(f"A metrics record needs a 'step': {sorted(record)}")
    line = jsonio.dumps(record) + '\n'
    with open(self.metrics_path, 'a+b') as f:
      # After a kill mid-line, start on a fresh line so this record survives.
      if f.tell() > 0:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b'\n':
          line = '\n' + line
      f.write(line.encode('utf-8'))
      f.flush()

  def scan_metrics(self) -> list[tuple[int, dict[str, Any] | None]]:
    """(line number, record) of each non-empty line of metrics.jsonl, the
    record None where the line does not parse."""
    try:
      data = self.metrics_path.read_bytes()
    except FileNotFoundError:
      return []
    lines = []
    for number, line in enumerate(data.splitlines(), start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
      lines.append((number, record if isinstance(record, dict) else None))
    return lines

  def read_metrics(self) -> list[dict[str, Any]]:
    """All metric records in order; [] if there are none.

    Lines that do not parse (a torn last line left by a killed process) are
    skipped with a warning.
    """
    lines = self.scan_metrics()
    records = [r for _, r in lines if r is not None]
    bad = [number for number, r in lines if r is None]
    if bad:
      warnings.warn(
          f'{self.metrics_path}: skipped unreadable line(s) {bad} (a torn '
          'write from an interrupted run?)', RuntimeWarning, stacklevel=2)
    return records

  def truncate_metrics(self, max_step: int) -> None:
    """Keeps only records with step <= max_step (on resume), atomically.

    Records logged after the checkpoint that a run resumes from would
    otherwise appear twice. Unreadable lines are dropped too.
    """
    if not self.metrics_path.exists():
      return
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', RuntimeWarning)  # Torn lines: dropped.
      records = self.read_metrics()
    kept = [r for r in records if r.get('step', max_step) <= max_step]
    jsonio.atomic_write_text(
        self.metrics_path, ''.join(jsonio.dumps(r) + '\n' for r in kept))

  # Who trains the run.

  @contextlib.contextmanager
  def lock(self):
    """Holds `run.lock` while the run trains: a second process on this
    directory gets RunDirInUseError naming the holder, at once. The lock is
    the kernel's (`flock`), released when its holder exits however it exits,
    so the lock of a killed process is simply taken over."""
    path = self.path / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, jsonio.file_mode())
    try:
      locked = _try_flock(fd, path)
      if not locked:
        raise RunDirInUseError(_in_use_message(self.path, _read_holder(fd)))
      if locked is True:
        holder = {'pid': os.getpid(), 'host': socket.gethostname(),
                  'since': datetime.datetime.now(datetime.timezone.utc)
                  .isoformat(timespec='seconds')}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + '\n').encode(), 0)
      try:
        yield
      finally:
        if locked is True:
          os.ftruncate(fd, 0)  # released: nobody holds it
    finally:
      os.close(fd)  # releases the flock


def _try_flock(fd: int, path: pathlib.Path) -> bool | None:
  """True once locked, False if another process holds the lock, None on a
  file system without locks (some network mounts: we go on, with a warning)."""
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return True
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
      return False
    warnings.warn(f'{path}: cannot lock ({e}); nothing stops a second '
                  'process on this run directory', RuntimeWarning, stacklevel=4)
    return None


def _read_holder(fd: int) -> dict[str, Any]:
  try:
    holder = json.loads(os.pread(fd, 4096, 0) or b'{}')
  except (OSError, ValueError):
    holder = {}
  return holder if isinstance(holder, dict) else {}


def _in_use_message(path: pathlib.Path, holder: dict[str, Any]) -> str:
  who = (f"PID {holder.get('pid', '?')} on host {holder.get('host', '?')}"
         f"{' since ' + holder['since'] if holder.get('since') else ''}")
  return (f'{path} is in use: another process trains this run ({who}). '
          'Wait for it to finish, or stop it, then run the command again.')
