"""Choosing the W&B mode without ever blocking on the network.

wandb 0.31 with no API key fails at once in online mode, and with a key but no
network `wandb.init` blocks for about 90 s before failing. So 'auto' goes
online only when there is a key and the server answers a TCP connect within
`timeout` seconds, and offline otherwise (`wandb sync` uploads it later). A
server that accepts connections and never answers passes the probe:
`WandbLogger` then gives up after its short init timeout and keeps the run
offline.

The server is $WANDB_BASE_URL or wandb's default, which in wandb 0.31 is
https://api.forge.coreweave.com (CoreWeave's front of api.wandb.ai), not
https://api.wandb.ai; a netrc entry for either host counts as a key.
"""

from __future__ import annotations

import netrc
import os
import pathlib
import socket
import threading
import urllib.parse

MODES = ('auto', 'online', 'offline', 'disabled')
# Used only where wandb cannot tell us its own default.
FALLBACK_BASE_URL = 'https://api.wandb.ai'
# Older spellings that $WANDB_MODE may still hold.
_ALIASES = {'dryrun': 'offline', 'run': 'online'}


def resolve_mode(mode: str = 'auto', timeout: float = 2.0) -> str:
  """Returns 'online', 'offline' or 'disabled' for `mode`.

  'auto' picks $WANDB_MODE if set; else 'online' if an API key is available
  and the W&B host answers a TCP connect within `timeout` seconds; else
  'offline'.
  """
  if mode not in MODES:
    raise ValueError(f'W&B mode must be one of {MODES}, got {mode!r}')
  if mode != 'auto':
    return mode
  env_mode = os.environ.get('WANDB_MODE', '').strip().lower()
  if env_mode:
    env_mode = _ALIASES.get(env_mode, env_mode)
    if env_mode in MODES[1:]:
      return env_mode
  if has_api_key() and host_reachable(base_url(), timeout):
    return 'online'
  return 'offline'


def base_url() -> str:
  """The W&B server that wandb would talk to."""
  if env_url := os.environ.get('WANDB_BASE_URL'):
    return env_url
  try:
    from wandb.sdk.lib import urls  # pylint: disable=g-import-not-at-top  (wandb: seconds to import)
    return urls.DEFAULT_BASE_URL
  except Exception:  # pylint: disable=broad-except
    return FALLBACK_BASE_URL


def _netrc_hosts(url: str) -> set[str]:
  """Hosts whose netrc entry wandb accepts for `url` (its own rule)."""
  urls_to_check = [url]
  try:
    from wandb.sdk.lib import urls  # pylint: disable=g-import-not-at-top  (wandb: seconds to import)
    urls_to_check.append(urls.forge_upstream_url(url))
  except Exception:  # pylint: disable=broad-except
    pass
  hosts = set()
  for u in urls_to_check:
    parts = urllib.parse.urlsplit(u)
    hosts.update(h for h in (parts.netloc, parts.hostname) if h)
  return hosts


def has_api_key(url: str | None = None) -> bool:
  """Whether wandb would find credentials: env variables or a netrc entry."""
  if os.environ.get('WANDB_API_KEY') or os.environ.get(
      'WANDB_IDENTITY_TOKEN_FILE'):
    return True
  try:  # Cheap first: no need to ask wandb for its server without a file.
    entries = netrc.netrc(_netrc_path())
  except (OSError, netrc.NetrcParseError):
    return False
  for host in _netrc_hosts(url or base_url()):
    if (creds := entries.authenticators(host)) and creds[2]:
      return True
  return False


def _netrc_path() -> pathlib.Path:
  # The same search as wandb's own (wandb/sdk/lib/wbauth/wbnetrc.py).
  if env_path := os.environ.get('NETRC'):
    return pathlib.Path(env_path).expanduser()
  for name in ('~/.netrc', '~/_netrc'):
    if (path := pathlib.Path(name).expanduser()).exists():
      return path
  return pathlib.Path('~/.netrc').expanduser()


def host_reachable(url: str, timeout: float = 2.0) -> bool:
  """Whether the host of `url` accepts a TCP connection within `timeout` s.

  The name lookup can hang far longer than a connect timeout when there is no
  network, so the whole probe runs in a daemon thread that we stop waiting for.
  """
  parts = urllib.parse.urlsplit(url)
  if not parts.hostname:
    return False
  port = parts.port or (80 if parts.scheme == 'http' else 443)
  result = []

  def probe():
    try:
      with socket.create_connection((parts.hostname, port), timeout=timeout):
        result.append(True)
    except Exception:  # pylint: disable=broad-except  (unreachable is the answer)
      pass

  thread = threading.Thread(target=probe, name='wandb-probe', daemon=True)
  thread.start()
  thread.join(timeout)
  return bool(result)
