"""Polyak / EMA averaging of the parameters, as a chain option.

`parameter_ema(decay)` passes the updates through unchanged and keeps, in its
state, the exponential moving average of the parameters after each update
(it sees `params` and the chain's final `updates`, so it goes last):

  ema_t = decay ema_{t-1} + (1 - decay) (params_t + updates_t),   ema_0 = 0

and, debiased as `optax.ema` (and Adam) do, the average is
ema_t / (1 - decay^t): the same numbers as `optax.ema(decay, debias=True)`
applied to the sequence of parameters after each update. The state keeps
w_t = 1 - decay^t as its own moving average of ones (w_t = decay w_{t-1} +
1 - decay, w_0 = 0), so `ema_params(opt_state)` needs nothing but the state;
without debiasing w stays 1.

`ema_params(opt_state)` finds the average inside any optimizer state (an
`optax.chain`, `with_extra_args_support`, `optax.MultiSteps`), so evaluation
can run on it. Under gradient accumulation the average moves only when an
update is made.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class ParameterEmaState(NamedTuple):
  """count: updates averaged; weight: w_t (1 - decay^t when debiased, else 1);
  ema: the raw (not debiased) average of the parameters."""
  count: jax.Array
  weight: jax.Array
  ema: Any


def parameter_ema(decay: float, debias: bool = True
                 ) -> optax.GradientTransformation:
  """Keeps the EMA of the parameters after each update; see the module doc."""
  if not 0.0 <= decay < 1.0:
    raise ValueError(f'decay={decay} must be in [0, 1)')

  def init(params):
    return ParameterEmaState(
        count=jnp.zeros([], jnp.int32),
        weight=jnp.zeros([], jnp.float32) if debias else jnp.ones([], jnp.float32),
        ema=optax.tree.zeros_like(params))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError('parameter_ema needs the params: pass them to update')
    ema = jax.tree.map(
        lambda m, p, u: decay * m + (1.0 - decay) * (p + u).astype(m.dtype),
        state.ema, params, updates)
    weight = decay * state.weight + (1.0 - decay) if debias else state.weight
    return updates, ParameterEmaState(
        count=optax.safe_increment(state.count), weight=weight, ema=ema)

  return optax.GradientTransformation(init, update)


def _is_ema_state(node) -> bool:
  return isinstance(node, ParameterEmaState)


def find_ema_state(opt_state) -> ParameterEmaState | None:
  """The `ParameterEmaState` inside `opt_state`, or None if it has none."""
  found = [node for node in jax.tree.leaves(opt_state, is_leaf=_is_ema_state)
           if _is_ema_state(node)]
  if len(found) > 1:
    raise ValueError(f'the optimizer state holds {len(found)} parameter EMAs')
  return found[0] if found else None


def ema_params(opt_state, params=None):
  """The (debiased) average of the parameters kept in `opt_state`.

  Before the first update there is no average yet: it returns `params` where
  given (else the zeros of the initial state). Raises ValueError if the chain
  keeps no average (optimizer.ema_decay = 0). Works on a population's stacked
  state too: every leaf keeps its leading member axis.
  """
  state = find_ema_state(opt_state)
  if state is None:
    raise ValueError('the optimizer keeps no parameter average: set '
                     'optimizer.ema_decay > 0')
  weight = state.weight
  started = state.count > 0

  def average(m, p):
    w = jnp.reshape(weight, weight.shape + (1,) * (m.ndim - weight.ndim))
    s = jnp.reshape(started, w.shape)
    value = m / jnp.where(s, w, 1.0).astype(m.dtype)
    return value if p is None else jnp.where(s, value, p)

  if params is None:
    return jax.tree.map(lambda m: average(m, None), state.ema)
  return jax.tree.map(average, state.ema, params)
