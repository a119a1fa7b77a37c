"""The SLURM launcher and multi-host runs through a real one-node SLURM cluster.

tests/slurm_cluster.py starts munged, MariaDB, slurmdbd, slurmctld and slurmd
for this module (in 1 to 3 s) and stops them after it. The tests skip, saying
why, where that cannot be done: not root, SLURM not installed (.ci/run
installs it on a Debian CI machine), or RESEARCH_NO_SLURM=1.
"""

import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

import slurm_cluster
import xla_flags
from launch import local, slurm
from launch import trials as trials_lib
from launch.trials import Trial

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = ('model.hidden=(16,)', 'train.num_epochs=2', 'tracking.wandb=disabled')
RUNNING = ('PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'REQUEUED', 'RESIZING',
           'SUSPENDED')


@pytest.fixture(scope='module')
def cluster():
  """The running cluster; SLURM_CONF points every client at it meanwhile."""
  try:
    running = slurm_cluster.start()
  except slurm_cluster.Unavailable as e:
    pytest.skip(f'no SLURM cluster: {e}')
  print(f'\nSLURM cluster started in {running.timings["start_total"]:.2f} s: '
        + ', '.join(f'{k} {v:.2f}' for k, v in running.timings.items()))
  saved = {k: os.environ.get(k) for k in running.environ}
  os.environ.update(running.environ)
  try:
    yield running
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
    timings = running.stop(remove=not os.environ.get('RESEARCH_SLURM_KEEP'))
    print(f'\nSLURM cluster stopped in {timings["stop_total"]:.2f} s')


class Background:
  """`fn()` in a daemon thread (a hung launcher cannot hold up pytest's exit)."""

  def __init__(self, fn):
    self._outcome = {}
    self._started = time.perf_counter()
    self.seconds = None

    def target():
      try:
        self._outcome['value'] = fn()
      except BaseException as e:  # pylint: disable=broad-except
        self._outcome['error'] = e
      self.seconds = time.perf_counter() - self._started

    self._thread = threading.Thread(target=target, daemon=True)
    self._thread.start()

  @property
  def done(self) -> bool:
    return not self._thread.is_alive()

  def result(self, timeout_s: float):
    self._thread.join(timeout_s)
    assert self.done, f'still running after {timeout_s} s'
    if 'error' in self._outcome:
      raise self._outcome['error']
    return self._outcome['value']


def job_ids(cluster) -> list[str]:
  """Every job the cluster's accounting has seen (array tasks as N_i)."""
  out = cluster.run('sacct', '-a', '-X', '-n', '-P', '-S', '2000-01-01',
                    '-o', 'JobID')
  return sorted(set(out.stdout.split()))


def job_states(cluster, job_id: str) -> list[str]:
  """The states of every run of a job, requeued ones included (sacct -D)."""
  out = cluster.run('sacct', '-D', '-X', '-n', '-P', '-j', job_id, '-o', 'State')
  return out.stdout.split()


def final_states(cluster, job_id: str, timeout_s: float = 60) -> list[str]:
  """job_states once the job has ended (its result file comes first)."""
  deadline = time.monotonic() + timeout_s
  while True:
    states = job_states(cluster, job_id)
    if (states and states[-1] not in RUNNING) or time.monotonic() > deadline:
      return states
    time.sleep(0.25)


def metric_rows(run_dir) -> list[dict]:
  """metrics.jsonl without the wall-clock times."""
  lines = (pathlib.Path(run_dir) / 'metrics.jsonl').read_text().splitlines()
  return [{k: v for k, v in json.loads(line).items() if k != 'time_s'}
          for line in lines]


def summary_of(run_dir) -> dict:
  return json.loads((pathlib.Path(run_dir) / 'summary.json').read_text())


_DATASETS = {}  # the data section of a run's config (as JSON) -> its Dataset


def load_trained(run_dir):
  """research.train's load_trained, generating each dataset once."""
  from research.train.restore import load_trained as load  # pylint: disable=g-import-not-at-top
  data = json.loads((pathlib.Path(run_dir) / 'config.json').read_text())['data']
  key = json.dumps(data, sort_keys=True)
  trained = load(run_dir, dataset=_DATASETS.get(key))
  _DATASETS[key] = trained.dataset
  return trained


def assert_same_params(run_dirs) -> None:
  """The latest checkpoints of `run_dirs` hold bit-identical parameters."""
  first = load_trained(run_dirs[0])
  for other in run_dirs[1:]:
    trained = load_trained(other)
    leaves = jax.tree.leaves(jax.tree.map(np.asarray, first.state.params))
    other_leaves = jax.tree.leaves(jax.tree.map(np.asarray, trained.state.params))
    assert len(leaves) == len(other_leaves) > 0
    for a, b in zip(leaves, other_leaves):
      np.testing.assert_array_equal(a, b)
    assert int(first.state.step) == int(trained.state.step)


