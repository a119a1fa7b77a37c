"""Three classic 2-D surfaces and the path an optimizer takes on them.

Pure JAX. A surface is a function of a point `xy` of shape (2,); a trajectory is
one jitted `lax.scan` of the optimizer's update, which always receives `value`,
`grad` and `value_fn`, so line-search methods such as L-BFGS run unchanged.
The figures themselves are drawn by `research.plots` from
`experiments/playground.py`.
"""

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax


@dataclasses.dataclass(frozen=True)
class Surface:
  """A 2-D objective with the window and start point used to show it."""
  name: str
  fn: Callable[[jax.Array], jax.Array]  # f(xy) for xy of shape (2,)
  start: tuple[float, float]
  minimum: tuple[float, float] | None  # None when unbounded below (the saddle)
  xlim: tuple[float, float]
  ylim: tuple[float, float]
  num_steps: int  # default length of a trajectory on this surface
  saddle_point: tuple[float, float] | None = None  # a stationary point, not a minimum


# The quadratic's curvatures (Hessian eigenvalues) and the angle of its axes.
# Rotated by 30 degrees so that its long valley is NOT aligned with x or y:
# per-coordinate methods (AdaGrad, RMSProp, Adam) would otherwise precondition
# it perfectly and get a free pass.
QUADRATIC_CURVATURES = (1.0, 50.0)
QUADRATIC_ANGLE_DEG = 30.0
CONDITION_NUMBER = QUADRATIC_CURVATURES[1] / QUADRATIC_CURVATURES[0]


def _rotation(degrees: float) -> np.ndarray:
  a = math.radians(degrees)
  return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


_R = _rotation(QUADRATIC_ANGLE_DEG)
# H = R diag(1, 50) R^T: the flat axis points along (cos 30, sin 30).
QUADRATIC_HESSIAN = _R @ np.diag(QUADRATIC_CURVATURES) @ _R.T


def ill_conditioned_quadratic(xy: jax.Array) -> jax.Array:
  """0.5 xy^T H xy with eigenvalues 1 and 50, axes rotated 30 degrees."""
  return 0.5 * xy @ jnp.asarray(QUADRATIC_HESSIAN, xy.dtype) @ xy


def saddle(xy: jax.Array) -> jax.Array:
  """x^2 - y^2: a minimum along x, a maximum along y, unbounded below."""
  return xy[0] ** 2 - xy[1] ** 2


def rosenbrock(xy: jax.Array) -> jax.Array:
  """(1 - x)^2 + 100 (y - x^2)^2: a curved, narrow valley; minimum 0 at (1, 1)."""
  return (1.0 - xy[0]) ** 2 + 100.0 * (xy[1] - xy[0] ** 2) ** 2


SURFACES: dict[str, Surface] = {
    # Start off the valley's axis (flat coordinate -3.5, stiff coordinate +2)
    # so the stiff direction's zig-zag and the slow flat direction both show.
    'ill_conditioned_quadratic': Surface(
        'ill_conditioned_quadratic', ill_conditioned_quadratic, start=(-4.0, 0.0),
        minimum=(0.0, 0.0), xlim=(-5.0, 2.5), ylim=(-3.5, 2.0), num_steps=100),
    # Just off the ridge y = 0: the gradient along y starts at 2e-3, so plain
    # gradient descent first slides into the saddle and lingers there.
    'saddle': Surface(
        'saddle', saddle, start=(-3.0, 1e-3), minimum=None,
        xlim=(-3.5, 3.5), ylim=(-1.0, 3.0), num_steps=100, saddle_point=(0.0, 0.0)),
    # The classic start (Rosenbrock 1960).
    'rosenbrock': Surface(
        'rosenbrock', rosenbrock, start=(-1.2, 1.0), minimum=(1.0, 1.0),
        xlim=(-1.75, 1.5), ylim=(-0.5, 2.0), num_steps=2000),
}


