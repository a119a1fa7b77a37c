"""The early_stopping experiment's report: where each run stopped, other
monitors and patiences replayed on the runs trained to the end (with the
training loop's own `Monitor`), a figure of one run and a reading."""

import pathlib

import numpy as np

from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import results
from research import tables
from research.tracking import RunDir
from research.train.early_stopping import Monitor

# What the replay tries on the runs that trained to the end.
REPLAY_MONITORS = (('dev/accuracy', 'max'), ('dev/loss', 'min'))
REPLAY_PATIENCES = (1, 3, 5, 10, 20, 50)


def read_metrics(record: dict) -> list[dict]:
  """The metrics.jsonl rows of a record's run, [] when there are none."""
  directory = record.get('record_dir') or record.get('run_dir')
  if not directory or not pathlib.Path(directory).is_dir():
    return []
  return RunDir(directory).read_metrics()


def replay(rows: list[dict], monitor: str, mode: str, patience: int,
           min_delta: float = 0.0) -> dict:
  """Where a run logged as `rows` would have stopped with `patience` on
  `monitor`, by the training loop's Monitor: {'stop_epoch' (the last epoch
  trained), 'best_epoch', 'stopped' (whether patience ran out, as a run's
  'early_stopped' status)}. The best epoch is None if the monitored metric
  was never logged."""
  tracker = Monitor(mode=mode, patience=patience, min_delta=min_delta)
  last = None
  for row in rows:
    last = row['epoch']
    if monitor in row:
      tracker.update(row[monitor], row['epoch'], row['step'])
      if tracker.should_stop:
        return {'stop_epoch': last, 'best_epoch': tracker.best_epoch, 'stopped': True}
  return {'stop_epoch': last, 'best_epoch': tracker.best_epoch, 'stopped': False}


def _at_epoch(rows: list[dict], epoch: int | None, key: str) -> float | None:
  return next((r.get(key) for r in rows if r['epoch'] == epoch), None)


def _patience(record: dict) -> int:
  return int(record['config']['train']['patience'])


def run_rows(records: list[dict]) -> list[tuple]:
  """A row per finished run: patience, seed, status, epochs trained, best
  epoch, test accuracy at the best checkpoint and at the last epoch."""
  rows = []
  for r in sorted(records, key=lambda r: (_patience(r), r.get('seed') or 0)):
    best = r.get('best') or {}
    final = r.get('final') or {}
    rows.append((_patience(r) or 'off (to the end)', r.get('seed'), r['status'],
                 r.get('epochs'), best.get('epoch', '—'),
                 _percent(best.get('test/accuracy')), _percent(final.get('test/accuracy'))))
  return rows


def _percent(x) -> str:
  return '—' if x is None else f'{100 * x:.1f}'


def summary_rows(records: list[dict]) -> list[tuple]:
  """Per patience: runs, mean epochs trained and best epoch, and the test
  accuracy at the best checkpoint and at the last epoch (mean ± std)."""
  rows = []
  for p in sorted({_patience(r) for r in records}):
    runs = [r for r in records if _patience(r) == p]
    best = [r['best'] for r in runs if r.get('best')]
    rows.append((p or 'off (to the end)', len(runs),
                 f"{np.mean([r['epochs'] for r in runs]):.1f}",
                 f"{np.mean([b['epoch'] for b in best]):.1f}" if best else '—',
                 tables.mean_std([b['test/accuracy'] for b in best if 'test/accuracy' in b]),
                 tables.mean_std([r['final']['test/accuracy'] for r in runs
                                  if 'test/accuracy' in (r.get('final') or {})])))
  return rows


def replay_rows(full_runs: dict[int, list[dict]], min_delta: float = 0.0) -> list[tuple]:
  """Per monitor and patience, replayed on the runs trained to the end
  ({seed: rows}): mean epochs trained, mean best epoch, test accuracy at the
  best epoch (mean ± std), how many of the runs stopped before the end."""
  rows = []
  for monitor, mode in REPLAY_MONITORS:
    for patience in REPLAY_PATIENCES:
      outcomes = [(replay(rows_, monitor, mode, patience, min_delta), rows_)
                  for rows_ in full_runs.values()]
      outcomes = [(o, r) for o, r in outcomes if o['best_epoch'] is not None]
      if not outcomes:
        continue
      tests = [_at_epoch(r, o['best_epoch'], 'test/accuracy') for o, r in outcomes]
      rows.append((monitor, patience, f'{np.mean([o["stop_epoch"] for o, _ in outcomes]):.1f}',
                   f'{np.mean([o["best_epoch"] for o, _ in outcomes]):.1f}',
                   tables.mean_std([t for t in tests if t is not None]),
                   f'{sum(o["stopped"] for o, _ in outcomes)} of {len(outcomes)}'))
  return rows