def assert_same_runs(records, references) -> None:
  """Two launchers' records of the same trials: same runs, bit for bit."""
  for record, reference in zip(records, references, strict=True):
    assert record['status'] == reference['status'] == 'done', (
        record['error'], reference['error'])
    assert record['config_hash'] == reference['config_hash']
    assert (pathlib.Path(record['run_dir']).name
            == pathlib.Path(reference['run_dir']).name)
    assert (record['epochs'], record['steps']) == (reference['epochs'], reference['steps'])
    assert record['final'] == reference['final']  # exact floats
    assert metric_rows(record['run_dir']) == metric_rows(reference['run_dir'])
    assert_same_params([record['run_dir'], reference['run_dir']])


@pytest.mark.timeout(240)
def test_a_sweep_through_slurm_equals_the_local_launcher(cluster, tmp_path):
  trials = [Trial('quickstart', ('optimizer.learning_rate=0.01',), 0),
            Trial('quickstart', ('optimizer.learning_rate=0.03',), 1)]
  before = job_ids(cluster)
  lines = []
  sweep = Background(lambda: slurm.launch(
      trials, output_dir=str(tmp_path / 'slurm'), extra=TINY,
      executor=slurm.make_executor(str(tmp_path / 'jobs' / '%j')),
      time_min=5, cpus_per_task=1, log=lines.append))
  # Meanwhile, the same trials through the local launcher.
  started = time.perf_counter()
  references = local.launch(trials, output_dir=str(tmp_path / 'local'), extra=TINY,
                            workers=2, quiet=True)
  local_s = time.perf_counter() - started
  records = sweep.result(180)
  assert [r['status'] for r in records] == ['done', 'done'], [r['error'] for r in records]
  job = lines[0].split('job ')[1].split(';')[0]
  # Both array tasks ran on the cluster and ended there as COMPLETED.
  assert sorted(set(job_ids(cluster)) - set(before)) == [f'{job}_0', f'{job}_1']
  for task in (f'{job}_0', f'{job}_1'):
    assert final_states(cluster, task) == ['COMPLETED']

  assert_same_runs(records, references)
  print(f'\nSLURM array job {sweep.seconds:.1f} s; local launcher {local_s:.1f} s '
        '(at the same time)')

  # A rerun finds every trial finished and submits nothing.
  again = slurm.launch(trials, output_dir=str(tmp_path / 'slurm'), extra=TINY,
                       executor=slurm.make_executor(str(tmp_path / 'jobs2' / '%j')),
                       time_min=5)
  assert again == [{**r, 'skipped': True} for r in records]
  assert set(job_ids(cluster)) - set(before) == {f'{job}_0', f'{job}_1'}
  assert not (tmp_path / 'jobs2').exists()


# Long enough (about 0.2 s an epoch on 2 CPU cores) to be signalled mid-run;
# checkpoints every 10 epochs (quickstart's), so only the stop saves one.
LONG = ('model.hidden=(512,512)', 'train.num_epochs=40', 'tracking.wandb=disabled')


@pytest.mark.timeout(300)
def test_a_signalled_trial_is_requeued_and_resumes_bit_identically(cluster, tmp_path):
  trial = Trial('quickstart', (), 0)
  run_dir = trials_lib.run_dir_of(trial.config(tmp_path / 'slurm', LONG))
  lines = []
  sweep = Background(lambda: slurm.launch(
      [trial], output_dir=str(tmp_path / 'slurm'), extra=LONG,
      executor=slurm.make_executor(str(tmp_path / 'jobs' / '%j')),
      time_min=5, cpus_per_task=2, log=lines.append))
  # Once the loop has logged two epochs (its signal handlers are in place),
  # SLURM sends the job submitit's time-limit signal (USR2), as a job near
  # its --time would get it (sbatch --signal=USR2@90; what submitit's own
  # Job._interrupt(timeout=True) does).
  deadline = time.monotonic() + 120
  while time.monotonic() < deadline and not sweep.done:
    metrics = run_dir / 'metrics.jsonl'
    if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
      break
    time.sleep(0.05)
  else:
    pytest.fail(f'the job did not start training in time: {lines}, '
                f'{sweep.result(0) if sweep.done else "still waiting"}')
  signalled_at_epoch = len((run_dir / 'metrics.jsonl').read_text().splitlines())
  job = lines[0].split('job ')[1].split(';')[0]
  cluster.run('scancel', '--signal=USR2', job)
  # The uninterrupted reference, meanwhile (the job waits to be requeued).
  reference_started = time.perf_counter()
  [reference] = local.launch([trial], output_dir=str(tmp_path / 'local'), extra=LONG,
                             quiet=True)
  local_s = time.perf_counter() - reference_started
  [record] = sweep.result(240)
  assert record['status'] == 'done', record['error']

  # The run stopped at the end of an epoch, saved a checkpoint, was requeued
  # by submitit and resumed from that checkpoint in the job's second run.
  summary = summary_of(run_dir)
  assert summary['status'] == 'done' and summary['epochs'] == 40
  assert signalled_at_epoch <= summary['resumed_from_epoch'] < 40
  # (submitit submits a lone trial as a plain job, not an array.)
  assert final_states(cluster, job) == ['REQUEUED', 'COMPLETED']
  log = '\n'.join(p.read_text() for p in (tmp_path / 'jobs').rglob('*_log.err'))
  assert 'Caught signal SIGUSR2' in log and 'Requeued job' in log, log[-3000:]

  assert summary_of(reference['run_dir'])['resumed_from_epoch'] is None
  assert_same_runs([record], [reference])
  print(f'\nsignalled at epoch {signalled_at_epoch}, resumed from epoch '
        f'{summary["resumed_from_epoch"]}; SLURM {sweep.seconds:.1f} s (with the '
        f'requeue), uninterrupted local run {local_s:.1f} s (meanwhile)')


