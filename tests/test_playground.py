"""The 2-D playground: surfaces, the trajectory runner, its settings and figures."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import optim
from research import playground as pg
from research import plots
from experiments import playground as playground_cmd

POINTS = [(-1.2, 1.0), (0.3, -0.7), (2.0, 1.5), (-0.5, 0.25)]


def _closed_form_grad(name: str, x: float, y: float) -> np.ndarray:
  if name == 'ill_conditioned_quadratic':
    return pg.QUADRATIC_HESSIAN @ np.array([x, y])
  if name == 'saddle':
    return np.array([2 * x, -2 * y])
  return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


@pytest.mark.parametrize('name', list(pg.SURFACES))
@pytest.mark.parametrize('point', POINTS)
def test_gradient_matches_closed_form_and_finite_differences(name, point):
  fn = pg.SURFACES[name].fn
  xy = np.asarray(point, np.float32)
  g = np.asarray(jax.grad(fn)(xy))
  np.testing.assert_allclose(g, _closed_form_grad(name, *point), rtol=1e-5, atol=1e-4)
  h = np.float32(1e-2)  # central differences in float32: error ~h^2 f''' + |f| 1e-7 / h
  shifted = np.stack([xy + h * e for e in np.eye(2, dtype=np.float32)] +
                     [xy - h * e for e in np.eye(2, dtype=np.float32)])
  f = np.asarray(pg.values(fn, shifted))
  np.testing.assert_allclose(g, (f[:2] - f[2:]) / (2 * h), rtol=1e-2, atol=5e-2)


@pytest.mark.parametrize('name', ['ill_conditioned_quadratic', 'rosenbrock'])
def test_minimum_is_stationary_with_value_zero(name):
  surface = pg.SURFACES[name]
  xy = jnp.asarray(surface.minimum, jnp.float32)
  assert float(surface.fn(xy)) == 0.0
  np.testing.assert_allclose(jax.grad(surface.fn)(xy), [0.0, 0.0], atol=1e-6)


def test_saddle_origin_is_a_saddle_point():
  xy = jnp.zeros(2)
  np.testing.assert_allclose(jax.grad(pg.saddle)(xy), [0.0, 0.0])
  np.testing.assert_allclose(np.linalg.eigvalsh(jax.jit(jax.hessian(pg.saddle))(xy)), [-2.0, 2.0])
  assert pg.SURFACES['saddle'].minimum is None


def test_quadratic_condition_number_and_rotation():
  hessian = np.asarray(jax.jit(jax.hessian(pg.ill_conditioned_quadratic))(jnp.zeros(2)), np.float64)
  eigvals, eigvecs = np.linalg.eigh(hessian)
  np.testing.assert_allclose(eigvals, pg.QUADRATIC_CURVATURES, rtol=1e-5)
  assert eigvals[1] / eigvals[0] == pytest.approx(pg.CONDITION_NUMBER, rel=1e-5)
  assert pg.CONDITION_NUMBER == 50
  # The flat axis is 30 degrees off x: no per-coordinate scaling aligns with it.
  flat = eigvecs[:, 0] * np.sign(eigvecs[0, 0])
  assert math.degrees(math.atan2(flat[1], flat[0])) == pytest.approx(30.0, abs=1e-3)


def test_trajectory_shape_and_start():
  surface = pg.SURFACES['rosenbrock']
  path = pg.trajectory(optax.sgd(1e-3), surface.fn, surface.start, 7)
  assert path.shape == (8, 2)
  np.testing.assert_array_equal(path[0], np.float32(surface.start))


def test_trajectory_equals_numpy_gradient_descent():
  lr, steps = 0.03, 25
  surface = pg.SURFACES['ill_conditioned_quadratic']
  path = np.asarray(pg.trajectory(optax.sgd(lr), surface.fn, surface.start, steps))
  x = np.array(surface.start, np.float64)
  expected = [x.copy()]
  for _ in range(steps):
    x -= lr * (pg.QUADRATIC_HESSIAN @ x)
    expected.append(x.copy())
  np.testing.assert_allclose(path, np.array(expected), rtol=1e-4, atol=1e-5)


def test_trajectory_is_deterministic():
  surface = pg.SURFACES['saddle']
  run = lambda: np.asarray(pg.trajectory(optax.adam(0.1), surface.fn, surface.start, 30))
  np.testing.assert_array_equal(run(), run())


def _armijo_backtracking(shrink: float = 0.5, c: float = 1e-4
                        ) -> optax.GradientTransformationExtraArgs:
  """Steepest descent with an Armijo backtracking line search: uses only the
  `value`, `grad` and `value_fn` extra arguments (the incoming updates are ignored)."""

  def init(params):
    del params
    return optax.EmptyState()

  def update(updates, state, params=None, *, value, grad, value_fn, **extra):
    del updates, extra
    decrease = c * jnp.sum(grad ** 2)
    too_long = lambda t: (value_fn(params - t * grad) > value - t * decrease) & (t > 1e-8)
    t = jax.lax.while_loop(too_long, lambda t: t * shrink, jnp.float32(1.0))
    return -t * grad, state

  return optax.GradientTransformationExtraArgs(init, update)


def test_trajectory_passes_value_grad_and_value_fn():
  surface = pg.SURFACES['ill_conditioned_quadratic']
  steps = 10
  path = np.asarray(pg.trajectory(_armijo_backtracking(), surface.fn, surface.start, steps))
  f = lambda p: 0.5 * p @ pg.QUADRATIC_HESSIAN @ p
  x = np.array(surface.start, np.float64)
  expected = [x.copy()]
  for _ in range(steps):
    g = pg.QUADRATIC_HESSIAN @ x
    t = 1.0
    while f(x - t * g) > f(x) - t * 1e-4 * g @ g:
      t *= 0.5
    x = x - t * g
    expected.append(x.copy())
  np.testing.assert_allclose(path, np.array(expected), rtol=1e-4, atol=1e-5)
  values = [f(p) for p in path]
  assert all(b < a for a, b in zip(values, values[1:]))  # Armijo: strictly downhill


SETTINGS = [(s, o) for s, by_opt in pg.DEFAULT_SETTINGS.items() for o in by_opt]


@pytest.mark.parametrize('surface_name,name', SETTINGS)
def test_default_settings_give_finite_descending_paths(surface_name, name):
  if name not in optim.names():
    pytest.skip(f'{name!r} is not registered')
  surface = pg.SURFACES[surface_name]
  tx = optim.get(name, **pg.DEFAULT_SETTINGS[surface_name][name])
  path = np.asarray(pg.trajectory(tx, surface.fn, surface.start, surface.num_steps))
  assert path.shape == (surface.num_steps + 1, 2)
  if surface.minimum is None:
    # Unbounded below: a good optimizer runs off to -inf (L-BFGS's line search
    # reaches float32's limit in a few steps); what is drawn must be finite.
    assert np.all(np.isfinite(path[:pg.shown_length(surface, path)]))
  else:
    assert np.all(np.isfinite(path))
    values = np.asarray(pg.values(surface.fn, path))
    assert values[-1] < values[0]


def test_shown_length_cuts_at_window_exit_on_unbounded_surface():
  saddle = pg.SURFACES['saddle']
  path = np.array([[-3.0, 0.0], [-1.0, 1.0], [0.0, 5.0], [0.0, 50.0], [0.0, np.inf]])
  assert pg.shown_length(saddle, path) == 3  # up to and including the first point outside
  bounded = pg.SURFACES['rosenbrock']
  assert pg.shown_length(bounded, path) == 4  # only the non-finite tail goes


def test_figures_are_written(tmp_path):
  surface = pg.SURFACES['saddle']
  paths = {'sgd': np.asarray(pg.trajectory(optax.sgd(0.05), surface.fn, surface.start, 100)),
           'adam': np.asarray(pg.trajectory(optax.adam(0.1), surface.fn, surface.start, 100))}
  contour = tmp_path / 'figures' / 'contour.png'
  plots.contour_with_trajectories(surface, paths, contour, title='saddle')
  curves = tmp_path / 'curves.png'
  plots.loss_curves({n: np.asarray(pg.values(surface.fn, p)) for n, p in paths.items()},
                    curves, ylabel='f', logy=False)
  for path in (contour, curves):
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and path.stat().st_size > 10_000


def test_rosenbrock_log_contours_are_written(tmp_path):
  surface = pg.SURFACES['rosenbrock']
  path = tmp_path / 'r.png'
  plots.contour_with_trajectories(surface, {'start only': np.array([surface.start])}, path)
  assert path.stat().st_size > 10_000


def test_command_warns_about_optimizers_without_settings(monkeypatch, capsys):
  monkeypatch.setattr(optim, 'names', lambda: ['adam', 'brand_new'])
  selected = playground_cmd.selected_optimizers('saddle')
  assert list(selected) == ['adam']
  err = capsys.readouterr().err
  assert "'brand_new' has no settings" in err and "'lbfgs' is not registered" in err


@pytest.mark.slow
def test_command_writes_figures_and_markdown(tmp_path, monkeypatch):
  monkeypatch.setattr(optim, 'names', lambda: ['adam', 'sgd'])  # two are enough here
  playground_cmd.main(['--out', str(tmp_path), '--steps', '5'])
  for surface in pg.SURFACES:
    for suffix in ('', '_values'):
      assert (tmp_path / 'figures' / f'playground_{surface}{suffix}.png').stat().st_size > 0
  md = (tmp_path / 'playground.md').read_text()
  assert 'python -m experiments.playground' in md
  for surface in pg.SURFACES:
    assert f'figures/playground_{surface}.png' in md
  assert '| sgd | 0.038 |' in md
