"""What a run ran on: Python, host, JAX devices, package versions, git commit."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import pathlib
import platform
import socket
import subprocess
import sys
from typing import Any

# Distribution names as pip knows them; versions come from importlib.metadata
# so that nothing heavy (tensorflow_datasets) is imported just to ask.
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'chex',
            'numpy', 'ml_collections', 'tensorflow-datasets', 'wandb')
GIT_TIMEOUT_S = 5.0
# The directory holding the `research` package: the repository in a checkout.
_SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]


# Outputs, not code: writing a table while trials run leaves what ran clean.
GENERATED = ('experiments/results',)


def cpu_model() -> str | None:
  """The CPU's model name ('model name' in /proc/cpuinfo), None elsewhere."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      return next(line.split(':', 1)[1].strip() for line in f
                  if line.startswith('model name'))
  except (OSError, StopIteration):
    return None


def environment_info() -> dict[str, Any]:
  """A JSON-ready description of the software and hardware of this process.

  Keys: 'python', 'platform', 'hostname', 'cpu_count', 'jax_backend',
  'devices', 'device_kind', 'device_count', 'process_count', 'packages'
  (name -> version or None) and 'git' ({'commit': sha or None, 'dirty': bool
  or None}; both None outside a git checkout).
  """
  return {
      'python': sys.version.split()[0],
      'platform': platform.platform(),
      'hostname': socket.gethostname(),
      'cpu_count': os.cpu_count(),
      **_jax_info(),
      'packages': package_versions(),
      'git': git_info(ignore=GENERATED),
  }


def _jax_info() -> dict[str, Any]:
  try:
    import jax  # pylint: disable=g-import-not-at-top  (the CLI reads records without JAX)
    devices = jax.devices()
    return {
        'jax_backend': jax.default_backend(),
        'devices': [str(d) for d in devices],
        'device_kind': devices[0].device_kind if devices else None,
        'device_count': jax.device_count(),
        'process_count': jax.process_count(),
    }
  except Exception:  # pylint: disable=broad-except
    # A broken accelerator setup must not stop us from recording the rest.
    return {'jax_backend': None, 'devices': [], 'device_kind': None,
            'device_count': 0, 'process_count': None}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
  """Installed version of each distribution, None where it is missing."""
  versions = {}
  for name in names:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def git_info(ignore: tuple[str, ...] = ()) -> dict[str, str | bool | None]:
  """The commit and dirtiness of the checkout that holds `research`.

  'dirty' counts untracked files too: a new, uncommitted module changes what
  ran just as an edit does. Paths in `ignore` (e.g. generated results) do not
  count.
  """
  root = git_root()
  if root is None:
    return {'commit': None, 'dirty': None}
  commit = _git(root, 'rev-parse', 'HEAD')
  status = _git(root, 'status', '--porcelain', '--', '.',
                *(f':(exclude){path}' for path in ignore))
  return {'commit': commit or None,
          'dirty': None if status is None else bool(status)}


@functools.cache
def git_root() -> pathlib.Path | None:
  """Top of the git checkout that contains `research`; None if there is none."""
  top = _git(_SOURCE_ROOT, 'rev-parse', '--show-toplevel')
  return pathlib.Path(top) if top else None


def _git(cwd: pathlib.Path, *args: str) -> str | None:
  """Output of `git args` in `cwd`, stripped; None on any failure."""
  try:
    out = subprocess.run(
        ['git', *args], cwd=cwd, capture_output=True, text=True,
        timeout=GIT_TIMEOUT_S, check=True,
        env={**os.environ, 'GIT_OPTIONAL_LOCKS': '0'})  # Read-only: no lock.
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()
