"""Hyperparameters that enter the compiled step as data.

The learning rate, weight decay and regularization strengths live in the train
state as float32 scalars, so runs that differ only in them share one compiled
program (and a population `vmap`s over them). A strength that is zero in the
config stays a Python 0 instead: the model then skips that noise entirely,
drawing no random numbers for it, and the optimizer has no decay term.
"""

import jax.numpy as jnp
import ml_collections

# state.hparams key -> config key.
TRACED = {
    'learning_rate': 'optimizer.learning_rate',
    'weight_decay': 'optimizer.weight_decay',
    'dropout': 'model.dropout',
    'input_dropout': 'model.input_dropout',
    'dropconnect': 'model.dropconnect',
    'stochastic_depth': 'model.stochastic_depth',
    'mixup_alpha': 'augment.mixup_alpha',
}

# state.hparams key -> the model's call argument.
_MODEL_ARGUMENTS = {
    'dropout': 'dropout_rate',
    'input_dropout': 'input_dropout_rate',
    'dropconnect': 'dropconnect_rate',
    'stochastic_depth': 'stochastic_depth_rate',
}


def _get(config: ml_collections.ConfigDict, dotted: str) -> float:
  section, key = dotted.split('.')
  return float(config[section][key])


def initial_hparams(config: ml_collections.ConfigDict) -> dict:
  """The config's nonzero strengths, as float32 scalars."""
  return {name: jnp.asarray(_get(config, key), jnp.float32)
          for name, key in TRACED.items() if _get(config, key)}


def model_rates(hparams: dict) -> dict:
  """Keyword arguments for the model's call: the traced rate where the state
  has one, else None (the model's own configured rate)."""
  return {arg: hparams.get(name) for name, arg in _MODEL_ARGUMENTS.items()}
