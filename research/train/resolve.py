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
import pathlib
from collections.abc import Mapping
from typing import Any

import ml_collections

from research import augment, data, distillation, losses, models, optim
from research import parallel, penalties, pruning
from research import config as config_lib
from research.errors import ConfigError, check_section_keys
from research.runs import finished_run_config

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
    if split == 'dev' and config.data.dev_size == 0 and config.train.patience:
      raise ConfigError(
          f'train.patience: early stopping on {monitor!r} needs a dev set; '
          'set data.dev_size > 0 (or train.monitor=train/loss)')
  elif config.train.patience:
    raise ConfigError('train.patience: early stopping needs train.monitor')
  if not isinstance(config.train.init_from, str):
    raise ConfigError(f'train.init_from: {config.train.init_from!r} must be a '
                      "run directory ('' = from the seed's initialization)")


def validate_tracking_config(config) -> None:
  _check_choice(config, 'tracking.wandb', config_lib.WANDB_MODES)
  if not config.tracking.output_dir:
    raise ConfigError('tracking.output_dir: must not be empty')


def check_init_from(config) -> None:
  """`train.init_from` names a finished run of the same architecture and data
  (and, when both prune, of a sparsity no higher than this run's)."""
  path = pathlib.Path(config.train.init_from)
  source = config_from_record(finished_run_config(path, 'train.init_from'))
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
  if isinstance(config.seed, bool) or not isinstance(config.seed, int):
    raise ConfigError(f'seed: {config.seed!r} must be an integer')
  data.validate_data_config(config.data)
  models.validate_model_config(config.model)
  losses.validate_loss_config(config.loss)
  config = _with_hparams(config)
  penalties.validate_penalty_config(config.regularization)
  augment.validate_augment_config(config.augment)
  if (optim.entry(config.optimizer.name).needs_value_fn
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
