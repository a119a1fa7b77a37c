"""The SLURM launcher, run through submitit's local cluster (same code path)."""

import json
import shutil

import pytest
import submitit

from launch import slurm
from launch.trials import LaunchError, Trial

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

TINY = ('model.hidden=(16,)', 'train.num_epochs=1', 'tracking.wandb=disabled')


class NoSubmissions:
  """An executor that must not be used."""
  folder = 'nowhere'

  def map_array(self, *args):
    raise AssertionError('nothing should be submitted')


def test_array_job_runs_trials_and_a_rerun_submits_nothing(tmp_path, capsys):
  trials = [Trial('quickstart', ('optimizer.learning_rate=0.01',), 0),
            Trial('quickstart', ('optimizer.learning_rate=0.01',), 1)]
  executor = submitit.AutoExecutor(folder=tmp_path / 'jobs' / '%j', cluster='local')
  lines = []
  records = slurm.launch(trials, output_dir=str(tmp_path), extra=TINY, executor=executor,
                         time_min=5, partition='ignored-locally', array_parallelism=2,
                         log=lines.append)
  assert [r['status'] for r in records] == ['done', 'done'], [r['error'] for r in records]
  assert [r['seed'] for r in records] == [0, 1]
  for r in records:
    run_dir = tmp_path / 'quickstart' / r['run_dir'].split('/')[-1]
    assert json.loads((run_dir / 'trial.json').read_text()) == r
  assert executor.parameters['timeout_min'] == 5
  assert any((tmp_path / 'jobs').rglob('*_log.out'))  # submitit's job logs
  assert lines[0].startswith('submitted 2 trial(s)')
  # Progress, in a log: a line as each job ends (launch.progress).
  ended = [l for l in capsys.readouterr().err.splitlines() if '/2] done: ' in l]
  assert len(ended) == 2, ended

  again = slurm.launch(trials, output_dir=str(tmp_path), extra=TINY, executor=NoSubmissions())
  assert again == [{**r, 'skipped': True} for r in records]


class FailedJob:
  job_id = '42_0'
  state = 'TIMEOUT'

  def done(self):
    return True

  def result(self):
    raise submitit.core.utils.UncompletedJobError('job 42_0 was killed (TIMEOUT)')


class Killing:
  folder = 'nowhere'

  def map_array(self, fn, *iterables):
    return [FailedJob() for _ in iterables[0]]


def test_a_lost_job_gives_a_failed_record(tmp_path):
  [record] = slurm.launch([Trial('quickstart', (), 0)], output_dir=str(tmp_path),
                          extra=TINY, executor=Killing())
  assert record['status'] == 'failed' and 'TIMEOUT' in record['error']
  assert json.loads((tmp_path / 'quickstart' / record['run_dir'].split('/')[-1]
                     / 'trial.json').read_text())['status'] == 'failed'


@pytest.mark.skipif(shutil.which('sbatch') is not None, reason='SLURM is installed here')
def test_without_slurm_says_so():
  with pytest.raises(LaunchError, match='sbatch'):
    slurm.make_executor('/tmp/unused')
