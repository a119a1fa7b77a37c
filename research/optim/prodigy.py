"""Prodigy (Mishchenko & Defazio, 2024): Adam whose step size estimates itself."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.adamw import Mask
from research.optim.masks import weights_mask
from research.optim.registry import learning_rates, register


class ProdigyState(NamedTuple):
  count: jax.Array  # int32 scalar: the steps taken (bias correction, schedule)
  mu: optax.Updates  # m: moving average of d g
  nu: optax.Updates  # v: moving average of d^2 g^2
  s: optax.Updates  # the weighted sum of the gradients: the denominator's
  params0: optax.Params  # x_0, the starting point
  d: jax.Array  # float32 scalar: the estimate of the distance to a solution
  r: jax.Array  # float32 scalar: the weighted sum of <g, x_0 - x>: the numerator


def _vdot(tree_a, tree_b) -> jax.Array:
  """<a, b> over the whole tree, in float32 (bfloat16 would lose the sum)."""
  return sum(jnp.vdot(a.astype(jnp.float32), b.astype(jnp.float32))
             for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)))


def _l1(tree) -> jax.Array:
  return sum(jnp.sum(jnp.abs(x.astype(jnp.float32))) for x in jax.tree.leaves(tree))


@jax.jit
def _bias_correction(b1, b2, count):
  """sqrt(1 - b2^t) / (1 - b1^t), in float32 (count is int32). Under jit, as
  `optax.tree.bias_correction`: called eagerly, `b ** count` with a concrete
  count would compile an `integer_pow` for every value of the count."""
  return ((1 - b2**count) ** 0.5) / (1 - b1**count)


def prodigy(learning_rate: optax.ScalarOrSchedule,
            b1: jax.typing.ArrayLike = 0.9,
            b2: jax.typing.ArrayLike = 0.999,
            eps: jax.typing.ArrayLike = 1e-8,
            d0: jax.typing.ArrayLike = 1e-6,
            d_coef: jax.typing.ArrayLike = 1.0,
            weight_decay: jax.typing.ArrayLike = 0.0,
            safeguard_warmup: bool = False,
            *,
            b3: jax.typing.ArrayLike | None = None,
            mask: Mask = weights_mask) -> optax.GradientTransformationExtraArgs:
  r"""Prodigy: Adam with the step size :math:`d_k` estimated on the fly.

  The learning rate :math:`\gamma_k` here is a multiplier of the estimated
  step (1 recommended, under a cosine or linear decay), not a step size. From
  :math:`d_0` (an under-estimate), :math:`r_0 = 0`, :math:`s_0 = m_0 = v_0 = 0`,
  with :math:`\beta_3 = \sqrt{\beta_2}` unless given, at step
  :math:`k = 0, 1, \dots` (:math:`t = k + 1`):

  .. math::
    \lambda_k &= \gamma_k\, d_k\, \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}
      \quad \text{(the step size: estimate, multiplier, bias correction)} \\
    m_{k+1} &= \beta_1 m_k + (1-\beta_1)\, d_k g_k, \quad
    v_{k+1} = \beta_2 v_k + (1-\beta_2)\, d_k^2 g_k^2 \\
    r_{k+1} &= \beta_3 r_k + \frac{d_k}{d_0} \lambda_k
               \langle g_k, x_0 - x_k \rangle, \quad
    s_{k+1} = \beta_3 s_k + \frac{d_k}{d_0} \lambda_k\, g_k \\
    d_{k+1} &= \max\left(d_k,\ c\, \frac{r_{k+1}}{\lVert s_{k+1} \rVert_1}\right) \\
    x_{k+1} &= x_k - \lambda_k \left( \frac{m_{k+1}}{\sqrt{v_{k+1}} + d_k \epsilon}
               + w\, x_k \right)

  with :math:`c` = `d_coef` and :math:`w` = `weight_decay` (decoupled, on the
  leaves `mask` selects: weights only by default; 0 by default, as in the
  paper). `safeguard_warmup` drops :math:`\gamma_k` and the bias correction
  from the :math:`s` update (:math:`\frac{d_k}{d_0} d_k g_k` is added), so a
  warm-up from a small :math:`\gamma` cannot make :math:`\lVert s \rVert_1`
  small and :math:`d` over-estimated. :math:`r` and :math:`s` are global: one
  :math:`d` for the whole tree.

  This is `optax.contrib.prodigy`'s definition, matched step by step, which is
  the authors' PyTorch `prodigyopt` with `use_bias_correction=True`. It
  differs from the paper's Algorithm 4 (Adam version) in ways that leave
  :math:`d` the same or change it only through the bias correction:

  * The paper weights :math:`r` and :math:`s` by :math:`(1-\sqrt{\beta_2})
    \gamma_k d_k^2`; here by :math:`\gamma_k d_k^2 b_k / d_0`, where
    :math:`b_k = \sqrt{1-\beta_2^t}/(1-\beta_1^t)`. Constant factors cancel in
    :math:`r / \lVert s \rVert_1`; the bias correction :math:`b_k`, which the
    paper does not have (nor `prodigyopt` by default), does not: it weights the
    early steps by about :math:`\sqrt{1 - \beta_2^t}/(1 - \beta_1^t)` (0.32 at
    the first step for the defaults) and scales the early steps
    :math:`\lambda_k`, as Adam's bias correction does. Optax always applies it.
  * Where :math:`\lVert s_{k+1} \rVert_1 = 0` (only if every
    :math:`\gamma_j g_j` so far is 0, e.g. a warm-up from :math:`\gamma_0 = 0`),
    :math:`d` stays :math:`d_k`, as in `prodigyopt`; Optax computes 0/0 there
    and its :math:`d` is NaN from then on. For float32 parameters this is the
    only place where this implementation and Optax's differ.
  * At :math:`\gamma_k = 0`, `prodigyopt` skips the step entirely; here, as in
    Optax, :math:`m`, :math:`v` still take in the gradient (the parameters do
    not move).

  :math:`d` and :math:`r` are float32 scalars whatever the parameters' dtype
  (Optax uses the parameters' lowest dtype); the sums that form them are in
  float32. Memory: four copies of the parameters (:math:`m, v, s, x_0`).

  The schedule enters the state (through :math:`r` and :math:`s`), so this is
  one transform that applies :math:`\gamma_k` itself, not a `scale_by_`
  transform chained with `optax.scale_by_learning_rate`. A chain-level
  `optimizer.weight_decay` would decay by :math:`\gamma_k w` rather than
  :math:`\lambda_k w`: use this `weight_decay` (the two are refused together).

  Args:
    learning_rate: :math:`\gamma_k`, the multiplier (a float or a schedule).
    b1: :math:`\beta_1`, the decay of the first moment.
    b2: :math:`\beta_2`, the decay of the second moment.
    eps: added to :math:`\sqrt{v}`, scaled by :math:`d_k` as :math:`v` is.
    d0: :math:`d_0`, the initial (under-)estimate of the step size.
    d_coef: :math:`c`, multiplies the estimate (the way to tune Prodigy).
    weight_decay: :math:`w`, decoupled, scaled by :math:`\lambda_k`.
    safeguard_warmup: leave :math:`\gamma_k` out of :math:`s`.
    b3: :math:`\beta_3`, the decay of :math:`r` and :math:`s`; None for
      :math:`\sqrt{\beta_2}`. Not a config hyperparameter.
    mask: which leaves decay: a callable params -> tree of bools, such a
      tree, or None for every leaf (Optax's behaviour). Not a config
      hyperparameter.

  References:
    Mishchenko & Defazio, `Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner <https://arxiv.org/abs/2306.06101>`_, ICML 2024.
  """
  beta3 = b2**0.5 if b3 is None else b3

  def init(params):
    zeros = optax.tree.zeros_like(params)
    return ProdigyState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros,
                        s=zeros, params0=params,
                        d=jnp.asarray(d0, jnp.float32),
                        r=jnp.zeros([], jnp.float32))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError('prodigy needs params at update time (for x_0 - x)')
    count = optax.safe_increment(state.count)
    gamma = learning_rate(state.count) if callable(learning_rate) else learning_rate
    d = state.d
    bias = _bias_correction(b1, b2, count)
    step = jnp.asarray(d * gamma * bias, jnp.float32)  # lambda_k

    dg = jax.tree.map(lambda g: d * g, updates)
    mu = jax.tree.map(lambda m, x: (b1 * m + (1 - b1) * x).astype(m.dtype),
                      state.mu, dg)
    nu = jax.tree.map(lambda v, x: (b2 * v + (1 - b2) * x * x).astype(v.dtype),
                      state.nu, dg)
    weight = d if safeguard_warmup else step  # of d_k g_k / d0 in s
    s = jax.tree.map(lambda s, x: (beta3 * s + weight * x / d0).astype(s.dtype),
                     state.s, dg)
    progress = _vdot(updates, jax.tree.map(lambda p0, p: p0 - p,
                                           state.params0, params))
    r = beta3 * state.r + (d / d0) * step * progress
    denominator = _l1(s)
    estimate = d_coef * r / jnp.where(denominator > 0, denominator, 1.0)
    new_d = jnp.where(denominator > 0, jnp.maximum(d, estimate), d)

    selected = (mask(params) if callable(mask) else
                jax.tree.map(lambda _: True, params) if mask is None else mask)

    def move(m, v, p, g, keep):
      u = -step * m / (jnp.sqrt(v) + d * eps)
      if keep:
        u = -weight_decay * step * p + u
      return u.astype(g.dtype)

    new_updates = jax.tree.map(move, mu, nu, params, updates, selected)
    return new_updates, ProdigyState(
        count=count, mu=mu, nu=nu, s=s, params0=state.params0,
        d=new_d.astype(jnp.float32), r=jnp.asarray(r, jnp.float32))

  return optax.GradientTransformation(init, update)


register('prodigy', prodigy,
         summary='Adam with a self-estimated step size d (Mishchenko & Defazio); '
         'lr is a multiplier, 1 recommended; as optax.contrib.prodigy',
         ranges={'b1': '[0, 1)', 'b2': '[0, 1)', 'eps': '(0, inf)',
                 'd0': '(0, inf)', 'd_coef': '(0, inf)',
                 'weight_decay': '[0, inf)'},
         tuning=learning_rates(0.1, 10.0))
