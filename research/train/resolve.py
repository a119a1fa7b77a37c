"""The one pass that turns a config into a run's config.

`resolve(config)` checks every section, each by its owner (the data loader,
the model, the loss, the optimizer, the penalties, augmentation, pruning,
distillation, the parallel modes, and the loop's own `train` and `tracking`
keys), fills in the optimizer's hyperparameters from its factory's signature,
and reads the JSON files of the runs it names (`train.init_from`,
`distill.teacher`). Nothing is read or compiled before it, and nothing after
it checks the config again: its result is frozen, and resolving a resolved
config returns it as it is.

A run's identity is what its config changes from the defaults
(`overrides`): keys added later with a default leave every recorded run's
identity as it was.
"""

import hashlib
import json
import math
import numbers
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import ml_collections

from research import augment, data, distillation, losses, models, optim
from research import parallel, penalties, pruning
from research import config as config_lib
from research.errors import ConfigError, check_section_keys
from research.runs import finished_run_config
from research.tracking.run_dir import DamagedFileError

Resolved = ml_collections.FrozenConfigDict

# What a run started from `train.init_from` must share with its source: the
# parameters' shapes and what they mean (the inputs and the classes).
SAME_AS_SOURCE = ('model.hidden', 'model.activation', 'model.batchnorm',
                  'model.residual', 'model.maxout_pieces', 'data.name',
                  'data.classes', 'data.normalization', 'data.permute_inputs',
                  'data.permutation_seed')
# Before `optimizer.hparams`, the optimizer section held every optimizer's
# hyperparameters side by side; a config.json of then still loads.
_FLAT_OPTIMIZER_KEYS = ('momentum', 'nesterov', 'b1', 'b2', 'eps', 'decay',
                        'bias_correction', 'initial_accumulator', 'memory_size')
# The experiment names one directory under tracking.output_dir: a single path
# component of portable characters, short enough for any file system.
_EXPERIMENT_NAME = re.compile(r'[A-Za-z0-9._\-+=,@]*')
MAX_EXPERIMENT_LENGTH = 100
# jax.random.PRNGKey takes a uint32 seed (and NumPy's generators take it too).
SEED_LIMIT = 2**32
# JAX computes in int32 (x64 off): a size or count beyond it fails deep in
# XLA, at worst aborting the process.
INT_LIMIT = 2**31


def _check_keys(config, reference, prefix: str = '') -> None:
  """Every section present, and no key that the base config lacks."""
  check_section_keys(config, reference, prefix)
  for key, default in reference.items():
    name = f'{prefix}.{key}' if prefix else key
    if name in config_lib.OPEN_SECTIONS or not isinstance(
        default, ml_collections.ConfigDict):
      continue
    if not isinstance(config[key], ml_collections.ConfigDict):
      raise ConfigError(f'{name}: must be a section')
    _check_keys(config[key], default, name)


def _positive_int(config, key: str, minimum: int = 1) -> None:
  value = config_lib.get_value(config, key)
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(f'{key}: {value!r} must be an integer >= {minimum}')


def _check_choice(config, key: str, choices) -> None:
  value = config_lib.get_value(config, key)
  if value not in choices:
    raise ConfigError(f'{key}: {value!r} is not one of {list(choices)}')


