"""A non-convex 2-D surface made of data, and minibatch paths on it.

The surface is the mean of per-example losses over a few hundred fixed,
random "data points", each shifting and tilting a double well:

    l_i(x, y) = ((x - u_i)^2 - 1)^2 + t_i x + kappa (y - v_i - beta x^2 - gamma x)^2

so a minibatch gradient is the mean over a real subsample of examples (not
synthetic noise) and the full-batch gradient is the mean of all of them. The
mean is a polynomial in the data's sample moments (`mean_loss`), whose
stationary points lie on the curve y = beta x^2 + gamma x + mean(v), at the
roots of a cubic in x (`minima`): a deep well on the left (the global minimum)
and a shallower one on the right (a clearly worse local minimum).

Paths are the playground's own scan (`research.playground.scan_path`) with the
objective of step t a minibatch drawn from a key folded with t; all starts and
seeds run as one vmapped, jitted program.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import optim, playground
from research.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ExampleSurface:
  """The data (u, t, v) of the per-example losses and their fixed shape."""
  u: np.ndarray  # (n,) shift of the double well along x
  t: np.ndarray  # (n,) tilt along x: its mean makes one well deeper
  v: np.ndarray  # (n,) shift of the valley along y
  kappa: float
  beta: float
  gamma: float
  xlim: tuple[float, float] = (-2.0, 2.0)
  ylim: tuple[float, float] = (-1.5, 2.5)

  @property
  def num_examples(self) -> int:
    return len(self.u)

  def data(self) -> jax.Array:
    """The examples as rows (u, t, v): (n, 3), what a minibatch subsamples."""
    return jnp.asarray(np.stack([self.u, self.t, self.v], axis=1), jnp.float32)

  def example_loss(self, xy: jax.Array, example: jax.Array) -> jax.Array:
    """l_i at `xy` (2,) for one example row (u, t, v)."""
    u, t, v = example[0], example[1], example[2]
    x, y = xy[0], xy[1]
    well = ((x - u) ** 2 - 1.0) ** 2 + t * x
    return well + self.kappa * (y - v - self.beta * x ** 2 - self.gamma * x) ** 2

  def batch_loss(self, xy: jax.Array, batch: jax.Array) -> jax.Array:
    """Mean of l_i over the rows of `batch`: its gradient is a minibatch gradient."""
    return jnp.mean(jax.vmap(self.example_loss, in_axes=(None, 0))(xy, batch))

  def mean_loss(self, xy: jax.Array) -> jax.Array:
    """The full-batch loss in closed form, from the sample moments of u, t, v."""
    m1, m2, m3, m4 = (float(np.mean(self.u.astype(np.float64) ** k)) for k in (1, 2, 3, 4))
    v_mean = float(np.mean(self.v, dtype=np.float64))
    v_var = float(np.var(self.v, dtype=np.float64))
    x, y = xy[0], xy[1]
    # E (x - u)^4 - 2 E (x - u)^2 + 1, expanded in the moments of u.
    fourth = x ** 4 - 4 * m1 * x ** 3 + 6 * m2 * x ** 2 - 4 * m3 * x + m4
    second = x ** 2 - 2 * m1 * x + m2
    valley = (y - v_mean - self.beta * x ** 2 - self.gamma * x) ** 2 + v_var
    return fourth - 2 * second + 1 + float(np.mean(self.t, dtype=np.float64)) * x + (
        self.kappa * valley)

  def _profile_roots(self) -> tuple[np.ndarray, np.ndarray]:
    """Real stationary x's and the profile's curvature there, in x order.

    On the valley floor y = beta x^2 + gamma x + mean(v) the valley term is 0
    and its x-derivative too, so the stationary points solve
    4x^3 - 12 m1 x^2 + (12 m2 - 4) x + (4 m1 - 4 m3 + mean t) = 0, and the
    Hessian is positive definite where the profile's curvature
    12x^2 - 24 m1 x + 12 m2 - 4 is > 0 (the Schur complement of the valley's
    curvature 2 kappa > 0).
    """
    u = self.u.astype(np.float64)
    m1, m2, m3 = (np.mean(u ** k) for k in (1, 2, 3))
    roots = np.roots([4.0, -12 * m1, 12 * m2 - 4, 4 * m1 - 4 * m3 + np.mean(self.t)])
    xs = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
    return xs, 12 * xs ** 2 - 24 * m1 * xs + 12 * m2 - 4

  def _on_floor(self, xs: np.ndarray) -> np.ndarray:
    return np.stack([xs, self.beta * xs ** 2 + self.gamma * xs + np.mean(self.v)], axis=1)

  def minima(self) -> np.ndarray:
    """The local minima, deepest first: (k, 2); row 0 is the global minimum."""
    xs, curvature = self._profile_roots()
    points = self._on_floor(xs[curvature > 0])
    depth = [float(self.mean_loss(jnp.asarray(p, jnp.float32))) for p in points]
    return points[np.argsort(depth)]

  def saddle_points(self) -> np.ndarray:
    """The stationary points between the wells (the barrier tops): (k, 2)."""
    xs, curvature = self._profile_roots()
    return self._on_floor(xs[curvature < 0])

  def surface(self, name: str, start: tuple[float, float], num_steps: int
              ) -> playground.Surface:
    """As a playground `Surface` (the closed-form mean) for contours and paths."""
    best = tuple(float(c) for c in self.minima()[0])
    return playground.Surface(name, self.mean_loss, start, best, self.xlim, self.ylim,
                              num_steps)


def two_wells(num_examples: int = 256, tilt: float = 0.5, tilt_std: float = 5.0,
              shift_std: float = 0.25, valley_std: float = 0.5, seed: int = 0
              ) -> ExampleSurface:
  """The playground's data surface: a deep left well and a worse right one.

  Each example's tilt t_i is drawn around `tilt` with spread `tilt_std`: the
  mean tilt (exactly `tilt`: the draw is centred) lowers the left well, the
  spread is most of the minibatch noise. `shift_std` < 1/sqrt(6) keeps two
  wells (the profile's x^2 coefficient 6 m2 - 2 stays negative).
  """
  if num_examples < 2:
    raise ConfigError(f'noise.num_examples: {num_examples} must be >= 2')
  if not 0 <= shift_std < 6 ** -0.5:
    raise ConfigError(f'noise.shift_std: {shift_std} must be in [0, 1/sqrt(6)): '
                      'beyond it the double well merges into one')
  rng = np.random.default_rng(seed)
  centred = lambda z: z - z.mean()
  return ExampleSurface(
      u=shift_std * centred(rng.standard_normal(num_examples)),
      t=tilt + tilt_std * centred(rng.standard_normal(num_examples)),
      v=valley_std * centred(rng.standard_normal(num_examples)),
      kappa=1.0, beta=0.6, gamma=-0.2)


def draw_batches(num_examples: int, shape: tuple[int, ...], batch_size: int,
                 seed: int) -> np.ndarray:
  """Row indices of every step's minibatch: shape + (batch_size,), int32.

  Uniform with replacement (i.i.d. draws: the minibatch gradient is an unbiased
  estimate of the full gradient; without replacement would only scale its
  variance by (n - B) / (n - 1)). Drawn with NumPy before the loop: a few
  million integers take milliseconds there, while compiling a vmapped JAX
  PRNG for them took seconds on the 2-core CPU.
  """
  if not 1 <= batch_size <= num_examples:
    raise ConfigError(f'noise.batch_size: {batch_size} must be in [1, {num_examples}]')
  rng = np.random.default_rng(seed)
  return rng.integers(0, num_examples, (*shape, batch_size), dtype=np.int32)


def minibatch_paths(tx: optax.GradientTransformation, surface: ExampleSurface,
                    starts: np.ndarray, num_steps: int,
                    batches: np.ndarray | None = None) -> jax.Array:
  """Paths of `tx` from every start: (seeds, starts, steps + 1, 2).

  Step t of path (s, j) minimizes the mean loss of the examples
  `batches[s, j, t]` (`draw_batches(n, (seeds, starts, steps), B, seed)`);
  `batches` None is the full batch (one "seed": it is deterministic). One
  jitted program, vmapped over seeds and starts.
  """
  data = surface.data()

  def one(start, rows):
    if rows is None:
      objective_at = lambda t: lambda xy: surface.batch_loss(xy, data)
    else:
      objective_at = lambda t: lambda xy: surface.batch_loss(xy, data[rows[t]])
    return playground.scan_path(tx, objective_at, start, num_steps)

  starts = jnp.asarray(starts, jnp.float32)
  if batches is None:
    return jax.jit(jax.vmap(lambda x0: one(x0, None)))(starts)[None]
  batches = np.asarray(batches)
  if batches.shape[1:3] != (len(starts), num_steps):
    raise ValueError(f'batches {batches.shape} do not match {len(starts)} starts '
                     f'x {num_steps} steps')
  return jax.jit(jax.vmap(jax.vmap(one)))(
      jnp.broadcast_to(starts, (len(batches), *starts.shape)), jnp.asarray(batches))


def basins(surface: ExampleSurface, points: jax.Array, num_steps: int = 2000,
           learning_rate: float = 0.01) -> np.ndarray:
  """Index (into `minima()`, 0 = global) of the minimum whose basin holds each point.

  A point's basin is where full-batch gradient descent from it ends, run long
  enough to settle ("the basin it starts in"); points: (..., 2).
  """
  points = jnp.asarray(points, jnp.float32)
  flat = points.reshape(-1, 2)
  ends = minibatch_paths(optim.sgd(learning_rate), surface, flat, num_steps)[0, :, -1]
  minima = surface.minima()
  distance = np.linalg.norm(np.asarray(ends)[:, None, :] - minima[None], axis=-1)
  return distance.argmin(axis=1).reshape(points.shape[:-1])


def start_grid(surface: ExampleSurface, num: int) -> np.ndarray:
  """num x num starts evenly inside the window (a margin of half a cell): (num^2, 2)."""
  def axis(lo, hi):
    cell = (hi - lo) / num
    return lo + cell * (np.arange(num) + 0.5)
  gx, gy = np.meshgrid(axis(*surface.xlim), axis(*surface.ylim))
  return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


# The methods compared, name -> (registered optimizer, its hyperparameters,
# batch size or None for the full batch). One learning rate for all: 0.02 is
# stable on the whole window (the curvature reaches ~55 at its edge, 2 / 55 =
# 0.036) and small enough that full-batch descent follows the basin's flow.
# Momentum 0.9 at the same rate takes steps ~1 / (1 - 0.9) = 10x longer (and
# its noise is as if the rate were 10x); at rate 0.002 its steady step equals
# plain SGD's, so what remains is inertia alone.
METHODS: dict[str, tuple[str, dict, int | None]] = {
    'gd': ('sgd', dict(learning_rate=0.02), None),
    'sgd_b16': ('sgd', dict(learning_rate=0.02), 16),
    'sgd_b4': ('sgd', dict(learning_rate=0.02), 4),
    'sgd_b1': ('sgd', dict(learning_rate=0.02), 1),
    'momentum': ('momentum', dict(learning_rate=0.02, momentum=0.9), None),
    'momentum_b16': ('momentum', dict(learning_rate=0.02, momentum=0.9), 16),
    'momentum_slow': ('momentum', dict(learning_rate=0.002, momentum=0.9), None),
    'momentum_slow_b16': ('momentum', dict(learning_rate=0.002, momentum=0.9), 16),
    'adam_b16': ('adam', dict(learning_rate=0.02), 16),
}
NUM_STEPS = 1000
GRID = 10  # starts: a GRID x GRID grid over the window


@dataclasses.dataclass(frozen=True)
class BasinCounts:
  """Where the paths from a grid of starts end, per seed."""
  in_global: np.ndarray  # (seeds,) fraction of all starts ending in the global basin
  escaped: np.ndarray  # (seeds,) of the starts in a worse basin: fraction ending in the global
  lost: np.ndarray  # (seeds,) of the starts in the global basin: fraction ending elsewhere


def basin_counts(start_basins: np.ndarray, end_basins: np.ndarray) -> BasinCounts:
  """start_basins (starts,), end_basins (seeds, starts): indices into `minima()`."""
  start_basins, end_basins = np.asarray(start_basins), np.asarray(end_basins)
  worse, best = start_basins != 0, start_basins == 0
  ends_global = end_basins == 0
  fraction = lambda mask, hit: hit[:, mask].mean(axis=1) if mask.any() else np.full(
      len(hit), np.nan)
  return BasinCounts(ends_global.mean(axis=1), fraction(worse, ends_global),
                     fraction(best, ~ends_global))
