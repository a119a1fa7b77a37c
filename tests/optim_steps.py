"""What the optimizer tests share: a small pytree (a matrix and a vector),
sequences of random float32 gradients for it, an optimizer fed them one step
at a time, its float64 NumPy reference run leaf by leaf, and tree checks."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

STEPS = 100


def params() -> dict:
  kw, kb = jax.random.split(jax.random.key(0))
  return {'w': jax.random.normal(kw, (4, 3)), 'b': jax.random.normal(kb, (3,))}


def grads(seed: int = 1, steps: int = STEPS) -> dict:
  """`steps` random gradients per leaf, stacked along a leading axis."""
  kw, kb = jax.random.split(jax.random.key(seed))
  return {'w': jax.random.normal(kw, (steps, 4, 3)),
          'b': jax.random.normal(kb, (steps, 3))}


def at(tree, t: int):
  return jax.tree.map(lambda x: x[t], tree)


def stack(seq):
  """A list of trees as one tree of NumPy arrays with a leading step axis."""
  return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *seq)


def lr_at(learning_rate, t: int) -> float:
  return float(learning_rate(t)) if callable(learning_rate) else learning_rate


def assert_trees_close(actual, desired, **tol) -> None:
  jax.tree.map(lambda a, d: np.testing.assert_allclose(a, d, **tol),
               actual, desired)


class Steps(NamedTuple):
  updates: Any  # stacked per leaf
  params: Any  # after each step, stacked per leaf
  states: list  # the optimizer state after each step


def run_steps(tx: optax.GradientTransformation | None, gradients,
              start_params=None, *, steps: int | None = None,
              update: Callable | None = None, state=None, start: int = 0,
              pull: Callable | None = None) -> Steps:
  """Feeds `gradients` (stacked) one step at a time, from step `start` to
  `steps` (default: all of them), to `update` (default `tx.update`, eager: its
  primitives compile once for every test, faster here than a scan compiled
  per optimizer) from `state` (default `tx.init`). `pull(params)`, where
  given, is added to each gradient (a quadratic's pull, for an optimizer
  whose steps random gradients would keep too small to compare)."""
  current = params() if start_params is None else start_params
  state = tx.init(current) if state is None else state
  update = tx.update if update is None else update
  steps = len(jax.tree.leaves(gradients)[0]) if steps is None else steps
  updates_seq, params_seq, states = [], [], []
  for t in range(start, steps):
    g = at(gradients, t)
    if pull is not None:
      g = jax.tree.map(lambda a, b: a + b, g, pull(current))
    updates, state = update(g, state, current)
    current = optax.apply_updates(current, updates)
    updates_seq.append(updates)
    params_seq.append(current)
    states.append(state)
  return Steps(stack(updates_seq), stack(params_seq), states)


def numpy_run(step_fn: Callable, gradients, learning_rate,
              init_state: Callable, start_params=None) -> dict:
  """The float64 parameter trajectory of `step_fn(p, g, state, lr, t)` (t
  counts from 1), one leaf at a time."""
  start_params = params() if start_params is None else start_params
  out = {}
  for key, g_seq in gradients.items():
    p = np.asarray(start_params[key], np.float64)
    state = init_state(p)
    trajectory = []
    for t, g in enumerate(np.asarray(g_seq, np.float64)):
      p, state = step_fn(p, g, state, lr_at(learning_rate, t), t + 1)
      trajectory.append(p)
    out[key] = np.stack(trajectory)
  return out
