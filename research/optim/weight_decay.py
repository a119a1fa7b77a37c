"""Decoupled weight decay (Loshchilov & Hutter): p -= lr_t * wd * p, on weights only.

Added after the optimizer's own update, so the decay is not rescaled by Adam's or
RMSProp's preconditioner (that is what "decoupled" means), but still follows the
learning-rate schedule, as in AdamW: p_{t+1} = p_t - lr_t * (update_t + wd * p_t).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class DecoupledWeightDecayState(NamedTuple):
  count: jax.Array  # steps taken, to evaluate the learning-rate schedule


def decoupled_weight_decay(
    weight_decay: float,
    learning_rate: float | optax.Schedule,
    mask: Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
  """Adds -lr_t * weight_decay * p to the updates of the leaves `mask` selects.

  Args:
    weight_decay: the decay coefficient (lambda).
    learning_rate: the same float or schedule the optimizer uses.
    mask: params -> pytree of bools; None decays every leaf.
  """

  def init(params):
    del params
    return DecoupledWeightDecayState(count=jnp.zeros([], jnp.int32))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError('decoupled_weight_decay needs params at update time')
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    selected = (mask(params) if mask is not None
                else jax.tree.map(lambda _: True, params))

    def decay(u, p, keep):
      return u - lr * weight_decay * p if keep else u

    updates = jax.tree.map(decay, updates, params, selected)
    return updates, DecoupledWeightDecayState(
        count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init, update)
