"""Plain stochastic gradient descent."""

import optax

from research.optim.registry import learning_rates, register


def sgd(learning_rate: optax.ScalarOrSchedule
       ) -> optax.GradientTransformationExtraArgs:
  r"""Stochastic gradient descent.

  .. math::
    p_{t+1} = p_t - \eta_t g_t

  Args:
    learning_rate: the step size :math:`\eta`, a float or a schedule of the
      step count.

  Returns:
    The optimizer: a chain of one, so every optimizer of the registry has a
    tuple state and returns the same transformation type.
  """
  return optax.chain(optax.scale_by_learning_rate(learning_rate))


register('sgd', sgd, summary='p -= lr g',
         tuning=learning_rates(1e-3, 1.0))