def check_replay(stopped: list[dict], full_runs: dict[int, list[dict]]) -> tuple[int, int]:
  """(matches, comparisons): runs with patience whose real epochs trained and
  best epoch equal the replay on the same seed's run trained to the end."""
  matches = total = 0
  for r in stopped:
    rows = full_runs.get(r.get('seed'))
    if rows is None or not r.get('best'):
      continue
    train = r['config']['train']
    outcome = replay(rows, train['monitor'], train['monitor_mode'],
                     int(train['patience']), float(train['min_delta']))
    total += 1
    matches += (outcome['stop_epoch'] == r['epochs']
                and outcome['best_epoch'] == r['best']['epoch'])
  return matches, total


def plot_run(rows: list[dict], marks: dict[str, int], path, title: str) -> None:
  """Train and dev loss (left) and dev and test accuracy (right) against
  epoch, with a vertical line at each of `marks` ({label: epoch})."""
  fig, axes = plt.subplots(1, 2, figsize=(plots.FIGSIZE[0] * 2, plots.FIGSIZE[1] * 0.8))
  panels = ((axes[0], ('train/loss', 'dev/loss'), 'loss'),
            (axes[1], ('train/accuracy', 'dev/accuracy', 'test/accuracy'), 'accuracy'))
  for ax, keys, ylabel in panels:
    for i, key in enumerate(keys):
      points = [(r['epoch'], r[key]) for r in rows if key in r]
      if points:
        epochs, values = zip(*points)
        ax.plot(epochs, values, color=plots.style(i)['color'], linewidth=1.3, label=key)
    ax.set_xlabel('epoch')
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
  axes[0].set_yscale('log')
  for j, (label, epoch) in enumerate(marks.items()):
    for ax in axes:
      ax.axvline(epoch, color=plots.style(3 + j)['color'], linestyle=':', linewidth=1.5,
                 label=f'{label} (epoch {epoch})' if ax is axes[1] else None)
  axes[0].legend(fontsize=8, loc='lower left')
  axes[1].legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  fig.suptitle(title)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(fig)


def figure_marks(seed, full_rows: list[dict], stopped: list[dict]) -> dict[str, int]:
  """The epochs to mark on the figure of `seed`'s run trained to the end."""
  marks = {}
  best = replay(full_rows, 'dev/accuracy', 'max', 0)['best_epoch']
  if best is not None:
    marks['best dev accuracy'] = best
  lowest = replay(full_rows, 'dev/loss', 'min', 0)['best_epoch']
  if lowest is not None:
    marks['lowest dev loss'] = lowest
  for r in sorted(stopped, key=_patience):
    if r.get('seed') == seed and r['status'] == 'early_stopped':
      marks[f'stopped, patience {_patience(r)}'] = r['epochs']
  return marks


