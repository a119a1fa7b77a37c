"""Runs trials as one SLURM array job through submitit, and waits for them.

Each array task runs `run_trial` on its node and returns the trial's record.
A task that reaches its time limit is requeued by submitit (the callable is
`Checkpointable`) and resumes from the run's latest checkpoint, since a run
directory is named after its config. Finished trials are not submitted again.

Tests pass `submitit.AutoExecutor(folder, cluster='local')`: the same path,
with local processes in place of SLURM.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence

import submitit

from launch import trials as trials_lib
from launch.progress import SweepProgress, sweep_description
from launch.trials import LaunchError, Trial


class _TrialTask(submitit.helpers.Checkpointable):
  """run_trial, requeued with the same arguments when a job times out."""

  def __call__(self, trial: Trial, output_dir: str,
               extra: tuple[str, ...]) -> dict:
    record = trials_lib.run_trial(trial, output_dir, extra)
    if (record['status'] == 'interrupted'
        and os.environ.get('SUBMITIT_EXECUTOR') == 'slurm'):
      # SLURM signalled the job (USR2 before its time limit, SIGTERM when
      # preempted): the run saved a checkpoint at the end of its epoch and
      # stopped. submitit's handler of its signal, back in place now,
      # requeues the job with these arguments (the run resumes) and exits.
      signal.raise_signal(getattr(signal, 'SIG' + submitit.JobEnvironment.USR_SIG))
    return record


# SLURM's job states (submitit's local cluster says RUNNING too) in which a
# trial is training.
RUNNING_STATES = ('RUNNING', 'COMPLETING')


def _record_of(job, trial: Trial, output_dir: str, extra) -> dict:
  try:
    return job.result()
  except Exception as e:  # pylint: disable=broad-except  (a killed or lost job)
    return trials_lib.failed_record(
        trial, output_dir, extra,
        error=f'job {job.job_id} failed: {type(e).__name__}: {e}')


def make_executor(folder: str, cluster: str = 'slurm') -> submitit.Executor:
  """An AutoExecutor for `cluster`; SLURM must be installed for 'slurm'."""
  if cluster == 'slurm' and shutil.which('sbatch') is None:
    raise LaunchError('SLURM is not available here (no sbatch on PATH); run '
                      'the sweep with --launcher local instead')
  return submitit.AutoExecutor(folder=folder, cluster=cluster)


def launch(trials: Sequence[Trial], *, output_dir: str,
           extra: Sequence[str] = (), executor: submitit.Executor | None = None,
           folder: str | None = None, cluster: str = 'slurm',
           partition: str | None = None, time_min: int = 60,
           gpus_per_node: int | None = None, cpus_per_task: int | None = None,
           mem_gb: float | None = None, array_parallelism: int | None = None,
           name: str | None = None,
           log: Callable[[str], None] | None = None, quiet: bool = False,
           poll_s: float = 2.0) -> list[dict]:
  """Submits the unfinished `trials` as an array job; returns all records.

  `folder` holds submitit's pickles and job logs (default
  `<output_dir>/slurm/%j`). An `executor` passed in is used as is, unless it
  is an AutoExecutor, whose parameters are set from the options here.
  Progress (trials done / running / failed, launch.progress) goes to stderr,
  the jobs' states polled every `poll_s` seconds; `quiet` leaves failures.
  """
  log = (lambda line: None) if quiet or log is None else log
  output_dir, extra = str(output_dir), tuple(extra)
  records = [trials_lib.finished_record(t, output_dir, extra) for t in trials]
  todo = [i for i, r in enumerate(records) if r is None]
  for i, record in enumerate(records):
    if record is not None:
      log(f'skipped (already {record["status"]}): {trials[i].label}')
  if not todo:
    return records

  folder = folder or os.path.join(output_dir, 'slurm', '%j')
  if executor is None:
    executor = make_executor(folder, cluster)
  if isinstance(executor, submitit.AutoExecutor):
    # Shared names are translated for each cluster; slurm_* ones apply to
    # SLURM only (and are ignored by the local cluster of the tests).
    executor.update_parameters(
        name=name or f'sweep-{trials[todo[0]].experiment}',
        timeout_min=int(time_min), gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task, mem_gb=mem_gb,
        slurm_partition=partition, slurm_array_parallelism=array_parallelism)
  jobs = executor.map_array(_TrialTask(), [trials[i] for i in todo],
                            [output_dir] * len(todo), [extra] * len(todo))
  log(f'submitted {len(jobs)} trial(s): job {jobs[0].job_id.split("_")[0]}; '
      f'logs under {executor.folder}')

  # Poll rather than wait on each job in turn: the progress shows a job as
  # running when SLURM starts it, and as ended in the order jobs end.
  waiting, running = dict(zip(todo, jobs)), set()
  with SweepProgress(len(todo), desc=sweep_description(trials), quiet=quiet,
                     skipped=len(trials) - len(todo)) as progress:
    while waiting:
      for i, job in list(waiting.items()):
        if job.done():
          records[i] = _record_of(job, trials[i], output_dir, extra)
          progress.finished(trials[i].label, records[i]['status'])
          del waiting[i]
        elif i not in running and job.state in RUNNING_STATES:
          running.add(i)
          progress.started(trials[i].label)
      if waiting:
        time.sleep(poll_s)
  return records