def scan_path(tx: optax.GradientTransformation,
              objective_at: Callable[[jax.Array], Callable[[jax.Array], jax.Array]],
              x0: jax.Array, num_steps: int) -> jax.Array:
  """The one optimizer loop of the playground: (num_steps + 1, 2), row 0 = x0.

  `objective_at(t)` is the function step t minimizes (the same one for a
  fixed surface; a minibatch's mean loss in `research.playground_noise`).
  A `lax.scan`, traceable under `jit` and `vmap`; every update gets `value`,
  `grad` and `value_fn` (a plain `GradientTransformation` is wrapped to ignore
  them).
  """
  tx = optax.with_extra_args_support(tx)

  def step(carry, t):
    x, state = carry
    fn = objective_at(t)
    value, grad = jax.value_and_grad(fn)(x)
    updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fn)
    x = optax.apply_updates(x, updates)
    return (x, state), x

  _, xs = jax.lax.scan(step, (x0, tx.init(x0)), jnp.arange(num_steps))
  return jnp.concatenate([x0[None], xs])


def trajectory(tx: optax.GradientTransformation, fn: Callable[[jax.Array], jax.Array],
               start: tuple[float, float], num_steps: int) -> jax.Array:
  """Positions visited by `tx` minimizing `fn` from `start`: (num_steps + 1, 2).

  Row 0 is the start. One jitted `lax.scan` (`scan_path`).
  """
  run = jax.jit(lambda x0: scan_path(tx, lambda t: fn, x0, num_steps))
  return run(jnp.asarray(start, jnp.float32))


CONVERGED = 1e-6  # distance to a point at which a path has reached it


def steps_to(path: np.ndarray, point: tuple[float, float],
             tol: float = CONVERGED) -> int | None:
  """The first step at which `path` is within `tol` of `point`; None if never."""
  near = np.linalg.norm(np.asarray(path) - np.asarray(point), axis=1) < tol
  return int(np.argmax(near)) if near.any() else None


def values(fn: Callable[[jax.Array], jax.Array], path: jax.Array) -> jax.Array:
  """f at every row of a trajectory."""
  return jax.vmap(fn)(jnp.asarray(path))


def grid_values(surface: Surface, num: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """f on a num x num grid over the surface's window: (x, y, z) as from meshgrid."""
  gx, gy = np.meshgrid(np.linspace(*surface.xlim, num), np.linspace(*surface.ylim, num))
  points = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
  return gx, gy, np.asarray(values(surface.fn, points)).reshape(gx.shape)


def shown_length(surface: Surface, path: np.ndarray) -> int:
  """How many leading rows of `path` to draw.

  Stops before the first non-finite row; on a surface unbounded below it also
  stops one row after the path leaves the window, whose values run to -inf.
  """
  path = np.asarray(path)
  n = len(path)
  bad = ~np.all(np.isfinite(path), axis=1)
  if bad.any():
    n = int(np.argmax(bad))
  if surface.minimum is None:
    (x0, x1), (y0, y1) = surface.xlim, surface.ylim
    out = ((path[:n, 0] < x0) | (path[:n, 0] > x1) |
           (path[:n, 1] < y0) | (path[:n, 1] > y1))
    if out.any():
      n = int(np.argmax(out)) + 1
  return n


def settings_text(settings: dict) -> str:
  """An optimizer's settings other than its learning rate, as 'k=v, k=v'."""
  return ', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}'
                   for k, v in settings.items() if k != 'learning_rate')


