"""Tests of the run directory and its JSON encoding."""

import json
import math
import os
import pathlib
import socket
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from research.tracking import DamagedFileError, RunDir, RunDirInUseError
from research.tracking import jsonio


def test_creates_directory_with_parents(tmp_path):
  run_dir = RunDir(tmp_path / 'a' / 'b')
  assert run_dir.path.is_dir()
  assert run_dir.checkpoint_dir == tmp_path / 'a' / 'b' / 'checkpoints'
  assert not run_dir.checkpoint_dir.exists()


def test_config_round_trip_with_numpy_and_jax_values(tmp_path):
  run_dir = RunDir(tmp_path)
  assert run_dir.read_config() is None
  run_dir.write_config({
      'lr': np.float32(0.1), 'steps': np.int64(7), 'flag': np.bool_(True),
      'jax_scalar': jnp.float32(2.5), 'jax_vector': jnp.arange(3),
      'matrix': np.eye(2), 'widths': (128, 64), 'bf16': jnp.bfloat16(1.5),
      'nested': {'name': 'adam', 'b1': 0.9, 3: 'int key'},
      'path': tmp_path / 'x', 'third': 1 / 3,
  })
  assert run_dir.read_config() == {
      'lr': float(np.float32(0.1)), 'steps': 7, 'flag': True,
      'jax_scalar': 2.5, 'jax_vector': [0, 1, 2],
      'matrix': [[1.0, 0.0], [0.0, 1.0]], 'widths': [128, 64], 'bf16': 1.5,
      'nested': {'name': 'adam', 'b1': 0.9, '3': 'int key'},
      'path': str(tmp_path / 'x'), 'third': 1 / 3,
  }
  types = {k: type(v) for k, v in run_dir.read_config().items()}
  assert types['steps'] is int and types['flag'] is bool


def test_summary_and_generic_json_round_trip(tmp_path):
  run_dir = RunDir(tmp_path)
  assert run_dir.read_summary() is None
  assert run_dir.read_json('run_id') is None
  run_dir.write_summary({'best/dev/accuracy': jnp.float32(0.75), 'epoch': 3})
  run_dir.write_json('run_id', 'abc123')
  run_dir.write_json('trial.json', {'index': np.int32(4)})
  assert run_dir.read_summary() == {'best/dev/accuracy': 0.75, 'epoch': 3}
  assert run_dir.read_json('run_id') == 'abc123'
  assert (tmp_path / 'run_id.json').exists()
  assert run_dir.read_json('trial') == {'index': 4}
  with pytest.raises(ValueError):
    run_dir.write_json('../escape', 1)


def test_non_finite_values_are_written_as_nan_and_infinity_tokens(tmp_path):
  run_dir = RunDir(tmp_path)
  run_dir.write_summary({'loss': float('nan'), 'hi': np.inf,
                         'lo': jnp.float32(-jnp.inf)})
  text = (tmp_path / 'summary.json').read_text()
  assert 'NaN' in text and 'Infinity' in text and '-Infinity' in text
  summary = run_dir.read_summary()
  assert math.isnan(summary['loss'])
  assert summary['hi'] == math.inf and summary['lo'] == -math.inf
  run_dir.append_metrics({'step': 1, 'epoch': 0, 'train/loss': np.nan})
  assert math.isnan(run_dir.read_metrics()[0]['train/loss'])


def test_unknown_types_are_refused(tmp_path):
  with pytest.raises(TypeError, match='object'):
    RunDir(tmp_path).write_config({'fn': object()})
  assert jsonio.to_jsonable({'fn': object()}, default=lambda o: 'obj') == {
      'fn': 'obj'}


def test_atomic_writes_leave_no_temporary_files(tmp_path):
  run_dir = RunDir(tmp_path)
  for i in range(3):
    run_dir.write_config({'i': i})
    run_dir.write_summary({'i': i})
  run_dir.append_metrics({'step': 1, 'epoch': 0})
  run_dir.truncate_metrics(0)
  assert sorted(os.listdir(tmp_path)) == [
      'config.json', 'metrics.jsonl', 'summary.json']
  # A failed write leaves the old file and no temporary file.
  with pytest.raises(TypeError):
    run_dir.write_config({'bad': object()})
  with pytest.raises(TypeError):
    jsonio.atomic_write_text(tmp_path / 'config.json', None)
  assert run_dir.read_config() == {'i': 2}
  assert sorted(os.listdir(tmp_path)) == [
      'config.json', 'metrics.jsonl', 'summary.json']


