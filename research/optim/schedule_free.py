r"""Schedule-Free SGD and AdamW (Defazio et al., 2024, "The Road Less Scheduled").

Schedule-Free replaces the momentum of a base optimizer and the decay of its
learning-rate schedule by an interpolation and an average of three sequences:

.. math::
  y_t = (1 - \beta_1) z_t + \beta_1 x_t, \qquad
  z_{t+1} = z_t - \gamma_t \, d_t(\nabla f(y_t), y_t), \qquad
  x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},

with :math:`z_1 = x_1 = y_1` the initial parameters and :math:`d_t` the base
step: :math:`\nabla f(y_t) + \lambda y_t` for SGD, the same with the gradient
divided by Adam's debiased root second moment for AdamW. The average weights
the iterates by the largest learning rate seen so far,

.. math::
  c_{t+1} = \frac{w_t}{\sum_{i \le t} w_i}, \qquad
  w_t = \left(\max_{i \le t} \gamma_i\right)^{r},

:math:`r` = `weight_lr_power` (2 by default), so the steps of a warmup count
for little and, with a constant rate after it, :math:`x` is the uniform
average of the :math:`z` since. The optimizer's parameters are :math:`y`, where
the gradient is taken; :math:`x` is the point to evaluate. Only :math:`y` and
:math:`z` are stored: :math:`x = (y - (1 - \beta_1) z) / \beta_1` is recomputed
each step (so a transform chained after this one that changes :math:`y` moves
:math:`x` with it), and `schedule_free_eval_params` recovers it from the
optimizer state.

The schedule is read as `optax.contrib.schedule_free` reads it, which these
transforms match step by step: the :math:`z` step at the update count
:math:`t = 0, 1, \ldots` (as every optimizer of the project reads its schedule),
the averaging weight at :math:`t + 1`. With `warmup_steps` = W > 0 the rate is
:math:`\gamma \min(t / W, 1)`, so the first update moves nothing; the authors'
PyTorch code uses :math:`(t + 1) / W` for both.

The learning rate is meant to be constant after the warmup: decaying it, as
the project's cosine or step schedules do, is what Schedule-Free replaces.
Weight decay belongs in the optimizer's own `weight_decay`, which is applied
at :math:`y` inside the :math:`z` step as the paper's algorithms do; the
chain's decoupled `optimizer.weight_decay` would instead shrink :math:`y` after
the step, and leave :math:`z` alone.

Evaluating at :math:`x`, and BatchNorm: the running statistics that BatchNorm
collects during training are those of the network at :math:`y`, not at
:math:`x`. The authors recommend recomputing them at the evaluation point:
before evaluating, run a few training-mode forward passes (BatchNorm in batch-
statistics mode, no parameter update) over training batches with the
parameters :math:`x` = `schedule_free_eval_params(opt_state, params)`, and
evaluate with the running statistics so collected. Without BatchNorm,
evaluating at :math:`x` is all there is to it.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.registry import learning_rates, register


class ScheduleFreeState(NamedTuple):
  b1: jax.Array          # the interpolation beta_1, kept to recover x from (y, z)
  weight_sum: jax.Array  # sum of the averaging weights w_i so far
  step_count: jax.Array  # int32, from 1: where the averaging weight reads the schedule
  max_lr: jax.Array      # the largest learning rate so far
  base_optimizer_state: optax.OptState
  z: optax.Params        # the base optimizer's iterate


class ScaleByDebiasedRmsState(NamedTuple):
  count: jax.Array  # int32: the steps taken, for the bias correction
  nu: optax.Updates  # v: moving average of the squared gradients


def _scalar_dtype(params):
  # The bookkeeping scalars are float32 at least: a bfloat16 weight sum would
  # stop growing after a few hundred steps, turning the average into an EMA.
  return jnp.promote_types(jnp.float32, optax.tree.dtype(params, 'highest'))


def _x_from(y, z, b1):
  """The averaged point x = (y - (1 - b1) z) / b1."""
  return jax.tree.map(lambda yi, zi: (yi - (1.0 - b1) * zi) / b1, y, z)


def schedule_free(base_optimizer: optax.GradientTransformation,
                  learning_rate: optax.ScalarOrSchedule,
                  b1: jax.typing.ArrayLike = 0.9,
                  weight_lr_power: jax.typing.ArrayLike = 2.0
                 ) -> optax.GradientTransformationExtraArgs:
  r"""Schedule-Free around `base_optimizer` (see the module doc).

  Args:
    base_optimizer: the step of :math:`z`, learning rate included and without
      momentum (the interpolation replaces it).
    learning_rate: the same float or schedule `base_optimizer` uses; read here
      for the averaging weights.
    b1: :math:`\beta_1`, the interpolation between :math:`z` and :math:`x`;
      must be > 0.
    weight_lr_power: :math:`r`, the power of the largest learning rate so far
      in the averaging weights.

  Returns:
    A transform of :math:`y` whose state holds :math:`z` (see
    `schedule_free_eval_params`).
  """
  base_optimizer = optax.with_extra_args_support(base_optimizer)

  def init_fn(params) -> ScheduleFreeState:
    dtype = _scalar_dtype(params)
    return ScheduleFreeState(
        b1=jnp.asarray(b1, dtype),
        weight_sum=jnp.zeros([], dtype),
        step_count=jnp.ones([], jnp.int32),
        max_lr=jnp.zeros([], dtype),
        base_optimizer_state=base_optimizer.init(params),
        # A distinct copy, so that params and state can both be donated.
        z=jax.tree.map(lambda p: p.copy(), params))

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError('schedule_free needs params (the point y) at update time')
    dtype = state.max_lr.dtype
    lr = learning_rate(state.step_count) if callable(learning_rate) else learning_rate
    max_lr = jnp.maximum(state.max_lr, jnp.asarray(lr, dtype))
    weight = max_lr ** weight_lr_power
    weight_sum = state.weight_sum + weight
    # c = w / sum w; 0 while every rate so far is 0 (0 / 0), NaN stays NaN.
    c = jnp.where(jnp.isnan(weight) | jnp.isnan(weight_sum), jnp.nan,
                  jnp.nan_to_num(weight / weight_sum, nan=0.0, posinf=jnp.inf))

    step, base_state = base_optimizer.update(
        updates, state.base_optimizer_state, params, **extra_args)
    z = jax.tree.map(lambda zi, s: (zi + s).astype(zi.dtype), state.z, step)
    # x from the y it is given, not from a stored x: a later transform of the
    # chain that changed y (decay, a projection) is taken into account.
    x = jax.tree.map(lambda xi, zi: (1.0 - c) * xi + c * zi,
                     _x_from(params, state.z, b1), z)
    new_y = jax.tree.map(lambda xi, zi: b1 * xi + (1.0 - b1) * zi, x, z)
    updates = jax.tree.map(lambda n, y: (n - y).astype(y.dtype), new_y, params)
    return updates, ScheduleFreeState(
        b1=state.b1, weight_sum=weight_sum,
        step_count=optax.safe_increment(state.step_count), max_lr=max_lr,
        base_optimizer_state=base_state, z=z)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def find_schedule_free_states(tree: Any) -> list[ScheduleFreeState]:
  """Every ScheduleFreeState inside `tree` (an optimizer's state)."""
  is_state = lambda node: isinstance(node, ScheduleFreeState)
  return [node for node in jax.tree.leaves(tree, is_leaf=is_state)
          if is_state(node)]


def schedule_free_eval_params(opt_state: optax.OptState, params: optax.Params
                             ) -> optax.Params:
  r"""The averaged point :math:`x = (y - (1 - \beta_1) z) / \beta_1` to evaluate.

  `params` are the optimizer's parameters :math:`y`; `opt_state` is the state
  of a schedule-free optimizer, alone or anywhere inside a chain (or
  `with_extra_args_support`, `MultiSteps`, ...): its `ScheduleFreeState` is
  found by type. With BatchNorm, recompute the running statistics at
  :math:`x` before evaluating (see the module doc).
  """
  found = find_schedule_free_states(opt_state)
  if len(found) != 1:
    raise ValueError('schedule_free_eval_params needs an optimizer state with '
                     f'exactly one ScheduleFreeState; found {len(found)}')
  state = found[0]
  return jax.tree.map(lambda xi, y: xi.astype(y.dtype),
                      _x_from(params, state.z, state.b1), params)


def _warmup(learning_rate: optax.ScalarOrSchedule, warmup_steps: int
           ) -> optax.ScalarOrSchedule:
  """learning_rate * min(t / W, 1): Optax's warmup_constant_schedule from 0."""
  if not warmup_steps:
    return learning_rate

  def schedule(count):
    peak = learning_rate(count) if callable(learning_rate) else learning_rate
    # peak * min(t / W, 1), written as optax.linear_schedule evaluates it.
    return peak - peak * (1 - jnp.clip(count, 0, warmup_steps) / warmup_steps)

  return schedule


def _add_decayed_weights(weight_decay) -> optax.GradientTransformation:
  """g -> g + lambda y, at the point y the gradient was taken."""

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError('weight decay needs params at update time')
    return jax.tree.map(lambda g, p: g + weight_decay * p, updates, params), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)