# Hand-tuned so that each path shows its method's character within the
# surface's `num_steps`; fixed numbers, so the figures are reproducible. Chosen
# by eye after a sweep of the final value over a log grid (lr 1e-4 .. 10, 16
# points): each is stable, usually near the best final value, and moved off it
# where the best value hides the behaviour the figure is meant to show.
# Hyperparameters not given take the optimizer's defaults. 'lbfgs' is listed
# ahead of its registration: until then the command skips it with a warning.
DEFAULT_SETTINGS: dict[str, dict[str, dict]] = {
    'ill_conditioned_quadratic': {
        # Stability limit 2/50 = 0.04: at 0.038 the stiff direction flips sign
        # each step (factor 1 - 0.038*50 = -0.9), a slowly fading zig-zag, while
        # the flat direction creeps (factor 0.962 per step).
        'sgd': dict(learning_rate=0.038),
        # mu = 0.9 with lr 0.01 is underdamped in both directions (|root| =
        # sqrt(0.9)): it overshoots along the valley and circles in. Nesterov's
        # look-ahead damps the stiff direction (no zig-zag across the valley)
        # but it still overshoots, more gently, along it.
        'momentum': dict(learning_rate=0.01, momentum=0.9),
        'nesterov': dict(learning_rate=0.01, momentum=0.9),
        # Per-coordinate scaling cannot undo a rotated valley: the first steps
        # of AdaGrad, RMSProp and Adam are ~lr * sign(g) per coordinate, at 45
        # degrees rather than along -g. AdaGrad then slows as 1 / sqrt(t);
        # RMSProp's steps stay ~lr in size, so it never settles (it jitters,
        # and bursts near the minimum as its E[g^2] decays); Adam's momentum
        # carries it along the valley. Each lr is near its best final value.
        'adagrad': dict(learning_rate=2.0),
        'rmsprop': dict(learning_rate=0.1),
        'adam': dict(learning_rate=0.5),
        'nadam': dict(learning_rate=0.5),
        'lbfgs': dict(learning_rate=1.0, memory_size=10),
        # A quadratic: Newton's first step lands on the minimum; BFGS needs
        # n + 1 = 3 line searches to learn H (exactly, with exact searches).
        'bfgs': dict(learning_rate=1.0),
        'newton': dict(learning_rate=1.0),
    },
    'saddle': {
        # Gradient descent slides into the saddle along x, while y grows only
        # as (1 + 2 lr)^t from 1e-3: it lingers there ~60 steps, then escapes.
        'sgd': dict(learning_rate=0.05),
        # Same lr: the velocity along y compounds (1.32x per step), so they
        # escape after ~30 steps, swinging past x = 0 first.
        'momentum': dict(learning_rate=0.05, momentum=0.9),
        'nesterov': dict(learning_rate=0.05, momentum=0.9),
        # Adaptive methods divide the tiny y-gradient by its own size: they
        # move along y at ~lr per step from the first step, never slowing at
        # the saddle; lrs chosen so each leaves the window in 100 steps.
        'adagrad': dict(learning_rate=0.3),
        'rmsprop': dict(learning_rate=0.05),
        'adam': dict(learning_rate=0.1),
        'nadam': dict(learning_rate=0.1),
        'lbfgs': dict(learning_rate=1.0, memory_size=10),
        'bfgs': dict(learning_rate=1.0),
        # The saddle is the stationary point of Newton's quadratic model (the
        # surface itself): its first step lands on it and stays (Dauphin et
        # al. 2014: saddles attract Newton's method).
        'newton': dict(learning_rate=1.0),
    },
    'rosenbrock': {
        # The curvature across the valley is ~1000 at the minimum and ~1300 at
        # the start, so SGD's lr must stay below ~1.5e-3 and its progress along
        # the valley floor (curvature ~1) is slow: it ends short of (1, 1).
        'sgd': dict(learning_rate=1.5e-3),
        # Momentum's velocity builds up along the floor: 5e-4 (effective step
        # lr / (1 - mu) = 5e-3) reaches the minimum; it wobbles across the
        # valley at the start.
        'momentum': dict(learning_rate=5e-4, momentum=0.9),
        'nesterov': dict(learning_rate=5e-4, momentum=0.9),
        # AdaGrad's first step (0.5 * sign(g)) overshoots up the wall; its
        # steps then shrink as 1 / sqrt(t) and it ends short of the minimum.
        'adagrad': dict(learning_rate=0.5),
        'rmsprop': dict(learning_rate=2e-3),
        # Adam's usual 1e-3-scale lr crawls here; 0.02 follows the floor
        # smoothly to the minimum.
        'adam': dict(learning_rate=0.02),
        'nadam': dict(learning_rate=0.02),
        'lbfgs': dict(learning_rate=1.0, memory_size=10),
        'bfgs': dict(learning_rate=1.0),
        # Pure Newton (no line search) from the classic start.
        'newton': dict(learning_rate=1.0),
    },
}