def test_metrics_append_and_read(tmp_path):
  run_dir = RunDir(tmp_path)
  assert run_dir.read_metrics() == []
  records = [{'step': 10 * i, 'epoch': i, 'train/loss': 1 / (i + 3),
              'dev/accuracy': jnp.float32(0.5)} for i in range(4)]
  for record in records:
    run_dir.append_metrics(record)
  lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
  assert len(lines) == 4 and all(json.loads(line) for line in lines)
  assert run_dir.read_metrics() == [{**r, 'dev/accuracy': 0.5} for r in records]
  with pytest.raises(ValueError, match='step'):
    run_dir.append_metrics({'epoch': 1})


def test_torn_last_line_is_skipped_with_a_warning(tmp_path):
  run_dir = RunDir(tmp_path)
  run_dir.append_metrics({'step': 1, 'epoch': 0, 'loss': 0.5})
  run_dir.append_metrics({'step': 2, 'epoch': 0, 'loss': 0.25})
  with open(tmp_path / 'metrics.jsonl', 'a') as f:
    f.write('{"step": 3, "epoch": 0, "lo')  # A process killed mid-write.
  with pytest.warns(RuntimeWarning, match='torn'):
    records = run_dir.read_metrics()
  assert [r['step'] for r in records] == [1, 2]
  # The next append starts on a new line, so it is not lost.
  run_dir.append_metrics({'step': 3, 'epoch': 0, 'loss': 0.125})
  with pytest.warns(RuntimeWarning):
    assert [r['step'] for r in run_dir.read_metrics()] == [1, 2, 3]


def test_truncate_metrics_keeps_exactly_steps_up_to_k(tmp_path):
  run_dir = RunDir(tmp_path)
  run_dir.truncate_metrics(5)  # Nothing to truncate: no error, no file.
  assert not run_dir.metrics_path.exists()
  for step in [0, 3, 5, 5, 6, 9]:
    run_dir.append_metrics({'step': step, 'epoch': step // 3})
  with open(run_dir.metrics_path, 'a') as f:
    f.write('{"step": 1')
  run_dir.truncate_metrics(5)
  assert [r['step'] for r in run_dir.read_metrics()] == [0, 3, 5, 5]
  run_dir.append_metrics({'step': 6, 'epoch': 2})
  assert [r['step'] for r in run_dir.read_metrics()] == [0, 3, 5, 5, 6]
  run_dir.truncate_metrics(-1)
  assert run_dir.read_metrics() == []


def test_a_second_holder_of_the_lock_is_told_who_holds_it(tmp_path):
  run_dir = RunDir(tmp_path / 'run')
  with run_dir.lock():
    with pytest.raises(RunDirInUseError,
                       match=rf'PID {os.getpid()} on host {socket.gethostname()}'):
      with RunDir(tmp_path / 'run').lock():
        pass
  with run_dir.lock():  # released: taken again
    pass


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
  code = ('import sys, time; sys.path.insert(0, {root!r}); '
          'from research.tracking.run_dir import RunDir; '
          'lock = RunDir({path!r}).lock(); lock.__enter__(); '
          'print("locked", flush=True); time.sleep(60)').format(
              root=str(pathlib.Path(__file__).parents[1]),
              path=str(tmp_path / 'run'))
  holder = subprocess.Popen([sys.executable, '-c', code],
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(RunDirInUseError, match=f'PID {holder.pid} '):
      with RunDir(tmp_path / 'run').lock():
        pass
  finally:
    holder.kill()
    holder.wait()
  with RunDir(tmp_path / 'run').lock():  # the dead holder's lock is stale
    holder_record = json.loads((tmp_path / 'run' / 'run.lock').read_text())
    assert holder_record['pid'] == os.getpid()


def test_run_files_get_the_umask_mode_not_a_private_one(tmp_path):
  run_dir = RunDir(tmp_path)
  old = os.umask(0o022)
  try:
    run_dir.write_summary({'status': 'done'})
  finally:
    os.umask(old)
  assert (tmp_path / 'summary.json').stat().st_mode & 0o777 == (
      0o666 & ~jsonio._UMASK)  # pylint: disable=protected-access


def test_a_damaged_json_file_is_named_or_read_as_absent(tmp_path):
  run_dir = RunDir(tmp_path)
  (tmp_path / 'summary.json').write_text('{"status": "do')
  with pytest.raises(DamagedFileError, match='summary.json is damaged'):
    run_dir.read_summary()
  with pytest.warns(RuntimeWarning, match='summary.json is damaged.*again'):
    assert run_dir.read_json_or_warn('summary.json') is None
