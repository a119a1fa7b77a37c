"""Checks every registered optimizer must pass, in the spirit of optax's
`contrib/_common_test.py`. A new registration joins automatically; entries whose
update needs `value_fn` (line searches, e.g. L-BFGS) run every check whose
call can pass it, as the train step does.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.optim import registry

# The step size that brings each optimizer down the quadratic below in 200
# steps; 0.1 unless listed (AdaGrad's steps shrink as 1/sqrt(t)).
# AdaGrad's steps shrink as 1 / sqrt(t); AdaDelta's start at
# lr * sqrt(eps) / RMS(g) ~ 1e-3 lr and grow only as its E[dx^2] fills.
QUADRATIC_LR = {'adagrad': 1.0, 'adadelta': 10.0,
                # Lion's sign steps end in a cycle of size ~lr (at 0.1 the
                # loss floor is ~0.03); at 0.04 below start/1000 from step 189.
                'lion': 0.04}
DEFAULT_LR = 0.1


def _names(without_value_fn: bool = False):
  """Every registered name; with `without_value_fn`, those that need value_fn
  are skipped (a check whose call cannot pass one, e.g. inside MultiSteps)."""
  return [
      pytest.param(name, marks=pytest.mark.skip(
          reason=f'{name} needs value_fn at update time, which this check '
          'cannot give it'))
      if without_value_fn and registry.REGISTRY[name].needs_value_fn else name
      for name in registry.names()
  ]


NAMES = pytest.mark.parametrize('name', _names())
NAMES_WITHOUT_VALUE_FN = pytest.mark.parametrize('name', _names(True))

TARGET = {'w': jnp.arange(12.0).reshape(4, 3) / 6 - 1, 'b': jnp.array([1.0, -2.0, 3.0])}
# A diagonal curvature from 0.5 to 2, so the problem is not just isotropic.
CURVATURE = {'w': jnp.linspace(0.5, 2.0, 12).reshape(4, 3),
             'b': jnp.array([0.5, 1.0, 2.0])}


def _loss(params):
  terms = jax.tree.map(lambda p, t, h: jnp.sum(0.5 * h * (p - t) ** 2),
                       params, TARGET, CURVATURE)
  return sum(jax.tree.leaves(terms))


def _zeros(dtype=jnp.float32):
  return jax.tree.map(lambda t: jnp.zeros_like(t, dtype), TARGET)


def _step_fn(tx):
  """The train step's call: `update` always gets value, grad and value_fn."""

  def step(params, state):
    value, grad = jax.value_and_grad(_loss)(params)
    updates, state = tx.update(grad, state, params, value=value, grad=grad,
                               value_fn=_loss)
    return optax.apply_updates(params, updates), state

  return step


def _signature(tree):
  return jax.tree.structure(tree), [(x.shape, x.dtype) for x in jax.tree.leaves(tree)]


@NAMES
@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_jit_keeps_state_structure_shapes_and_dtypes(name, dtype):
  tx = registry.get(name, DEFAULT_LR)
  params = _zeros(dtype)
  state = tx.init(params)
  before = _signature(state)
  step = jax.jit(_step_fn(tx))
  for _ in range(3):
    params, state = step(params, state)
  assert _signature(state) == before
  assert _signature(params) == _signature(_zeros(dtype))
  assert all(np.all(np.isfinite(np.asarray(x, np.float32)))
             for x in jax.tree.leaves(params))


@NAMES
def test_jit_keeps_bfloat16_state_with_float32_hyperparameters(name):
  # Hyperparameters that a sweep varies arrive as float32 arrays; bfloat16
  # state must not be promoted by them.
  entry = registry.REGISTRY[name]
  hparams = {k: jnp.asarray(v, jnp.float32) for k, v in entry.defaults.items()
             if isinstance(v, float)}
  tx = registry.get(name, jnp.asarray(DEFAULT_LR, jnp.float32), **hparams)
  params = _zeros(jnp.bfloat16)
  state = tx.init(params)
  params, new_state = jax.jit(_step_fn(tx))(params, state)
  assert _signature(new_state) == _signature(state)