def validate_train_config(config) -> None:
  """The loop's `train` section, against itself, the model and the data."""
  for key in ('train.batch_size', 'train.num_epochs', 'train.eval_every_epochs',
              'train.eval_batch_size', 'train.checkpoint_every_epochs'):
    _positive_int(config, key)
  _positive_int(config, 'train.keep_checkpoints', minimum=2)
  _positive_int(config, 'train.patience', minimum=0)
  if config.train.min_delta < 0:
    raise ConfigError(f'train.min_delta: {config.train.min_delta} must be >= 0')
  factor = config.train.divergence_factor
  if (not isinstance(factor, (int, float)) or isinstance(factor, bool)
      or not (factor == 0 or 1 < factor < float('inf'))):
    raise ConfigError(f'train.divergence_factor: {factor!r} must be 0 (off) or '
                      'a number > 1 (times the first step\'s loss)')
  _check_choice(config, 'train.monitor_mode', config_lib.MONITOR_MODES)
  _check_choice(config, 'train.batching', config_lib.BATCHINGS)
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
    if (split not in config_lib.MONITOR_SPLITS
        or metric not in config_lib.MONITOR_METRICS):
      known = [f'{s}/{m}' for s in config_lib.MONITOR_SPLITS
               for m in config_lib.MONITOR_METRICS]
      raise ConfigError(f'train.monitor: {monitor!r} is not one of {known} '
                        "(or '' for none)")
    # The default mode is 'max' (for accuracy): a loss monitored with it would
    # keep the worst epoch as the best.
    lower_is_better = metric.endswith(('loss', 'error'))
    wanted = 'min' if lower_is_better else 'max'
    if config.train.monitor_mode != wanted:
      better = 'lower' if lower_is_better else 'higher'
      raise ConfigError(
          f'train.monitor_mode: {config.train.monitor_mode!r} would keep the '
          f'worst epoch of train.monitor={monitor} as the best (a {metric} '
          f'is better {better}); set train.monitor_mode={wanted}')
    if split == 'dev' and config.data.dev_size == 0 and config.train.patience:
      raise ConfigError(
          f'train.patience: early stopping on {monitor!r} needs a dev set; '
          'set data.dev_size > 0 (or train.monitor=train/loss with '
          'train.monitor_mode=min)')
  elif config.train.patience:
    raise ConfigError('train.patience: early stopping needs train.monitor')
  if not isinstance(config.train.init_from, str):
    raise ConfigError(f'train.init_from: {config.train.init_from!r} must be a '
                      "run directory ('' = from the seed's initialization)")


def check_numbers(config) -> None:
  """No number anywhere in the config is NaN or infinite (each range check
  would pass an inf learning rate or coefficient, which diverges at step 1;
  `--set x=1e999` parses as inf), nor an int that no machine integer holds
  (it would fail deep in XLA). Seeds are uint32."""
  for key, value in config_lib.flatten(config).items():
    items = value if isinstance(value, (tuple, list)) else (value,)
    limit = SEED_LIMIT if key.endswith('seed') else INT_LIMIT
    for v in items:
      if isinstance(v, bool) or not isinstance(v, numbers.Real):
        continue
      if isinstance(v, numbers.Integral):
        if not -INT_LIMIT <= v < limit:
          bound = '2**32' if limit == SEED_LIMIT else '2**31'
          raise ConfigError(f'{key}: {value!r} is out of range: JAX computes '
                            f'with 32-bit ints (each must be < {bound})')
      elif not math.isfinite(v):
        raise ConfigError(f'{key}: {value!r} must be a finite number')


def validate_experiment(name) -> None:
  """The experiment is one directory under tracking.output_dir (and the W&B
  group): a short name of portable characters, never a path."""
  if not isinstance(name, str):
    raise ConfigError(f'experiment: {name!r} must be a string')
  if (len(name) > MAX_EXPERIMENT_LENGTH or name in ('.', '..')
      or not _EXPERIMENT_NAME.fullmatch(name)):
    shown = repr(name) if len(name) <= 60 else (
        f'{name[:40]!r}... ({len(name)} characters)')
    raise ConfigError(
        f'experiment: {shown} must be one directory name: at most '
        f'{MAX_EXPERIMENT_LENGTH} letters, digits and ._-+=,@ (no / or '
        "space), not '.' or '..'")


def validate_tracking_config(config) -> None:
  _check_choice(config, 'tracking.wandb', config_lib.WANDB_MODES)
  if not config.tracking.output_dir:
    raise ConfigError('tracking.output_dir: must not be empty')


def recorded_config(path: pathlib.Path, key: str) -> ml_collections.ConfigDict:
  """The config of the finished run in `path`, which the config `key` names.
  What is wrong with that run's files is a ConfigError naming `key` and
  `path`, not a key of this run's config."""
  try:
    written = finished_run_config(path, key)
  except DamagedFileError as e:
    raise ConfigError(f'{key}: {e}') from None
  try:
    if not isinstance(written, Mapping):
      raise ConfigError(f'holds a {type(written).__name__}, not a config')
    return config_from_record(written)
  except (ConfigError, TypeError, AttributeError) as e:
    raise ConfigError(f'{key}: {path}: its config.json: {e}') from None


