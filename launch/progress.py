"""A sweep's progress: trials done, running and failed, on stderr.

A launcher makes one `SweepProgress` for the trials it is about to run and
tells it when each starts and ends:

    with SweepProgress(len(todo), desc='sweep quickstart', quiet=quiet,
                       skipped=len(trials) - len(todo)) as progress:
      progress.started(trial.label)             # any thread
      ...
      progress.finished(trial.label, record['status'])

The public interface (kept small and stable for every launcher):

  SweepProgress(total, *, desc, quiet=False, file=None, skipped=0)
      `total`: trials to run (not those skipped as already finished, whose
      number `skipped` is only shown); `desc`: e.g. 'sweep quickstart';
      `file`: the stream (default: sys.stderr when made).
  .started(label)           a trial began running
  .finished(label, status)  it ended: 'done', 'early_stopped', 'diverged',
                            'failed', 'interrupted', 'cancelled', ... (a
                            trial never started, e.g. cancelled, may end
                            without `started`)
  .close()                  also on leaving a `with` block
  .describe() -> str        the current line, e.g.
                            'sweep quickstart: 5/12 done · 2 running · 1 failed'

Where it shows:

- on a terminal: a tqdm bar of `total` trials, its description the line
  above ('done' counts every trial that ended; the statuses other than 'done'
  follow with their counts); a failed trial also prints its line above the
  bar;
- not a terminal (a log file, a pipe): no bar, one line per trial that ended,
  `[3/12] done: <label>`;
- `quiet`: nothing but the lines of failed trials.

All methods are thread-safe (the local launcher reports from its threads).
"""

from __future__ import annotations

import collections
import sys
import threading
from typing import TextIO

import tqdm

__all__ = ['ERRORS', 'SweepProgress', 'sweep_description']

# Statuses printed in every mode, `quiet` included.
ERRORS = frozenset({'failed'})


def sweep_description(trials) -> str:
  """'sweep <experiment>' (each experiment of `trials` once): the bar's name."""
  return ' '.join(['sweep', *dict.fromkeys(t.experiment for t in trials)])


def _is_terminal(stream) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError):  # no isatty, or a closed stream
    return False


class SweepProgress:
  """Trials done / running / failed of one launch (see the module doc)."""

  def __init__(self, total: int, *, desc: str, quiet: bool = False,
               file: TextIO | None = None, skipped: int = 0):
    self.total, self.desc, self.quiet = int(total), desc, quiet
    self.skipped = int(skipped)
    self._file = file if file is not None else sys.stderr
    self._lock = threading.Lock()
    self._running: collections.Counter[str] = collections.Counter()
    self._statuses: collections.Counter[str] = collections.Counter()
    self._ended = 0
    self._bar = None
    if not quiet and self.total > 0 and _is_terminal(self._file):
      self._bar = tqdm.tqdm(
          total=self.total, file=self._file, dynamic_ncols=True, unit='trial',
          desc=self.describe(), bar_format='{desc} |{bar}| [{elapsed}<{remaining}]')

  def describe(self) -> str:
    """E.g. 'sweep quickstart: 5/12 done · 2 running · 1 failed'."""
    parts = [f'{self.desc}: {self._ended}/{self.total} done']
    running = sum(self._running.values())
    if running:
      parts.append(f'{running} running')
    parts += [f'{n} {status}' for status, n in sorted(self._statuses.items())
              if status != 'done']
    if self.skipped:
      parts.append(f'{self.skipped} already finished')
    return ' · '.join(parts)

  def started(self, label: str) -> None:
    with self._lock:
      self._running[label] += 1
      self._redraw()

  def finished(self, label: str, status: str) -> None:
    with self._lock:
      if self._running[label] > 0:
        self._running[label] -= 1
      if not self._running[label]:
        del self._running[label]
      self._ended += 1
      self._statuses[status] += 1
      line = f'[{self._ended}/{self.total}] {status}: {label}'
      if self._bar is not None:
        self._bar.set_description_str(self.describe(), refresh=False)
        self._bar.update(1)
        if status in ERRORS:  # above the bar, which is drawn again below
          self._bar.write(line, file=self._file)
      elif not self.quiet or status in ERRORS:
        print(line, file=self._file, flush=True)

  def close(self) -> None:
    with self._lock:
      if self._bar is not None:
        self._bar.set_description_str(self.describe(), refresh=False)
        self._bar.close()
        self._bar = None

  def __enter__(self) -> SweepProgress:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _redraw(self) -> None:
    if self._bar is not None:
      self._bar.set_description_str(self.describe(), refresh=True)
