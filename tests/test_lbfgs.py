"""research.optim.lbfgs and its strong Wolfe line search."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

from research import losses, models
from research.optim.lbfgs import lbfgs
from research.optim.linesearch import cubic_minimizer, wolfe_linesearch
from research.train import create_train_state, make_train_step
from tests.train_helpers import tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

C1, C2 = 1e-4, 0.9


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def minimize(f, x0, steps, tx=None, tol=None, xstar=None):
  """Runs `tx` (default lbfgs()) as the train step does: value_and_grad, then
  update. Returns the iterates, the final state, and the iterations used."""
  tx = tx or lbfgs()

  @jax.jit
  def step(x, state):
    value, grad = jax.value_and_grad(f)(x)
    updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=f)
    return optax.apply_updates(x, updates), state

  xs, state = [x0], tx.init(x0)
  for k in range(steps):
    x, state = step(xs[-1], state)
    xs.append(x)
    if tol is not None and np.max(np.abs(np.asarray(x) - xstar)) < tol:
      return xs, state, k + 1
  return xs, state, steps


def assert_strong_wolfe(f, grad, x, x_new, c1=C1, c2=C2):
  """Checks the conditions for the step p = x_new - x, in float64 numpy."""
  p = x_new - x
  slope0 = grad(x) @ p
  assert slope0 < 0
  assert f(x_new) <= f(x) + c1 * slope0 + 1e-12 * abs(f(x))
  assert abs(grad(x_new) @ p) <= c2 * abs(slope0) * (1 + 1e-9)


def quadratic(n=20, condition=100.0):
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  a = (q * np.logspace(0, np.log10(condition), n)) @ q.T
  b = rng.normal(size=n)
  return a, b, np.linalg.solve(a, b)


def rosenbrock(x):
  return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def scipy_iterations_to(fun_and_grad, x0, xstar, tol, **options):
  """SciPy L-BFGS-B iterations until max|x - x*| < tol, and its nfev then."""
  trace = []

  def counted(x):
    trace.append(None)
    return fun_and_grad(x)

  hits = []
  scipy.optimize.minimize(
      counted, x0, jac=True, method='L-BFGS-B',
      options={'gtol': 1e-14, 'ftol': 0, 'maxiter': 1000, **options},
      callback=lambda xk: hits.append((np.max(np.abs(xk - xstar)) < tol, len(trace))))
  return next((k + 1, nfev) for k, (hit, nfev) in enumerate(hits) if hit)


def test_quadratic_converges_like_scipy_with_wolfe_steps(x64):
  a, b, xstar = quadratic()
  f = lambda x: 0.5 * x @ a @ x - b @ x
  fun_and_grad = lambda x: (f(x), a @ x - b)
  xs, state, iters = minimize(f, jnp.zeros(20), 200, tol=1e-5, xstar=xstar)
  assert np.max(np.abs(np.asarray(xs[-1]) - xstar)) < 1e-5
  for x, x_new in zip(xs[:-1], xs[1:]):
    assert_strong_wolfe(f, lambda x: a @ x - b, np.asarray(x), np.asarray(x_new))
  # A unit-step Wolfe search is not exact, so L-BFGS needs more than n
  # iterations here; SciPy's needs exactly as many.
  scipy_iters, scipy_nfev = scipy_iterations_to(fun_and_grad, np.zeros(20), xstar, 1e-5)
  assert iters <= scipy_iters + 2
  assert 1 + int(state.num_fun_evals) <= 1.2 * scipy_nfev


def test_quadratic_with_near_exact_search_takes_n_iterations(x64):
  # With a near-exact line search, L-BFGS on a quadratic is conjugate gradients.
  a, b, xstar = quadratic()
  f = lambda x: 0.5 * x @ a @ x - b @ x
  tx = lbfgs(c1=1e-4, c2=1e-3, max_linesearch_steps=50)
  xs, _, iters = minimize(f, jnp.zeros(20), 60, tx=tx, tol=1e-5, xstar=xstar)
  assert iters <= 20 + 1
  for x, x_new in zip(xs[:-1], xs[1:]):
    assert_strong_wolfe(f, lambda x: a @ x - b, np.asarray(x), np.asarray(x_new),
                        c2=1e-3)


@pytest.mark.parametrize('n', [2, 10])
def test_rosenbrock_reaches_minimum_with_scipy_like_effort(x64, n):
  x0 = np.tile([-1.2, 1.0], n // 2)
  ones = np.ones(n)
  xs, state, iters = minimize(rosenbrock, jnp.asarray(x0), 300, tol=1e-4, xstar=ones)
  assert np.max(np.abs(np.asarray(xs[-1]) - 1)) < 1e-4
  values = [float(rosenbrock(x)) for x in xs]
  assert all(v1 <= v0 for v0, v1 in zip(values, values[1:]))
  vg = jax.jit(jax.value_and_grad(rosenbrock))
  fun_and_grad = lambda x: tuple(np.asarray(t, np.float64) for t in vg(x))
  scipy_iters, scipy_nfev = scipy_iterations_to(fun_and_grad, x0, ones, 1e-4)
  # Loosely: the paths differ, the effort should not.
  assert iters <= 1.5 * scipy_iters + 5
  assert 1 + int(state.num_fun_evals) <= 1.5 * scipy_nfev + 5


def test_nonconvex_saddle_no_nan_and_monotone():
  # A saddle at the origin; minima at (0, +-1). Starting next to the saddle,
  # the path crosses a region of negative curvature in y.
  f = lambda p: p[0] ** 2 + 0.25 * p[1] ** 4 - 0.5 * p[1] ** 2
  xs, state, _ = minimize(f, jnp.array([1.0, 1e-3]), 60)
  values = np.array([float(f(x)) for x in xs])
  assert np.all(np.isfinite(values))
  assert np.all(np.diff(values) <= 0)
  np.testing.assert_allclose(np.abs(np.asarray(xs[-1])), [0, 1], atol=1e-3)
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state))


def test_pair_with_negative_curvature_is_not_stored():
  # f = x^4/4 - x^2/2 is concave near 0: from 0.1, the step to 0.2 decreases f
  # but the slope steepens (s'y < 0); with one trial it is taken, unpaired.
  f = lambda x: jnp.sum(0.25 * x ** 4 - 0.5 * x ** 2)
  tx = lbfgs(learning_rate=0.1, max_linesearch_steps=1)
  x = jnp.array([0.1])
  value, grad = jax.value_and_grad(f)(x)
  updates, state = tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
  np.testing.assert_allclose(updates, [0.1], rtol=1e-6)
  assert float(f(x + updates)) < float(value)
  assert not bool(state.wolfe)
  assert int(state.num_pairs) == 0


def test_failed_search_takes_no_step_and_resets_memory():
  # Every point with a lower value is NaN: no decrease can be found.
  f = lambda x: jnp.where(jnp.sum(x ** 2) < 4.0, jnp.nan, jnp.sum(x ** 2))
  tx = lbfgs(max_linesearch_steps=7)
  x = jnp.array([2.0])
  value, grad = jax.value_and_grad(f)(x)
  update = jax.jit(lambda g, s, p, v: tx.update(g, s, p, value=v, grad=g, value_fn=f))
  updates, state = update(grad, tx.init(x), x, value)
  np.testing.assert_array_equal(updates, [0.0])
  assert int(state.num_fun_evals) == 7
  assert int(state.num_pairs) == 0
  assert float(state.value) == float(value)
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state))


def test_first_step_is_a_wolfe_search_along_minus_g(x64):
  a, b, _ = quadratic(n=5)
  f = lambda x: 0.5 * x @ a @ x - b @ x + jnp.sum(x ** 4)
  x = jnp.asarray(np.linspace(-1, 1, 5))
  value, grad = jax.value_and_grad(f)(x)
  tx = lbfgs(learning_rate=0.5)
  updates, state = tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
  # Parallel to -g ...
  unit = -grad / jnp.linalg.norm(grad)
  step = float(state.step_size)
  np.testing.assert_allclose(updates, step * unit, rtol=1e-12)
  # ... at the step the line search alone finds from the trial 0.5 ...
  direct = wolfe_linesearch(jax.value_and_grad(f), x, unit, value, grad,
                            initial_step=jnp.asarray(0.5))
  assert step == float(direct.step) and int(state.num_fun_evals) == int(direct.num_evals)
  # ... which meets the strong Wolfe conditions, checked independently.
  grad_np = lambda y: np.asarray(jax.grad(f)(jnp.asarray(y)))
  f_np = lambda y: float(f(jnp.asarray(y)))
  assert_strong_wolfe(f_np, grad_np, np.asarray(x), np.asarray(x + updates))
  assert bool(state.wolfe)
  np.testing.assert_allclose(state.grad, grad_np(np.asarray(x + updates)))
  assert float(state.value) == pytest.approx(f_np(np.asarray(x + updates)))


def test_cubic_minimizer_is_exact_on_a_cubic():
  phi = lambda t: (t - 0.3) ** 2 * (t + 2.0)  # local min at 0.3
  dphi = jax.grad(phi)
  t = cubic_minimizer(0.0, phi(0.0), dphi(0.0), 1.0, phi(1.0), dphi(1.0))
  assert float(t) == pytest.approx(0.3, abs=1e-6)


def test_jit_and_scan_with_a_pytree_and_a_schedule():
  rng = np.random.default_rng(1)
  x_data = jnp.asarray(rng.normal(size=(64, 3)), jnp.float32)
  y_data = jnp.tanh(x_data @ jnp.asarray(rng.normal(size=(3, 4)), jnp.float32) + 0.5)

  def f(p):
    pred = jnp.tanh(x_data @ p['w'] + p['b'])
    return jnp.mean((pred - y_data) ** 2) + 1e-3 * jnp.sum(p['w'] ** 2)

  tx = lbfgs(learning_rate=optax.constant_schedule(1.0), memory_size=4)
  params = {'w': jnp.zeros((3, 4)), 'b': jnp.zeros((4,))}
  state0 = tx.init(params)

  def body(carry, _):
    p, s = carry
    value, grad = jax.value_and_grad(f)(p)
    updates, s = tx.update(grad, s, p, value=value, grad=grad, value_fn=f)
    return (optax.apply_updates(p, updates), s), value

  (params, state), values = jax.jit(
      lambda c: jax.lax.scan(body, c, None, length=15))((params, state0))
  values = np.asarray(values)
  assert np.all(np.isfinite(values)) and np.all(np.diff(values) <= 0)
  assert values[-1] < 0.1 * values[0]
  shape_dtype = lambda t: jax.tree.map(lambda l: (l.shape, l.dtype), t)
  assert shape_dtype(state) == shape_dtype(state0)
  assert int(state.count) == 15 and int(state.num_pairs) == 4


def test_evaluation_count_matches_the_calls():
  calls = []

  def f(x):
    jax.debug.callback(lambda: calls.append(1))
    return rosenbrock(x)

  tx = lbfgs()
  _, state, _ = minimize(f, jnp.array([-1.2, 1.0]), 10, tx=tx)
  # minimize's own value_and_grad counts one per step.
  assert len(calls) == 10 + int(state.num_fun_evals)


def _train(*overrides, steps, fixed_batch):
  config = tiny_config(*overrides)
  model = models.build_model(config.model, 10)
  tx = lbfgs()
  key = jax.random.PRNGKey(1)
  x = jax.random.normal(key, (6 * 64, 40))
  y = jax.random.randint(jax.random.PRNGKey(2), (6 * 64,), 0, 10)
  state = create_train_state(0, model, tx, x[:1])
  step = jax.jit(make_train_step(model, tx, losses.get('cross_entropy')))
  loss_values = []
  for i in range(steps):
    sl = slice(0, 64) if fixed_batch else slice(64 * (i % 6), 64 * (i % 6 + 1))
    state, metrics = step(state, (x[sl], y[sl]))
    loss_values.append(float(metrics['loss']))
  return state, np.array(loss_values)


def test_train_step_full_batch_loss_decreases():
  state, loss_values = _train(steps=8, fixed_batch=True)
  assert np.all(np.diff(loss_values) < 0)
  assert loss_values[-1] < 0.5 * loss_values[0]
  assert int(state.opt_state.count) == 8


def test_train_step_stochastic_with_dropout_and_batchnorm_no_nan():
  state, loss_values = _train('model.dropout=0.2', 'model.batchnorm=after',
                              steps=12, fixed_batch=False)
  assert np.all(np.isfinite(loss_values))
  assert all(np.all(np.isfinite(l)) for l in jax.tree.leaves(state.params))
  assert all(np.all(np.isfinite(l)) for l in jax.tree.leaves(state.opt_state))
