"""Tests of how WandbLogger chooses its mode without blocking."""

import socket
import time

import pytest

from research.tracking import wandb_mode


def test_auto_follows_wandb_mode(monkeypatch):
  for value, expected in [('offline', 'offline'), ('disabled', 'disabled'),
                          ('online', 'online'), ('dryrun', 'offline')]:
    monkeypatch.setenv('WANDB_MODE', value)
    assert wandb_mode.resolve_mode('auto') == expected
  assert wandb_mode.resolve_mode('offline') == 'offline'
  with pytest.raises(ValueError):
    wandb_mode.resolve_mode('sometimes')


def test_auto_with_key_probes_the_host(no_credentials, monkeypatch):
  monkeypatch.setenv('WANDB_API_KEY', 'x' * 40)
  with socket.socket() as server:  # A local "W&B server" that accepts.
    server.bind(('127.0.0.1', 0))
    server.listen()
    port = server.getsockname()[1]
    monkeypatch.setenv('WANDB_BASE_URL', f'http://127.0.0.1:{port}')
    assert wandb_mode.resolve_mode('auto') == 'online'
  # Nothing listens there any more: refused at once.
  start = time.monotonic()
  assert wandb_mode.resolve_mode('auto') == 'offline'
  assert time.monotonic() - start < 2.5


def test_probe_is_bounded_in_time(monkeypatch):
  # A name lookup or connect that hangs (no network, a firewall dropping SYNs).
  def hanging_connect(*args, **kwargs):
    time.sleep(5)  # a name lookup or connect that never answers in time
    raise TimeoutError('timed out')

  monkeypatch.setattr(socket, 'create_connection', hanging_connect)
  start = time.monotonic()
  assert not wandb_mode.host_reachable('https://api.wandb.ai', timeout=0.3)
  assert time.monotonic() - start < 1.0


def test_netrc_entry_counts_as_a_key(no_credentials):
  assert not wandb_mode.has_api_key()
  netrc = no_credentials / '.netrc'
  netrc.write_text('machine api.wandb.ai\n  login user\n  password abc\n')
  netrc.chmod(0o600)
  assert wandb_mode.has_api_key()
  assert not wandb_mode.has_api_key('https://wandb.example.com')