@NAMES
def test_reads_a_schedule_each_step(name):
  # Warm-up from 0: the first step moves nothing, the later ones do.
  schedule = optax.linear_schedule(0.0, DEFAULT_LR, transition_steps=5)
  tx = registry.get(name, schedule)
  params = _zeros()
  state = tx.init(params)
  step = jax.jit(_step_fn(tx))
  after_first, state = step(params, state)
  _assert_trees_equal(after_first, params)
  after_second, state = step(after_first, state)
  # A step down the loss: a descent direction (Prodigy's second step, about
  # d0 * lr = 1e-8, is below what the float32 loss can register).
  moved = jax.tree.map(jnp.subtract, after_second, after_first)
  slope = sum(jnp.vdot(g, m) for g, m in zip(
      jax.tree.leaves(jax.grad(_loss)(after_first)), jax.tree.leaves(moved)))
  assert slope < 0, slope


@NAMES_WITHOUT_VALUE_FN
def test_gradient_accumulation_with_multisteps(name, k=3):
  # Inside MultiSteps the parameters move only every k-th step, and then by
  # the inner optimizer's step on the mean of the k gradients.
  inner = registry.get(name, DEFAULT_LR)
  tx = optax.MultiSteps(inner, every_k_schedule=k)
  grads = [jax.tree.map(lambda t, i=i: (i + 1.0) * jnp.ones_like(t), TARGET)
           for i in range(2 * k)]
  params = _zeros()
  state = tx.init(params)
  update = jax.jit(tx.update)
  history = []
  for g in grads:
    updates, state = update(g, state, params)
    params = optax.apply_updates(params, updates)
    history.append(params)
  for i in range(2 * k):
    previous = history[i - 1] if i else _zeros()
    if (i + 1) % k:
      _assert_trees_equal(history[i], previous)
    else:
      assert not np.allclose(history[i]['b'], previous['b'])
  # The first accumulated step equals one inner step on the mean gradient.
  mean = jax.tree.map(lambda *gs: sum(gs) / k, *grads[:k])
  expected, _ = inner.update(mean, inner.init(_zeros()), _zeros())
  jax.tree.map(lambda a, d: np.testing.assert_allclose(a, d, rtol=1e-6),
               history[k - 1], optax.apply_updates(_zeros(), expected))


@NAMES
def test_vmap_over_a_population_of_learning_rates(name):
  # One compiled program for a grid of learning rates (hyperparameters as data).
  lrs = jnp.array([0.01, 0.03, 0.1])

  def train(lr):
    tx = registry.get(name, lr)
    params = _zeros()
    step = _step_fn(tx)
    state = tx.init(params)
    (params, _), _ = jax.lax.scan(lambda c, _: (step(*c), None), (params, state),
                                  None, length=5)
    return _loss(params)

  losses = jax.jit(jax.vmap(train))(lrs)
  one = jax.jit(train)  # compiled once, for all three
  for lr, loss in zip(lrs, losses):
    np.testing.assert_allclose(loss, one(lr), rtol=1e-5)
  assert len(set(np.asarray(losses).tolist())) == len(lrs)


@NAMES
def test_minimizes_a_quadratic(name):
  tx = registry.get(name, QUADRATIC_LR.get(name, DEFAULT_LR))
  params = _zeros()
  step = _step_fn(tx)

  @jax.jit
  def run(params):
    (params, _), _ = jax.lax.scan(lambda c, _: (step(*c), None),
                                  (params, tx.init(params)), None, length=200)
    return params

  start, end = _loss(params), _loss(run(params))
  assert end < start / 1000, (start, end)


def _assert_trees_equal(actual, desired):
  jax.tree.map(np.testing.assert_array_equal, actual, desired)
