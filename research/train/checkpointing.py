"""Orbax checkpoints of the train state: the latest few, and the best one.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a killed process never leaves a half-written checkpoint that looks
finished. A checkpoint that is damaged afterwards (a truncated file) is caught
at restore: we warn and fall back to the previous one.
"""

import logging
import pathlib
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp

from research.train.state import TrainState

_ITEMS = ('state', 'meta')


def _manager(directory: pathlib.Path, keep: int) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=True, enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options, item_names=_ITEMS)


def _abstract(state: TrainState):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


class Checkpointer:
  """`latest/` keeps the last `keep` checkpoints; `best/` keeps one.

  Each checkpoint holds the train state and `meta`, a JSON dict of what the
  Python side of the loop needs to continue (epoch, early stopping, elapsed
  time), so a resumed run continues exactly where it stopped.
  """

  def __init__(self, directory: str | pathlib.Path, keep: int = 2):
    # Orbax needs an absolute path; run directories are often given relative.
    self.directory = pathlib.Path(directory).absolute()
    self._latest = _manager(self.directory / 'latest', keep)
    self._best = _manager(self.directory / 'best', 1)

  def _save(self, manager, step: int, state: TrainState, meta: dict) -> None:
    manager.save(int(step), args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                 force=True)
    manager.wait_until_finished()

  def save_latest(self, step: int, state: TrainState, meta: dict) -> None:
    self._save(self._latest, step, state, meta)

  def save_best(self, step: int, state: TrainState, meta: dict) -> None:
    self._save(self._best, step, state, meta)

  def latest_steps(self) -> list[int]:
    return sorted(self._latest.all_steps())

  def _restore(self, manager, like: TrainState, which: str
              ) -> tuple[TrainState, dict[str, Any]] | None:
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(like)),
            meta=ocp.args.JsonRestore()))
        state = restored['state']
        jax.block_until_ready(state)
        return state, dict(restored['meta'])
      except Exception as e:  # pylint: disable=broad-except
        # Any failure to read means this checkpoint is damaged: the previous
        # one is still a correct state of the same run.
        message = (f'{which} checkpoint at step {step} in {manager.directory} '
                   f'could not be restored ({type(e).__name__}: {e}); '
                   'falling back to the previous checkpoint')
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        logging.warning(message)
    return None

  def restore_latest(self, like: TrainState):
    """(state, meta) of the newest readable checkpoint, or None."""
    return self._restore(self._latest, like, 'latest')

  def restore_best(self, like: TrainState):
    return self._restore(self._best, like, 'best')

  def close(self) -> None:
    self._latest.close()
    self._best.close()
