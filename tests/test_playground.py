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
  assert 'figures/playground_two_wells.png' in md and '| sgd_b1 | sgd | 0.02 |' in md
  assert (tmp_path / 'figures' / 'playground_two_wells_values.png').stat().st_size > 0


# The double well made of data (research.playground_noise).

from research import playground_noise as pn  # noqa: E402  (grouped with its tests)
from research.errors import ConfigError  # noqa: E402

WELLS = pn.two_wells()


def _np_losses(s: pn.ExampleSurface, xy: np.ndarray) -> np.ndarray:
  """Every l_i at xy, written again in NumPy (float64): (n,)."""
  x, y = np.float64(xy[0]), np.float64(xy[1])
  valley = y - s.v - s.beta * x ** 2 - s.gamma * x
  return ((x - s.u) ** 2 - 1) ** 2 + s.t * x + s.kappa * valley ** 2


def _np_grads(s: pn.ExampleSurface, xy: np.ndarray, rows=slice(None)) -> np.ndarray:
  """Every l_i's gradient at xy from its formula: (n, 2)."""
  x, y = np.float64(xy[0]), np.float64(xy[1])
  u, t, v = s.u[rows], s.t[rows], s.v[rows]
  valley = y - v - s.beta * x ** 2 - s.gamma * x
  gx = 4 * (x - u) * ((x - u) ** 2 - 1) + t - 2 * s.kappa * valley * (2 * s.beta * x + s.gamma)
  return np.stack([gx, 2 * s.kappa * valley], axis=1)


