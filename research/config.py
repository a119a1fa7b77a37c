"""The run config: its keys and defaults, dotted overrides, validation, identity.

A config is an `ml_collections.ConfigDict` whose keys are exactly those of
`base_config()`. Experiments start from the base and change values; users change
them with `--set key=value`. `validate` rejects an unknown key or a bad value with
a `ConfigError` naming the key, before any data is read or anything compiles.
"""

import ast
import difflib
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections

from research.augment import default_augment_config
from research.data.config import default_data_config
from research.errors import ConfigError
from research.optim.schedules import default_schedule_config
from research.penalties import default_penalty_config
from research.pruning import default_prune_config, validate_prune_config

# Keys that change where and how a run is reported or spread over devices, not
# what it computes (every parallel mode gives the same result up to float
# rounding): they are left out of the run's identity (its hash and directory
# name), so a run started on one device can resume on eight.
_PRESENTATION_KEYS = ('tracking', 'parallel')
PARALLEL_MODES = ('jit', 'sharded', 'pmap', 'vmap')
# Keys added after runs had been recorded: at these values they are left out
# of the run's identity, so the runs recorded before them keep their hash
# (and their directory: a sweep run again finds them finished). A section
# added whole lists every key; left empty, it is left out too.
_ADDED_KEY_DEFAULTS = {('model', 'compute_dtype'): 'float32',
                       ('distill', 'teacher'): '',
                       ('distill', 'temperature'): 4.0,
                       ('distill', 'alpha'): 0.9,
                       ('train', 'init_from'): '',
                       ('prune', 'sparsity'): 0.0,
                       ('prune', 'scope'): 'global'}

MONITOR_MODES = ('max', 'min')
BATCHINGS = ('epoch', 'full', 'fixed')
MONITOR_SPLITS = ('train', 'dev')
MONITOR_METRICS = ('loss', 'accuracy')


def base_config() -> ml_collections.ConfigDict:
  """Every key a run understands, with its default."""
  c = ml_collections.ConfigDict()
  c.experiment = ''
  c.seed = 0

  c.data = default_data_config()  # the data module owns its section

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (100,)
  c.model.activation = 'relu'
  c.model.init = 'lecun_normal'
  c.model.init_std = 0.0  # 0 -> the initializer's own default
  c.model.batchnorm = 'none'
  c.model.bn_momentum = 0.9
  c.model.bn_epsilon = 1e-5
  c.model.dropout = 0.0
  c.model.input_dropout = 0.0
  c.model.residual = False
  c.model.dropconnect = 0.0  # rate of dropped hidden weights (Wan et al.)
  c.model.stochastic_depth = 0.0  # drop rate of residual blocks (Huang et al.)
  c.model.maxout_pieces = 1  # > 1: maxout units of that many pieces
  # Mixed precision: 'bfloat16' computes the layers in bfloat16 while the
  # parameters, the optimizer and the loss stay float32.
  c.model.compute_dtype = 'float32'

  # Augmentation on the device inside the train step; test-time views.
  c.augment = default_augment_config()

  c.loss = ml_collections.ConfigDict()
  c.loss.name = 'cross_entropy'

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.eps = 1e-8
  c.optimizer.decay = 0.9
  c.optimizer.bias_correction = True
  c.optimizer.initial_accumulator = 0.0
  c.optimizer.memory_size = 10  # L-BFGS: (s, y) pairs kept
  # Used with every optimizer: the chain around it.
  c.optimizer.schedule = default_schedule_config()
  c.optimizer.reference_batch_size = 0  # linear scaling rule: lr * batch / this; 0 = off
  c.optimizer.grad_clip_norm = 0.0  # clip by global norm; 0 = off
  c.optimizer.weight_decay = 0.0  # decoupled, weights only (not biases, not BatchNorm)

  # Penalties added to the loss (weights only), and the max-norm constraint.
  c.regularization = default_penalty_config()

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 128
  c.train.num_epochs = 10
  c.train.shuffle = True  # False: batches in order, as the MNIST-1D notebooks
  # 'epoch': minibatches covering the training split each epoch; 'full': every
  # step sees the whole training split; 'fixed': every step sees the same first
  # batch_size examples. In 'full' and 'fixed' an epoch is one step.
  c.train.batching = 'epoch'
  # How evaluation normalizes with BatchNorm: its running statistics, or the
  # statistics of each evaluated chunk of train.eval_batch_size examples.
  c.train.bn_eval = 'running'
  c.train.eval_every_epochs = 1
  c.train.eval_batch_size = 1000
  c.train.checkpoint_every_epochs = 1
  c.train.keep_checkpoints = 2  # >= 2, so a corrupt latest has a fallback
  # The metric that picks the best checkpoint and drives early stopping.
  c.train.monitor = 'dev/accuracy'
  c.train.monitor_mode = 'max'
  c.train.patience = 0  # epochs without improvement before stopping; 0 = off
  c.train.min_delta = 0.0
  # '' = start from the seed's initialization; else a run directory: start
  # from its latest params, batch_stats (and pruning masks), with a fresh
  # optimizer at step 0 (fine-tuning, e.g. after pruning).
  c.train.init_from = ''

  # Magnitude pruning of the Dense kernels at the start of the run
  # (research/pruning.py); fine-tuning keeps the pruned weights at zero.
  c.prune = default_prune_config()

  # Knowledge distillation (research/distillation.py): the student's training
  # loss mixes the teacher's distribution softened at `temperature` (weight
  # `alpha`, scaled by T^2) with the hard labels (weight 1 - alpha).
  c.distill = ml_collections.ConfigDict()
  c.distill.teacher = ''  # '' = off; a run directory, or several (commas): an ensemble
  c.distill.temperature = 4.0
  c.distill.alpha = 0.9

  # How one step is compiled (research/parallel.py): 'jit' on one device,
  # 'sharded' (jit with the batch split over devices by a NamedSharding),
  # 'pmap' (a replica per device), 'vmap' (a population of runs as one
  # program: set by `research sweep --launcher population`, not by a run).
  c.parallel = ml_collections.ConfigDict()
  c.parallel.mode = 'jit'
  c.parallel.num_devices = 0  # sharded / pmap: the first N devices; 0 = all
  # Multi-host (jax.distributed): '' = from SLURM's environment when the job
  # has several tasks, else one process. Or host:port of process 0, with
  # num_processes and process_id set for each process.
  c.parallel.coordinator_address = ''
  c.parallel.num_processes = 0
  c.parallel.process_id = -1

  c.tracking = ml_collections.ConfigDict()
  c.tracking.output_dir = 'runs'
  c.tracking.wandb = 'auto'  # auto | online | offline | disabled
  c.tracking.project = 'research'
  c.tracking.entity = ''
  c.tracking.progress = True
  return c


