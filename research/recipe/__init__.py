"""The recipe for a new network, as tools (Karpathy's "A recipe for training
neural networks"; the lectures' babysitting checklist):

  1. `check_initial_loss`: at initialization the loss is what chance predicts
     (log C for softmax cross-entropy over C classes).
  2. `overfit_batches`: without regularization the network memorizes 5-10
     batches.
  3. `lr_range_test`: the learning-rate range test (Smith 2017) suggests a
     learning rate.
  4. `coarse_lr_step`: 1e-1, 1e-2, 1e-3, 1e-4 for ~100 iterations with a
     small weight decay; each rate's loss gets a verdict from
     `diagnose_learning_rate` ('too small', 'ok', 'too large'), and the rate
     whose loss falls fastest is picked.
  5. `coarse_to_fine_search`: random search of the learning rate and the
     weight decay together over a wide range for a short budget, then again
     over the range of the best points for longer, each round one vmapped
     population.

Each takes a run's config and returns a plain result; `research recipe NAME`
(launch/recipe.py) runs the five in order and reports them.
"""

from research.recipe.coarse_lr import CoarseLRResult
from research.recipe.coarse_lr import RateTrial
from research.recipe.coarse_lr import coarse_lr_step
from research.recipe.coarse_to_fine import CoarseToFineResult
from research.recipe.coarse_to_fine import Round
from research.recipe.coarse_to_fine import coarse_to_fine_search
from research.recipe.coarse_to_fine import default_axes
from research.recipe.coarse_to_fine import narrow_axes
from research.recipe.coarse_to_fine import narrow_axis
from research.recipe.coarse_to_fine import rank
from research.recipe.coarse_to_fine import ranking_metric
from research.recipe.initial_loss import InitialLoss
from research.recipe.initial_loss import InitialLossWarning
from research.recipe.initial_loss import check_initial_loss
from research.recipe.initial_loss import expected_initial_loss
from research.recipe.initial_loss import measure_initial_loss
from research.recipe.lr_diagnosis import Diagnosis
from research.recipe.lr_diagnosis import diagnose_learning_rate
from research.recipe.lr_range import LRRangeResult
from research.recipe.lr_range import geometric_learning_rates
from research.recipe.lr_range import lr_range_test
from research.recipe.lr_range import plot_lr_range
from research.recipe.lr_range import smooth
from research.recipe.lr_range import stopping_index
from research.recipe.lr_range import suggest_learning_rate
from research.recipe.overfit import OverfitResult
from research.recipe.overfit import overfit_batches
from research.recipe.overfit import overfit_config

__all__ = [
    'CoarseLRResult',
    'CoarseToFineResult',
    'Diagnosis',
    'InitialLoss',
    'InitialLossWarning',
    'LRRangeResult',
    'OverfitResult',
    'RateTrial',
    'Round',
    'check_initial_loss',
    'coarse_lr_step',
    'coarse_to_fine_search',
    'default_axes',
    'diagnose_learning_rate',
    'expected_initial_loss',
    'geometric_learning_rates',
    'lr_range_test',
    'measure_initial_loss',
    'narrow_axes',
    'narrow_axis',
    'overfit_batches',
    'overfit_config',
    'plot_lr_range',
    'rank',
    'ranking_metric',
    'smooth',
    'stopping_index',
    'suggest_learning_rate',
]