def reading(finished: list[dict], full_runs: dict[int, list[dict]]) -> list[str]:
  """Sentences from the numbers: the training each patience saved and what
  its best checkpoint scored against training to the end; where dev loss and
  dev accuracy put the best epoch."""
  lines = []
  to_end = [r['final']['test/accuracy'] for r in finished
            if _patience(r) == 0 and 'test/accuracy' in (r.get('final') or {})]
  for p in sorted({_patience(r) for r in finished} - {0}):
    runs = [r for r in finished if _patience(r) == p]
    planned = np.mean([r['config']['train']['num_epochs'] for r in runs])
    trained = np.mean([r['epochs'] for r in runs])
    best = [r['best']['test/accuracy'] for r in runs
            if 'test/accuracy' in (r.get('best') or {})]
    text = (f'Patience {p}: {trained:.0f} of {planned:.0f} epochs trained on average '
            f'({100 * (1 - trained / planned):.0f}% of the training saved)')
    if best and to_end:
      text += (f'; its best checkpoints score {100 * np.mean(best):.1f}% on the test set '
               f'against {100 * np.mean(to_end):.1f}% for the last epoch of training to '
               f'the end ({100 * (np.mean(best) - np.mean(to_end)):+.1f} points)')
    lines.append(text + '.')
  picks = {}
  for monitor, mode in REPLAY_MONITORS:
    outcomes = [(replay(rows, monitor, mode, 0)['best_epoch'], rows)
                for rows in full_runs.values()]
    outcomes = [(e, rows) for e, rows in outcomes if e is not None]
    if outcomes:
      picks[monitor] = (np.mean([e for e, _ in outcomes]),
                        np.mean([_at_epoch(rows, e, 'test/accuracy') for e, rows in outcomes]))
  if len(picks) == 2:
    (acc_epoch, acc_test), (loss_epoch, loss_test) = picks['dev/accuracy'], picks['dev/loss']
    lines.append(
        f'Over the runs trained to the end, the lowest dev loss comes at epoch '
        f'{loss_epoch:.0f} on average (test accuracy there {100 * loss_test:.1f}%), the '
        f'best dev accuracy at epoch {acc_epoch:.0f} ({100 * acc_test:.1f}%): '
        + ('the dev loss turns up while the dev accuracy still improves, so '
           'stopping on the loss stops too early here.'
           if loss_epoch < acc_epoch and loss_test < acc_test else
           'both monitors pick similar checkpoints here.'))
  return lines


def report(inputs: tables.TableInputs) -> str:
  finished = [r for r in inputs.records if r.get('status') in results.FINISHED
              and r.get('config')]
  if not finished:
    return '## Early stopping\n\nNo finished run: nothing to report.'
  to_end = [r for r in finished if _patience(r) == 0]
  stopped = [r for r in finished if _patience(r) > 0]
  full_runs = {r.get('seed'): rows for r in sorted(to_end, key=lambda r: r.get('seed') or 0)
               if (rows := read_metrics(r))}
  sections = [
      '## Where each run stopped',
      'Epochs trained (the last epoch for a run that stopped early), the '
      'epoch of its best checkpoint by dev accuracy, and the test accuracy '
      '(%) of the best checkpoint and of the model at the last epoch.',
      tables.markdown_table(['patience', 'seed', 'status', 'epochs trained',
                             'best epoch', 'test acc. at best', 'test acc. at last epoch'],
                            run_rows(finished), align='rrlrrrr'),
      tables.markdown_table(['patience', 'runs', 'mean epochs trained', 'mean best epoch',
                             'test acc. % at best', 'test acc. % at last epoch'],
                            summary_rows(finished), align='rrrrrr'),
  ]
  if full_runs:
    min_delta = float(to_end[0]['config']['train']['min_delta'])
    matches, total = check_replay(stopped, full_runs)
    check = (f'Replaying the runs that stopped gives their epochs trained and best '
             f'epoch in {matches} of {total} cases.' if total else
             'No run with patience shares a seed with a run trained to the end: '
             'the replay is not checked.')
    sections += [
        '## Other monitors and patiences, replayed',
        f'Early stopping replayed with `research.train.early_stopping.Monitor` on the '
        f'metrics of the {len(full_runs)} run(s) trained to the end (seeds '
        f'{", ".join(map(str, full_runs))}): training is the same up to the stop, '
        f'so this is what those runs would have given. {check}',
        tables.markdown_table(['monitor', 'patience', 'mean epochs trained',
                               'mean best epoch', 'test acc. % at best',
                               'stopped before the end'],
                              replay_rows(full_runs, min_delta), align='lrrrrr'),
    ]
    seed = next(iter(full_runs))
    marks = figure_marks(seed, full_runs[seed], stopped)
    plot_run(full_runs[seed], marks, inputs.figures_dir / 'stopping.png',
             f'seed {seed}, trained to the end')
    sections += [
        '## Curves of one run',
        f'Seed {seed} trained to the end; dotted lines at its best dev accuracy, its '
        'lowest dev loss, and where the runs of the same seed with patience stopped.',
        f'![early stopping](figures/{inputs.experiment}/stopping.png)',
    ]
  sections += ['## Reading', '\n'.join('- ' + line for line in reading(finished, full_runs))]
  return '\n\n'.join(sections)
