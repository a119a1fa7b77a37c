"""L-BFGS with a strong Wolfe line search, as an Optax transform.

With s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k and rho_k = 1 / s_k'y_k for the
last m pairs, the direction is d = -H g, H the inverse-Hessian approximation
of BFGS started from H0 = gamma I, gamma = s'y / y'y of the newest pair, and
applied by the two-loop recursion (Nocedal & Wright, Algorithm 7.4):

  q = g;  for i newest..oldest:  alpha_i = rho_i s_i'q;  q -= alpha_i y_i
  r = gamma q;  for i oldest..newest:  beta = rho_i y_i'r;  r += (alpha_i - beta) s_i
  d = -r

The pairs live in ring buffers of static shape (m, *param_shape) per leaf, so
the update jits and scans. The step is x + a d, a from `wolfe_linesearch`
starting at a = learning_rate (the unit quasi-Newton step by default). With no
pairs (the first update, or after a reset) H0 = I / ||g||: the first trial is
a steepest-descent step of length learning_rate, as L-BFGS-B takes.

Safeguards:
  * a pair with s'y <= curvature_eps ||s|| ||y|| is not stored (H stays
    positive definite);
  * if d is not a descent direction (g'd >= 0, or not finite), the memory is
    cleared and d = -g / ||g||;
  * if the search finds no decrease within `max_linesearch_steps`, the update
    is zero and the memory is cleared, so the next update starts afresh from
    steepest descent; short of Wolfe, the best decrease found is taken.

The update needs `value` (f(params)), `grad` (its gradient; `updates` when
omitted) and `value_fn` (params -> f, on the same batch). The state keeps f
and grad f at the accepted point as `value` and `grad`, so that
`optax.value_and_grad_from_state` can skip the re-evaluation in a full-batch
loop, and counts the line search's evaluations in `num_fun_evals`.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from research.optim.linesearch import wolfe_linesearch
from research.optim.registry import register


class LbfgsState(NamedTuple):
  count: jax.Array          # updates made, int32
  s_history: Any            # leaves (m, *shape): s_i = x_{i+1} - x_i
  y_history: Any            # leaves (m, *shape): y_i = g_{i+1} - g_i
  rho_history: jax.Array    # (m,): 1 / s_i'y_i, 0 in empty slots
  num_pairs: jax.Array      # pairs stored, <= m, int32
  head: jax.Array           # slot the next pair goes to, int32
  value: jax.Array          # f at the accepted point; inf before any update
  grad: Any                 # grad f at the accepted point
  step_size: jax.Array      # the last accepted line-search step a
  num_fun_evals: jax.Array  # line-search evaluations of (f, grad f), cumulative
  wolfe: jax.Array          # whether the last step met the strong Wolfe conditions


def _slot(history: Any, i: jax.Array) -> Any:
  return jax.tree.map(lambda h: h[i], history)


def _scaled_add(x: Any, a: jax.Array, y: Any) -> Any:
  """x + a y, leaf dtypes kept."""
  return jax.tree.map(lambda u, v: u + (a * v).astype(u.dtype), x, y)


def two_loop_direction(grad: Any, state: LbfgsState) -> Any:
  """d = -H grad by the two-loop recursion over the stored pairs.

  With no pairs, H = I / ||grad||, so d has unit norm.
  """
  m = state.rho_history.shape[0]
  dtype = state.rho_history.dtype
  newest = lambda k: (state.head - 1 - k) % m  # k-th newest slot

  def backward(k, carry):  # newest -> oldest
    q, alphas = carry
    i = newest(k)
    valid = k < state.num_pairs
    alpha = jnp.where(valid, state.rho_history[i]
                      * otu.tree_vdot(_slot(state.s_history, i), q), 0)
    return (_scaled_add(q, -alpha, _slot(state.y_history, i)),
            alphas.at[i].set(alpha.astype(dtype)))

  q, alphas = jax.lax.fori_loop(0, m, backward,
                                (grad, jnp.zeros((m,), dtype)))
  s_new, y_new = _slot(state.s_history, newest(0)), _slot(state.y_history, newest(0))
  grad_norm = otu.tree_norm(grad)
  gamma = jnp.where(
      state.num_pairs > 0,
      otu.tree_vdot(s_new, y_new) / otu.tree_vdot(y_new, y_new),
      1.0 / jnp.maximum(grad_norm, jnp.finfo(dtype).tiny))
  r = otu.tree_scale(gamma.astype(dtype), q)

  def forward(k, r):  # oldest -> newest
    j = m - 1 - k
    i = newest(j)
    beta = state.rho_history[i] * otu.tree_vdot(_slot(state.y_history, i), r)
    coef = jnp.where(j < state.num_pairs, alphas[i] - beta, 0)
    return _scaled_add(r, coef, _slot(state.s_history, i))

  r = jax.lax.fori_loop(0, m, forward, r)
  return otu.tree_scale(-1.0, r)


def lbfgs(learning_rate: float | optax.Schedule = 1.0, memory_size: int = 10,
          *, max_linesearch_steps: int = 20, c1: float = 1e-4, c2: float = 0.9,
          curvature_eps: float = 1e-10) -> optax.GradientTransformationExtraArgs:
  """L-BFGS (see the module doc).

  Args:
    learning_rate: the line search's first trial step (a float or a schedule
      of the update count); 1 tries the full quasi-Newton step.
    memory_size: m, the number of (s, y) pairs kept.
    max_linesearch_steps: the most evaluations of (f, grad f) per update.
    c1, c2: strong Wolfe constants, 0 < c1 < c2 < 1.
    curvature_eps: a pair is stored only if s'y > curvature_eps ||s|| ||y||.

  Returns:
    A `GradientTransformationExtraArgs` whose `update(updates, state, params,
    *, value, grad, value_fn)` returns the step a d.
  """
  if memory_size < 1:
    raise ValueError(f'memory_size must be >= 1, got {memory_size}')
  if not 0 < c1 < c2 < 1:
    raise ValueError(f'need 0 < c1 < c2 < 1, got c1={c1}, c2={c2}')

  def init_fn(params: Any) -> LbfgsState:
    dtype = otu.tree_dtype(params, 'highest')
    history = jax.tree.map(
        lambda p: jnp.zeros((memory_size,) + p.shape, p.dtype), params)
    return LbfgsState(
        count=jnp.zeros((), jnp.int32),
        s_history=history,
        y_history=history,
        rho_history=jnp.zeros((memory_size,), dtype),
        num_pairs=jnp.zeros((), jnp.int32),
        head=jnp.zeros((), jnp.int32),
        value=jnp.asarray(jnp.inf, dtype),
        grad=otu.tree_zeros_like(params),
        step_size=jnp.zeros((), dtype),
        num_fun_evals=jnp.zeros((), jnp.int32),
        wolfe=jnp.zeros((), bool))

  def update_fn(updates: Any, state: LbfgsState, params: Any = None, *,
                value: jax.Array | None = None, grad: Any = None,
                value_fn: Callable[[Any], jax.Array] | None = None,
                **extra_args) -> tuple[Any, LbfgsState]:
    del extra_args
    if params is None or value is None or value_fn is None:
      raise ValueError('lbfgs needs params, value and value_fn at update time')
    g = updates if grad is None else grad
    dtype = state.value.dtype

    direction = two_loop_direction(g, state)
    slope = otu.tree_vdot(g, direction)
    descent = (slope < 0) & jnp.isfinite(slope)
    steepest = otu.tree_scale(
        -1.0 / jnp.maximum(otu.tree_norm(g), jnp.finfo(dtype).tiny), g)
    direction = otu.tree_where(descent, direction, steepest)

    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    ls = wolfe_linesearch(
        jax.value_and_grad(value_fn), params, direction,
        jnp.asarray(value, dtype), g, initial_step=jnp.asarray(lr, dtype),
        max_steps=max_linesearch_steps, c1=c1, c2=c2)

    moved = ls.step > 0
    step = jax.tree.map(lambda v: jnp.where(moved, ls.step * v, 0).astype(v.dtype),
                        direction)
    # The pair is measured on value_fn's batch: both gradients come from it.
    y = jax.tree.map(lambda a, b: a - b, ls.grad, g)
    sy = otu.tree_vdot(step, y)
    store = moved & (sy > curvature_eps * otu.tree_norm(step) * otu.tree_norm(y))
    put = lambda h, v: jnp.where(store, h.at[state.head].set(v), h)
    # No decrease, or a bad direction: the memory is not to be trusted.
    keep = descent & moved
    num_pairs = jnp.where(keep, state.num_pairs, 0)
    new_state = LbfgsState(
        count=state.count + 1,
        s_history=jax.tree.map(put, state.s_history, step),
        y_history=jax.tree.map(put, state.y_history, y),
        rho_history=put(state.rho_history, (1.0 / sy).astype(dtype)),
        num_pairs=jnp.where(store, jnp.minimum(num_pairs + 1, memory_size),
                            num_pairs),
        head=jnp.where(store, (state.head + 1) % memory_size, state.head),
        value=ls.value.astype(dtype),
        grad=ls.grad,
        step_size=ls.step.astype(dtype),
        num_fun_evals=state.num_fun_evals + ls.num_evals,
        wolfe=ls.wolfe)
    return step, new_state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


register('lbfgs', lbfgs,
         summary='two-loop recursion over m pairs, strong-Wolfe line search on '
         'value_fn; lr = first trial step',
         needs_value_fn=True, line_search=True,
         ranges={'memory_size': '[1, inf)', 'max_linesearch_steps': '[1, inf)',
                 'c1': '(0, 1)', 'c2': '(0, 1)', 'curvature_eps': '(0, inf)'})
