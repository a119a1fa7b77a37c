"""Newton's method and dense BFGS: against their formulas (NumPy), on the
playground's surfaces, and SciPy's BFGS on Rosenbrock."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from research import optim, playground
from research.errors import ConfigError

RNG = np.random.default_rng(0)
_M = RNG.normal(size=(5, 5))
A = _M @ _M.T + 5 * np.eye(5)  # symmetric positive definite
B = RNG.normal(size=5)
X0 = RNG.normal(size=5)


def quadratic(x):
  return 0.5 * x @ jnp.asarray(A, x.dtype) @ x + jnp.asarray(B, x.dtype) @ x


def _step(tx, x, state=None):
  state = tx.init(x) if state is None else state
  value, grad = jax.value_and_grad(quadratic)(x)
  return tx.update(grad, state, x, value=value, grad=grad, value_fn=quadratic)


@pytest.mark.parametrize('damping', [0.0, 0.7])
def test_newton_step_is_the_formula(damping):
  with jax.enable_x64(True):
    x = jnp.asarray(X0)
    update, state = _step(optim.newton(0.9, damping=damping), x)
    g = A @ X0 + B
    np.testing.assert_allclose(update, -0.9 * np.linalg.solve(A + damping * np.eye(5), g),
                               rtol=1e-10)
    assert int(state.count) == 1
    # At lr 1, no damping: one step to the minimum of a quadratic.
    update, _ = _step(optim.newton(1.0), x)
    np.testing.assert_allclose(x + update, -np.linalg.solve(A, B), rtol=1e-10)


def test_newton_is_attracted_to_the_saddle():
  surface = playground.SURFACES['saddle']
  path = np.asarray(playground.trajectory(optim.get('newton', 1.0), surface.fn,
                                          surface.start, 5))
  assert playground.steps_to(path, surface.saddle_point) == 1
  np.testing.assert_allclose(path[1:], 0.0, atol=1e-7)
  # Gradient descent from the same start leaves along y instead.
  gd = np.asarray(playground.trajectory(optim.get('sgd', 0.05), surface.fn,
                                        surface.start, 100))
  assert playground.steps_to(gd, surface.saddle_point) is None and gd[-1, 1] > 1


def test_bfgs_update_is_the_formula_and_meets_the_secant_condition():
  with jax.enable_x64(True):
    h = np.linalg.inv(A)
    s, y = RNG.normal(size=5), RNG.normal(size=5)
    y = y if s @ y > 0 else -y
    rho = 1 / (s @ y)
    v = np.eye(5) - rho * np.outer(s, y)
    expected = v @ h @ v.T + rho * np.outer(s, s)
    got = optim.bfgs_update(jnp.asarray(h), jnp.asarray(s), jnp.asarray(y))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    np.testing.assert_allclose(got @ y, s, rtol=1e-10)  # H+ y = s
    np.testing.assert_allclose(got, got.T, atol=1e-12)


@pytest.mark.parametrize('surface', ['ill_conditioned_quadratic', 'rosenbrock'])
def test_bfgs_converges_on_the_playground(surface):
  surface = playground.SURFACES[surface]
  path = np.asarray(playground.trajectory(optim.get('bfgs', 1.0), surface.fn,
                                          surface.start, 100))
  reached = playground.steps_to(path, surface.minimum, tol=1e-4)
  assert reached is not None, path[-1]
  if surface.name == 'rosenbrock':
    # SciPy's BFGS (its own line search, float64) from the same start.
    scipy_iterations = optimize.minimize(
        lambda x: float(surface.fn(jnp.asarray(x))), surface.start,
        jac=lambda x: np.asarray(jax.grad(surface.fn)(jnp.asarray(x, jnp.float32)),
                                 np.float64), method='BFGS').nit
    assert reached <= 2 * scipy_iterations, (reached, scipy_iterations)
  else:  # a 2-D quadratic: a handful of steps
    assert reached <= 10


def test_newton_and_bfgs_refuse_a_call_without_value_fn():
  x = jnp.ones(2)
  for tx in (optim.newton(), optim.bfgs()):
    with pytest.raises(ValueError, match='value_fn'):
      tx.update(x, tx.init(x), x)


def test_a_network_is_refused_with_its_parameter_count():
  params = {'w': jnp.zeros((784, 64)), 'b': jnp.zeros(64)}
  for name in ('newton', 'bfgs'):
    with pytest.raises(ConfigError, match=r'max_params.*50,240 parameters > max_params = 2,000'):
      optim.get(name, 1.0).init(params)
