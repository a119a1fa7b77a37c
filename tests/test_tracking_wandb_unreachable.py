"""W&B against a server that accepts connections and never answers (issue 18).

Such a server (a hung proxy, a firewall that lets the handshake through) must
cost a run a few seconds at most over offline, and the run must keep an
offline W&B record that `wandb sync` can upload later. So must one that stops
answering in the middle of a run.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from research.tracking import WandbLogger
from research.tracking import find_offline_runs
from research.tracking import loggers
from research.tracking import read_offline_run
from research.tracking import wandb_mode

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

# Extra seconds over offline that a silent server may cost (the init timeout,
# then an offline init).
MAX_EXTRA_S = 15
STEPS = {0: {'epoch': 0, 'train/loss': 2.5}, 10: {'epoch': 1, 'train/loss': 1.25},
         20: {'epoch': 2, 'train/loss': 0.625}}
SUMMARY = {'best/train/loss': 0.625, 'best_epoch': 2}


class SilentServer:
  """Accepts TCP connections and never answers (nor closes) them."""

  def __init__(self):
    self._socket = socket.socket()
    self._socket.bind(('127.0.0.1', 0))
    self._socket.listen(128)
    self._socket.settimeout(0.1)  # To notice close().
    self._connections = []
    self._closed = threading.Event()
    self.url = f'http://127.0.0.1:{self._socket.getsockname()[1]}'
    self._thread = threading.Thread(target=self._accept, daemon=True)
    self._thread.start()

  def _accept(self):
    while not self._closed.is_set():
      try:
        self._connections.append(self._socket.accept()[0])
      except TimeoutError:
        pass

  @property
  def connections(self) -> int:
    return len(self._connections)

  def close(self):
    self._closed.set()
    self._thread.join()
    self._socket.close()
    for connection in self._connections:
      connection.close()


class FakeWandbServer(http.server.ThreadingHTTPServer):
  """Answers the few requests of a wandb 0.31 run, until `silent` is set."""

  daemon_threads = True

  def __init__(self):
    super().__init__(('127.0.0.1', 0), _FakeWandbHandler)
    self.silent = threading.Event()
    self.closed = threading.Event()
    self.url = f'http://127.0.0.1:{self.server_address[1]}'
    threading.Thread(target=self.serve_forever, daemon=True).start()

  def close(self):
    self.closed.set()
    self.shutdown()
    self.server_close()


class _FakeWandbHandler(http.server.BaseHTTPRequestHandler):
  protocol_version = 'HTTP/1.1'

  def log_message(self, *args):  # pylint: disable=arguments-differ
    pass

  def do_POST(self):  # pylint: disable=invalid-name
    body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
    if self.server.silent.is_set():
      self.server.closed.wait(600)  # Hangs, as a stalled server does.
      return
    query = json.loads(body or b'{}').get('query', '') if (
        self.path.startswith('/graphql')) else ''
    if 'RunResumeStatus' in query:  # A new run.
      reply = {'data': {'model': {'bucket': None}}}
    elif 'UpsertBucket' in query:
      reply = {'data': {'upsertBucket': {'inserted': True, 'bucket': {
          'id': 'UnVuOjE=', 'name': 'run1', 'displayName': 'run1',
          'config': '{}', 'project': {'id': 'p', 'name': 'tests',
                                      'entity': {'id': 'e', 'name': 'me'}}}}}}
    else:  # Whatever else wandb asks or sends (file stream, run files).
      reply = {'data': {}}
    data = json.dumps(reply).encode()
    self.send_response(200)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)


@pytest.fixture
def use_server(no_credentials, monkeypatch):
  """`use(url)` points W&B at a server, with a (fake) API key.

  No mode comes from outside, and wandb's side files go under the test's home.
  """
  import wandb  # pylint: disable=g-import-not-at-top

  monkeypatch.setattr(loggers, '_timed_out_at', {})

  def use(url):
    monkeypatch.setenv('WANDB_API_KEY', 'x' * 40)
    monkeypatch.setenv('WANDB_BASE_URL', url)
    for name in ('WANDB_CONFIG_DIR', 'WANDB_CACHE_DIR', 'WANDB_DATA_DIR'):
      monkeypatch.setenv(name, str(no_credentials / 'wandb-home'))
    # wandb reads the environment once per process (at its setup): start
    # afresh here, and again after the test for the tests that follow.
    wandb.teardown()

  yield use
  wandb.teardown()


# The init timeout these tests wait out: the mechanism (give up, go offline,
# keep the record) is the same at the default 6 s, which a test below reads.
TEST_INIT_TIMEOUT_S = 2


def test_the_default_init_timeout_is_seconds(monkeypatch):
  monkeypatch.delenv('WANDB_INIT_TIMEOUT', raising=False)
  assert loggers._init_timeout() == loggers.INIT_TIMEOUT_S == 6.0
  monkeypatch.setenv('WANDB_INIT_TIMEOUT', '2')
  assert loggers._init_timeout() == 2.0


@pytest.fixture
def silent_server(use_server, monkeypatch):
  """$WANDB_BASE_URL is a silent server, with a (fake) API key; W&B waits
  TEST_INIT_TIMEOUT_S for it (here and in the processes a test starts)."""
  monkeypatch.setenv('WANDB_INIT_TIMEOUT', str(TEST_INIT_TIMEOUT_S))
  server = SilentServer()
  use_server(server.url)
  yield server
  server.close()


def _log_a_run(directory, mode, run_id='run1'):
  """A short run through WandbLogger: its logger, seconds and warnings."""
  start = time.monotonic()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    logger = WandbLogger(project='tests', directory=directory, run_id=run_id,
                         name='test run', mode=mode, config={'lr': 0.1})
    for step, metrics in STEPS.items():
      logger.log_metrics(metrics, step=step)
    logger.log_summary(SUMMARY)
    logger.finish()
  messages = [str(w.message) for w in caught
              if issubclass(w.category, RuntimeWarning)]
  return logger, time.monotonic() - start, messages


def _assert_offline_record(directory, run_id='run1'):
  run = read_offline_run(directory, wait_s=30)
  assert run['run_id'] == run_id
  assert run['config']['lr'] == 0.1
  assert [row['_step'] for row in run['history']] == list(STEPS)
  assert [row['train/loss'] for row in run['history']] == [
      m['train/loss'] for m in STEPS.values()]
  assert {k: run['summary'][k] for k in SUMMARY} == SUMMARY
  offline = [f for f in find_offline_runs(directory)
             if f.parent.name.startswith('offline-run-')]
  assert len(offline) == 1, find_offline_runs(directory)
  return offline[0].parent


@pytest.mark.parametrize('mode', ['online', 'auto'])
def test_silent_server_costs_seconds_and_keeps_an_offline_record(
    silent_server, tmp_path, mode):
  if mode == 'auto':  # The TCP probe passes: only wandb.init finds out.
    assert wandb_mode.resolve_mode('auto') == 'online'
  offline, offline_s, offline_warnings = _log_a_run(tmp_path / 'offline',
                                                    'offline')
  assert offline.mode_used == 'offline' and not offline_warnings

  logger, seconds, messages = _log_a_run(tmp_path / mode, mode)
  assert silent_server.connections > 0  # wandb did try the server.
  assert seconds - offline_s < MAX_EXTRA_S, (seconds, offline_s)
  assert logger.mode_used == 'offline' and not logger.active
  sync_dir = _assert_offline_record(tmp_path / mode)
  # One warning, which says how to upload the record.
  assert len(messages) == 1, messages
  assert f'wandb sync {sync_dir}' in messages[0]


def test_later_runs_of_the_process_go_offline_at_once(silent_server, tmp_path):
  # A population trains many members in one process: only the first waits.
  _, first_s, _ = _log_a_run(tmp_path / 'first', 'online')
  connections = silent_server.connections
  logger, second_s, messages = _log_a_run(tmp_path / 'second', 'online',
                                          run_id='run2')
  assert logger.mode_used == 'offline'
  assert silent_server.connections == connections  # Not asked again.
  assert second_s < first_s / 2, (first_s, second_s)
  assert len(messages) == 1 and 'wandb sync' in messages[0]
  _assert_offline_record(tmp_path / 'second', run_id='run2')


_SCRIPT = """
import json, sys
from research.tracking import WandbLogger
logger = WandbLogger(project='tests', directory=sys.argv[1], run_id='run1',
                     mode=sys.argv[2], config={'lr': 0.1})
