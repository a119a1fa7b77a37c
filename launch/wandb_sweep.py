"""An experiment's axes as a W&B sweep, and the agent that runs its trials.

W&B picks the points (grid, random or Bayesian search); `agent_function` turns
each into a Trial and runs it in the agent's process. The trial itself logs
to its run directory only (tracking.wandb=disabled); its metrics and final
values then go into the run that the agent opened, so W&B sees one run per
trial. Nothing W&B does can fail a trial: every W&B call is guarded.

Creating a sweep needs W&B online (`wandb login` and the network); an agent
can join an existing sweep from any machine with `sweep_id`.
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from research import config as config_lib
from research import search as search_lib
from research.errors import ConfigError
from research.tracking import RunDir, resolve_wandb_mode

from launch import sweep as sweep_lib
from launch import trials as trials_lib
from launch.trials import LaunchError, Trial

METHODS = ('grid', 'random', 'bayes')
SEED = 'seed'


def _parameter(key: str, axis: search_lib.Axis, method: str) -> dict[str, Any]:
  if isinstance(axis, (search_lib.Discrete, search_lib.Choice)):
    # A Choice goes to W&B as its option names; trial_from_values expands them.
    return {'values': [_plain(v) for v in axis.values]}
  if method == 'grid':
    if not axis.grid:
      raise ConfigError(f'{key}: a grid sweep needs grid points; give '
                        f'{type(axis).__name__}(..., grid=(...))')
    return {'values': [float(v) for v in axis.grid]}
  distribution = ('log_uniform_values' if isinstance(axis, search_lib.LogUniform)
                  else 'uniform')
  return {'distribution': distribution, 'min': float(axis.low),
          'max': float(axis.high)}


def _plain(value: Any) -> Any:
  return list(value) if isinstance(value, tuple) else value


def sweep_config(experiment: str, search: str = 'grid',
                 metric: str = 'test/accuracy', *, seeds: Sequence[int] = (0,),
                 name: str | None = None) -> dict[str, Any]:
  """The W&B sweep configuration of the experiment's axes, plus a seed.

  `metric` is a final metric that the agent writes to the run's summary,
  maximized unless it is a loss.
  """
  if search not in METHODS:
    raise ConfigError(f'unknown W&B search {search!r}; known: '
                      f'{", ".join(METHODS)}')
  exp = trials_lib.load_registry().get(experiment)
  search_lib.validate(exp.axes, exp.config())
  if SEED in exp.axes:
    raise ConfigError('seed: the sweep sets the seed itself; it cannot be an axis')
  parameters = {k: _parameter(k, a, search) for k, a in exp.axes.items()}
  parameters[SEED] = {'values': list(sweep_lib.check_seeds(seeds))}
  return {
      'name': name or f'{experiment}-{search}',
      'method': search,
      'metric': {'name': metric,
                 'goal': 'minimize' if metric.endswith('loss') else 'maximize'},
      'parameters': parameters,
  }


def write_sweep_config(path: str | os.PathLike, experiment: str,
                       search: str = 'grid', **kwargs) -> dict[str, Any]:
  """Writes the sweep configuration as YAML (.yaml / .yml) or JSON, for
  `wandb sweep FILE`; returns it."""
  config = sweep_config(experiment, search, **kwargs)
  path = pathlib.Path(path)
  if path.suffix in ('.yaml', '.yml'):
    import yaml  # pylint: disable=g-import-not-at-top  (installed with wandb)
    text = yaml.safe_dump(config, sort_keys=False)
  else:
    text = json.dumps(config, indent=2) + '\n'
  path.write_text(text)
  return config


def trial_from_values(experiment: str, values: Mapping[str, Any],
                      overrides: Sequence[str] = ()) -> Trial:
  """The Trial of one W&B point: {dotted key: value, 'seed': k} (keys that
  W&B adds itself, starting with '_', are ignored)."""
  axes = trials_lib.load_registry().get(experiment).axes
  keys = [k for k in values if k != SEED and not k.startswith('_')]
  keys.sort(key=lambda k: (k not in axes, list(axes).index(k) if k in axes
                           else 0, k))
  expanded = search_lib.overrides_of(axes, {k: values[k] for k in keys})
  point = tuple(sweep_lib.format_override(k, v) for k, v in expanded.items())
  return Trial(experiment, (*overrides, *point), int(values.get(SEED, 0)))


def _warn(what: str, error: Exception) -> None:
  warnings.warn(f'W&B {what} failed ({type(error).__name__}: {error}); the '
                'trial is not affected.', RuntimeWarning, stacklevel=3)


def _init_run(directory: pathlib.Path):
  import wandb  # pylint: disable=g-import-not-at-top
  directory.mkdir(parents=True, exist_ok=True)
  return wandb.init(dir=str(directory), settings=wandb.Settings(
      silent=True, quiet=True, console='off', save_code=False,
      disable_code=True))


def log_record(run, record: dict) -> None:
  """Logs a trial's metrics (per epoch) and final values into `run`."""
  if record.get('run_dir'):
    for row in RunDir(record['run_dir']).read_metrics():
      run.log({k: v for k, v in row.items() if k != 'step'}, step=row['step'])
  run.summary.update({
      **(record.get('final') or {}), 'status': record['status'],
      'run_dir': record.get('run_dir'), 'trial': record['label'],
      'wall_time_s': record.get('wall_time_s')})