def test_mean_of_example_losses_is_the_closed_form():
  points = np.random.default_rng(0).uniform([-2, -1.5], [2, 2.5], (20, 2)).astype(np.float32)
  closed = np.asarray(jax.vmap(WELLS.mean_loss)(jnp.asarray(points)))
  batch = np.asarray(jax.vmap(WELLS.batch_loss, in_axes=(0, None))(jnp.asarray(points),
                                                                  WELLS.data()))
  numpy_mean = np.array([_np_losses(WELLS, p).mean() for p in points])
  np.testing.assert_allclose(closed, numpy_mean, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(batch, numpy_mean, rtol=1e-4, atol=1e-4)
  grads = np.asarray(jax.vmap(jax.grad(WELLS.mean_loss))(jnp.asarray(points)))
  np.testing.assert_allclose(grads, [_np_grads(WELLS, p).mean(0) for p in points],
                             rtol=1e-4, atol=1e-3)


def test_minibatch_gradient_is_unbiased():
  xy = np.array([0.4, 0.9], np.float32)  # near the barrier, where noise matters
  draws, batch = 20_000, 4
  rows = pn.draw_batches(WELLS.num_examples, (draws,), batch, seed=1)
  grads = np.asarray(jax.vmap(jax.grad(WELLS.batch_loss), in_axes=(None, 0))(
      jnp.asarray(xy), WELLS.data()[rows]))
  full = _np_grads(WELLS, xy).mean(0)
  standard_error = grads.std(0) / np.sqrt(draws)
  assert np.all(np.abs(grads.mean(0) - full) < 4 * standard_error)
  assert np.all(standard_error > 0)  # a real subsample: the draws do differ
  # The noise shrinks as 1 / sqrt(batch): per-example std / 2 at batch 4.
  np.testing.assert_allclose(grads.std(0), _np_grads(WELLS, xy).std(0) / 2, rtol=0.05)


def test_two_minima_where_stated_and_ordered():
  minima = WELLS.minima()
  assert minima.shape == (2, 2)
  # The mean tilt 0.5 > 0 deepens the left well: the global minimum is at x < 0.
  assert minima[0, 0] < 0 < minima[1, 0]
  np.testing.assert_allclose(minima, [[-0.968, 0.756], [0.808, 0.230]], atol=2e-3)
  f = lambda p: float(np.mean(_np_losses(WELLS, p)))
  assert f(minima[0]) + 0.5 < f(minima[1])  # clearly worse
  hessian = jax.jit(jax.hessian(WELLS.mean_loss))
  for p in minima:
    np.testing.assert_allclose(_np_grads(WELLS, p).mean(0), [0, 0], atol=1e-9)
    np.testing.assert_allclose(jax.grad(WELLS.mean_loss)(jnp.asarray(p, jnp.float32)),
                               [0, 0], atol=1e-4)
    assert np.all(np.linalg.eigvalsh(np.asarray(hessian(jnp.asarray(p, jnp.float32)))) > 0.5)
  (saddle,) = WELLS.saddle_points()
  eig = np.linalg.eigvalsh(np.asarray(hessian(jnp.asarray(saddle, jnp.float32))))
  assert eig[0] < 0 < eig[1]
  assert f(saddle) > f(minima[1]) > f(minima[0])


def test_minima_match_scipy():
  scipy_optimize = pytest.importorskip('scipy.optimize')
  f = lambda p: float(np.mean(_np_losses(WELLS, p)))
  grad = lambda p: _np_grads(WELLS, p).mean(0)
  for start, expected in (((-1.5, 0.0), 0), ((1.5, 0.0), 1)):
    found = scipy_optimize.minimize(f, start, jac=grad, method='BFGS', tol=1e-10).x
    np.testing.assert_allclose(found, WELLS.minima()[expected], atol=1e-4)


def test_full_batch_paths_equal_the_playground_trajectory():
  starts = np.array([[1.4, 1.9], [-1.0, -1.0]], np.float32)
  paths = np.asarray(pn.minibatch_paths(optim.sgd(0.02), WELLS, starts, 30))
  assert paths.shape == (1, 2, 31, 2)
  for j, start in enumerate(starts):
    expected = pg.trajectory(optim.sgd(0.02), WELLS.mean_loss, tuple(start), 30)
    np.testing.assert_allclose(paths[0, j], expected, rtol=1e-4, atol=1e-5)


def test_minibatch_paths_equal_numpy_sgd_on_the_same_batches():
  starts = np.array([[1.4, 1.9], [0.2, 0.0], [-1.8, 2.3]], np.float32)
  steps, lr, mu = 15, 0.02, 0.9
  batches = pn.draw_batches(WELLS.num_examples, (2, len(starts), steps), 4, seed=3)
  paths = np.asarray(pn.minibatch_paths(optim.momentum(lr, mu), WELLS, starts, steps, batches))
  assert paths.shape == (2, 3, steps + 1, 2)
  for s in range(2):
    for j, x in enumerate(starts.astype(np.float64)):
      velocity, expected = np.zeros(2), [x.copy()]
      for t in range(steps):
        velocity = mu * velocity + _np_grads(WELLS, x, batches[s, j, t]).mean(0)
        x = x - lr * velocity
        expected.append(x.copy())
      np.testing.assert_allclose(paths[s, j], np.array(expected), rtol=1e-4, atol=1e-4)
  assert not np.allclose(paths[0], paths[1])  # seeds draw different batches


def test_basins_and_counts():
  minima = WELLS.minima()
  points = np.concatenate([minima + 0.05, [[-1.8, 2.3], [1.8, -1.3]]])
  np.testing.assert_array_equal(pn.basins(WELLS, points), [0, 1, 0, 1])
  counts = pn.basin_counts(np.array([0, 0, 1, 1]), np.array([[0, 1, 0, 1], [0, 0, 0, 0]]))
  np.testing.assert_allclose(counts.in_global, [0.5, 1.0])
  np.testing.assert_allclose(counts.escaped, [0.5, 1.0])
  np.testing.assert_allclose(counts.lost, [0.5, 0.0])


def test_start_grid_covers_the_window():
  grid = pn.start_grid(WELLS, 4)
  assert grid.shape == (16, 2)
  assert np.all((grid[:, 0] > WELLS.xlim[0]) & (grid[:, 0] < WELLS.xlim[1]))
  assert np.all((grid[:, 1] > WELLS.ylim[0]) & (grid[:, 1] < WELLS.ylim[1]))
  np.testing.assert_allclose(np.unique(grid[:, 0]), [-1.5, -0.5, 0.5, 1.5])


def test_bad_noise_values_raise_config_error():
  with pytest.raises(ConfigError, match='noise.batch_size'):
    pn.draw_batches(256, (2,), 0, seed=0)
  with pytest.raises(ConfigError, match='noise.batch_size'):
    pn.draw_batches(256, (2,), 257, seed=0)
  with pytest.raises(ConfigError, match='noise.shift_std'):
    pn.two_wells(shift_std=0.5)
  with pytest.raises(ConfigError, match='noise.num_examples'):
    pn.two_wells(num_examples=1)
  with pytest.raises(ConfigError, match='--seeds'):
    playground_cmd.main(['--seeds', '0'])
  rows = pn.draw_batches(256, (3, 5), 4, seed=0)
  assert rows.shape == (3, 5, 4) and rows.min() >= 0 and rows.max() < 256
