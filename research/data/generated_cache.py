"""A disk cache for datasets generated on this machine (MNIST-1D).

Generating MNIST-1D costs about 3 s a process on a 2-core CPU (importing the
generator pulls in matplotlib), which every run, sweep trial, SLURM task and
test subprocess would pay again; reading the cached arrays takes
milliseconds.

`RESEARCH_DATA_CACHE` names the directory (default ~/.cache/research/data) or
is `off`. An entry's name holds a hash of everything that determines the data
(the generator's version and arguments), so other arguments never read it.
Entries are written atomically (a temporary file, then a rename); an entry
that is damaged (the .npz's CRC-32 of each array fails) or unreadable is
generated again and replaced, never used. A cache that cannot be written costs only the
time: loading data never fails because of it.
"""

import hashlib
import os
import pathlib
import tempfile
import zipfile
from collections.abc import Callable

import numpy as np

from research import cache_dirs

ENV = 'RESEARCH_DATA_CACHE'


def cache_dir() -> pathlib.Path | None:
  """The directory the environment asks for, or None when it is off."""
  return cache_dirs.from_environment(ENV, 'data')


def entry_path(name: str, key: str) -> pathlib.Path | None:
  """Where the arrays of `name` generated with `key` (any text that
  determines them) are cached; None when the cache is off."""
  directory = cache_dir()
  if directory is None:
    return None
  return directory / f'{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz'


def _read(path: pathlib.Path) -> tuple[np.ndarray, ...] | None:
  """The entry's arrays, or None when it is missing, unreadable or damaged."""
  try:
    with np.load(path, allow_pickle=False) as f:
      # Reading a member checks its CRC-32 (zipfile.BadZipFile if it fails).
      return tuple(f[f'arr_{i}'] for i in range(len(f.files)))
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
    return None


def _write(path: pathlib.Path, arrays: tuple[np.ndarray, ...]) -> None:
  """Writes the entry atomically; a failure (a read-only or full disk) leaves
  no entry and is not an error."""
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
  except OSError:
    return
  try:
    with os.fdopen(fd, 'wb') as f:
      np.savez(f, *arrays)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError:
    pass
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)


def cached(name: str, key: str,
           generate: Callable[[], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
  """`generate()`'s arrays, read from the cache when a sound entry for
  (`name`, `key`) is there, else generated and written to it."""
  path = entry_path(name, key)
  arrays = None if path is None else _read(path)
  if arrays is None:
    arrays = tuple(generate())
    if path is not None:
      _write(path, arrays)
  return arrays