SHARDED = ('run', 'quickstart', '--set', 'model.hidden=(16,)',
           '--set', 'train.num_epochs=2', '--set', 'tracking.wandb=disabled',
           '--set', 'tracking.progress=false', '--set', 'parallel.mode=sharded')


@pytest.mark.timeout(240)
def test_a_two_task_srun_step_is_one_sharded_run_of_two_processes(cluster, tmp_path):
  # Each task is one process with one CPU device; research.distributed reads
  # the step's SLURM environment and joins the two with jax.distributed.
  env = {'JAX_PLATFORMS': 'cpu', 'WANDB_MODE': 'disabled',
         'XLA_FLAGS': xla_flags.child_flags('--xla_force_host_platform_device_count=1')}
  step = shlex.join(['srun', '-N1', '-n2', '--kill-on-bad-exit=1', sys.executable,
                     '-m', 'launch.cli', *SHARDED, '--workdir', str(tmp_path / 'two')])
  started = time.perf_counter()
  job = cluster.run('sbatch', '--parsable', '-N1', '-n2', '--time=5',
                    '-o', str(tmp_path / 'job.out'), '--chdir', str(REPO),
                    '--wrap', step, env=env).stdout.strip()
  states = final_states(cluster, job, 180)
  two_s = time.perf_counter() - started
  output = (tmp_path / 'job.out').read_text() if (tmp_path / 'job.out').exists() else ''
  assert states == ['COMPLETED'], output[-3000:]
  two = summary_of(tmp_path / 'two')
  assert two['status'] == 'done'
  assert two['parallel'] == {'mode': 'sharded', 'devices': 2, 'processes': 2}

  # The same run as one process driving two devices.
  started = time.perf_counter()
  one = subprocess.run(
      [sys.executable, '-m', 'launch.cli', *SHARDED, '--workdir', str(tmp_path / 'one')],
      cwd=REPO, capture_output=True, text=True, timeout=180,
      env={**os.environ, 'JAX_PLATFORMS': 'cpu', 'WANDB_MODE': 'disabled',
           'XLA_FLAGS': xla_flags.child_flags('--xla_force_host_platform_device_count=2')})
  one_s = time.perf_counter() - started
  assert one.returncode == 0, one.stderr[-3000:]
  one = summary_of(tmp_path / 'one')
  assert one['parallel'] == {'mode': 'sharded', 'devices': 2, 'processes': 1}
  assert one['steps'] == two['steps']
  assert one['final'].keys() == two['final'].keys()
  for key, value in one['final'].items():
    np.testing.assert_allclose(two['final'][key], value, rtol=1e-6, err_msg=key)
  for a, b in zip(metric_rows(tmp_path / 'one'), metric_rows(tmp_path / 'two'), strict=True):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_allclose(b[key], a[key], rtol=1e-6, err_msg=key)
  exact = one['final'] == two['final']
  print(f'\n2-task srun job {two_s:.1f} s; 1-process run {one_s:.1f} s; final '
        f'metrics {"bit-identical" if exact else "within rtol 1e-6"}')


def test_without_sbatch_on_path_the_launcher_says_so(monkeypatch):
  # tests/test_launch_slurm.py checks this only where SLURM is not installed,
  # and CI installs it: here it is checked everywhere.
  monkeypatch.setenv('PATH', '/nonexistent')
  with pytest.raises(slurm.LaunchError, match='no sbatch on PATH'):
    slurm.make_executor('/tmp/unused')


def test_slurms_time_limit_signal_asks_the_loop_to_stop():
  # sbatch --signal=USR2@90 (submitit's default): the loop stops at the end of
  # its epoch after a checkpoint, and launch.slurm requeues the trial.
  from research.train.interrupt import stop_on_signals  # pylint: disable=g-import-not-at-top
  before = signal.getsignal(signal.SIGUSR2)
  with stop_on_signals() as request:
    signal.raise_signal(signal.SIGUSR2)
  assert request.signal_name == 'SIGUSR2'
  assert signal.getsignal(signal.SIGUSR2) is before
