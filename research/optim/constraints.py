"""The max-norm constraint (Srivastava et al. 2014, Dropout, section 5.1).

"Constrain the norm of the incoming weight vector at each hidden unit to be
upper bounded by a fixed constant c": after each update, every column w_j of a
kernel W (shape (fan_in, fan_out), unit j's incoming weights) is projected onto
the ball ||w_j||_2 <= c:

  w_j <- w_j * min(1, c / ||w_j||_2).

Only weights are constrained (`masks.weights_mask`); biases and BatchNorm
parameters are not. Every kernel is, the output layer's included.
"""

from typing import Any

import jax
import jax.numpy as jnp
import optax

from research.optim.masks import is_weight

PyTree = Any


def _column_norms(w: jax.Array) -> jax.Array:
  # A unit's incoming weights are all axes but the last (the unit's axis).
  return jnp.sqrt(jnp.sum(jnp.square(w), axis=tuple(range(w.ndim - 1)),
                          keepdims=True))


def _project(w: jax.Array, max_norm: float | jax.Array) -> jax.Array:
  norm = _column_norms(w)
  # `where`, not a multiply by 1: columns inside the ball stay bit-for-bit.
  return jnp.where(norm > max_norm, w * (max_norm / norm), w)


def _project_update(u: jax.Array, p: jax.Array,
                    max_norm: float | jax.Array) -> jax.Array:
  """The update u' with p + u' = proj(p + u); u itself where no column moves."""
  q = p + u
  norm = _column_norms(q)
  return jnp.where(norm > max_norm, q * (max_norm / norm) - p, u)


def project_max_norm(params: PyTree, max_norm: float | jax.Array) -> PyTree:
  """Rescales each weight column of L2 norm above `max_norm` to that norm.

  Args:
    params: a parameter tree; leaves with ndim >= 2 are kernels
      (fan_in, fan_out).
    max_norm: c > 0, the largest norm an incoming weight vector may have.

  Returns:
    The tree with each kernel column w_j replaced by w_j * min(1, c/||w_j||);
    1-D leaves (biases, BatchNorm) unchanged.
  """
  return jax.tree.map(
      lambda p: _project(p, max_norm) if is_weight(p) else p, params)


def max_norm(max_norm: float | jax.Array  # pylint: disable=redefined-outer-name
            ) -> optax.GradientTransformation:
  """Max-norm as an update transform: u -> proj(p + u) - p.

  Put it LAST in an optax chain: after `optax.apply_updates(p, u)` the params
  are `proj(p + u)`, so every incoming weight vector has norm <= c (up to
  rounding of p + (q - p)). Being a projection of the new params, it needs
  `params` at update time.

  Args:
    max_norm: c > 0, the bound on each unit's incoming weight norm.

  Returns:
    An `optax.GradientTransformation` with an empty state.
  """
  if isinstance(max_norm, (int, float)) and not max_norm > 0:
    raise ValueError(f'max_norm: c = {max_norm!r} must be > 0')

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
          'max_norm projects the updated params, so it needs them: call '
          'tx.update(updates, state, params)')
    updates = jax.tree.map(
        lambda u, p: _project_update(u, p, max_norm) if is_weight(p) else u,
        updates, params)
    return updates, state

  return optax.GradientTransformation(init_fn, update_fn)
