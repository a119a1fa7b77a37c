"""Gradient clipping by global norm (Pascanu, Mikolov & Bengio 2013)."""

import jax
import jax.numpy as jnp
import optax


def global_norm(updates: optax.Updates) -> jax.Array:
  """||g||_2 over every leaf together, accumulated in float32 at least."""
  squares = [jnp.sum(jnp.square(g.astype(jnp.promote_types(g.dtype, jnp.float32))))
             for g in jax.tree.leaves(updates)]
  return jnp.sqrt(sum(squares)) if squares else jnp.zeros([])


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
  r"""Rescales the whole gradient onto the ball of radius `max_norm`.

  .. math::
    g \leftarrow g \cdot \min\left(1, \frac{c}{\lVert g \rVert_2}\right),
    \qquad \lVert g \rVert_2^2 = \sum_{\text{leaves}} \sum_i g_i^2

  One norm over every parameter: the direction of the step is kept, only
  its length is bounded, so an exploding gradient (a cliff of the loss)
  moves the parameters by at most `c` times the learning rate. A zero
  gradient stays zero. The state is `optax.EmptyState`, as that of
  `optax.clip_by_global_norm`, whose result this equals.

  Args:
    max_norm: :math:`c > 0`.
  """

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    norm = global_norm(updates)
    # Where norm <= c the factor is exactly 1 (no rounding of small steps).
    factor = jnp.where(norm <= max_norm, 1.0, max_norm / jnp.maximum(norm, max_norm))
    return jax.tree.map(lambda g: (g * factor).astype(g.dtype), updates), state

  return optax.GradientTransformation(init_fn, update_fn)
