"""AdaGrad (Duchi, Hazan & Singer, 2011)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.registry import learning_rates, register


class ScaleByAdagradState(NamedTuple):
  sum_of_squares: optax.Updates  # G: the running sum of squared gradients


def scale_by_adagrad(eps: jax.typing.ArrayLike = 1e-8,
                     initial_accumulator: jax.typing.ArrayLike = 0.0,
                     eps_in_sqrt: bool = False) -> optax.GradientTransformation:
  r"""Divides each coordinate by the root of its summed squared gradients.

  .. math::
    G_t = G_{t-1} + g_t^2, \qquad u_t = g_t / (\sqrt{G_t} + \epsilon),
    \qquad G_0 = \text{initial\_accumulator}

  `eps` is outside the root, as in PyTorch; with `eps_in_sqrt` it is inside,
  :math:`u_t = g_t / \sqrt{G_t + \epsilon}`, as the lecture's slides write
  it and Optax's `scale_by_rss` computes it (Optax starts from
  :math:`G_0 = 0.1`).

  Args:
    eps: added to the root, so a coordinate that has seen only tiny gradients
      does not take a huge step.
    initial_accumulator: :math:`G_0`, >= 0.
    eps_in_sqrt: put `eps` inside the root (the slides' form).

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init_fn(params):
    return ScaleByAdagradState(
        sum_of_squares=optax.tree.full_like(params, initial_accumulator))

  def update_fn(updates, state, params=None):
    del params
    sum_of_squares = jax.tree.map(
        lambda g, s: (s + g * g).astype(s.dtype), updates, state.sum_of_squares)
    updates = jax.tree.map(
        lambda g, s: g / (jnp.sqrt(s + eps) if eps_in_sqrt else jnp.sqrt(s) + eps),
        updates, sum_of_squares)
    return updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

  return optax.GradientTransformation(init_fn, update_fn)


def adagrad(learning_rate: optax.ScalarOrSchedule,
            eps: jax.typing.ArrayLike = 1e-8,
            initial_accumulator: jax.typing.ArrayLike = 0.0,
            eps_in_sqrt: bool = False) -> optax.GradientTransformationExtraArgs:
  r"""AdaGrad, with eps outside the root (inside with `eps_in_sqrt`).

  .. math::
    G \leftarrow G + g^2, \qquad p \leftarrow p - \eta_t g / (\sqrt{G} + \epsilon)

  See `scale_by_adagrad`.
  """
  return optax.chain(scale_by_adagrad(eps, initial_accumulator, eps_in_sqrt),
                     optax.scale_by_learning_rate(learning_rate))


register('adagrad', adagrad, summary='G += g^2; p -= lr g / (sqrt(G) + eps)',
         ranges={'eps': '(0, inf)', 'initial_accumulator': '[0, inf)'},
         tuning=learning_rates(1e-3, 1.0))
