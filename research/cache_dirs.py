"""Where the project's caches live: ~/.cache/research/<name>, unless an
environment variable names another directory or turns the cache off."""

import os
import pathlib

OFF = ('off', 'none', 'false', '0')


def from_environment(env: str, name: str) -> pathlib.Path | None:
  """The directory `$env` asks for; ~/.cache/research/`name` when it is unset
  or empty; None when it is one of OFF."""
  value = os.environ.get(env, '').strip()
  if value.lower() in OFF:
    return None
  if value:
    return pathlib.Path(value).expanduser()
  return pathlib.Path.home() / '.cache' / 'research' / name
