"""Optimizers as Optax transforms, schedules, constraints, a name -> factory
registry, and the one builder of a run's optimizer chain from its config.

Importing this package registers the optimizers: each registers itself in
its own file, and every module of the package is imported below, so a new
optimizer is one file with one `register` call and nothing else.
"""

import importlib
import pkgutil

from research.optim.registry import OptimizerEntry, entry, get, names, register
# The optimizers, each registering itself.
from research.optim.adadelta import ScaleByAdadeltaState, adadelta, scale_by_adadelta
from research.optim.adagrad import ScaleByAdagradState, adagrad, scale_by_adagrad
from research.optim.adam import (ScaleByAdamState, adam, nadam, scale_by_adam,
                                 scale_by_nadam)
from research.optim.lbfgs import LbfgsState, lbfgs
from research.optim.momentum import (ScaleByHeavyBallState, momentum, nesterov,
                                     scale_by_heavy_ball)
from research.optim.rmsprop import ScaleByRmsState, rmsprop, scale_by_rms
from research.optim.sgd import sgd
# Around them.
from research.optim.build import (build_optimizer, optimizer_for,
                                  validate_optimizer_config)
from research.optim.constraints import max_norm, project_max_norm
from research.optim.masks import weights_mask
from research.optim.schedules import build_schedule, scaled_learning_rate
from research.optim.weight_decay import decoupled_weight_decay

__all__ = [
    # The registry and building a run's optimizer.
    'OptimizerEntry', 'build_optimizer', 'entry', 'get', 'names', 'optimizer_for',
    'register', 'validate_optimizer_config',
    # The optimizers and their transforms.
    'LbfgsState', 'ScaleByAdadeltaState', 'ScaleByAdagradState', 'ScaleByAdamState',
    'ScaleByHeavyBallState', 'ScaleByRmsState', 'adadelta', 'adagrad', 'adam', 'lbfgs',
    'momentum', 'nadam', 'nesterov', 'rmsprop', 'scale_by_adadelta', 'scale_by_adagrad',
    'scale_by_adam', 'scale_by_heavy_ball', 'scale_by_nadam', 'scale_by_rms', 'sgd',
    # Around them: schedules, decay, constraints.
    'build_schedule', 'decoupled_weight_decay', 'max_norm', 'project_max_norm',
    'scaled_learning_rate', 'weights_mask',
]

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f'{__name__}.{_module.name}')
