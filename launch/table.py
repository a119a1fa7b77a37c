"""`research table NAME`: an experiment's trial records as a results table.

    research sweep quickstart --seeds 3   # runs/quickstart/*/trial.json
    research table quickstart             # experiments/results/quickstart.md

Reads the records of the runs under `<output_dir>/<NAME>/` (a sweep's
trial.json, or what a plain `research run` left: its config.json and
summary.json, its overrides being what it changes from the experiment's
config) and the sweep records `<output_dir>/<NAME>/sweeps/*.json`, then writes `<results_dir>/<NAME>.md`:
the results table (`research.results.results_table`), the learning curves and
train-vs-held-out gap of every point, the experiment's own `report`
sections, and the provenance. The same table and figures go to one W&B run.

Figures show one color per point, each the mean over the point's finished
seeds (a seed that stopped early leaves the later epochs to the others).
More than `MAX_POINTS_PER_FIGURE` points are split over several files in
table order (learning_curves.png, learning_curves_2.png, ...): every point is
shown and no figure has more lines than colors.
"""

from __future__ import annotations

import collections
import datetime
import math
import os
import pathlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from launch import trials as trials_lib
from research import config as config_lib
from research import results, run_index
from research import tables
from research.tracking import WandbLogger, jsonio

MAX_POINTS_PER_FIGURE = 10
FIGURES = ('learning_curves', 'generalization_gap')


class NoRecordsError(RuntimeError):
  """A trainable experiment has no trial records to make a table of."""


def default_results_dir() -> pathlib.Path:
  """The `results` folder next to the `experiments` package."""
  import experiments  # pylint: disable=g-import-not-at-top
  return pathlib.Path(experiments.__file__).resolve().parent / 'results'


def read_records(output_dir: str | os.PathLike, name: str,
                 log: Callable[[str], None] = print) -> list[dict[str, Any]]:
  """The records of the runs under `<output_dir>/<name>/`, each with
  'record_dir' (where it was read): a sweep trial's trial.json (local runs
  and population members alike; 'data' from the run's summary.json where a
  record written before it carried it lacks it), and for a run that
  `research run` trained, the record its config.json and summary.json make
  (`trials.plain_run_record`). A run with a damaged file is skipped with a
  warning, one without a summary (still running, or never started) quietly."""
  records, experiment, reference = [], None, None
  for run in run_index.find_runs(output_dir, name):
    if run.status == run_index.DAMAGED:
      log(f'warning: skipped {run.path}: {run.problem}')
      continue
    if run.trial is not None:
      record = run.trial
      record['data'] = record.get('data') or (run.summary or {}).get('data')
    else:
      if experiment is None:
        experiment = trials_lib.load_registry().get(name)
        reference = experiment.config()
      record = trials_lib.plain_run_record(run, reference, experiment.axes)
      if record is None:
        continue
    record['record_dir'] = str(run.path)
    records.append(record)
  return records


def read_sweeps(output_dir: str | os.PathLike, name: str,
                log: Callable[[str], None] = print) -> list[dict[str, Any]]:
  """The sweep records of `name`, oldest first (their names start with
  the UTC time)."""
  directory = pathlib.Path(output_dir, name, trials_lib.SWEEPS_DIR)
  sweeps = []
  for path in sorted(directory.glob('*.json')):
    try:
      sweeps.append(jsonio.read_json(path))
    except ValueError as e:
      log(f'warning: skipped unreadable {path}: {e}')
  return sweeps


def write_sweep_record(output_dir: str | os.PathLike, name: str,
                       record: Mapping[str, Any]) -> pathlib.Path:
  """Writes `<output_dir>/<name>/sweeps/<UTC time>-<pid>.json` atomically."""
  now = datetime.datetime.now(datetime.timezone.utc)
  path = pathlib.Path(output_dir, name, trials_lib.SWEEPS_DIR,
                      f'{now:%Y%m%dT%H%M%S}Z-{os.getpid()}.json')
  path.parent.mkdir(parents=True, exist_ok=True)
  jsonio.atomic_write_json(path, record)
  return path


def _config_value(records: Sequence[Mapping[str, Any]], section: str, key: str,
                  default: Any) -> Any:
  """The value of `section.key` in the records' configs if they agree."""
  values = {((r.get('config') or {}).get(section) or {}).get(key)
            for r in records} - {None}
  return values.pop() if len(values) == 1 else default


