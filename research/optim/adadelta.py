"""AdaDelta (Zeiler, 2012)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.registry import learning_rates, register


class ScaleByAdadeltaState(NamedTuple):
  e_g2: optax.Updates  # E[g^2]: the moving average of squared gradients
  e_dx2: optax.Updates  # E[dx^2]: the moving average of squared unit-rate updates


def scale_by_adadelta(decay: jax.typing.ArrayLike = 0.95,
                      eps: jax.typing.ArrayLike = 1e-6
                     ) -> optax.GradientTransformation:
  r"""Zeiler's update: the ratio of two RMS's gives each coordinate its units.

  .. math::
    E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
    \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}
                    {\sqrt{E[g^2]_t + \epsilon}}\, g_t, \qquad
    E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) \Delta_t^2

  with both averages starting at 0. The paper's step is :math:`-\Delta_t`
  (learning rate 1); a learning rate scales the step but not the
  :math:`\Delta` that is averaged, as in PyTorch and `optax.adadelta`.
  `eps` is inside both roots: it sets the size of the first steps
  (:math:`\sqrt{\epsilon}` / RMS(g)), so it is a real hyperparameter here,
  not only a guard against division by zero; the paper's default is 1e-6.

  Args:
    decay: :math:`\rho`, the decay of both moving averages.
    eps: added under both roots.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init_fn(params):
    return ScaleByAdadeltaState(e_g2=optax.tree.zeros_like(params),
                                e_dx2=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    e_g2 = jax.tree.map(lambda g, e: (decay * e + (1 - decay) * g * g).astype(e.dtype),
                        updates, state.e_g2)
    deltas = jax.tree.map(lambda g, eg, ex: jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps) * g,
                          updates, e_g2, state.e_dx2)
    e_dx2 = jax.tree.map(lambda d, e: (decay * e + (1 - decay) * d * d).astype(e.dtype),
                         deltas, state.e_dx2)
    return deltas, ScaleByAdadeltaState(e_g2=e_g2, e_dx2=e_dx2)

  return optax.GradientTransformation(init_fn, update_fn)


def adadelta(learning_rate: optax.ScalarOrSchedule,
             decay: jax.typing.ArrayLike = 0.95,
             eps: jax.typing.ArrayLike = 1e-6
            ) -> optax.GradientTransformationExtraArgs:
  r"""AdaDelta; learning rate 1 is the paper's method.

  .. math::
    p \leftarrow p - \eta_t \frac{\mathrm{RMS}[\Delta]_{t-1}}{\mathrm{RMS}[g]_t} g

  See `scale_by_adadelta`.
  """
  return optax.chain(scale_by_adadelta(decay, eps),
                     optax.scale_by_learning_rate(learning_rate))


register('adadelta', adadelta,
         summary='E = decay E + (1 - decay) g^2; d = sqrt(D + eps) / sqrt(E + eps) g; '
         'D = decay D + (1 - decay) d^2; p -= lr d (Zeiler: lr 1, decay 0.95, eps 1e-6)',
         ranges={'decay': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-2, 10.0))
