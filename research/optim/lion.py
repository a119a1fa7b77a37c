"""Lion (Chen et al., 2023): the sign of an interpolated momentum."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.adamw import Mask, masked_weight_decay
from research.optim.masks import weights_mask
from research.optim.registry import learning_rates, register


class ScaleByLionState(NamedTuple):
  count: jax.Array  # int32 scalar: the steps taken
  mu: optax.Updates  # m: moving average of the gradients, with decay b2


def scale_by_lion(b1: jax.typing.ArrayLike = 0.9,
                  b2: jax.typing.ArrayLike = 0.99) -> optax.GradientTransformation:
  r"""Lion's direction: the sign of the momentum blended with the gradient.

  .. math::
    u_t = \operatorname{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t), \quad
    m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

  Every coordinate of :math:`u_t` is -1, 0 or 1, so the step has the same size
  on every coordinate, whatever the gradient's scale. Two decays: :math:`\beta_1`
  blends the current gradient into the direction, :math:`\beta_2 > \beta_1`
  keeps a longer memory in the state. No bias correction (the sign does not
  see the scale that it would fix).

  Args:
    b1: :math:`\beta_1`, the blend of momentum and gradient for the sign.
    b2: :math:`\beta_2`, the decay of the momentum kept.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init(params):
    return ScaleByLionState(count=jnp.zeros([], jnp.int32),
                            mu=optax.tree.zeros_like(params))

  def update(updates, state, params=None):
    del params
    direction = jax.tree.map(
        lambda g, m: jnp.sign(b1 * m + (1 - b1) * g).astype(m.dtype),
        updates, state.mu)
    # Cast back so bfloat16 state stays bfloat16 under float32 hyperparameters.
    mu = jax.tree.map(lambda g, m: (b2 * m + (1 - b2) * g).astype(m.dtype),
                      updates, state.mu)
    return direction, ScaleByLionState(count=optax.safe_increment(state.count),
                                       mu=mu)

  return optax.GradientTransformation(init, update)


def lion(learning_rate: optax.ScalarOrSchedule,
         b1: jax.typing.ArrayLike = 0.9,
         b2: jax.typing.ArrayLike = 0.99,
         weight_decay: jax.typing.ArrayLike = 1e-3,
         *,
         mask: Mask = weights_mask) -> optax.GradientTransformationExtraArgs:
  r"""Lion (Chen et al., 2023): :math:`p \mathrel{-}= \eta_t (u_t + \lambda p)`.

  .. math::
    u_t = \operatorname{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t), \quad
    m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t, \quad
    p_{t+1} = p_t - \eta_t (u_t + \lambda p_t)

  the paper's Algorithm 2, with the decoupled decay :math:`\lambda` on the
  weights only (`masks.weights_mask`; Optax's default mask is None, every
  leaf). This is `optax.lion(..., mask=weights_mask)`, with its defaults.
  The sign makes each coordinate move by :math:`\eta_t` per step, so Lion's
  learning rate is typically 3-10x smaller than AdamW's and its
  :math:`\lambda` 3-10x larger, for the same :math:`\eta \lambda` (the paper).
  Its `weight_decay` is the same term as the chain's `optimizer.weight_decay`:
  `validate_optimizer_config` refuses both nonzero.

  Args:
    learning_rate: :math:`\eta_t`, a float or a schedule.
    b1: :math:`\beta_1`, the blend of momentum and gradient for the sign.
    b2: :math:`\beta_2`, the decay of the momentum kept.
    weight_decay: :math:`\lambda`, per unit of learning rate.
    mask: which leaves decay: a callable params -> tree of bools, such a tree,
      or None for every leaf. Not a config hyperparameter.

  References:
    Chen et al., `Symbolic Discovery of Optimization Algorithms
    <https://arxiv.org/abs/2302.06675>`_, NeurIPS 2023.
  """
  return optax.chain(scale_by_lion(b1, b2),
                     optax.scale_by_learning_rate(learning_rate),
                     masked_weight_decay(weight_decay, learning_rate, mask))


register('lion', lion, summary='p -= lr (sign(b1 m + (1-b1) g) + wd p) '
         '(Chen et al.), as optax.lion',
         ranges={'b1': '[0, 1]', 'b2': '[0, 1)', 'weight_decay': '[0, inf)'},
         tuning=learning_rates(1e-6, 1e-2))