def write_table(name: str, *, output_dir: str | os.PathLike = 'runs',
                results_dir: str | os.PathLike | None = None, window: int = 5,
                wandb_mode: str | None = None, command: str | None = None,
                log: Callable[[str], None] = print) -> pathlib.Path:
  """Writes the table of experiment `name`; returns the markdown's path.

  `wandb_mode` None takes the records' `tracking.wandb` (when they agree),
  else the config default. Raises NoRecordsError for a trainable experiment
  without records.
  """
  started = time.perf_counter()
  experiment = trials_lib.load_registry().get(name)
  if isinstance(window, bool) or not isinstance(window, int) or window < 1:
    raise ValueError(f'--window: {window!r} must be an integer >= 1')
  command = command or f'research table {name}'
  records = read_records(output_dir, name, log)
  sweeps = read_sweeps(output_dir, name, log)
  if experiment.trainable and not records:
    raise NoRecordsError(
        f'no runs of {name} under {output_dir}; run `research sweep '
        f'{name} ...` or `research run {name}` first')
  results_dir = pathlib.Path(results_dir or default_results_dir())
  figures_dir = results_dir / 'figures' / name
  figures_dir.mkdir(parents=True, exist_ok=True)

  sections = [f'# {name}', experiment.description]
  if experiment.reference:
    sections.append(f'Reference: {experiment.reference}')
  table = None
  if records:
    table = results.results_table(records, axes=experiment.axes,
                                 published=experiment.published)
    sections += ['## Results', table.markdown()]
    sections += figure_sections(name, table, figures_dir, window)
  if experiment.report is not None:
    report = experiment.make_report(tables.TableInputs(
        experiment=name, records=records, sweeps=sweeps,
        figures_dir=figures_dir, log=log))
    if report and report.strip():
      sections.append(report.strip())

  own_s = time.perf_counter() - started
  sections += ['## Provenance', _provenance(command, records, sweeps, own_s)]
  path = results_dir / f'{name}.md'
  jsonio.atomic_write_text(path, '\n\n'.join(sections) + '\n')
  log(f'wrote {path}')

  if wandb_mode is None:
    wandb_mode = _config_value(records, 'tracking', 'wandb',
                               config_lib.base_config().tracking.wandb)
  log_to_wandb(name, table, figures_dir, mode=wandb_mode,
               project=_config_value(records, 'tracking', 'project', 'research'),
               entity=_config_value(records, 'tracking', 'entity', '') or None,
               directory=pathlib.Path(output_dir, name, 'table'),
               sweep_commands=[s.get('command') for s in sweeps], log=log)
  return path


def _provenance(command: str, records, sweeps, own_s: float) -> str:
  """The elapsed time of the sweeps when they were recorded: the trials' own
  wall times overcount a population, whose members each report the time of
  the whole vmapped program."""
  walls = [r['wall_time_s'] for r in records if r.get('wall_time_s') is not None]
  sweep_walls = [s['wall_time_s'] for s in sweeps if s.get('wall_time_s')]
  if sweep_walls:
    total = sum(sweep_walls) + own_s
    note = (f'the elapsed time of {len(sweep_walls)} sweep(s), '
            f'{sum(sweep_walls) / 60:.1f} min, plus {own_s:.1f} s for this '
            f"table; the {len(walls)} trials' own wall times add up to "
            f'{sum(walls) / 60:.1f} min')
  elif walls:
    total = sum(walls) + own_s
    note = (f"the sum of the {len(walls)} trials' wall times, "
            f'{sum(walls) / 60:.1f} min, plus {own_s:.1f} s for this table')
  else:
    total, note = own_s, 'computing this table'
  seeds = sorted({r['seed'] for r in records if r.get('seed') is not None})
  return tables.provenance(
      command, total, seeds, note,
      sweep_commands=[s['command'] for s in sweeps if s.get('command')],
      hardware=[r['hardware'] for r in records if r.get('hardware')],
      commits=[r['git'] for r in records if r.get('git')])


# Figures.


