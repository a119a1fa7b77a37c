"""research/distributed.py: finding the processes (from the config or SLURM's
environment), per-process data shards, and two real processes joined by
`jax.distributed` over loopback training as one process does."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import distributed_worker
import xla_flags
from research import distributed
from research.config import base_config
from research.distributed import Settings
from research.errors import ConfigError
from research.parallel import Parallel

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

WORKER = distributed_worker.__file__
WORKER_TIMEOUT_S = 120


# --------------------------------------------------------------------------
# Settings (pure functions of a config and a fake environment)


@pytest.mark.parametrize('hostlist, hosts', [
    ('node01', ['node01']),
    ('node01,gpu2', ['node01', 'gpu2']),
    ('node[01-03,07]', ['node01', 'node02', 'node03', 'node07']),
    ('gpu[008-010],cpu1', ['gpu008', 'gpu009', 'gpu010', 'cpu1']),
    ('a[1-2],b[5]', ['a1', 'a2', 'b5']),
    ('rack[1-2]-n[01-02]', ['rack1-n01', 'rack1-n02', 'rack2-n01', 'rack2-n02']),
])
def test_expand_hostlist(hostlist, hosts):
  assert distributed.expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize('hostlist', ['node[01-03', 'node01]', 'node[a-b]'])
def test_expand_hostlist_rejects_malformed(hostlist):
  with pytest.raises(ValueError, match='SLURM host list'):
    distributed.expand_hostlist(hostlist)


SLURM_STEP = {'SLURM_JOB_ID': '123456', 'SLURM_NTASKS': '4',
              'SLURM_PROCID': '2', 'SLURM_STEP_NODELIST': 'node[07-08]',
              'SLURM_NODELIST': 'node[01-08]'}


def test_slurm_settings_of_a_multi_task_step():
  assert distributed.slurm_settings(SLURM_STEP) == Settings(
      coordinator=f'node07:{12000 + 123456 % 20000}', num_processes=4,
      process_id=2)


def test_slurm_settings_fall_back_to_the_job_node_list():
  env = {k: v for k, v in SLURM_STEP.items() if k != 'SLURM_STEP_NODELIST'}
  assert distributed.slurm_settings(env).coordinator.startswith('node01:')


@pytest.mark.parametrize('env', [
    {},
    {**SLURM_STEP, 'SLURM_NTASKS': '1'},
    # A one-task step (srun -n 1) inside a 4-task job is one process.
    {**SLURM_STEP, 'SLURM_STEP_NUM_TASKS': '1'},
], ids=['no-slurm', 'one-task', 'one-task-step'])
def test_slurm_settings_of_one_process_is_none(env):
  assert distributed.slurm_settings(env) is None


def test_slurm_settings_name_what_is_missing():
  env = {k: v for k, v in SLURM_STEP.items() if k != 'SLURM_PROCID'}
  with pytest.raises(ConfigError, match='SLURM_PROCID'):
    distributed.slurm_settings(env)


def _parallel_config(**values):
  config = base_config().parallel
  config.update(values)
  return config


def test_explicit_settings_win_over_slurm():
  config = _parallel_config(coordinator_address='10.0.0.1:1234',
                            num_processes=2, process_id=1)
  assert distributed.resolve_settings(config, SLURM_STEP) == Settings(
      '10.0.0.1:1234', 2, 1)
  assert distributed.resolve_settings(_parallel_config(), SLURM_STEP) == (
      distributed.slurm_settings(SLURM_STEP))


# --------------------------------------------------------------------------
# initialize (no real joining: jax.distributed.initialize is replaced)


@pytest.fixture
def fake_jax_distributed(monkeypatch):
  """Records calls to jax.distributed.initialize instead of making them."""
  calls = []
  monkeypatch.setattr(jax.distributed, 'initialize',
                      lambda **kwargs: calls.append(kwargs))
  monkeypatch.setattr(jax.distributed, 'is_initialized', lambda: bool(calls))
  return calls


def test_initialize_without_settings_is_a_no_op(fake_jax_distributed):
  topology = distributed.initialize(_parallel_config(), environ={})
  assert fake_jax_distributed == []
  assert topology.process_count == 1 and topology.process_index == 0
  assert topology.coordinator is None
  assert topology.local_devices == topology.global_devices == jax.device_count()
  assert distributed.is_primary()


def test_initialize_from_slurm_passes_explicit_settings(fake_jax_distributed):
  topology = distributed.initialize(_parallel_config(), environ=SLURM_STEP,
                                    timeout_s=30)
  assert fake_jax_distributed == [{
      'coordinator_address': f'node07:{12000 + 123456 % 20000}',
      'num_processes': 4, 'process_id': 2, 'initialization_timeout': 30}]
  assert topology.coordinator == fake_jax_distributed[0]['coordinator_address']
  # A second call (the run's, after the launcher's) joins nothing again.
  distributed.initialize(_parallel_config(), environ=SLURM_STEP)
  assert len(fake_jax_distributed) == 1


# --------------------------------------------------------------------------
# Per-process data


def test_process_shard_splits_contiguously():
  shards = [distributed.process_shard(12, p, 3) for p in range(3)]
  assert shards == [slice(0, 4), slice(4, 8), slice(8, 12)]
  with pytest.raises(ValueError, match='evenly'):
    distributed.process_shard(10, 0, 3)
  with pytest.raises(ValueError, match='process_index'):
    distributed.process_shard(12, 3, 3)


def test_local_batches_concatenate_to_the_global_batch():
  x, y = np.arange(24.).reshape(8, 3), np.arange(8)
  parts = [distributed.local_batch((x, y), p, 2) for p in range(2)]
  np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
  np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)


def test_global_batch_of_one_process_is_the_batch():
  parallel = Parallel('sharded', tuple(jax.devices()))
  x = np.arange(8. * jax.device_count()).reshape(-1, 2)
  placed = distributed.global_batch(distributed.local_batch(x),
                                    parallel.batch_sharding)
  assert placed.sharding == parallel.batch_sharding
  np.testing.assert_array_equal(np.asarray(placed), x)
  assert distributed.rows_of_process(parallel.batch_sharding, x.shape) == (
      slice(0, len(x)))


# --------------------------------------------------------------------------
# Two processes on this machine


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _worker_env(port: int) -> dict:
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(('SLURM_', 'JAX_COORDINATOR', 'XLA_FLAGS'))}
  # The coordinator listens on loopback only (jax's default is every address).
  env['JAX_COORDINATOR_BIND_ADDRESS'] = f'127.0.0.1:{port}'
  env['XLA_FLAGS'] = xla_flags.child_flags()  # the worker sets its devices
  return env


class _PortTaken(Exception):
  """Another program bound the chosen port before the coordinator did."""


def _run_workers(tmp_path, local_devices: int, steps: int,
                 num_processes: int = 2, attempts: int = 3,
                 extra_args: tuple[str, ...] = ()) -> list[dict]:
  """The workers' JSON lines; fails the test with every worker's stderr when
  one fails or they take longer than WORKER_TIMEOUT_S (and kills the rest)."""
  for attempt in range(attempts):
    try:
      return _start_and_wait(tmp_path / f'attempt{attempt}', local_devices,
                             steps, num_processes, extra_args)
    except _PortTaken:
      continue  # the free port was taken between choosing and binding it
  pytest.fail(f'the coordinator could not bind a free port in {attempts} tries')


def _start_and_wait(logs_dir, local_devices, steps, num_processes, extra_args):
  logs_dir.mkdir()
  port = _free_port()
  env = _worker_env(port)
  procs, logs = [], []
  for p in range(num_processes):
    out = open(logs_dir / f'out{p}.txt', 'w+')
    err = open(logs_dir / f'err{p}.txt', 'w+')
    logs.append((out, err))
    procs.append(subprocess.Popen(
        [sys.executable, WORKER, str(p), str(num_processes), str(port),
         str(local_devices), str(steps), str(logs_dir.parent), *extra_args],
        stdout=out, stderr=err, env=env,
        cwd=os.path.dirname(os.path.dirname(WORKER))))

  def stderr(p: int) -> str:
    logs[p][1].seek(0)
    return logs[p][1].read()

  def fail(why: str):
    if 'Failed to add port' in stderr(0):
      raise _PortTaken()
    parts = [why]
    for p, proc in enumerate(procs):
      status = 'still running' if proc.poll() is None else f'exit {proc.poll()}'
      parts.append(f'--- worker {p} ({status}), stderr:\n{stderr(p)[-4000:]}')
    pytest.fail('\n'.join(parts))

  deadline = time.monotonic() + WORKER_TIMEOUT_S
  try:
    while any(proc.poll() is None for proc in procs):
      failed = [p for p, proc in enumerate(procs) if proc.poll() not in (None, 0)]
      if failed:
        fail(f'worker {failed[0]} failed')
      if time.monotonic() > deadline:
        fail(f'the workers did not finish in {WORKER_TIMEOUT_S} s')
      time.sleep(0.1)
    if any(proc.returncode for proc in procs):
      fail('a worker failed')
    results = []
    for out, _ in logs:
      out.seek(0)
      results.append(json.loads(out.read().strip().splitlines()[-1]))
    return results
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    for out, err in logs:
      out.close()
      err.close()


def _reference(steps: int) -> dict:
  """The same steps by one process on one device, on the whole batches."""
  train_step, state, batches = distributed_worker.setup(steps)
  single = Parallel('jit')
  step = single.compile(train_step)
  state = single.put_state(state)
  results = {}
  for i, batch in enumerate(batches):
    state, metrics = step(state, batch)
    if i == 0 or i == steps - 1:
      results.update({f'step{i + 1}/{k}': v
                      for k, v in distributed_worker.flat(state).items()})
      results[f'step{i + 1}/loss'] = np.asarray(metrics['loss'])
  return results


# One device a process is also what test_a_run_on_two_processes_... runs,
# end to end: its step-by-step check is exhaustive.
@pytest.mark.parametrize('local_devices, steps', [
    pytest.param(1, 4, marks=pytest.mark.exhaustive), (2, 2)])
def test_two_processes_train_as_one(tmp_path, local_devices, steps):
  timings = _run_workers(tmp_path, local_devices, steps)
  assert [t['primary'] for t in timings] == [True, False]
  reference = _reference(steps)
  assert any(k.startswith('step1/batch_stats/') for k in reference)
  for p in range(2):
    with np.load(tmp_path / f'process{p}.npz') as got:
      assert sorted(got.files) == sorted(reference)
      for key, want in reference.items():
        np.testing.assert_allclose(got[key], want, atol=1e-5, rtol=0,
                                   err_msg=f'process {p}: {key}')


@pytest.mark.slow
def test_a_run_on_two_processes_is_the_single_process_run(tmp_path):
  """`research.train.run` on both processes (it joins them from the config):
  one run directory written by process 0 alone, the single-process result."""
  from research.train import run  # pylint: disable=g-import-not-at-top
  from train_helpers import tiny_config  # pylint: disable=g-import-not-at-top
  results = _run_workers(tmp_path, 1, 0, extra_args=('run',))
  alone = run(tiny_config(*distributed_worker.RUN_OVERRIDES[:-1]),
              workdir=tmp_path / 'alone')
  for r in results:
    assert r['parallel'] == {'mode': 'sharded', 'devices': 2, 'processes': 2}
    assert r['final'] == pytest.approx(alone['final'], rel=1e-5)
  run_dir = tmp_path / 'run'
  rows = (run_dir / 'metrics.jsonl').read_text().splitlines()
  assert len(rows) == 2  # one per epoch, not one per process
  assert json.loads((run_dir / 'summary.json').read_text())['status'] == 'done'
  assert sorted(p.name for p in (run_dir / 'checkpoints' / 'latest').iterdir()
                if p.name.isdigit()) == ['124', '62']


@pytest.mark.slow
def test_a_population_spans_the_processes(tmp_path):
  """The member axis over 2 processes x 2 devices (3 members, padded to 4):
  each member's run directory written once, by process 0, with the result of
  the same population in one process."""
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  results = _run_workers(tmp_path, 2, 0, extra_args=('population',))
  alone = train_population(distributed_worker.population_configs(tmp_path / 'alone'))
  for r in results:
    assert r['parallel'] == {'mode': 'vmap', 'devices': 4, 'processes': 2}, r
    assert r['population'] == {'size': 3, 'member': 0, 'padded_size': 4}, r
    for got, want in zip(r['final'], alone):
      assert got == pytest.approx(want['final'], rel=1e-5, abs=1e-6)
  for s in alone:
    name = pathlib.Path(s['run_dir']).name
    member_dir = tmp_path / 'pop' / 'quickstart' / name
    assert json.loads((member_dir / 'summary.json').read_text())['status'] == 'done'
    assert len((member_dir / 'metrics.jsonl').read_text().splitlines()) == 2