def scale_by_debiased_rms(b2: jax.typing.ArrayLike = 0.999,
                          eps: jax.typing.ArrayLike = 1e-8
                         ) -> optax.GradientTransformation:
  r"""Adam without its first moment: :math:`g_t / (\sqrt{\hat v_t} + \epsilon)`.

  .. math::
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
    \hat v_t = v_t / (1 - \beta_2^t)

  `scale_by_adam(b1=0)` without the first moment it would store as zeros.
  """

  def init_fn(params):
    return ScaleByDebiasedRmsState(count=jnp.zeros([], jnp.int32),
                                   nu=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    nu = jax.tree.map(lambda g, v: (b2 * v + (1 - b2) * (g * g)).astype(v.dtype),
                      updates, state.nu)
    count = optax.safe_increment(state.count)
    nu_hat = optax.tree.bias_correction(nu, b2, count)
    # g * (1 / (...)) rather than g / (...): Optax's rounding.
    updates = jax.tree.map(lambda g, v: g * (1 / (jnp.sqrt(v) + eps)), updates,
                           nu_hat)
    return updates, ScaleByDebiasedRmsState(count=count, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def schedule_free_sgd(learning_rate: optax.ScalarOrSchedule,
                      warmup_steps: int = 0,
                      b1: jax.typing.ArrayLike = 0.9,
                      weight_decay: jax.typing.ArrayLike = 0.0,
                      weight_lr_power: jax.typing.ArrayLike = 2.0
                     ) -> optax.GradientTransformationExtraArgs:
  r"""Schedule-Free SGD: :math:`z \mathrel{-}= \gamma_t (\nabla f(y) + \lambda y)`.

  See the module doc; `optax.contrib.schedule_free_sgd` is the same.

  Args:
    learning_rate: :math:`\gamma`, a float or a schedule (constant after a
      warmup; `warmup_steps` adds one).
    warmup_steps: W, a linear warmup from 0 over W steps; 0 for none.
    b1: :math:`\beta_1`, the interpolation; > 0.
    weight_decay: :math:`\lambda`, applied at :math:`y` in the :math:`z` step
      (multiplied by the learning rate, as in PyTorch).
    weight_lr_power: :math:`r` of the averaging weights.

  Returns:
    The optimizer; its parameters are :math:`y`, evaluate at
    `schedule_free_eval_params(opt_state, params)`.
  """
  learning_rate = _warmup(learning_rate, warmup_steps)
  base = optax.chain(_add_decayed_weights(weight_decay),
                     optax.scale_by_learning_rate(learning_rate))
  return schedule_free(base, learning_rate, b1, weight_lr_power)


def schedule_free_adamw(learning_rate: optax.ScalarOrSchedule,
                        warmup_steps: int = 0,
                        b1: jax.typing.ArrayLike = 0.9,
                        b2: jax.typing.ArrayLike = 0.999,
                        eps: jax.typing.ArrayLike = 1e-8,
                        weight_decay: jax.typing.ArrayLike = 0.0,
                        weight_lr_power: jax.typing.ArrayLike = 2.0
                       ) -> optax.GradientTransformationExtraArgs:
  r"""Schedule-Free AdamW: :math:`z \mathrel{-}= \gamma_t (g / (\sqrt{\hat v} + \epsilon) + \lambda y)`.

  See the module doc and `scale_by_debiased_rms`;
  `optax.contrib.schedule_free_adamw` is the same. Versions of the authors'
  PyTorch code fold Adam's bias correction into the learning rate instead,
  :math:`\gamma_t \sqrt{1 - \beta_2^t}`, which then also enters the averaging
  weights; this follows Optax.

  Args:
    learning_rate: :math:`\gamma`, a float or a schedule (constant after a
      warmup; `warmup_steps` adds one).
    warmup_steps: W, a linear warmup from 0 over W steps; 0 for none.
    b1: :math:`\beta_1`, the interpolation (Adam's momentum has none); > 0.
    b2: :math:`\beta_2`, the decay of the second moment.
    eps: added to the root.
    weight_decay: :math:`\lambda`, decoupled from the second moment and
      applied at :math:`y` in the :math:`z` step.
    weight_lr_power: :math:`r` of the averaging weights.

  Returns:
    The optimizer; its parameters are :math:`y`, evaluate at
    `schedule_free_eval_params(opt_state, params)`.
  """
  learning_rate = _warmup(learning_rate, warmup_steps)
  base = optax.chain(scale_by_debiased_rms(b2, eps),
                     _add_decayed_weights(weight_decay),
                     optax.scale_by_learning_rate(learning_rate))
  return schedule_free(base, learning_rate, b1, weight_lr_power)


_RANGES = {'warmup_steps': '[0, inf)', 'b1': '(0, 1]', 'weight_decay': '[0, inf)',
           'weight_lr_power': '[0, inf)'}
register('schedule_free_sgd', schedule_free_sgd,
         summary='z -= lr (g(y) + wd y); x = weighted average of z; y = b1 x + '
         '(1 - b1) z (Defazio et al.); evaluate at x', evaluates_average=True,
         ranges=_RANGES,
         tuning=learning_rates(1e-2, 10.0))
register('schedule_free_adamw', schedule_free_adamw,
         summary='Schedule-Free with z -= lr (g / (sqrt(v_hat) + eps) + wd y) '
         '(Defazio et al.); evaluate at x', evaluates_average=True,
         ranges={**_RANGES, 'b2': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-5, 0.1))
