"""A distilled student's training targets: its teachers, restored from their
run directories, label the training split once (research/distillation.py has
the loss and the checks)."""

import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from research.distillation import (DistillTargets, average_log_probs,
                                   softened_log_probs)
from research.train.restore import load_trained


def teacher_logits(run_dir: str | pathlib.Path, dataset,
                   batch_size: int = 1000) -> np.ndarray:
  """The teacher's evaluation-mode logits on `dataset.x_train`, in chunks."""
  trained = load_trained(run_dir, dataset=dataset)
  variables = {'params': trained.state.params,
               'batch_stats': trained.state.batch_stats}

  chunk = jax.jit(lambda v, x: trained.model.apply(v, x, train=False))
  x = dataset.x_train
  return np.concatenate([np.asarray(chunk(variables, x[i:i + batch_size]))
                         for i in range(0, len(x), batch_size)])


def teacher_targets(run_dirs: Sequence[str | pathlib.Path], dataset,
                    temperature: float) -> DistillTargets:
  """The training split's `DistillTargets` from one teacher or an ensemble
  (checked by `distillation.check_teachers` when the config was resolved)."""
  members = [softened_log_probs(jnp.asarray(teacher_logits(d, dataset)),
                                temperature) for d in run_dirs]
  log_probs = members[0] if len(members) == 1 else average_log_probs(members)
  return DistillTargets(labels=np.asarray(dataset.y_train, np.int32),
                        teacher_log_probs=np.asarray(log_probs, np.float32))
