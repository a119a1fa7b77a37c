"""AdaGrad (Duchi, Hazan & Singer, 2011)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.registry import learning_rates, register


class ScaleByAdagradState(NamedTuple):
  sum_of_squares: optax.Updates  # G: the running sum of squared gradients


def scale_by_adagrad(eps: jax.typing.ArrayLike = 1e-8,
                     initial_accumulator: jax.typing.ArrayLike = 0.0
                    ) -> optax.GradientTransformation:
  r"""Divides each coordinate by the root of its summed squared gradients.

  .. math::
    G_t = G_{t-1} + g_t^2, \qquad u_t = g_t / (\sqrt{G_t} + \epsilon),
    \qquad G_0 = \text{initial\_accumulator}

  `eps` is outside the root, as in the course and in PyTorch. (Optax's
  `scale_by_rss` puts it inside, :math:`g / \sqrt{G + \epsilon}`, and starts
  from :math:`G_0 = 0.1`.)

  Args:
    eps: added to the root, so a coordinate that has seen only tiny gradients
      does not take a huge step.
    initial_accumulator: :math:`G_0`, >= 0.

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
    updates = jax.tree.map(lambda g, s: g / (jnp.sqrt(s) + eps),
                           updates, sum_of_squares)
    return updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

  return optax.GradientTransformation(init_fn, update_fn)


def adagrad(learning_rate: optax.ScalarOrSchedule,
            eps: jax.typing.ArrayLike = 1e-8,
            initial_accumulator: jax.typing.ArrayLike = 0.0
           ) -> optax.GradientTransformationExtraArgs:
  r"""AdaGrad, with eps outside the root.

  .. math::
    G \leftarrow G + g^2, \qquad p \leftarrow p - \eta_t g / (\sqrt{G} + \epsilon)

  See `scale_by_adagrad`.
  """
  return optax.chain(scale_by_adagrad(eps, initial_accumulator),
                     optax.scale_by_learning_rate(learning_rate))


register('adagrad', adagrad, summary='G += g^2; p -= lr g / (sqrt(G) + eps)',
         ranges={'eps': '(0, inf)', 'initial_accumulator': '[0, inf)'},
         tuning=learning_rates(1e-3, 1.0))
