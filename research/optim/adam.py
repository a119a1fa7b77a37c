"""Adam (Kingma & Ba, 2015) and Nadam (Dozat, 2016)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.registry import learning_rates, register


class ScaleByAdamState(NamedTuple):
  count: jax.Array  # int32 scalar: the steps taken, for the bias correction
  mu: optax.Updates  # m: moving average of the gradients
  nu: optax.Updates  # v: moving average of the squared gradients


def _init(params) -> ScaleByAdamState:
  return ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                          mu=optax.tree.zeros_like(params),
                          nu=optax.tree.zeros_like(params))


def _moments(updates, state, b1, b2):
  """Both moving averages, cast back so bfloat16 state stays bfloat16."""
  mu = jax.tree.map(lambda g, m: (b1 * m + (1 - b1) * g).astype(m.dtype),
                    updates, state.mu)
  nu = jax.tree.map(lambda g, v: (b2 * v + (1 - b2) * g * g).astype(v.dtype),
                    updates, state.nu)
  return mu, nu


def _debias(moment, decay, count):
  # 1 - decay^t is formed in float32 (count is int32): in bfloat16 it would
  # round to 0 for decay near 1. The division is in the moment's precision.
  return optax.tree.bias_correction(moment, decay, count)


def _scale(mu_hat, nu_hat, eps):
  return jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)


def scale_by_adam(b1: jax.typing.ArrayLike = 0.9,
                  b2: jax.typing.ArrayLike = 0.999,
                  eps: jax.typing.ArrayLike = 1e-8,
                  bias_correction: bool = True) -> optax.GradientTransformation:
  r"""Rescales by Adam's moment estimates.

  .. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
    \hat m_t = m_t / (1 - \beta_1^t), \quad
    \hat v_t = v_t / (1 - \beta_2^t), \quad
    u_t = \hat m_t / (\sqrt{\hat v_t} + \epsilon)

  Without bias correction :math:`\hat m_t = m_t` and :math:`\hat v_t = v_t`,
  and the early steps are mis-scaled: the first is
  :math:`(1 - \beta_1) / \sqrt{1 - \beta_2}` times the corrected one (about
  3.2 for the defaults), since :math:`v` starts further below its level than
  :math:`m` does.

  Args:
    b1: :math:`\beta_1`, the decay of the first moment.
    b2: :math:`\beta_2`, the decay of the second moment.
    eps: added to the root.
    bias_correction: divide the moments by :math:`1 - \beta^t`.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def update_fn(updates, state, params=None):
    del params
    mu, nu = _moments(updates, state, b1, b2)
    # Saturates at the int32 maximum instead of wrapping round.
    count = optax.safe_increment(state.count)
    if bias_correction:
      updates = _scale(_debias(mu, b1, count), _debias(nu, b2, count), eps)
    else:
      updates = _scale(mu, nu, eps)
    return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(_init, update_fn)


def scale_by_nadam(b1: jax.typing.ArrayLike = 0.9,
                   b2: jax.typing.ArrayLike = 0.999,
                   eps: jax.typing.ArrayLike = 1e-8) -> optax.GradientTransformation:
  r"""Rescales by Nadam's moment estimates: Adam with a Nesterov look-ahead.

  With :math:`m_t, v_t` as in Adam,

  .. math::
    \hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}}
             + \frac{(1-\beta_1) g_t}{1 - \beta_1^t}, \quad
    \hat v_t = \frac{v_t}{1 - \beta_2^t}, \quad
    u_t = \hat m_t / (\sqrt{\hat v_t} + \epsilon)

  This is `optax.nadam`'s definition: Dozat's Algorithm 2 with a constant
  :math:`\beta_1` (no momentum schedule) and without the extra factor
  :math:`\beta_2` on :math:`\hat v_t` (which other implementations omit too).

  Args:
    b1: :math:`\beta_1`, the decay of the first moment.
    b2: :math:`\beta_2`, the decay of the second moment.
    eps: added to the root.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def update_fn(updates, state, params=None):
    del params
    mu, nu = _moments(updates, state, b1, b2)
    count = optax.safe_increment(state.count)
    # The look-ahead: next step's momentum debiased with t + 1, blended with
    # the current gradient debiased with t.
    mu_hat = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g,
                          _debias(mu, b1, optax.safe_increment(count)),
                          _debias(updates, b1, count))
    updates = _scale(mu_hat, _debias(nu, b2, count), eps)
    return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(_init, update_fn)


def adam(learning_rate: optax.ScalarOrSchedule,
         b1: jax.typing.ArrayLike = 0.9,
         b2: jax.typing.ArrayLike = 0.999,
         eps: jax.typing.ArrayLike = 1e-8,
         bias_correction: bool = True) -> optax.GradientTransformationExtraArgs:
  r"""Adam: :math:`p \mathrel{-}= \eta_t \hat m_t / (\sqrt{\hat v_t} + \epsilon)`.

  See `scale_by_adam`.
  """
  return optax.chain(scale_by_adam(b1, b2, eps, bias_correction),
                     optax.scale_by_learning_rate(learning_rate))


def nadam(learning_rate: optax.ScalarOrSchedule,
          b1: jax.typing.ArrayLike = 0.9,
          b2: jax.typing.ArrayLike = 0.999,
          eps: jax.typing.ArrayLike = 1e-8) -> optax.GradientTransformationExtraArgs:
  r"""Nadam: Adam with Nesterov momentum, as `optax.nadam` defines it.

  See `scale_by_nadam`.
  """
  return optax.chain(scale_by_nadam(b1, b2, eps),
                     optax.scale_by_learning_rate(learning_rate))


register('adam', adam, summary='p -= lr m_hat / (sqrt(v_hat) + eps) (Kingma & Ba)',
         ranges={'b1': '[0, 1)', 'b2': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-5, 0.1))
register('nadam', nadam, summary='Adam with Nesterov momentum (Dozat), as optax.nadam',
         ranges={'b1': '[0, 1)', 'b2': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-5, 0.1))