logger.log_metrics({'loss': 0.5}, step=1)
logger.finish()
print(json.dumps({'mode_used': logger.mode_used}))
"""


@pytest.mark.slow
def test_whole_process_with_silent_server_costs_seconds(silent_server, tmp_path):
  # Exit included: wandb's teardown talks to the server too. Without what an
  # earlier WandbLogger of this process chose for itself.
  env = {k: v for k, v in os.environ.items()
         if k not in ('WANDB_MODE', 'WANDB_ERROR_REPORTING')}

  def run(mode):
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, '-c', _SCRIPT, str(tmp_path / mode), mode], env=env,
        capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.splitlines()[-1]), time.monotonic() - start

  offline, offline_s = run('offline')
  online, online_s = run('online')
  assert offline['mode_used'] == online['mode_used'] == 'offline'
  assert online_s - offline_s < MAX_EXTRA_S, (online_s, offline_s)
  assert read_offline_run(tmp_path / 'online', wait_s=30)['history']


def test_server_that_stops_answering_bounds_finish(use_server, monkeypatch,
                                                   tmp_path):
  monkeypatch.setattr(loggers, 'FINISH_TIMEOUT_S', 3.0)  # 15 s by default.
  server = FakeWandbServer()
  try:
    use_server(server.url)
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', RuntimeWarning)  # Checked below.
      logger = WandbLogger(project='tests', directory=tmp_path, run_id='run1',
                           mode='online', config={'lr': 0.1})
    if logger.mode_used != 'online':  # Fell back: wandb asked for more.
      pytest.skip('this wandb version needs more of a W&B server than '
                  'FakeWandbServer answers')
    for step, metrics in STEPS.items():
      logger.log_metrics(metrics, step=step)
    server.silent.set()
    logger.log_summary(SUMMARY)
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match='did not finish uploading') as caught:
      logger.finish()
    assert time.monotonic() - start < 3.0 + 5
    assert not logger.active
  finally:
    server.close()
  # What was logged stays on disk, for `wandb sync` (named in the warning).
  sync_dir = str(caught[0].message).rsplit('`wandb sync ', 1)[1].rstrip('`.')
  run = read_offline_run(sync_dir, wait_s=30)
  assert [row['_step'] for row in run['history']] == list(STEPS)
  assert {k: run['summary'][k] for k in SUMMARY} == SUMMARY