def agent_function(experiment: str, output_dir: str | os.PathLike,
                   extra: Sequence[str] = (), *, overrides: Sequence[str] = (),
                   records: list | None = None) -> Callable[[], None]:
  """The function for `wandb.agent(sweep_id, function=fn)`: it opens the
  agent's run, runs the trial of its config and logs the result there.

  `overrides` are common to every trial (--set); each record is appended to
  `records` when one is given.
  """
  output_dir = pathlib.Path(output_dir)

  def run_one() -> None:
    try:
      run = _init_run(output_dir / experiment)
      values = dict(run.config)
    except Exception as e:  # pylint: disable=broad-except
      # Without the run there is no point to train: nothing ran.
      _warn('init', e)
      return
    trial = trial_from_values(experiment, values, overrides)
    record = trials_lib.run_trial(trial, output_dir,
                                  (*extra, 'tracking.wandb=disabled'))
    if records is not None:
      records.append(record)
    try:
      log_record(run, record)
    except Exception as e:  # pylint: disable=broad-except
      _warn('log', e)
    try:
      run.finish()
    except Exception as e:  # pylint: disable=broad-except
      _warn('finish', e)

  return run_one


def launch(experiment: str, *, output_dir: str, search: str = 'grid',
           num_trials: int | None = None, seeds: Sequence[int] = (0,),
           overrides: Sequence[str] = (), extra: Sequence[str] = (),
           metric: str = 'test/accuracy', project: str = 'research',
           entity: str | None = None, sweep_id: str | None = None,
           log: Callable[[str], None] | None = None) -> list[dict]:
  """Creates a W&B sweep (unless `sweep_id` joins one) and runs an agent
  here: every grid point, or `num_trials` points of a random or Bayesian
  search. Returns the records of the trials this agent ran."""
  log = log or (lambda line: None)
  exp = trials_lib.load_registry().get(experiment)
  sweep_lib.check_overrides(exp.axes, overrides)
  config_lib.apply_overrides(exp.config(), overrides)  # Bad keys fail here.
  if search != 'grid' and num_trials is None:
    raise ConfigError(f'num_trials: a W&B {search} sweep needs a number of '
                      'trials (--trials N)')
  config = sweep_config(experiment, search, metric, seeds=seeds)
  if resolve_wandb_mode('auto') != 'online':
    raise LaunchError('a W&B sweep needs W&B online (an API key from '
                      '`wandb login` and the network); use --launcher local')
  import wandb  # pylint: disable=g-import-not-at-top
  if sweep_id is None:
    try:
      sweep_id = wandb.sweep(config, project=project, entity=entity)
    except Exception as e:  # pylint: disable=broad-except
      raise LaunchError(f'could not create the W&B sweep: {e}') from e
    log(f'W&B sweep {sweep_id}; more agents: research sweep {experiment} '
        f'--launcher wandb --sweep-id {sweep_id}')
  records: list[dict] = []
  fn = agent_function(experiment, output_dir, extra, overrides=overrides,
                      records=records)
  wandb.agent(sweep_id, function=fn, project=project, entity=entity,
              count=num_trials)
  return records
