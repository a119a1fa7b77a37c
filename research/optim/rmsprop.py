"""RMSProp (Hinton, Coursera lecture 6e)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.registry import learning_rates, register


class ScaleByRmsState(NamedTuple):
  nu: optax.Updates  # E[g^2]: the moving average of squared gradients


def scale_by_rms(decay: jax.typing.ArrayLike = 0.9,
                 eps: jax.typing.ArrayLike = 1e-8,
                 eps_in_sqrt: bool = False) -> optax.GradientTransformation:
  r"""Divides each coordinate by the root of a moving average of its squares.

  .. math::
    \nu_t = \rho \nu_{t-1} + (1 - \rho) g_t^2, \qquad
    u_t = g_t / (\sqrt{\nu_t} + \epsilon), \qquad \nu_0 = 0

  `eps` is outside the root, as in Keras and PyTorch: it is
  `optax.scale_by_rms(..., eps_in_sqrt=False)`. With `eps_in_sqrt` it is
  inside, :math:`u_t = g_t / \sqrt{\nu_t + \epsilon}`, the lecture slides'
  form and Optax's default. There is no bias correction:
  early steps are larger than lr (by up to :math:`1/\sqrt{1 - \rho}`).

  Args:
    decay: :math:`\rho`, the decay of the moving average.
    eps: added to the root (or under it, with `eps_in_sqrt`).
    eps_in_sqrt: put `eps` inside the root.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init_fn(params):
    return ScaleByRmsState(nu=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    nu = jax.tree.map(
        lambda g, n: (decay * n + (1 - decay) * g * g).astype(n.dtype),
        updates, state.nu)
    updates = jax.tree.map(
        lambda g, n: g / (jnp.sqrt(n + eps) if eps_in_sqrt else jnp.sqrt(n) + eps),
        updates, nu)
    return updates, ScaleByRmsState(nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def rmsprop(learning_rate: optax.ScalarOrSchedule,
            decay: jax.typing.ArrayLike = 0.9,
            eps: jax.typing.ArrayLike = 1e-8,
            eps_in_sqrt: bool = False) -> optax.GradientTransformationExtraArgs:
  r"""RMSProp, with eps outside the root (inside with `eps_in_sqrt`).

  .. math::
    E[g^2] \leftarrow \rho E[g^2] + (1-\rho) g^2, \qquad
    p \leftarrow p - \eta_t g / (\sqrt{E[g^2]} + \epsilon)

  See `scale_by_rms`.
  """
  return optax.chain(scale_by_rms(decay, eps, eps_in_sqrt),
                     optax.scale_by_learning_rate(learning_rate))


register('rmsprop', rmsprop,
         summary='E = decay E + (1 - decay) g^2; p -= lr g / (sqrt(E) + eps)',
         ranges={'decay': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-5, 0.1))