# --------------------------------------------------------------------------
# Overrides


def parse_value(text: str) -> Any:
  """`'1e-3'` -> 0.001, `'(512, 512)'` -> tuple, `'true'` -> True, else the string."""
  lowered = text.strip().lower()
  if lowered in ('true', 'false'):
    return lowered == 'true'
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text
  return tuple(value) if isinstance(value, list) else value


def _known_keys_message(node: ml_collections.ConfigDict, prefix: str) -> str:
  keys = sorted(node.keys())
  return ', '.join(f'{prefix}{k}' for k in keys)


def _resolve_parent(config: ml_collections.ConfigDict, key: str):
  """Returns (parent ConfigDict, leaf name) of a dotted key, or raises."""
  parts = key.split('.')
  node = config
  for depth, part in enumerate(parts):
    prefix = '.'.join(parts[:depth])
    prefix = prefix + '.' if prefix else ''
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      if not isinstance(node, ml_collections.ConfigDict):
        raise ConfigError(f'{key}: {prefix[:-1]} is a value, not a section')
      close = difflib.get_close_matches(part, list(node.keys()), n=1)
      hint = f' Did you mean {prefix}{close[0]}?' if close else ''
      raise ConfigError(
          f'{key}: unknown config key.{hint} Known keys here: '
          f'{_known_keys_message(node, prefix)}')
    if depth == len(parts) - 1:
      if isinstance(node[part], ml_collections.ConfigDict):
        raise ConfigError(f'{key}: is a section; set one of its keys: '
                          f'{_known_keys_message(node[part], key + ".")}')
      return node, part
    node = node[part]
  raise AssertionError('unreachable')