def _mean_by_epoch(runs: Sequence[Sequence[Mapping[str, Any]]],
                   value: Callable[[Mapping[str, Any]], float | None]
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(epochs, mean over runs of `value(row)`) where it is finite."""
  by_epoch = collections.defaultdict(list)
  for rows in runs:
    for row in rows:
      v = value(row)
      if v is not None and math.isfinite(v) and 'epoch' in row:
        by_epoch[row['epoch']].append(v)
  epochs = sorted(by_epoch)
  return (np.asarray(epochs, dtype=np.float64),
          np.asarray([np.mean(by_epoch[e]) for e in epochs], dtype=np.float64))


def point_curves(runs: Sequence[Sequence[Mapping[str, Any]]], held_out: str
                 ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                            tuple[np.ndarray, np.ndarray]]:
  """Mean learning curves of one point's runs (metrics.jsonl rows) and its
  gap: train accuracy minus `held_out` ('dev' or 'test') accuracy, in
  percentage points, at the epochs that have both."""
  curves = {key: _mean_by_epoch(runs, lambda row, key=key: row.get(key))
            for key in ('train/loss', f'{held_out}/loss',
                        'train/accuracy', f'{held_out}/accuracy')}

  def gap(row):
    train, other = row.get('train/accuracy'), row.get(f'{held_out}/accuracy')
    return None if train is None or other is None else 100 * (train - other)

  return curves, _mean_by_epoch(runs, gap)


def figure_sections(name: str, table: results.ResultsTable,
                    figures_dir: pathlib.Path, window: int) -> list[str]:
  """Draws the curves and gaps of the table's points; their sections."""
  from research import plots  # pylint: disable=g-import-not-at-top  (matplotlib)
  for stale in figures_dir.glob('*.png'):
    if stale.stem.rstrip('_0123456789') in FIGURES:
      stale.unlink()  # a previous table may have had more points
  runs = [[results.trial_metrics(r) for r in g.finished] for g in table.groups]
  held_out = ('dev' if any('dev/accuracy' in row for point in runs
                           for rows in point for row in rows) else 'test')
  drawn = [(label, *point_curves(point, held_out))
           for label, point in zip(table.labels, runs)
           if any(point)]  # points with metrics to draw
  if not drawn:
    return ['## Learning curves', 'No metrics.jsonl of a finished run was '
            'found next to the records: no figures.']
  curve_links, gap_links = [], []
  for start in range(0, len(drawn), MAX_POINTS_PER_FIGURE):
    chunk = drawn[start:start + MAX_POINTS_PER_FIGURE]
    suffix = '' if not start else f'_{start // MAX_POINTS_PER_FIGURE + 1}'
    plots.learning_curves({label: curves for label, curves, _ in chunk},
                          figures_dir / f'learning_curves{suffix}.png',
                          window=window, title=name)
    plots.generalization_gap({label: gap for label, _, gap in chunk},
                             figures_dir / f'generalization_gap{suffix}.png',
                             window=window,
                             ylabel=f'train − {held_out} accuracy (points)',
                             title=name)
    curve_links.append(f'![learning curves](figures/{name}/learning_curves{suffix}.png)')
    gap_links.append(f'![generalization gap](figures/{name}/generalization_gap{suffix}.png)')
  return [
      '## Learning curves',
      'Each point\'s metrics per epoch, mean over its finished seeds: faint '
      f'as logged, solid the trailing moving average over {window} epochs. '
      'Train loss and accuracy are averages over the epoch\'s steps in '
      f'training mode (dropout and augmentation on); {held_out} metrics are '
      'evaluated at the end of the epoch.',
      *curve_links,
      '## Generalization gap',
      f'Train accuracy minus {held_out} accuracy per epoch, in percentage '
      'points (train accuracy as in the learning curves).',
      *gap_links,
  ]


# W&B.


class _TableLogger(WandbLogger):
  """A WandbLogger whose run has job_type 'table'."""

  @staticmethod
  def _init(mode: str, init_kwargs: dict[str, Any]):
    return WandbLogger._init(mode, {**init_kwargs, 'job_type': 'table'})


def log_to_wandb(name: str, table: results.ResultsTable | None,
                 figures_dir: pathlib.Path, *, mode: str, project: str,
                 entity: str | None, directory: pathlib.Path,
                 sweep_commands: Sequence[str],
                 log: Callable[[str], None] = print) -> str:
  """Logs the table's rows (a wandb.Table) and every PNG of `figures_dir`
  (wandb.Image) to one run, 'table-NAME'. A failure warns once and is
  otherwise ignored. Returns the mode in effect ('disabled' after one)."""
  now = datetime.datetime.now(datetime.timezone.utc)
  logger = _TableLogger(
      project=project, entity=entity, directory=directory, mode=mode,
      run_id=f'table-{name}-{now:%Y%m%dT%H%M%S}', name=f'table-{name}',
      config={'experiment': name, 'sweep_commands': list(sweep_commands)})
  if not logger.active:
    return logger.mode_used
  figures = sorted(figures_dir.glob('*.png'))
  try:
    import wandb  # pylint: disable=g-import-not-at-top
    payload = {f'figures/{png.stem}': wandb.Image(str(png)) for png in figures}
    if table is not None:
      payload['results'] = wandb.Table(
          columns=table.headers,
          data=[[cell.replace('**', '') for cell in row] for row in table.rows])
  except Exception as e:  # pylint: disable=broad-except
    warnings.warn(f'W&B table failed ({type(e).__name__}: {e}); the table is '
                  'written without W&B.', RuntimeWarning, stacklevel=2)
    logger.finish()
    return 'disabled'
  logger.log_metrics(payload, step=0)
  logger.finish()
  if logger.failure is None:
    where = (f'; files under {directory / "wandb"}, upload them with `wandb sync`'
             if logger.mode_used == 'offline' else '')
    log(f'W&B ({logger.mode_used}): logged run table-{name} with '
        f'{"the table and " if table is not None else ""}{len(figures)} '
        f'figure(s){where}')
  return logger.mode_used
