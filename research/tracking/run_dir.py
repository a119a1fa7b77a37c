"""The run directory: resolved config, metrics as JSON lines, a summary.

Layout of a run directory:

  config.json      the resolved config (atomic rewrite)
  metrics.jsonl    one JSON object per line, each with 'step' (and 'epoch')
  summary.json     final / best values (atomic rewrite)
  <name>.json      any other small file, e.g. the W&B run id (atomic rewrite)
  checkpoints/     orbax checkpoints (created by the checkpointing code)
  wandb/           W&B's own files when a WandbLogger writes here

JSON files follow `jsonio`: NumPy / JAX values become Python numbers and
lists; NaN and Inf are written as the tokens NaN / Infinity / -Infinity, which
`json.loads` reads back as floats.
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from typing import Any

from research.tracking import jsonio

CONFIG = 'config.json'
METRICS = 'metrics.jsonl'
SUMMARY = 'summary.json'


class RunDir:
  """One run's directory on disk; every write leaves a readable file."""

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)
    self.path.mkdir(parents=True, exist_ok=True)

  def __repr__(self) -> str:
    return f'RunDir({str(self.path)!r})'

  @property
  def checkpoint_dir(self) -> pathlib.Path:
    """Where checkpoints go (created by the checkpointing code, not here)."""
    return self.path / 'checkpoints'

  @property
  def metrics_path(self) -> pathlib.Path:
    return self.path / METRICS

  # Generic small JSON files.

  def write_json(self, name: str, obj: Any) -> None:
    """Writes `obj` to `<path>/<name>` atomically ('.json' added if absent)."""
    jsonio.atomic_write_json(self._json_path(name), obj)

  def read_json(self, name: str) -> Any | None:
    """Reads `<path>/<name>`; None if it does not exist."""
    return jsonio.read_json(self._json_path(name))

  def _json_path(self, name: str) -> pathlib.Path:
    if os.sep in name or (os.altsep and os.altsep in name):
      raise ValueError(f'A run file name, not a path, is expected: {name!r}')
    return self.path / (name if name.endswith('.json') else f'{name}.json')

  # Config and summary.

  def write_config(self, config: dict[str, Any]) -> None:
    self.write_json(CONFIG, config)

  def read_config(self) -> dict[str, Any] | None:
    return self.read_json(CONFIG)

  def write_summary(self, summary: dict[str, Any]) -> None:
    self.write_json(SUMMARY, summary)

  def read_summary(self) -> dict[str, Any] | None:
    return self.read_json(SUMMARY)

  # Metrics.

  def append_metrics(self, record: dict[str, Any]) -> None:
    """Appends one record (it must carry 'step') as a line of metrics.jsonl.

    The line goes out in a single write and is flushed, so a killed process
    loses at most a torn last line, which `read_metrics` skips.
    """
    if 'step' not in record:
      raise ValueError(f"A metrics record needs a 'step': {sorted(record)}")
    line = jsonio.dumps(record) + '\n'
    with open(self.metrics_path, 'a+b') as f:
      # After a kill mid-line, start on a fresh line so this record survives.
      if f.tell() > 0:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b'\n':
          line = '\n' + line
      f.write(line.encode('utf-8'))
      f.flush()

  def read_metrics(self) -> list[dict[str, Any]]:
    """All metric records in order; [] if there are none.

    Lines that do not parse (a torn last line left by a killed process) are
    skipped with a warning.
    """
    try:
      text = self.metrics_path.read_text(encoding='utf-8')
    except FileNotFoundError:
      return []
    records, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
      if not line.strip():
        continue
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        bad.append(number)
    if bad:
      warnings.warn(
          f'{self.metrics_path}: skipped unreadable line(s) {bad} (a torn '
          'write from an interrupted run?)', RuntimeWarning, stacklevel=2)
    return records

  def truncate_metrics(self, max_step: int) -> None:
    """Keeps only records with step <= max_step (on resume), atomically.

    Records logged after the checkpoint that a run resumes from would
    otherwise appear twice. Unreadable lines are dropped too.
    """
    if not self.metrics_path.exists():
      return
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', RuntimeWarning)  # Torn lines: dropped.
      records = self.read_metrics()
    kept = [r for r in records if r.get('step', max_step) <= max_step]
    jsonio.atomic_write_text(
        self.metrics_path, ''.join(jsonio.dumps(r) + '\n' for r in kept))
