"""AdamW and NAdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay.

The decay is added to Adam's direction after the preconditioner, so it is not
rescaled by :math:`1 / \\sqrt{\\hat v}` (that is what "decoupled" means), and is
multiplied by the learning rate, schedule included, as in `optax.adamw` and
PyTorch (the paper multiplies it by the schedule multiplier only).
"""

from collections.abc import Callable
from typing import Any

import jax
import optax

from research.optim.adam import scale_by_adam, scale_by_nadam
from research.optim.masks import weights_mask
from research.optim.registry import learning_rates, register
from research.optim.weight_decay import decoupled_weight_decay

Mask = Callable[[Any], Any] | Any | None


def masked_weight_decay(weight_decay: jax.typing.ArrayLike,
                        learning_rate: optax.ScalarOrSchedule,
                        mask: Mask) -> optax.GradientTransformation:
  """`p -= lr_t * weight_decay * p` on the leaves `mask` selects (weights only
  by default: see research/optim/masks.py), the project's decoupled decay.

  `mask` is a callable params -> tree of bools, such a tree itself, or None
  (every leaf), as Optax's `mask` argument.
  """
  if mask is not None and not callable(mask):
    fixed = mask
    mask = lambda params: fixed  # noqa: E731
  return decoupled_weight_decay(weight_decay, learning_rate, mask=mask)


def adamw(learning_rate: optax.ScalarOrSchedule,
          b1: jax.typing.ArrayLike = 0.9,
          b2: jax.typing.ArrayLike = 0.999,
          eps: jax.typing.ArrayLike = 1e-8,
          weight_decay: jax.typing.ArrayLike = 1e-4,
          *,
          mask: Mask = weights_mask) -> optax.GradientTransformationExtraArgs:
  r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

  With :math:`\hat m_t, \hat v_t` Adam's bias-corrected moments (see
  `scale_by_adam`), learning rate :math:`\eta_t` and decay :math:`\lambda`,

  .. math::
    p_{t+1} = p_t - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
              + \lambda\, p_t \right)

  on the weights; the leaves `mask` leaves out (by default biases and
  BatchNorm's scale and shift, `masks.weights_mask`) take Adam's step alone.
  This is `optax.adamw(..., eps_root=0, mask=weights_mask)`; Optax's own
  default mask is None (every leaf decays). The paper's Algorithm 2 multiplies
  :math:`\lambda` by the schedule multiplier :math:`\eta_t / \eta` only, not the
  base rate; like Optax and PyTorch, :math:`\lambda` here is per unit of
  learning rate, so the effective decay per step is :math:`\eta_t \lambda`.

  With :math:`\lambda = 0` it is `adam` exactly (the decay term adds 0).
  It has its own `weight_decay`, so a run's chain-level
  `optimizer.weight_decay` (the same term) must stay 0 when this one is not:
  `validate_optimizer_config` refuses both at once.

  Args:
    learning_rate: :math:`\eta_t`, a float or a schedule.
    b1: :math:`\beta_1`, the decay of the first moment.
    b2: :math:`\beta_2`, the decay of the second moment.
    eps: added to the root.
    weight_decay: :math:`\lambda`, per unit of learning rate.
    mask: which leaves decay: a callable params -> tree of bools, such a tree,
      or None for every leaf. Not a config hyperparameter.

  References:
    Loshchilov & Hutter, `Decoupled Weight Decay Regularization
    <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
  """
  return optax.chain(scale_by_adam(b1, b2, eps),
                     optax.scale_by_learning_rate(learning_rate),
                     masked_weight_decay(weight_decay, learning_rate, mask))


def nadamw(learning_rate: optax.ScalarOrSchedule,
           b1: jax.typing.ArrayLike = 0.9,
           b2: jax.typing.ArrayLike = 0.999,
           eps: jax.typing.ArrayLike = 1e-8,
           weight_decay: jax.typing.ArrayLike = 1e-4,
           *,
           mask: Mask = weights_mask) -> optax.GradientTransformationExtraArgs:
  r"""NAdamW: Nadam's direction with AdamW's decoupled weight decay.

  .. math::
    p_{t+1} = p_t - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
              + \lambda\, p_t \right), \quad
    \hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}}
             + \frac{(1-\beta_1) g_t}{1 - \beta_1^t}

  with :math:`\hat m_t` the Nesterov look-ahead of `scale_by_nadam` (Dozat,
  2016). This is `optax.nadamw(..., eps_root=0, mask=weights_mask)`, the
  AlgoPerf baseline's update; see `adamw` for the decay and the mask.

  References:
    Dozat, `Incorporating Nesterov Momentum into Adam
    <https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ>`_, ICLR workshop 2016.
  """
  return optax.chain(scale_by_nadam(b1, b2, eps),
                     optax.scale_by_learning_rate(learning_rate),
                     masked_weight_decay(weight_decay, learning_rate, mask))


_RANGES = {'b1': '[0, 1)', 'b2': '[0, 1)', 'eps': '(0, inf)',
           'weight_decay': '[0, inf)'}
register('adamw', adamw, summary='Adam + decoupled weight decay p -= lr wd p on '
         'weights (Loshchilov & Hutter), as optax.adamw', ranges=_RANGES,
         tuning=learning_rates(1e-5, 0.1))
register('nadamw', nadamw, summary='Nadam + decoupled weight decay on weights, '
         'as optax.nadamw', ranges=_RANGES,
         tuning=learning_rates(1e-5, 0.1))
