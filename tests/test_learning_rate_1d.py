"""The 1-D optimal learning rate: on quadratics, where every claim is exact."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import learning_rate_1d as lr1d

RNG = np.random.default_rng(0)
_M = RNG.normal(size=(6, 6))
A = _M @ _M.T + np.eye(6)
X0 = RNG.normal(size=6)


def loss(params):
  x = params['x']
  return 0.5 * x @ jnp.asarray(A, x.dtype) @ x


@pytest.mark.parametrize('ratio', [0.5, 1.0, 1.5, 2.5])
def test_quadratic_gd_is_the_product_of_its_factors(ratio):
  curvature = 3.0
  w = lr1d.quadratic_gd(curvature, ratio / curvature, 2.0, 10)
  manual = [2.0]
  for _ in range(10):
    manual.append(manual[-1] - ratio / curvature * curvature * manual[-1])
  np.testing.assert_allclose(w, manual, rtol=1e-12)
  assert (abs(w[-1]) < 2.0) == (ratio < 2)


def test_directional_curvature_is_u_h_u():
  with jax.enable_x64(True):
    params = {'x': jnp.asarray(X0)}
    d = RNG.normal(size=6)
    u = d / np.linalg.norm(d)
    got = lr1d.directional_curvature(loss, params, {'x': jnp.asarray(3 * d)})
    np.testing.assert_allclose(got, u @ A @ u, rtol=1e-10)


def test_along_the_gradient_of_a_quadratic_the_minimum_is_at_eta_opt_and_the_loss_is_back_at_twice_it():
  with jax.enable_x64(True):
    params = {'x': jnp.asarray(X0)}
    opt = lr1d.optimal_rate_along_gradient(loss, params)
    g = A @ X0
    np.testing.assert_allclose(opt['eta_opt'], (g @ g) / (g @ A @ g), rtol=1e-10)
    grid = np.linspace(0, 3, 3001)
    along = lr1d.loss_along(loss, params, grid * opt['eta_opt'])
    assert grid[np.argmin(along)] == pytest.approx(1.0, abs=1e-3)
    assert lr1d.crossing(grid, along, along[0]) == pytest.approx(2.0, abs=1e-3)


def test_crossing_interpolates_and_says_never():
  etas = np.array([0.0, 1.0, 2.0, 3.0])
  assert lr1d.crossing(etas, np.array([5.0, 1.0, 3.0, 7.0]), 5.0) == pytest.approx(2.5)
  assert lr1d.crossing(etas, np.array([5.0, 4.0, 3.0, 2.0]), 5.0) is None
