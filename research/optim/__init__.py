"""Optimizers as Optax transforms, schedules, constraints, a name -> factory
registry, and the one builder of a run's optimizer chain from its config.

Importing this package registers the optimizers: each registers itself in
its own file, and every module of the package is imported below, so a new
optimizer is one file with one `register` call and nothing else.
"""

import importlib
import pkgutil

from research.optim.registry import (OptimizerEntry, entry, get, learning_rates,
                                     names, register)
# The optimizers, each registering itself.
from research.optim.adadelta import ScaleByAdadeltaState, adadelta, scale_by_adadelta
from research.optim.adagrad import ScaleByAdagradState, adagrad, scale_by_adagrad
from research.optim.adam import (ScaleByAdamState, adam, nadam, scale_by_adam,
                                 scale_by_nadam)
from research.optim.adamw import adamw, nadamw
from research.optim.lbfgs import LbfgsState, lbfgs
from research.optim.lion import ScaleByLionState, lion, scale_by_lion
from research.optim.momentum import (ScaleByHeavyBallState, momentum, nesterov,
                                     scale_by_heavy_ball)
from research.optim.muon import ScaleByMuonState, muon, newton_schulz, scale_by_muon
from research.optim.newton import BfgsState, NewtonState, bfgs, bfgs_update, newton
from research.optim.prodigy import ProdigyState, prodigy
from research.optim.rmsprop import ScaleByRmsState, rmsprop, scale_by_rms
from research.optim.sam import SamState, sam, sharpness_aware
from research.optim.schedule_free import (ScheduleFreeState, schedule_free,
                                          schedule_free_adamw,
                                          schedule_free_eval_params,
                                          schedule_free_sgd)
from research.optim.sgd import sgd
from research.optim.soap import ScaleBySoapState, scale_by_soap, soap
# Around them.
from research.optim.build import (build_optimizer, optimizer_for,
                                  validate_optimizer_config)
from research.optim.averaging import ParameterEmaState, ema_params, parameter_ema
from research.optim.clipping import clip_by_global_norm, global_norm
from research.optim.constraints import max_norm, project_max_norm
from research.optim.evaluation import evaluation_params
from research.optim.masks import weights_mask
from research.optim.schedules import build_schedule, scaled_learning_rate
from research.optim.weight_decay import decoupled_weight_decay

__all__ = [
    # The registry and building a run's optimizer.
    'OptimizerEntry', 'build_optimizer', 'entry', 'get', 'learning_rates', 'names',
    'optimizer_for', 'register', 'validate_optimizer_config',
    # The optimizers and their transforms.
    'BfgsState', 'LbfgsState', 'NewtonState', 'ProdigyState', 'SamState',
    'ScaleByAdadeltaState',
    'ScaleByAdagradState', 'ScaleByAdamState', 'ScaleByHeavyBallState',
    'ScaleByLionState', 'ScaleByMuonState', 'ScaleByRmsState', 'ScaleBySoapState',
    'ScheduleFreeState', 'adadelta', 'adagrad', 'adam', 'adamw', 'bfgs', 'bfgs_update',
    'lbfgs', 'lion', 'momentum', 'muon', 'nadam', 'nadamw', 'nesterov', 'newton',
    'newton_schulz', 'prodigy',
    'rmsprop', 'sam', 'scale_by_adadelta', 'scale_by_adagrad', 'scale_by_adam',
    'scale_by_heavy_ball', 'scale_by_lion', 'scale_by_muon', 'scale_by_nadam',
    'scale_by_rms', 'scale_by_soap', 'schedule_free', 'schedule_free_adamw',
    'schedule_free_eval_params', 'schedule_free_sgd', 'sgd', 'sharpness_aware', 'soap',
    # Around them: clipping, schedules, decay, constraints, averages.
    'ParameterEmaState', 'build_schedule', 'clip_by_global_norm', 'decoupled_weight_decay',
    'ema_params', 'global_norm',
    'evaluation_params', 'max_norm', 'parameter_ema', 'project_max_norm',
    'scaled_learning_rate', 'weights_mask',
]

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f'{__name__}.{_module.name}')
