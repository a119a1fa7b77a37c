"""Tests of WandbLogger (offline) and of the reader of W&B's offline files."""

import json
import math
import struct
import time
import zlib

import jax.numpy as jnp
import numpy as np
import pytest

from research.tracking import WandbLogger
from research.tracking import find_offline_runs
from research.tracking import read_offline_run
from research.tracking import to_jsonable
from research.tracking import wandb_mode
from research.tracking import wandb_offline

# Keys wandb adds on its own.
INTERNAL = ('_step', '_runtime', '_timestamp', '_wandb')


@pytest.fixture
def offline(monkeypatch, tmp_path):
  """W&B in offline mode, with its side files kept under tmp_path."""
  monkeypatch.setenv('WANDB_MODE', 'offline')
  for name in ('WANDB_CONFIG_DIR', 'WANDB_CACHE_DIR', 'WANDB_DATA_DIR'):
    monkeypatch.setenv(name, str(tmp_path / 'wandb-home'))
  return tmp_path / 'run'


def _logger(directory, run_id='run1', **kwargs):
  return WandbLogger(project='tests', directory=directory, run_id=run_id,
                     name='test run', **kwargs)


def _without_internal(d):
  return {k: v for k, v in d.items() if k not in INTERNAL}


def _canon(obj):
  """Exact comparison: 1 != 1.0, every float digit counts, NaN == NaN."""
  return json.dumps(to_jsonable(obj), sort_keys=True)


def test_offline_run_reads_back_exactly_what_was_logged(offline):
  config = {'lr': 0.0123456789012345, 'batch_size': 128, 'optimizer': 'adam',
            'widths': [1024, 512], 'schedule': {'name': 'cosine', 'warmup': 5},
            'np_value': np.float32(0.1)}
  steps = {
      100: {'epoch': 1, 'train/loss': 2.302585092994046,
            'train/accuracy': 1 / 3, 'lr': 1.2345678901234567e-05},
      200: {'epoch': 2, 'train/loss': 0.6931471805599453,
            'dev/accuracy': 0.98765432109876, 'count': 12345678901},
      300: {'epoch': 3, 'train/loss': math.pi * 1e-7, 'diverged': math.nan,
            'jax': jnp.float32(0.25), 'np': np.int64(7)},
  }
  summary = {'best/dev/accuracy': 0.98765432109876, 'best_epoch': 2,
             'test/accuracy': jnp.float32(0.5), 'note': 'done'}

  logger = _logger(offline, config=config)
  assert logger.mode_used == 'offline' and logger.active
  logger.log_config({'seed': 42, 'lr': 0.02})  # An update after init.
  for step, metrics in steps.items():
    logger.log_metrics(metrics, step=step)
  logger.log_summary(summary)
  logger.finish()
  logger.finish()  # A second finish is harmless.
  assert not logger.active

  files = find_offline_runs(offline)
  assert len(files) == 1
  assert files[0].name == 'run-run1.wandb'
  assert files[0].parent.name.startswith('offline-run-')
  assert files[0].parent.parent == offline / 'wandb'

  run = read_offline_run(offline, wait_s=30)  # W&B's writer may lag finish()
  assert run['run_id'] == 'run1'
  assert _canon(_without_internal(run['config'])) == _canon(
      {**config, 'seed': 42, 'lr': 0.02})
  assert [row['_step'] for row in run['history']] == list(steps)
  assert _canon([_without_internal(row) for row in run['history']]) == (
      _canon(list(steps.values())))
  # The summary holds the last value of each history key, then our updates.
  expected_summary = {**steps[100], **steps[200], **steps[300], **summary}
  assert _canon(_without_internal(run['summary'])) == _canon(expected_summary)
  # The same file, read directly or through its run folder.
  assert _canon(read_offline_run(files[0])) == _canon(run)
  assert _canon(read_offline_run(files[0].parent)) == _canon(run)


def test_resuming_offline_run_writes_a_second_file_of_the_same_run(offline):
  first = _logger(offline, run_id='resumed', config={'lr': 0.1})
  for step in range(3):
    first.log_metrics({'epoch': step, 'loss': 1.0 / (step + 1)}, step=step)
  first.log_summary({'last': 2})
  first.finish()
  second = _logger(offline, run_id='resumed', config={'lr': 0.1, 'extra': 1})
  assert second.mode_used == 'offline' and second.active
  for step in range(3, 6):
    second.log_metrics({'epoch': step, 'loss': 1.0 / (step + 1)}, step=step)
  second.log_summary({'last': 5})
  second.finish()

  # Offline, wandb cannot look up the run it resumes: each process writes its
  # own file (offline-run-<time>-resumed, then ...-resumed-1 within the same
  # second) with the same run id; `wandb sync` merges them on the server.
  files = find_offline_runs(offline)
  listing = sorted(str(p.relative_to(offline)) for p in offline.rglob('*') if p.is_file())
  assert len(files) == 2, listing
  assert all(f.name == 'run-resumed.wandb' for f in files), listing
  run = read_offline_run(offline, wait_s=30)
  assert run['run_id'] == 'resumed'
  assert [row['_step'] for row in run['history']] == list(range(6)), (run['history'], listing)
  assert [row['loss'] for row in run['history']] == [
      1.0 / (s + 1) for s in range(6)]
  assert _without_internal(run['config']) == {'lr': 0.1, 'extra': 1}
  assert run['summary']['last'] == 5
  # Each file alone holds its own part.
  parts = [read_offline_run(f) for f in files]
  assert sorted(len(p['history']) for p in parts) == [3, 3]


