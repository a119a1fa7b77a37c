"""The one place where a run's optimizer is built from its config."""

import ml_collections
import optax

from research.config import base_config
from research.errors import ConfigError
from research.optim import registry

_DEFAULTS = base_config().optimizer


def validate_optimizer_config(config: ml_collections.ConfigDict) -> None:
  entry = registry._entry(config.name)  # pylint: disable=protected-access
  lr = config.learning_rate
  if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
    raise ConfigError(f'optimizer.learning_rate: {lr!r} must be a number > 0')
  for key in ('b1', 'b2', 'decay', 'momentum'):
    if not 0 <= config[key] < 1:
      raise ConfigError(f'optimizer.{key}: {config[key]} is outside [0, 1)')
  if config.eps <= 0:
    raise ConfigError(f'optimizer.eps: {config.eps} must be > 0')
  # A hyperparameter the chosen optimizer ignores must not silently differ
  # from its default: that is almost always a mistake in a sweep.
  used = set(entry.hparams) | {'name', 'learning_rate'}
  for key in config.keys():
    if key not in used and config[key] != _DEFAULTS[key]:
      raise ConfigError(
          f'optimizer.{key}: {config.name!r} does not use {key} '
          f'(it takes learning_rate{"".join(", " + h for h in entry.hparams)})')


def build_optimizer(config: ml_collections.ConfigDict
                   ) -> optax.GradientTransformationExtraArgs:
  """Builds the optimizer of `config.optimizer` (validated before)."""
  opt = config.optimizer
  entry = registry._entry(opt.name)  # pylint: disable=protected-access
  hparams = {name: opt[name] for name in entry.hparams}
  return registry.get(opt.name, opt.learning_rate, **hparams)
