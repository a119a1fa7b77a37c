r"""SAM: Sharpness-Aware Minimization (Foret et al., 2021).

SAM minimizes the worst loss in a ball of radius :math:`\rho` around the
parameters, :math:`\max_{\|\epsilon\| \le \rho} f(p + \epsilon)`. To first order
the worst :math:`\epsilon` is along the gradient, and the step is the base
optimizer's, fed with the gradient at that ascent point:

.. math::
  g_t = \nabla f(p_t), \qquad
  \hat\epsilon_t = \rho \, g_t / \|g_t\|_2, \qquad
  g^{\mathrm{SAM}}_t = \nabla f(p_t + \hat\epsilon_t), \qquad
  p_{t+1} = p_t - \eta_t \, d_t(g^{\mathrm{SAM}}_t)

with :math:`\|g\|_2` the global norm over every leaf and :math:`d_t` heavy-ball
momentum (the paper's base, :math:`v = \mu v + g;\ d = v`) or Adam. The
gradient at the ascent point is the paper's approximation (its Eq. 3): the
Hessian term of :math:`\nabla_p f(p + \hat\epsilon(p))` is dropped.

The gradient at the ascent point comes from `value_fn`, which the train step
passes to every optimizer's update: the loss of given parameters on the same
batch, with the same dropout masks and BatchNorm mode (batch statistics; the
running statistics are updated by the train step's own forward pass at
:math:`p` only). `jax.grad(value_fn)` at :math:`p + \hat\epsilon` is one
extra forward and backward pass per step, so a SAM step costs about twice a
plain one. `optax.contrib.sam` does the same with `opaque_mode=True`,
`sync_period=2` and a normalized-SGD adversarial optimizer; it is the
reference of the tests.

In an optimizer chain, SAM steps with the gradient it computes itself: a
transform before it (gradient clipping) only changes the gradient whose
direction sets :math:`\hat\epsilon`, and so does nothing; transforms after it
(decoupled weight decay, a max-norm projection) act on its step as on any
other.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.errors import ConfigError
from research.optim.adam import adam
from research.optim.momentum import momentum as heavy_ball
from research.optim.registry import learning_rates, register

BASES = ('momentum', 'adam')


class SamState(NamedTuple):
  base_optimizer_state: optax.OptState


def ascent_point(params: optax.Params, grads: optax.Updates,
                 rho: jax.typing.ArrayLike) -> optax.Params:
  r""":math:`p + \rho g / \|g\|_2`, in each leaf's dtype; :math:`p` when g = 0."""
  norm = optax.tree.norm(grads)
  # A zero gradient has no ascent direction: no perturbation, not 0 / 0.
  norm = jnp.where(norm > 0, norm, 1.0)
  return jax.tree.map(lambda p, g: (p + rho * (g / norm)).astype(p.dtype),
                      params, grads)


def sharpness_aware(base_optimizer: optax.GradientTransformation,
                    rho: jax.typing.ArrayLike = 0.05
                   ) -> optax.GradientTransformationExtraArgs:
  r"""SAM around `base_optimizer` (see the module doc).

  Its `update(updates, state, params, *, value_fn, **extra_args)` takes the
  gradient at `params` as `updates`, and `value_fn` (params -> the loss whose
  gradient that is); it returns the base optimizer's update for
  :math:`\nabla` `value_fn` at the ascent point.
  """
  base_optimizer = optax.with_extra_args_support(base_optimizer)

  def init_fn(params):
    return SamState(base_optimizer_state=base_optimizer.init(params))

  def update_fn(updates, state, params=None, *,
                value_fn: Callable[[optax.Params], jax.Array] | None = None,
                **extra_args):
    if params is None or value_fn is None:
      raise ValueError('sam needs params and value_fn at update time (the '
                       'loss on the same batch, to take its gradient at the '
                       'ascent point)')
    sam_grads = jax.grad(value_fn)(ascent_point(params, updates, rho))
    # Where a leaf's loss gradient has another dtype (bfloat16 params under a
    # float32 loss), the base optimizer sees the gradient's own dtype.
    sam_grads = jax.tree.map(lambda s, g: s.astype(g.dtype), sam_grads, updates)
    del extra_args  # value and grad are those at p, not at the ascent point
    updates, base_state = base_optimizer.update(
        sam_grads, state.base_optimizer_state, params)
    return updates, SamState(base_optimizer_state=base_state)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def sam(learning_rate: optax.ScalarOrSchedule,
        rho: jax.typing.ArrayLike = 0.05,
        base: str = 'momentum',
        momentum: jax.typing.ArrayLike = 0.9,
        b1: jax.typing.ArrayLike = 0.9,
        b2: jax.typing.ArrayLike = 0.999,
        eps: jax.typing.ArrayLike = 1e-8) -> optax.GradientTransformationExtraArgs:
  r"""SAM: the base step with :math:`\nabla f(p + \rho g / \|g\|_2)` for g.

  See the module doc. One extra forward-backward pass per step, through the
  `value_fn` the train step passes.

  Args:
    learning_rate: the base optimizer's, a float or a schedule.
    rho: :math:`\rho`, the radius of the ascent step (0: the base optimizer).
    base: 'momentum' (heavy ball, as in the paper) or 'adam'.
    momentum: the heavy ball's :math:`\mu` (base 'momentum' only).
    b1, b2, eps: Adam's (base 'adam' only).

  Returns:
    The optimizer; its update needs `value_fn`.
  """
  if base == 'momentum':
    base_optimizer = heavy_ball(learning_rate, momentum=momentum)
  elif base == 'adam':
    base_optimizer = adam(learning_rate, b1=b1, b2=b2, eps=eps)
  else:
    raise ConfigError(f'optimizer.hparams.base: {base!r} is not a base of '
                      f'sam; one of {", ".join(BASES)}')
  return sharpness_aware(base_optimizer, rho)


register('sam', sam,
         summary='base step (momentum | adam) with grad f(p + rho g / ||g||): '
         'one extra forward-backward through value_fn (Foret et al.)',
         needs_value_fn=True,
         ranges={'rho': '[0, inf)', 'momentum': '[0, 1)', 'b1': '[0, 1)',
                 'b2': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-3, 1.0))
