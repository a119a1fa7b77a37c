"""Reads what a W&B run wrote to its local `.wandb` file (wandb ships no reader).

The format, as observed in files written by wandb 0.31 (offline and online
runs both keep one, at `wandb/{offline-,}run-<time>-<id>/run-<id>.wandb`):

* A 7-byte header: b':W&B', the magic 0xBEE1 as little-endian u16, version 0.
* Then LevelDB-log framing: the file is cut into 32 KiB blocks, counted from
  the start of the file (the header sits inside the first block). Each
  fragment has a 7-byte header `<crc u32><length u16><type u8>` (little
  endian) and its payload; types are 1 full, 2 first, 3 middle, 4 last. The
  CRC is plain `zlib.crc32` over the type byte and the payload (not LevelDB's
  masked CRC32C). A block tail under 7 bytes is zero padding.
* Each reassembled payload is a `wandb_internal_pb2.Record`. We use `run`
  (run id and initial config), `config` (later config updates), `history`
  (one logged step) and `summary` (summary updates, applied in order).
* Values are JSON strings (`value_json`) under a `key`, or under a
  `nested_key` path: wandb 0.31 writes logged keys, even flat ones like
  'train/loss', as a one-element `nested_key`, and flattens a nested dict
  logged to history into longer paths, which we turn back into nested dicts.

Seen quirks: history keeps NaN / Infinity as those JSON tokens, but a NaN
written to `run.summary` is stored as null. wandb adds the keys `_step`,
`_runtime` and `_timestamp` to every history row and summary, and
`_wandb` to the config and summary.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

HEADER = b':W&B'
HEADER_SIZE = 7
BLOCK_SIZE = 32 * 1024
FRAGMENT_HEADER = struct.Struct('<IHB')  # crc, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def find_offline_runs(path: str | os.PathLike) -> list[pathlib.Path]:
  """The `.wandb` files at or under `path`, sorted by path."""
  path = pathlib.Path(path)
  if path.is_file():
    return [path]
  if not path.is_dir():
    raise FileNotFoundError(f'No such file or directory: {path}')
  # Resolved and deduplicated: wandb's 'latest-run' is a symlink to a run.
  return sorted({p.resolve() for p in path.rglob('*.wandb') if p.is_file()})


def read_offline_run(path: str | os.PathLike, wait_s: float = 0.0) -> dict[str, Any]:
  """Config, history, summary and run id of a W&B run from its local files.

  W&B writes the file from a background process, which may still be writing
  when `run.finish()` returns on a loaded machine: with `wait_s` > 0, wait (at
  most that long) until every file holds W&B's closing `exit` record.

  Args:
    path: a `.wandb` file, a `run-*` directory, or any directory with such
      files below it (e.g. a run directory whose `wandb/` W&B wrote into).
      Several files must belong to the same run id (a run that was resumed in
      offline mode writes one file per process; an online init that failed
      leaves a file without history beside its offline replacement); they are
      merged in the order they started: later config and summary values win,
      histories are concatenated.

  Returns:
    {'config': {key: value}, 'history': [{key: value, '_step': n, ...}],
     'summary': {key: value}, 'run_id': str}
  """
  files = find_offline_runs(path)
  if not files:
    raise FileNotFoundError(f'No .wandb file at or under {path}')
  deadline = time.monotonic() + wait_s
  while not all(_is_complete(f) for f in files) and time.monotonic() < deadline:
    time.sleep(0.05)
  runs = sorted((_read_file(f) for f in files), key=lambda r: r['_start'])
  run_ids = {r['run_id'] for r in runs}
  if len(run_ids) > 1:
    raise ValueError(
        f'{path} holds files of several W&B runs {sorted(run_ids)}: '
        f'pass one of {[str(f) for f in files]}')
  merged = {'config': {}, 'history': [], 'summary': {}, 'run_id': runs[0]['run_id']}
  for run in runs:
    merged['config'].update(run['config'])
    merged['history'].extend(run['history'])
    merged['summary'].update(run['summary'])
  return merged


def _read_file(path: pathlib.Path) -> dict[str, Any]:
  """One `.wandb` file; '_start' orders several files of a resumed run."""
  from wandb.proto import wandb_internal_pb2  # pylint: disable=g-import-not-at-top  (wandb: seconds to import)

  config, history, summary = {}, [], {}
  run_id, start = None, (float('inf'), str(path))
  for payload in read_records(path):
    record = wandb_internal_pb2.Record()
    record.ParseFromString(payload)
    kind = record.WhichOneof('record_type')
    if kind == 'run':
      run_id = record.run.run_id
      start = (record.run.start_time.ToNanoseconds(), str(path))
      _apply(config, record.run.config.update, record.run.config.remove)
    elif kind == 'config':
      _apply(config, record.config.update, record.config.remove)
    elif kind == 'summary':
      _apply(summary, record.summary.update, record.summary.remove)
    elif kind == 'history':
      row = {}
      _apply(row, record.history.item, ())
      row.setdefault('_step', record.history.step.num)
      history.append(row)
  if run_id is None:
    raise ValueError(f'{path}: no run record found')
  return {'config': config, 'history': history, 'summary': summary,
          'run_id': run_id, '_start': start}


def _apply(target: dict[str, Any], updates, removals) -> None:
  """Applies protobuf items (`key` or `nested_key` path + `value_json`)."""
  for item in updates:
    path = list(item.nested_key) or [item.key]
    node = target
    for key in path[:-1]:
      if not isinstance(node.get(key), dict):
        node[key] = {}
      node = node[key]
    node[path[-1]] = json.loads(item.value_json)
  for item in removals:
    path = list(item.nested_key) or [item.key]
    node = target
    for key in path[:-1]:
      node = node.get(key)
      if not isinstance(node, dict):
        break
    else:
      node.pop(path[-1], None)


def _is_complete(path: pathlib.Path) -> bool:
  """Whether W&B has written the file's closing `exit` record yet."""
  from wandb.proto import wandb_internal_pb2  # pylint: disable=g-import-not-at-top  (wandb: seconds to import)

  with warnings.catch_warnings():  # A file being written looks torn.
    warnings.simplefilter('ignore')
    try:
      for payload in read_records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof('record_type') == 'exit':
          return True
    except ValueError:  # Not even the header yet.
      return False
  return False


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
  """Yields the reassembled record payloads of a `.wandb` file.

  A file cut short by a killed process, or a fragment whose CRC does not
  match, ends the iteration with a warning: everything before it is kept.
  """
  data = pathlib.Path(path).read_bytes()
  if len(data) < HEADER_SIZE or not data.startswith(HEADER):
    raise ValueError(f'{path} is not a W&B data file (header {data[:7]!r})')
  offset, pending = HEADER_SIZE, None
  while offset < len(data):
    left_in_block = BLOCK_SIZE - offset % BLOCK_SIZE
    if left_in_block < FRAGMENT_HEADER.size:
      offset += left_in_block  # Zero padding at the end of a block.
      continue
    if offset + FRAGMENT_HEADER.size > len(data):
      _warn_torn(path, offset, 'a fragment header is cut short')
      return
    crc, length, kind = FRAGMENT_HEADER.unpack_from(data, offset)
    start = offset + FRAGMENT_HEADER.size
    payload = data[start:start + length]
    if crc == 0 and length == 0 and kind == 0:
      # Zeros: preallocated or padded space after the last record.
      offset += left_in_block
      continue
    if len(payload) < length:
      _warn_torn(path, offset, 'the last record is cut short')
      return
    if zlib.crc32(bytes([kind]) + payload) != crc:
      _warn_torn(path, offset, 'a CRC does not match')
      return
    offset = start + length
    if kind == FULL:
      pending = None
      yield payload
    elif kind == FIRST:
      pending = [payload]
    elif kind in (MIDDLE, LAST) and pending is not None:
      pending.append(payload)
      if kind == LAST:
        yield b''.join(pending)
        pending = None
    else:
      warnings.warn(f'{path}: skipped a stray fragment (type {kind}) at byte '
                    f'{offset}', RuntimeWarning, stacklevel=2)
      pending = None


def _warn_torn(path, offset: int, why: str) -> None:
  warnings.warn(f'{path}: stopped reading at byte {offset}: {why} (an '
                'interrupted run?); earlier records are kept.',
                RuntimeWarning, stacklevel=3)
