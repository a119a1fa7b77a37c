"""Cybenko's construction: a 1-D function as a sum of steep sigmoid steps.

Cut [a, b] into n cells [x_i, x_{i+1}] of width D = (b - a) / n, with
midpoints m_i and heights h_i = f(m_i). A boxcar on a cell is
h_i (sigmoid(s (x - x_i)) - sigmoid(s (x - x_{i+1}))), and the boxcars sum to

  g(x) = h_0 + sum_{i=1}^{n-1} (h_i - h_{i-1}) sigmoid(s (x - x_i))     ('steps')

once the two outer sigmoids, at a and b, are dropped: the output bias holds
h_0, and on [a, b] the step at b is off. That is n - 1 hidden units where the
literal boxcar sum ('boxcars') has 2n, and it is the better function on
[a, b]: at x = a the boxcars' first sigmoid is half on, so they miss f(a) by
about |f(a)| / 2 whatever n. 'steps' is what the error bound describes.

Both are returned as the parameters of research.models.MLP(num_classes=1,
hidden=(width,), activation='sigmoid'), so one forward function evaluates the
construction and a trained network of the same width.

Why it converges: g = sum_i w_i(x) h_i with weights w_0 = 1 - sigmoid_1,
w_i = sigmoid_i - sigmoid_{i+1}, w_{n-1} = sigmoid_{n-1} (sigmoid_i =
sigmoid(s (x - x_i))), which are >= 0 and sum to 1. So for L-Lipschitz f,
|g(x) - f(x)| <= L sum_i w_i(x) |m_i - x|, and `error_bound` bounds that.
"""

from collections.abc import Callable
import math
import numbers

import jax.numpy as jnp
import numpy as np

from research.errors import ConfigError
from research.models import MLP

FORMS = ('steps', 'boxcars')
# max_v v sigmoid(-v) = W(1/e) (Lambert W), at v = 1 + W(1/e): the most a
# sigmoid's tail, times its distance, can add (tests check it numerically).
TAIL_CONSTANT = 0.2784645427610738


def _check(a: float, b: float, n: int, steepness: float, form: str) -> None:
  if form not in FORMS:
    raise ConfigError(f'form: {form!r} is unknown; known: {", ".join(FORMS)}')
  smallest = 2 if form == 'steps' else 1  # 'steps' with n = 1 has no unit
  if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < smallest:
    raise ConfigError(f'n: {n!r} must be an integer >= {smallest} for form {form!r}')
  if not (math.isfinite(a) and math.isfinite(b) and a < b):
    raise ConfigError(f'a, b: ({a!r}, {b!r}) must be finite with a < b')
  if not (math.isfinite(steepness) and steepness > 0):
    raise ConfigError(f'steepness: {steepness!r} must be finite and > 0')


def width(n: int, form: str = 'steps') -> int:
  """Hidden units of the construction with n cells."""
  return n - 1 if form == 'steps' else 2 * n


def cells(units: int, form: str = 'steps') -> int:
  """The number of cells n whose construction has `units` hidden units."""
  if form == 'steps':
    return units + 1
  if units % 2:
    raise ConfigError(f'units: {units!r} must be even for form {form!r}')
  return units // 2


def grid(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
  """The n + 1 cell edges x_0 = a .. x_n = b and the n midpoints m_i."""
  edges = np.linspace(a, b, n + 1)
  return edges, (edges[:-1] + edges[1:]) / 2


def construct(f: Callable[[np.ndarray], np.ndarray], a: float, b: float, n: int,
              steepness: float, form: str = 'steps') -> dict:
  """MLP params (Dense_0 hidden, Dense_1 output) of the construction of f on
  [a, b] with n cells and sigmoid steepness s; f takes a float64 array."""
  _check(a, b, n, steepness, form)
  edges, mids = grid(a, b, n)
  heights = np.asarray(f(mids), dtype=np.float64)
  if form == 'steps':
    steps_at, out = edges[1:-1], np.diff(heights)
    out_bias = heights[0]
  else:  # unit i switches on at x_i, unit n + i off at x_{i+1}
    steps_at = np.concatenate([edges[:-1], edges[1:]])
    out, out_bias = np.concatenate([heights, -heights]), 0.0
  # sigmoid(s x - s x_i): the bias is formed in float64, then cast.
  as32 = lambda v: jnp.asarray(np.asarray(v, dtype=np.float64), dtype=jnp.float32)
  return {'Dense_0': {'kernel': as32(np.full((1, steps_at.size), steepness)),
                      'bias': as32(-steepness * steps_at)},
          'Dense_1': {'kernel': as32(out[:, None]), 'bias': as32([out_bias])}}


def apply(params: dict, x) -> jnp.ndarray:
  """The one-hidden-layer sigmoid MLP with `params` at points x (shape (k,))."""
  model = MLP(num_classes=1, hidden=(params['Dense_0']['bias'].shape[0],),
              activation='sigmoid')
  return model.apply({'params': params}, jnp.asarray(x, jnp.float32)[:, None])[:, 0]


def error_bound(lipschitz: float, a: float, b: float, n: int, steepness: float) -> float:
  """A bound on max |g - f| over [a, b] for the 'steps' construction of an
  L-Lipschitz f: L D / 2 + 2 L (c / s + D q / (1 - q)^2), q = exp(-s D),
  c = TAIL_CONSTANT; inf when s D < 1 (no bound claimed).

  From |g - f| <= L sum_i w_i |m_i - x| (module docstring): for x in cell j,
  the j-th term is <= D / 2; a cell k >= 1 cells to the right adds
  |m_i - x| - D / 2 = u = x_i - x with weight <= sigmoid(-s u), and
  u sigmoid(-s u) <= c / s for the nearest and <= u e^{-s u} <= kD e^{-s k D}
  for the others (decreasing once s u >= 1); the left side is the mirror.
  The first term is the piecewise-constant error, the second the step blur.
  """
  _check(a, b, n, steepness, 'steps')
  cell = (b - a) / n
  if steepness * cell < 1:
    return math.inf
  q = math.exp(-steepness * cell)
  blur = 2 * lipschitz * (TAIL_CONSTANT / steepness + cell * q / (1 - q) ** 2)
  return lipschitz * cell / 2 + blur
