"""Newton's method and dense BFGS, for small problems (the 2-D playground, a
logistic regression): both keep an n x n matrix in the number of parameters
n, so they are baselines beside L-BFGS, not optimizers for networks."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from research.errors import ConfigError
from research.optim.linesearch import wolfe_linesearch
from research.optim.registry import register

# A dense n x n matrix beyond this many parameters is refused: 2,000 float32
# parameters make a 16 MB matrix; a 784-64-10 MLP's 50,890 would make 10 GB.
MAX_PARAMS = 2000


def _count(name: str, flat: jax.Array, max_params: int) -> None:
  if flat.size > max_params:
    raise ConfigError(
        f'optimizer.hparams.max_params: {name} keeps a dense n x n matrix and '
        f'this model has n = {flat.size:,} parameters > max_params = '
        f'{max_params:,}; it is for small problems (the playground, a '
        'logistic regression): use lbfgs for networks')


class NewtonState(NamedTuple):
  count: jax.Array  # updates made, int32


def _rate(learning_rate, count):
  return learning_rate(count) if callable(learning_rate) else learning_rate


def newton(learning_rate: float | optax.Schedule = 1.0, damping: float = 0.0,
           max_params: int = MAX_PARAMS) -> optax.GradientTransformationExtraArgs:
  r"""Newton's step: :math:`p \leftarrow p - \eta (H + \lambda I)^{-1} g`.

  :math:`H` is the dense Hessian of `value_fn` at `p` (`jax.hessian` of the
  flattened parameters). With :math:`\eta = 1` and :math:`\lambda = 0` the
  step goes to the stationary point of the local quadratic model, whatever
  its kind: one step to the minimum of a quadratic, and, where :math:`H` is
  indefinite, towards a saddle or a maximum, which attract Newton's method
  (Dauphin et al. 2014); the playground's saddle shows it. `damping`
  :math:`\lambda > 0` moves the step towards gradient descent (Levenberg).

  Args:
    learning_rate: :math:`\eta`, a float or a schedule of the update count.
    damping: :math:`\lambda \ge 0`.
    max_params: more parameters than this are refused (ConfigError) at init.
  """

  def init_fn(params):
    _count('newton', ravel_pytree(params)[0], max_params)
    return NewtonState(jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, *,
                value_fn: Callable[[Any], jax.Array] | None = None, **extra_args):
    del extra_args
    if params is None or value_fn is None:
      raise ValueError('newton needs params and value_fn at update time')
    flat, unravel = ravel_pytree(params)
    g, _ = ravel_pytree(updates)
    # In float32 at least: LAPACK solves no bfloat16.
    wide = flat.astype(jnp.promote_types(flat.dtype, jnp.float32))
    hessian = jax.hessian(lambda x: value_fn(unravel(x.astype(flat.dtype))))(wide)
    eye = jnp.eye(flat.size, dtype=hessian.dtype)
    step = jnp.linalg.solve(hessian + damping * eye, g.astype(hessian.dtype))
    lr = _rate(learning_rate, state.count)
    return unravel((-lr * step).astype(flat.dtype)), NewtonState(state.count + 1)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class BfgsState(NamedTuple):
  count: jax.Array            # updates made, int32
  inverse_hessian: jax.Array  # H (n, n); meaningful once num_pairs > 0
  num_pairs: jax.Array        # (s, y) pairs taken into H since the last reset
  step_size: jax.Array        # the last accepted line-search step
  num_fun_evals: jax.Array    # line-search evaluations, cumulative


def bfgs_update(inverse_hessian: jax.Array, s: jax.Array, y: jax.Array) -> jax.Array:
  r"""BFGS's inverse update (Nocedal & Wright, eq. 6.17):
  :math:`H^+ = (I - \rho s y^T) H (I - \rho y s^T) + \rho s s^T`,
  :math:`\rho = 1 / s^T y`."""
  rho = 1.0 / jnp.vdot(s, y)
  v = jnp.eye(s.size, dtype=inverse_hessian.dtype) - rho * jnp.outer(s, y)
  return v @ inverse_hessian @ v.T + rho * jnp.outer(s, s)


def bfgs(learning_rate: float | optax.Schedule = 1.0, *,
         max_linesearch_steps: int = 20, c1: float = 1e-4, c2: float = 0.9,
         curvature_eps: float = 1e-10,
         max_params: int = MAX_PARAMS) -> optax.GradientTransformationExtraArgs:
  r"""BFGS with a dense inverse-Hessian approximation and L-BFGS's strong
  Wolfe line search: :math:`d = -H g`, :math:`p \leftarrow p + a d`.

  As `lbfgs`, with every pair kept in :math:`H` instead of the last m. The
  first direction (and the one after a reset) is :math:`-g / \lVert g \rVert`,
  so its first trial step has length `learning_rate`; before the first pair
  enters, :math:`H_0 = (s^T y / y^T y) I` (Nocedal & Wright, eq. 6.20). A pair
  with :math:`s^T y \le` `curvature_eps` :math:`\lVert s\rVert \lVert y\rVert`
  is skipped (H stays positive definite); a direction that does not descend,
  or a search that finds no decrease, resets H.

  Args:
    learning_rate: the line search's first trial step.
    max_linesearch_steps, c1, c2, curvature_eps: as `lbfgs`'s.
    max_params: more parameters than this are refused (ConfigError) at init.
  """
  if not 0 < c1 < c2 < 1:
    raise ValueError(f'need 0 < c1 < c2 < 1, got c1={c1}, c2={c2}')

  def init_fn(params):
    flat, _ = ravel_pytree(params)
    _count('bfgs', flat, max_params)
    dtype = jnp.promote_types(flat.dtype, jnp.float32)
    return BfgsState(jnp.zeros([], jnp.int32), jnp.eye(flat.size, dtype=dtype),
                     jnp.zeros([], jnp.int32), jnp.zeros([], dtype),
                     jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, *, value=None, grad=None,
                value_fn: Callable[[Any], jax.Array] | None = None, **extra_args):
    del extra_args
    if params is None or value is None or value_fn is None:
      raise ValueError('bfgs needs params, value and value_fn at update time')
    flat, unravel = ravel_pytree(params)
    g, _ = ravel_pytree(updates if grad is None else grad)
    h = state.inverse_hessian
    g = g.astype(h.dtype)
    steepest = -g / jnp.maximum(jnp.linalg.norm(g), jnp.finfo(h.dtype).tiny)
    quasi_newton = -h @ g
    slope = jnp.vdot(g, quasi_newton)
    use_h = (state.num_pairs > 0) & (slope < 0) & jnp.isfinite(slope)
    direction = jnp.where(use_h, quasi_newton, steepest)

    lr = _rate(learning_rate, state.count)
    ls = wolfe_linesearch(
        jax.value_and_grad(lambda x: value_fn(unravel(x))), flat.astype(h.dtype),
        direction, jnp.asarray(value, h.dtype), g,
        initial_step=jnp.asarray(lr, h.dtype), max_steps=max_linesearch_steps,
        c1=c1, c2=c2)
    moved = ls.step > 0
    s = jnp.where(moved, ls.step * direction, 0.0)
    y = ls.grad - g
    sy = jnp.vdot(s, y)
    store = moved & (sy > curvature_eps * jnp.linalg.norm(s) * jnp.linalg.norm(y))
    # Reset where the direction or the search failed (as lbfgs clears its pairs).
    fresh = ~moved | ((state.num_pairs > 0) & ~use_h)
    pairs = jnp.where(fresh, 0, state.num_pairs)
    scale = sy / jnp.maximum(jnp.vdot(y, y), jnp.finfo(h.dtype).tiny)
    base = jnp.where(pairs == 0, scale * jnp.eye(flat.size, dtype=h.dtype), h)
    h = jnp.where(store, bfgs_update(base, s, y), jnp.where(fresh, jnp.eye(flat.size, dtype=h.dtype), h))
    new_state = BfgsState(state.count + 1, h, jnp.where(store, pairs + 1, pairs),
                          ls.step.astype(h.dtype),
                          state.num_fun_evals + ls.num_evals)
    return unravel(s.astype(flat.dtype)), new_state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


register('newton', newton,
         summary="p -= lr (H + damping I)^-1 g, H the dense Hessian of value_fn "
         '(small problems only)',
         needs_value_fn=True, line_search=True,
         ranges={'damping': '[0, inf)', 'max_params': '[1, inf)'})
register('bfgs', bfgs,
         summary='dense inverse-Hessian BFGS, strong-Wolfe line search on '
         'value_fn (small problems only); lr = first trial step',
         needs_value_fn=True, line_search=True,
         ranges={'max_linesearch_steps': '[1, inf)', 'c1': '(0, 1)',
                 'c2': '(0, 1)', 'curvature_eps': '(0, inf)',
                 'max_params': '[1, inf)'})
