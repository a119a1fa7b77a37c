"""research/parallel.py: pmap and sharded jit against one device, on 8 fake
CPU devices (in a subprocess: the device count is fixed when JAX starts), and
the checks that need no devices."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from research.errors import ConfigError
from research.parallel import Parallel
from research.train import run
from research.train.resolve import config_hash, resolve
from train_helpers import tiny_config
import xla_flags

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

WORKER = pathlib.Path(__file__).with_name('parallel_worker.py')
TOLERANCE = 1e-5


def _worker(*args: str, timeout: int, compile_bound: bool = True) -> dict:
  """Runs a check of parallel_worker.py; fails (never hangs) past `timeout`.
  Not with the caller's fake devices (the worker sets 8); at the tests' -O0
  where the check is `compile_bound`, else optimized as users' runs are."""
  env = {**os.environ, 'XLA_FLAGS': xla_flags.child_flags() if compile_bound else ''}
  try:
    done = subprocess.run([sys.executable, str(WORKER), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired as e:
    pytest.fail(f'{args[0]} check did not finish in {timeout} s:\n'
                f'{(e.stderr or b"")[-3000:]}')
  assert done.returncode == 0, done.stderr[-5000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def checks(tmp_path_factory):
  """The steps, loop and population checks, run in one worker process."""
  return _worker('all', str(tmp_path_factory.mktemp('parallel')), timeout=480)


@pytest.mark.slow
def test_pmap_and_sharded_steps_equal_one_device_on_the_whole_batch(checks):
  results = checks['steps']
  for mode in ('sharded', 'pmap'):
    r = results[mode]
    assert r['step'] == 5
    assert r['params_moved'] > 1e-2  # the steps did something
    assert r['params'] < TOLERANCE, (mode, r)
    assert r['batch_stats'] < TOLERANCE, (mode, r)
    assert r['opt_state'] < TOLERANCE, (mode, r)
    assert r['loss_equal_on_devices']
    assert r['local_on_one_device']


@pytest.mark.slow
def test_runs_in_every_mode_agree_and_resume_across_modes(checks):
  results = checks['loop']
  assert results['devices'] == {'jit': 1, 'pmap': 8, 'sharded': 8}
  # 3 epochs of 62 steps: rounding differences stay at float32 noise.
  for mode, difference in results['params'].items():
    assert difference < 1e-4, (mode, difference)
  accuracies = set(results['test_accuracy'].values())
  assert len(accuracies) == 1, results['test_accuracy']
  assert results['resumed_from_epoch'] == 1


@pytest.mark.slow
def test_population_members_are_sharded_over_every_device(checks):
  results = checks['population']
  assert results['members_per_device'] == [2] and results['devices_used'] == 8
  assert not results['all_reduce_dp1'] and results['all_reduce_dp2']
  for k, padded in (('10', 16), ('4x2', 4)):
    r = results[k]
    assert r['parallel'] == {'mode': 'vmap', 'devices': 8, 'processes': 1}, r
    assert r['population'] == {'size': int(k.split('x')[0]),
                               'member': 0, 'padded_size': padded}, r
    assert r['statuses'] == ['done'], r
    # The same members on 1 device: only XLA's layout of the program differs.
    assert r['final'] < 1e-4 and r['params'] < 1e-4, (k, r)


@pytest.mark.slow
def test_batchnorm_runs_on_eight_devices_never_hang(mnist_dir, tmp_path):
  """Issue 17: no collective outside the train step, so no stall. Before
  the fix 5 of 6 such runs stalled; 2 runs in a row under each mode: were
  that back, all 4 would pass with probability (1/6)^4 < 0.1%."""
  results = _worker('stable', 'pmap,sharded', str(mnist_dir.parent),
                    str(tmp_path), '2', timeout=400, compile_bound=False)
  assert results['statuses'] == {'pmap': ['done'] * 2, 'sharded': ['done'] * 2}


def test_batch_must_split_evenly_over_devices():
  fake = Parallel('pmap', devices=tuple(range(8)))
  fake.check_batch_size(64)
  with pytest.raises(ConfigError, match=r'train.batch_size: 100 .* 8 devices'):
    fake.check_batch_size(100)
  Parallel('jit').check_batch_size(100)
  assert fake.local_batch_size(64) == 8
  assert Parallel('sharded', devices=tuple(range(8))).local_batch_size(64) == 64


def test_config_checks():
  with pytest.raises(ConfigError, match=r"parallel.mode: 'tpu' is not one of"):
    resolve(tiny_config('parallel.mode=tpu'))
  with pytest.raises(ConfigError, match=r"parallel.mode: 'pmap' .* train.batching='epoch'"):
    resolve(tiny_config('parallel.mode=pmap', 'train.batching=full'))
  with pytest.raises(ConfigError, match='parallel.process_id: 2 must be below'):
    resolve(tiny_config('parallel.coordinator_address=localhost:1234',
                                    'parallel.num_processes=2', 'parallel.process_id=2'))
  with pytest.raises(ConfigError, match='parallel.coordinator_address'):
    resolve(tiny_config('parallel.num_processes=2'))
  with pytest.raises(ConfigError, match='parallel.data_parallel: 0 must be'):
    resolve(tiny_config('parallel.data_parallel=0'))
  with pytest.raises(ConfigError, match="parallel.data_parallel: 2 splits a population"):
    resolve(tiny_config('parallel.mode=pmap', 'parallel.data_parallel=2'))
  with pytest.raises(ConfigError, match='do not divide the 1 devices'):
    Parallel('vmap', data_parallel=2)
  with pytest.raises(ConfigError, match=r'3 devices of .*data_parallel'):
    Parallel('vmap', devices=tuple(range(6)), data_parallel=3).check_batch_size(100)


def test_more_devices_than_visible_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match='parallel.num_devices: 64 devices asked for'):
    run(tiny_config('parallel.mode=pmap', 'parallel.num_devices=64'), workdir=tmp_path)


def test_a_single_run_cannot_be_vmapped(tmp_path):
  with pytest.raises(ConfigError, match='--launcher population'):
    run(tiny_config('parallel.mode=vmap'), workdir=tmp_path)


def test_parallel_mode_is_not_part_of_the_run_identity():
  a, b = tiny_config(), tiny_config('parallel.mode=pmap', 'parallel.num_devices=2')
  assert config_hash(a) == config_hash(b)


def test_sharded_on_one_device_is_the_jit_run(tmp_path):
  jit = run(tiny_config('train.num_epochs=1'), workdir=tmp_path / 'jit')
  sharded = run(tiny_config('train.num_epochs=1', 'parallel.mode=sharded'),
                workdir=tmp_path / 'sharded')
  assert sharded['parallel'] == {'mode': 'sharded', 'devices': 1, 'processes': 1}
  assert sharded['final'] == pytest.approx(jit['final'], rel=1e-5)


@pytest.mark.slow
def test_soap_trains_as_a_population_on_eight_devices(tmp_path):
  """SOAP's eigh and QR (LAPACK) under vmap on 8 fake devices: before
  OpenBLAS ran single-threaded there (research/cpu_lapack.py), 2 quickstart
  members took 60-65 s an epoch (their runs alone 3 s); now about as long as
  their runs alone."""
  r = _worker('soap', str(tmp_path), timeout=150)
  assert r['parallel'] == {'mode': 'vmap', 'devices': 8, 'processes': 1}, r
  assert r['population'] == {'size': 2, 'member': 0, 'padded_size': 8}, r
  assert r['statuses'] == ['done'], r
  assert r['seconds']['population'] < 60, r['seconds']
  # Not to float32 noise: the first bases are eigh's of a rank-deficient
  # L, R, whose basis of the degenerate eigenspace differs with the batching.
  for member in r['final']:
    for key, (got, alone) in member.items():
      tolerance = 0.02 if 'accuracy' in key else 0.01 * alone
      assert abs(got - alone) <= tolerance, (key, got, alone)
  assert r['params'] < 0.1, r['params']