def test_reader_refuses_files_of_different_runs(offline):
  for run_id in ('one', 'two'):
    logger = _logger(offline, run_id=run_id)
    logger.log_metrics({'x': 1}, step=0)
    logger.finish()
  with pytest.raises(ValueError, match='several W&B runs'):
    read_offline_run(offline, wait_s=30)
  with pytest.raises(FileNotFoundError):
    read_offline_run(offline / 'missing')


def _frame(kind, payload):
  crc = zlib.crc32(bytes([kind]) + payload)
  return struct.pack('<IHB', crc, len(payload), kind) + payload


def test_reader_framing_spans_blocks_and_stops_at_a_torn_end(tmp_path):
  # Records as wandb frames them: big ones cross 32 KiB block boundaries.
  sizes = [10, 70_000, 5, 32_768 - 7 - 7 - 17 - 7, 3, 40_000]
  payloads = [bytes([i]) * n for i, n in enumerate(sizes)]
  data = bytearray(b':W&B\xe1\xbe\x00')
  for payload in payloads:
    first = True
    while True:
      left = wandb_offline.BLOCK_SIZE - len(data) % wandb_offline.BLOCK_SIZE
      if left < 7:
        data += b'\0' * left
        continue
      chunk, payload = payload[:left - 7], payload[left - 7:]
      last = not payload
      kind = (1 if last else 2) if first else (4 if last else 3)
      data += _frame(kind, chunk)
      first = False
      if last:
        break
  path = tmp_path / 'run-x.wandb'
  path.write_bytes(bytes(data))
  assert list(wandb_offline.read_records(path)) == [
      bytes([i]) * n for i, n in enumerate(sizes)]
  path.write_bytes(bytes(data[:-100]))  # Killed while writing.
  with pytest.warns(RuntimeWarning, match='cut short'):
    assert len(list(wandb_offline.read_records(path))) == len(sizes) - 1
  path.write_bytes(b'not a wandb file')
  with pytest.raises(ValueError, match='not a W&B'):
    list(wandb_offline.read_records(path))


def test_real_file_cut_short_keeps_earlier_records(offline):
  logger = _logger(offline, run_id='torn')
  for step in range(50):
    logger.log_metrics({'loss': step / 7}, step=step)
  logger.finish()
  path, = find_offline_runs(offline)
  assert len(read_offline_run(path, wait_s=30)['history']) == 50  # complete first
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with pytest.warns(RuntimeWarning):
    run = read_offline_run(path)
  assert 0 < len(run['history']) < 50
  assert [row['loss'] for row in run['history']] == [
      s / 7 for s in range(len(run['history']))]


def test_failing_init_warns_once_and_becomes_a_no_op(offline, monkeypatch):
  import wandb  # pylint: disable=g-import-not-at-top

  def boom(*args, **kwargs):
    raise RuntimeError('no W&B today')

  monkeypatch.setattr(wandb, 'init', boom)
  with pytest.warns(RuntimeWarning, match='init failed.*no W&B today'):
    logger = _logger(offline)
  assert not logger.active and logger.mode_used == 'disabled'
  assert 'no W&B today' in logger.failure
  logger.log_config({'a': 1})
  logger.log_metrics({'loss': 1.0}, step=1)
  logger.log_summary({'best': 1.0})
  logger.finish()


def test_failing_log_warns_once_and_becomes_a_no_op(offline, monkeypatch):
  from wandb.sdk import wandb_run  # pylint: disable=g-import-not-at-top

  logger = _logger(offline, run_id='failing')
  logger.log_metrics({'loss': 1.0}, step=0)

  def boom(*args, **kwargs):
    raise OSError('disk full')

  monkeypatch.setattr(wandb_run.Run, 'log', boom)
  run = logger.run
  with pytest.warns(RuntimeWarning, match='log failed.*disk full') as record:
    logger.log_metrics({'loss': 0.5}, step=1)
    logger.log_metrics({'loss': 0.25}, step=2)
    logger.log_summary({'best': 0.25})
    logger.finish()
  assert len(record) == 1
  assert not logger.active and logger.mode_used == 'disabled'
  monkeypatch.undo()
  run.finish()  # Let wandb close the file (the logger no longer owns it).


def test_missing_wandb_package_is_survivable(offline, monkeypatch):
  monkeypatch.setitem(__import__('sys').modules, 'wandb', None)
  with pytest.warns(RuntimeWarning, match='ImportError|ModuleNotFound'):
    logger = _logger(offline)
  logger.log_metrics({'loss': 1.0}, step=1)
  logger.finish()
  assert not offline.exists() or not any(offline.iterdir())


def test_disabled_mode_writes_nothing(tmp_path):
  logger = _logger(tmp_path / 'run', mode='disabled')
  assert logger.mode_used == 'disabled' and not logger.active
  logger.log_config({'a': 1})
  logger.log_metrics({'loss': 1.0}, step=1)
  logger.log_summary({'best': 1.0})
  logger.finish()
  assert not (tmp_path / 'run').exists()


def test_auto_without_key_is_offline_at_once(no_credentials, tmp_path):
  start = time.monotonic()
  assert wandb_mode.resolve_mode('auto') == 'offline'
  assert time.monotonic() - start < 0.5
  start = time.monotonic()
  logger = _logger(tmp_path / 'run')
  assert logger.mode_used == 'offline' and logger.active
  logger.finish()
  assert time.monotonic() - start < 15
  assert len(find_offline_runs(tmp_path / 'run')) == 1
