"""Heavy-ball (Polyak) momentum and its Nesterov variant."""

from typing import NamedTuple

import jax
import optax

from research.optim.registry import learning_rates, register


class ScaleByHeavyBallState(NamedTuple):
  velocity: optax.Updates  # in gradient units; the learning rate comes after


def scale_by_heavy_ball(momentum: jax.typing.ArrayLike = 0.9,
                        nesterov: bool = False) -> optax.GradientTransformation:
  r"""Accumulates a velocity of past gradients.

  .. math::
    v_t = \mu v_{t-1} + g_t, \qquad
    u_t = v_t \text{ (heavy ball) or } g_t + \mu v_t \text{ (Nesterov)}

  The Nesterov form is Sutskever et al.'s (2013) rewritten in terms of the
  current parameters, as in `optax.sgd(nesterov=True)`.

  Args:
    momentum: the decay :math:`\mu` of the velocity.
    nesterov: look ahead along the new velocity.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init_fn(params):
    return ScaleByHeavyBallState(velocity=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    # Cast back so that a float32 hyperparameter leaves bfloat16 state bfloat16.
    velocity = jax.tree.map(
        lambda g, v: (momentum * v + g).astype(v.dtype), updates, state.velocity)
    if nesterov:
      updates = jax.tree.map(lambda g, v: g + momentum * v, updates, velocity)
    else:
      updates = velocity
    return updates, ScaleByHeavyBallState(velocity=velocity)

  return optax.GradientTransformation(init_fn, update_fn)


def _chain(learning_rate: optax.ScalarOrSchedule, mu: jax.typing.ArrayLike,
           use_nesterov: bool) -> optax.GradientTransformationExtraArgs:
  # Shared by `momentum` and `nesterov`, whose `momentum` argument shadows the
  # function of that name.
  return optax.chain(scale_by_heavy_ball(mu, use_nesterov),
                     optax.scale_by_learning_rate(learning_rate))


def momentum(learning_rate: optax.ScalarOrSchedule,
             momentum: jax.typing.ArrayLike = 0.9,  # pylint: disable=redefined-outer-name
             nesterov: bool = False) -> optax.GradientTransformationExtraArgs:
  r"""SGD with momentum: :math:`v = \mu v + g;\ p \mathrel{-}= \eta_t v`.

  The velocity is kept in gradient units and the learning rate applied after
  it. The other textbook form, :math:`v = \mu v - \eta g;\ p \mathrel{+}= v`,
  folds the learning rate into the velocity; the two give the same trajectory
  for a constant learning rate but not under a schedule: here a change of
  :math:`\eta_t` rescales the whole step at once, there it only weighs new
  gradients. This form is Optax's and PyTorch's.

  Args:
    learning_rate: a float or a schedule of the step count.
    momentum: the decay :math:`\mu` of the velocity.
    nesterov: use the Nesterov update :math:`g + \mu v` instead of :math:`v`.

  Returns:
    The optimizer.
  """
  return _chain(learning_rate, momentum, nesterov)


def nesterov(learning_rate: optax.ScalarOrSchedule,
             momentum: jax.typing.ArrayLike = 0.9  # pylint: disable=redefined-outer-name
            ) -> optax.GradientTransformationExtraArgs:
  r"""Nesterov momentum: :math:`v = \mu v + g;\ p \mathrel{-}= \eta_t (g + \mu v)`.

  The same as `momentum(learning_rate, momentum, nesterov=True)`.
  """
  return _chain(learning_rate, momentum, True)


register('momentum', momentum, summary='v = mu v + g; p -= lr v',
         ranges={'momentum': '[0, 1)'},
         tuning=learning_rates(1e-3, 1.0))
register('nesterov', nesterov, summary='v = mu v + g; p -= lr (g + mu v)',
         ranges={'momentum': '[0, 1)'},
         tuning=learning_rates(1e-3, 1.0))
