"""JSON for run files: NumPy / JAX values, non-finite floats, atomic writes.

Non-finite floats are written as the tokens `NaN`, `Infinity` and `-Infinity`
(Python's `json` default). That is not strict JSON, but it is lossless and
`json.loads` reads it back: a diverged run's NaN loss stays a NaN, not a null.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import pathlib
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def to_jsonable(obj: Any, default: Callable[[Any], Any] | None = None) -> Any:
  """Returns `obj` as plain Python values that `json.dumps` accepts.

  NumPy and JAX scalars become `float` / `int` / `bool`, arrays become (nested)
  lists, tuples become lists, mappings become dicts with `str` keys (this also
  covers `ml_collections.ConfigDict` via `to_dict`), paths become strings.

  Args:
    obj: the value to convert.
    default: called on a value of any other type; its result is converted in
      turn. Without it such a value raises `TypeError`.
  """
  if obj is None or type(obj) in (bool, int, float, str):
    return obj
  if isinstance(obj, enum.Enum):
    return to_jsonable(obj.value, default)
  if isinstance(obj, (np.generic, np.ndarray)) or hasattr(obj, '__array__'):
    return _array(obj)  # Before the int / float checks: np.float64 is a float.
  for t in (bool, int, float, str):  # Other subclasses of the builtins.
    if isinstance(obj, t):
      return t(obj)
  if isinstance(obj, Mapping):
    return {_key(k): to_jsonable(v, default) for k, v in obj.items()}
  if hasattr(obj, 'to_dict') and callable(obj.to_dict):  # ConfigDict.
    return to_jsonable(obj.to_dict(), default)
  if isinstance(obj, (list, tuple)):
    return [to_jsonable(v, default) for v in obj]
  if isinstance(obj, (set, frozenset)):
    return [to_jsonable(v, default) for v in sorted(obj, key=repr)]
  if isinstance(obj, os.PathLike):
    return os.fspath(obj)
  if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
    return to_jsonable(dataclasses.asdict(obj), default)
  if default is not None:
    return to_jsonable(default(obj))
  raise TypeError(f'Cannot write a {type(obj).__name__} as JSON: {obj!r:.80}')


def _key(k: Any) -> str:
  if isinstance(k, str):
    return k
  return str(to_jsonable(k, default=str))


def _array(obj: Any) -> Any:
  """A NumPy or JAX scalar or array as Python scalars / lists."""
  arr = np.asarray(obj)  # Copies a jax.Array to the host.
  if arr.dtype.kind == 'V' or arr.dtype.kind == 'f':
    # bfloat16 and friends (ml_dtypes, kind 'V') have no Python scalar type.
    arr = arr.astype(np.float64)
  elif arr.dtype.kind == 'c':
    raise TypeError(f'Cannot write complex values as JSON: {arr!r:.80}')
  elif arr.dtype.kind in 'OMm':  # Objects, datetimes: convert element-wise.
    return to_jsonable(arr.tolist(), default=str)
  return arr.tolist()  # A 0-d array gives a Python scalar.


def dumps(obj: Any, *, indent: int | None = None,
          default: Callable[[Any], Any] | None = None) -> str:
  """`json.dumps` after `to_jsonable`; non-finite floats as NaN / Infinity."""
  return json.dumps(to_jsonable(obj, default), indent=indent, allow_nan=True)


def _umask() -> int:
  # Python can only read the umask by setting it: done once, at import,
  # before any thread could create a file meanwhile.
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


_UMASK = _umask()


def file_mode() -> int:
  """The mode a plain `open` gives a new file (0o666 less the umask): what
  collaborators on a shared file system expect of run files."""
  return 0o666 & ~_UMASK


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """Writes `text` to `path` so that readers see the old or the new file.

  A temporary file in the same directory is written, flushed, fsync-ed and
  then renamed over `path` (`os.replace` is atomic on POSIX), so a killed
  process never leaves a half-written file behind.
  """
  path = pathlib.Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.',
                             suffix='.tmp')
  try:
    os.fchmod(fd, file_mode())  # mkstemp's file is private (0600)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
  _fsync_dir(path.parent)


def _fsync_dir(directory: pathlib.Path) -> None:
  # Makes the rename itself durable; not possible on every platform.
  try:
    fd = os.open(directory, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
  """Writes `obj` as indented JSON to `path`, atomically."""
  atomic_write_text(path, dumps(obj, indent=2) + '\n')


def read_json(path: str | os.PathLike) -> Any | None:
  """Reads a JSON file (NaN / Infinity tokens allowed); None if absent."""
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except FileNotFoundError:
    return None

