"""Orbax checkpoints of the train state: the latest few, and the best one.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a killed process never leaves a half-written checkpoint that looks
finished. What can still go wrong afterwards is caught at restore:

- damage (a truncated or missing file, garbage, one flipped bit): every
  checkpoint's `meta` holds a SHA-256 digest of the state and meta it was
  written with, compared on restore; a checkpoint that fails to load or to
  match is moved to `damaged/` with a warning naming it, and the previous one
  is restored;
- a step saved twice (a kill between a round's best and latest saves, or a
  step trained again after a damaged checkpoint): the step is replaced.
"""

import hashlib
import json
import logging
import pathlib
import shutil
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from research.train.state import TrainState

_ITEMS = ('state', 'meta')
# The meta key of the digest; old checkpoints without it restore unchecked.
CHECKSUM = 'checksum'


def _manager(directory: pathlib.Path, keep: int) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=True, enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options, item_names=_ITEMS)


def _abstract(state: TrainState):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


def _host_array(leaf) -> np.ndarray:
  """A leaf's values on this host (a multi-host state is replicated: any
  process's shard is the whole array)."""
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    leaf = leaf.addressable_shards[0].data
  return np.asarray(leaf)


def digest(state: TrainState, meta: dict) -> str:
  """SHA-256 of every leaf (its path, dtype, shape and bytes) and of `meta`:
  what a checkpoint must give back bit for bit."""
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(state):
    a = np.ascontiguousarray(_host_array(leaf))
    h.update(f'{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|'.encode())
    h.update(a.tobytes())
  h.update(json.dumps(meta, sort_keys=True, allow_nan=True).encode())
  return h.hexdigest()


class DamagedCheckpointError(ValueError):
  """A checkpoint's content is not what was written."""


class Checkpointer:
  """`latest/` keeps the last `keep` checkpoints; `best/` keeps one.

  Each checkpoint holds the train state and `meta`, a JSON dict of what the
  Python side of the loop needs to continue (epoch, early stopping, elapsed
  time), so a resumed run continues exactly where it stopped.
  """

  def __init__(self, directory: str | pathlib.Path, keep: int = 2, *,
               primary: bool = True):
    # Orbax needs an absolute path; run directories are often given relative.
    self.directory = pathlib.Path(directory).absolute()
    self.primary = primary  # whether this process moves and deletes files
    self._keep = keep
    self._latest = _manager(self.directory / 'latest', keep)
    self._best = _manager(self.directory / 'best', 1)

  def _save(self, manager, step: int, state: TrainState, meta: dict) -> None:
    step = int(step)
    if step in manager.all_steps():
      # Written by an attempt that was killed before its round ended, or a
      # damaged step trained again: this save replaces it.
      self._drop(manager, step)
    meta = {**meta, CHECKSUM: digest(state, meta)}
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                 force=True)
    manager.wait_until_finished()

  def save_latest(self, step: int, state: TrainState, meta: dict) -> None:
    self._save(self._latest, step, state, meta)

  def save_best(self, step: int, state: TrainState, meta: dict) -> None:
    self._save(self._best, step, state, meta)

  def latest_steps(self) -> list[int]:
    return sorted(self._latest.all_steps())

  def best_steps(self) -> list[int]:
    return sorted(self._best.all_steps())

  def _read(self, manager, step: int, like: TrainState
            ) -> tuple[TrainState, dict[str, Any]]:
    """(state, meta) of `step`; DamagedCheckpointError unless it is exactly
    what was written."""
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(like)),
        meta=ocp.args.JsonRestore()))
    state, meta = restored['state'], dict(restored['meta'])
    jax.block_until_ready(state)
    expected = meta.pop(CHECKSUM, None)
    if expected is not None and digest(state, meta) != expected:
      raise DamagedCheckpointError(
          'its content does not match the checksum it was written with')
    return state, meta

  def _readable(self, manager, which: str, like: TrainState
                ) -> Iterator[tuple[int, TrainState, dict[str, Any]]]:
    """(step, state, meta) of each checkpoint that reads back as written,
    newest first; a damaged one is set aside with a warning."""
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        state, meta = self._read(manager, step, like)
      except Exception as e:  # pylint: disable=broad-except
        # Any failure to read means this checkpoint is damaged: the previous
        # one is still a correct state of the same run.
        kept = self._set_aside(manager, which, step)
        message = (f'{which} checkpoint at step {step} in {manager.directory} '
                   f'is damaged ({type(e).__name__}: {_first_line(e)}); '
                   f'{kept}falling back to the previous checkpoint')
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        logging.warning(message)
        continue
      yield step, state, meta

  def latest_candidates(self, like: TrainState
                        ) -> Iterator[tuple[int, TrainState, dict[str, Any]]]:
    """The readable latest checkpoints, newest first (see `_readable`)."""
    return self._readable(self._latest, 'latest', like)

  def restore_latest(self, like: TrainState):
    """(state, meta) of the newest readable latest checkpoint, or None."""
    return next(((s, m) for _, s, m in self.latest_candidates(like)), None)

  def restore_best(self, like: TrainState):
    return next(((s, m) for _, s, m in self._readable(self._best, 'best', like)),
                None)

  def best_is_readable(self, step: int, like: TrainState) -> bool:
    """Whether best/ holds `step` as it was written (set aside if damaged)."""
    if step not in self._best.all_steps():
      return False
    return any(s == step for s, _, _ in self._readable(self._best, 'best', like))

  def keep_latest_up_to(self, step: int) -> None:
    """Deletes the latest checkpoints newer than `step` (the run goes on from
    `step`, and trains them again) and those older than the `keep` newest
    (which a kill during a save can leave before orbax deletes them)."""
    steps = self.latest_steps()
    kept = [s for s in steps if s <= step][-self._keep:]
    for s in steps:
      if s not in kept:
        self._drop(self._latest, s)

  def _drop(self, manager, step: int) -> None:
    if self.primary:
      shutil.rmtree(pathlib.Path(manager.directory) / str(step),
                    ignore_errors=True)
    manager.reload()

  def _set_aside(self, manager, which: str, step: int) -> str:
    """Moves a damaged checkpoint to `damaged/` (for a post-mortem); says
    where, for the warning."""
    if not self.primary:
      manager.reload()
      return ''
    source = pathlib.Path(manager.directory) / str(step)
    target = self.directory / 'damaged' / f'{which}-{step}-{time.time_ns()}'
    try:
      target.parent.mkdir(parents=True, exist_ok=True)
      shutil.move(source, target)
      kept = f'moved to {target}; '
    except OSError:
      shutil.rmtree(source, ignore_errors=True)
      kept = 'deleted; '
    manager.reload()
    return kept

  def close(self) -> None:
    self._latest.close()
    self._best.close()


def _first_line(error: Exception) -> str:
  text = str(error).strip().splitlines()
  return text[0][:300] if text else ''
