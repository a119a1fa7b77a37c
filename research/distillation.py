"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student trains on
the teacher's distribution softened at a temperature T, mixed with the hard
labels.

The teacher (one run, or an ensemble whose softened distributions are averaged)
labels the training split once, before the student compiles; the labels on the
device then become a `DistillTargets` pytree, which the epoch batches like any
array of per-example rows.
"""

import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from research import losses
from research.config.keys import same_value
from research.data.config import resolve_data_config
from research.errors import ConfigError
from research.runs import finished_run_config
from research.tracking.run_dir import DamagedFileError

# The data keys that decide which examples x_train holds, in which order, and
# how they are normalized. `dir` / `tfds_dir` only say where the files are;
# the shift keys change the dev and test splits only.
TRAIN_SPLIT_KEYS = ('name', 'dev_size', 'train_dev_size', 'train_size',
                    'train_repeats', 'label_noise', 'split_seed', 'classes',
                    'normalization', 'permute_inputs', 'permutation_seed')


class DistillTargets(NamedTuple):
  """Per-example training targets of a distilled student."""
  labels: jax.Array  # (N,) int32 class ids: the hard term, train accuracy
  teacher_log_probs: jax.Array  # (N, C) float32: log p_teacher at T


def soft_target_loss(student_logits: jax.Array, teacher_log_probs: jax.Array,
                     temperature: float) -> jax.Array:
  """T^2 * KL(p_teacher_T || softmax(student_logits / T)) per example.

  The T^2 keeps the soft term's gradient, T * (softmax(s / T) - p_teacher_T),
  on the scale of the hard term's as T changes (Hinton et al. §2). Both sides
  are log-softmaxes: no log of a probability that underflowed.
  """
  student_log_probs = jax.nn.log_softmax(student_logits / temperature)
  teacher_probs = jnp.exp(teacher_log_probs)
  # 0 * log 0 = 0: a class the teacher rules out entirely adds nothing.
  terms = jnp.where(teacher_probs > 0,
                    teacher_probs * (teacher_log_probs - student_log_probs), 0.0)
  return temperature**2 * jnp.sum(terms, axis=-1)


def distillation_loss(student_logits: jax.Array, targets: DistillTargets,
                      temperature: float, alpha: float) -> jax.Array:
  """alpha * soft_target_loss + (1 - alpha) * cross-entropy with the hard
  labels (at T = 1), per example."""
  soft = soft_target_loss(student_logits, targets.teacher_log_probs, temperature)
  hard = losses.cross_entropy(student_logits, targets.labels)
  return alpha * soft + (1.0 - alpha) * hard


def make_loss(temperature: float, alpha: float) -> losses.Loss:
  """`loss(student_logits, DistillTargets) -> (N,)` at the config's T, alpha."""
  return lambda logits, targets: distillation_loss(logits, targets,
                                                   temperature, alpha)


def softened_log_probs(logits: jax.Array, temperature: float) -> jax.Array:
  """log softmax(logits / T): one teacher's softened log-distribution."""
  return jax.nn.log_softmax(logits / temperature)


def average_log_probs(member_log_probs: Sequence[jax.Array]) -> jax.Array:
  """log of the members' averaged distributions: log mean_k p_k, as a
  log-sum-exp (an ensemble teacher averages probabilities, not logits)."""
  stacked = jnp.stack(list(member_log_probs))
  return jax.nn.logsumexp(stacked, axis=0) - math.log(stacked.shape[0])


def teacher_dirs(teacher: str) -> list[pathlib.Path]:
  """The run directories of `distill.teacher` (comma-separated)."""
  return [pathlib.Path(p.strip()) for p in teacher.split(',') if p.strip()]


def check_teachers(run_dirs: Sequence[str | pathlib.Path],
                   data_config: ml_collections.ConfigDict) -> None:
  """Refuses, naming `distill.teacher`, a directory that holds no finished
  run, or a run whose training split is not the student's (reads only its
  JSON files: nothing loads or compiles)."""
  if not run_dirs:
    raise ConfigError('distill.teacher: names no run directory')
  student = resolve_data_config(data_config)
  for path in run_dirs:
    teacher = _teacher_data_config(path)
    differing = [k for k in TRAIN_SPLIT_KEYS
                 if not same_value(teacher[k], student[k])]
    if differing:
      details = ', '.join(f'data.{k}={teacher[k]!r} (student {student[k]!r})'
                          for k in differing)
      raise ConfigError(
          f'distill.teacher: the run in {path} trained on other data: '
          f'{details}; its targets would not match the student\'s examples')


def _teacher_data_config(path: str | pathlib.Path) -> dict:
  """The data section the finished teacher run in `path` recorded. A problem
  in the teacher's files names `distill.teacher` and the directory: it is
  not a key of the student's config."""
  try:
    written = finished_run_config(path, 'distill.teacher')
  except DamagedFileError as e:
    raise ConfigError(f'distill.teacher: {e}') from None
  try:
    if not isinstance(written, Mapping):
      raise ConfigError(f'holds a {type(written).__name__}, not a config')
    return resolve_data_config(written.get('data', {}))
  except ConfigError as e:
    raise ConfigError(
        f'distill.teacher: {path}: its config.json: {e}') from None


def validate_distill_config(config: ml_collections.ConfigDict) -> None:
  """Checks the `distill` section, and the teachers' run directories it
  names (their JSON files only)."""
  d = config.distill
  if not isinstance(d.teacher, str):
    raise ConfigError(f'distill.teacher: {d.teacher!r} must be a run directory '
                      "(or several separated by commas; '' = off)")
  for key in ('temperature', 'alpha'):
    value = d[key]
    if (isinstance(value, bool) or not isinstance(value, (int, float))
        or not math.isfinite(value)):
      raise ConfigError(f'distill.{key}: {value!r} must be a finite number')
  if d.temperature <= 0:
    raise ConfigError(f'distill.temperature: {d.temperature} must be > 0')
  if not 0 <= d.alpha <= 1:
    raise ConfigError(f'distill.alpha: {d.alpha} must be in [0, 1] (the '
                      'weight of the soft targets)')
  if not d.teacher.strip():
    return
  if config.loss.get('label_smoothing', 0.0):
    raise ConfigError('distill.teacher: distillation builds its own soft '
                      'targets; set it or loss.label_smoothing off')
  if config.augment.mixup_alpha > 0:
    raise ConfigError(
        'distill.teacher: distillation with augment.mixup_alpha > 0 would mix '
        "the hard labels but not the teacher's targets; set one of them off")
  if config.loss.name != 'cross_entropy':
    raise ConfigError(
        f"distill.teacher: distillation trains with cross-entropy terms; "
        f"loss.name is {config.loss.name!r}, set it to 'cross_entropy'")
  check_teachers(teacher_dirs(d.teacher), config.data)