def check_init_from(config) -> None:
  """`train.init_from` names a finished run of the same architecture and data
  (and, when both prune, of a sparsity no higher than this run's)."""
  path = pathlib.Path(config.train.init_from)
  source = recorded_config(path, 'train.init_from')
  pairs = {key: (config_lib.get_value(config, key),
                 config_lib.get_value(source, key)) for key in SAME_AS_SOURCE}
  differences = [f'{key} {mine!r} here, {theirs!r} there'
                 for key, (mine, theirs) in pairs.items()
                 if not config_lib.same_value(mine, theirs)]
  if differences:
    raise ConfigError(f'train.init_from: {path} is a run of another '
                      f'architecture or data: {"; ".join(differences)}')
  if 0 < config.prune.sparsity < source.prune.sparsity:
    raise ConfigError(
        f'prune.sparsity: {config.prune.sparsity} is below the '
        f'{source.prune.sparsity} of the run it starts from '
        f'({path}); pruning only adds to the pruned weights')


def _with_hparams(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` (a copy) with every hyperparameter of its optimizer."""
  config = config_lib.copy(config)
  hparams = optim.validate_optimizer_config(config.optimizer)
  config.optimizer.hparams = ml_collections.ConfigDict(hparams)
  return config


def resolve(config: ml_collections.ConfigDict) -> Resolved:
  """Checks `config` once, each section by its owner, and returns it frozen
  with the optimizer's hyperparameters filled in. Raises ConfigError naming
  the key. A resolved config is returned as it is."""
  if isinstance(config, Resolved):
    return config
  _check_keys(config, config_lib.base_config())
  validate_experiment(config.experiment)
  seed = config.seed
  if (isinstance(seed, bool) or not isinstance(seed, int)
      or not 0 <= seed < SEED_LIMIT):
    raise ConfigError(f'seed: {seed!r} must be an int in [0, 2**32)')
  check_numbers(config)
  data.validate_data_config(config.data)
  models.validate_model_config(config.model)
  losses.validate_loss_config(config.loss)
  config = _with_hparams(config)
  penalties.validate_penalty_config(config.regularization)
  augment.validate_augment_config(config.augment)
  if (optim.entry(config.optimizer.name).line_search
      and config.regularization.max_norm):
    raise ConfigError(
        f'regularization.max_norm: {config.optimizer.name!r} runs a line search '
        'on the loss, which a projection after the step would invalidate')
  validate_train_config(config)
  parallel.validate_parallel_config(config)
  pruning.validate_prune_config(config.prune)
  distillation.validate_distill_config(config)
  if config.train.init_from:
    check_init_from(config)
  validate_tracking_config(config)
  return Resolved(config)


# --------------------------------------------------------------------------
# Identity


def defaults_for(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The base config with the hyperparameters of `config`'s optimizer at its
  factory's defaults: what `config` is compared with to find its overrides."""
  defaults = config_lib.base_config()
  defaults.optimizer.hparams = ml_collections.ConfigDict(
      optim.entry(config.optimizer.name).defaults)
  return defaults


def overrides(config: ml_collections.ConfigDict | Mapping[str, Any]
             ) -> dict[str, Any]:
  """{dotted key: value} of what `config` computes differently from the
  defaults (the presentation sections, `tracking` and `parallel`, left out).
  Accepts a config.json's dict too."""
  if not isinstance(config, ml_collections.ConfigDict):
    config = config_from_record(config)
  config = _with_hparams(config)
  changed = config_lib.differences(config, defaults_for(config))
  return {k: v for k, v in changed.items()
          if k.split('.', 1)[0] not in config_lib.PRESENTATION_SECTIONS}


def hash_of(values: Mapping[str, Any], length: int = 10) -> str:
  """A short hash of {dotted key: value}, whatever their order."""
  text = json.dumps(values, sort_keys=True, default=list)
  return hashlib.sha256(text.encode()).hexdigest()[:length]


def config_hash(config: ml_collections.ConfigDict | Mapping[str, Any],
                length: int = 10) -> str:
  """A short hash of `overrides(config)`: equal for configs that compute the
  same run, whatever keys were added since either was written."""
  return hash_of(overrides(config), length)


def config_from_record(values: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """The config a run directory's config.json describes (keys added since it
  was written at their defaults; an optimizer section written before
  `optimizer.hparams` moved into it)."""
  values = json.loads(json.dumps(values, default=list))  # a deep copy
  section = values.get('optimizer', {})
  flat = [k for k in _FLAT_OPTIMIZER_KEYS if k in section]
  if flat and 'hparams' not in section:
    takes = optim.entry(section.get('name', 'adam')).hparams
    section['hparams'] = {k: section[k] for k in flat if k in takes}
    for key in flat:
      del section[key]
  return config_lib.from_dict(values)