def set_value(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  """Sets an existing dotted key, keeping the type of its default."""
  parent, leaf = _resolve_parent(config, key)
  current = parent[leaf]
  if isinstance(current, tuple) and isinstance(value, (int, float, str)):
    value = (value,)  # `--set model.hidden=100` means one hidden layer
  if isinstance(current, bool) != isinstance(value, bool):
    raise ConfigError(f'{key}: expected a {type(current).__name__}, '
                      f'got {value!r}')
  if isinstance(current, float) and isinstance(value, int):
    value = float(value)
  if (current is not None and not isinstance(value, type(current))):
    raise ConfigError(f'{key}: expected a {type(current).__name__}, '
                      f'got {value!r} ({type(value).__name__})')
  with parent.unlocked():
    parent[leaf] = value


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Iterable[str]) -> ml_collections.ConfigDict:
  """Applies `key=value` strings in order to a copy of `config`."""
  config = ml_collections.ConfigDict(config.to_dict())
  for item in overrides:
    if '=' not in item:
      raise ConfigError(f'{item!r}: an override is written key=value, '
                        'e.g. optimizer.learning_rate=0.01')
    key, text = item.split('=', 1)
    set_value(config, key.strip(), parse_value(text))
  return config


def from_dict(values: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A config from its JSON form (a run directory's config.json): the base
  config with every value set, lists turned back into tuples."""
  config = base_config()

  def assign(prefix: str, node: Mapping[str, Any]) -> None:
    for key, value in node.items():
      dotted = f'{prefix}{key}'
      if isinstance(value, Mapping):
        assign(dotted + '.', value)
      else:
        set_value(config, dotted, tuple(value) if isinstance(value, list) else value)

  assign('', values)
  return config


def merge(config: ml_collections.ConfigDict,
          values: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Applies {dotted_key: value} to a copy; a key given twice cannot happen."""
  config = ml_collections.ConfigDict(config.to_dict())
  for key, value in values.items():
    set_value(config, key, value)
  return config


# --------------------------------------------------------------------------
# Validation


def _check_keys(config, reference, prefix: str = '') -> None:
  """Rejects keys that the base config does not have (typos in experiments)."""
  for key in config.keys():
    name = f'{prefix}{key}'
    if key not in reference:
      known = _known_keys_message(reference, prefix)
      raise ConfigError(f'{name}: unknown config key. Known keys here: {known}')
    if isinstance(reference[key], ml_collections.ConfigDict):
      if not isinstance(config[key], ml_collections.ConfigDict):
        raise ConfigError(f'{name}: must be a section')
      _check_keys(config[key], reference[key], name + '.')


def _positive_int(config, key: str, minimum: int = 1) -> None:
  value = _get(config, key)
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(f'{key}: {value!r} must be an integer >= {minimum}')


def _get(config, key: str):
  node = config
  for part in key.split('.'):
    node = node[part]
  return node


def _check_choice(config, key: str, choices) -> None:
  value = _get(config, key)
  if value not in choices:
    raise ConfigError(f'{key}: {value!r} is not one of {list(choices)}')


def validate_train_config(config) -> None:
  """Checks the `train` section against itself and the data section."""
  for key in ('train.batch_size', 'train.num_epochs', 'train.eval_every_epochs',
              'train.eval_batch_size', 'train.checkpoint_every_epochs'):
    _positive_int(config, key)
  _positive_int(config, 'train.keep_checkpoints', minimum=2)
  _positive_int(config, 'train.patience', minimum=0)
  if config.train.min_delta < 0:
    raise ConfigError(f'train.min_delta: {config.train.min_delta} must be >= 0')
  _check_choice(config, 'train.monitor_mode', MONITOR_MODES)
  _check_choice(config, 'train.batching', BATCHINGS)
  _check_choice(config, 'train.bn_eval', ('running', 'batch'))
  if config.train.bn_eval == 'batch' and config.model.batchnorm == 'none':
    raise ConfigError("train.bn_eval: 'batch' needs BatchNorm in the model "
                      '(model.batchnorm before or after)')
  monitor = config.train.monitor
  if monitor:
    split, _, metric = monitor.partition('/')
    if split == 'test':
      raise ConfigError(
          f'train.monitor: {monitor!r} selects on the test set, which then no '
          'longer measures generalization; monitor a dev/ metric instead')
    if split not in MONITOR_SPLITS or metric not in MONITOR_METRICS:
      known = [f'{s}/{m}' for s in MONITOR_SPLITS for m in MONITOR_METRICS]
      raise ConfigError(f'train.monitor: {monitor!r} is not one of {known} '
                        "(or '' for none)")
    if split == 'dev' and config.data.dev_size == 0 and config.train.patience:
      raise ConfigError(
          f'train.patience: early stopping on {monitor!r} needs a dev set; '
          'set data.dev_size > 0 (or train.monitor=train/loss)')
  elif config.train.patience:
    raise ConfigError('train.patience: early stopping needs train.monitor')


def validate_parallel_config(config) -> None:
  p = config.parallel
  _check_choice(config, 'parallel.mode', PARALLEL_MODES)
  _positive_int(config, 'parallel.num_devices', minimum=0)
  if p.mode in ('sharded', 'pmap') and config.train.batching != 'epoch':
    raise ConfigError(
        f"parallel.mode: {p.mode!r} splits minibatches over devices; it needs "
        f"train.batching='epoch' (not {config.train.batching!r})")
  if p.coordinator_address:
    _positive_int(config, 'parallel.num_processes')
    _positive_int(config, 'parallel.process_id', minimum=0)
    if p.process_id >= p.num_processes:
      raise ConfigError(f'parallel.process_id: {p.process_id} must be below '
                        f'parallel.num_processes={p.num_processes}')
  elif p.num_processes or p.process_id != -1:
    raise ConfigError('parallel.num_processes / parallel.process_id: set '
                      'parallel.coordinator_address too (or leave all three '
                      'unset to read SLURM\'s environment)')


def validate_distill_config(config) -> None:
  """Checks the `distill` section; the teacher's directories are checked when
  the run is built (they need the filesystem)."""
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
  if config.augment.mixup_alpha > 0:
    raise ConfigError(
        'distill.teacher: distillation with augment.mixup_alpha > 0 would mix '
        "the hard labels but not the teacher's targets; set one of them off")
  if config.loss.name != 'cross_entropy':
    raise ConfigError(
        f"distill.teacher: distillation trains with cross-entropy terms; "
        f"loss.name is {config.loss.name!r}, set it to 'cross_entropy'")


def validate_tracking_config(config) -> None:
  _check_choice(config, 'tracking.wandb',
                ('auto', 'online', 'offline', 'disabled'))
  if not config.tracking.output_dir:
    raise ConfigError('tracking.output_dir: must not be empty')


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError, naming the key, for anything wrong; reads no data."""
  # Imported here: each section's owner validates it, and this module stays
  # importable without pulling in JAX.
  from research import augment, data, losses, models, optim, penalties  # pylint: disable=g-import-not-at-top

  _check_keys(config, base_config())
  if isinstance(config.seed, bool) or not isinstance(config.seed, int):
    raise ConfigError(f'seed: {config.seed!r} must be an integer')
  data.validate_data_config(config.data)
  models.validate_model_config(config.model)
  losses.validate_loss_config(config.loss)
  optim.validate_optimizer_config(config.optimizer)
  penalties.validate_penalty_config(config.regularization)
  augment.validate_augment_config(config.augment)
  if (optim.registry.REGISTRY[config.optimizer.name].needs_value_fn
      and config.regularization.max_norm):
    raise ConfigError(
        f'regularization.max_norm: {config.optimizer.name!r} runs a line search '
        'on the loss, which a projection after the step would invalidate')
  validate_train_config(config)
  validate_parallel_config(config)
  validate_distill_config(config)
  validate_prune_config(config.prune)
  if not isinstance(config.train.init_from, str):
    raise ConfigError(f'train.init_from: {config.train.init_from!r} must be a '
                      "run directory ('' = from the seed's initialization)")
  validate_tracking_config(config)


# --------------------------------------------------------------------------
# Identity


def to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), sort_keys=True, default=list)


def config_hash(config: ml_collections.ConfigDict | Mapping[str, Any],
                length: int = 10) -> str:
  """A short hash of what the run computes (presentation keys left out).

  Equal for a ConfigDict and its JSON round trip (tuples hash as lists).
  """
  if isinstance(config, ml_collections.ConfigDict):
    config = config.to_dict()
  content = {k: (dict(v) if isinstance(v, Mapping) else v)
             for k, v in config.items() if k not in _PRESENTATION_KEYS}
  for (section, key), default in _ADDED_KEY_DEFAULTS.items():
    if content.get(section, {}).get(key, default) == default:
      content.get(section, {}).pop(key, None)
      if content.get(section) == {}:
        del content[section]
  text = json.dumps(content, sort_keys=True, default=list)
  return hashlib.sha256(text.encode()).hexdigest()[:length]
