"""A line search for the strong Wolfe conditions: bracketing, then zoom.

Along a descent direction d from x, with phi(a) = f(x + a d) and
phi'(a) = grad f(x + a d)' d, it looks for a step a > 0 with

  phi(a) <= phi(0) + c1 a phi'(0)     (sufficient decrease, Armijo)
  |phi'(a)| <= c2 |phi'(0)|           (strong curvature)

as Nocedal & Wright, Numerical Optimization (2nd ed.), Algorithms 3.5 and 3.6.
One `lax.while_loop`, one evaluation of (f, grad f) per iteration, keeping

  lo: of the steps that decreased f enough, the one with the lowest f
      (a = 0 at first), with its value, slope and full gradient;
  hi: +inf while still extrapolating; once a minimizer is bracketed, the other
      end of an interval (lo, hi) that contains a Wolfe step.

A trial that fails sufficient decrease (or has f >= f(lo), or is not finite)
becomes hi. One that passes but has the wrong slope becomes lo; if its slope
points away from hi (phi'(a) (hi - lo) >= 0) the old lo becomes hi first. While
hi = +inf the next trial extrapolates (cubic fit, kept in [1.1, 4] times the
last stride past a); once bracketed it interpolates (cubic fit of both ends,
else quadratic, else bisection), kept 10% away from either end so that the
interval shrinks.

The search always returns lo: the Wolfe step when one was found, else the best
decrease seen, else a = 0 (no move) when nothing decreased f within the cap.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from optax import tree_utils as otu

ValueAndGrad = Callable[[Any], tuple[jax.Array, Any]]

# Fractions of the interval a zoom trial keeps from its ends, and the
# extrapolation bounds in strides past the last trial (as MINPACK's dcstep).
_ZOOM_MARGIN = 0.1
_EXTRAPOLATE_MIN, _EXTRAPOLATE_MAX = 1.1, 4.0


class LinesearchResult(NamedTuple):
  step: jax.Array       # accepted a >= 0 (0: nothing decreased f)
  value: jax.Array      # f(x + a d)
  grad: Any             # grad f(x + a d), a pytree like x
  num_evals: jax.Array  # evaluations of (f, grad f) made, int32
  wolfe: jax.Array      # True when both strong Wolfe conditions hold at a


class _Search(NamedTuple):
  trial: jax.Array  # next step to evaluate
  num_evals: jax.Array
  done: jax.Array
  wolfe: jax.Array
  a_lo: jax.Array
  f_lo: jax.Array
  d_lo: jax.Array
  g_lo: Any
  a_hi: jax.Array
  f_hi: jax.Array
  d_hi: jax.Array


def cubic_minimizer(a, fa, da, b, fb, db) -> jax.Array:
  """Minimizer of the cubic through (a, fa) and (b, fb) with slopes da, db.

  Nocedal & Wright eq. (3.59); NaN when the cubic has no local minimizer
  (the discriminant is negative) or the fit is degenerate.
  """
  d1 = da + db - 3 * (fa - fb) / (a - b)
  disc = d1 * d1 - da * db
  d2 = jnp.sign(b - a) * jnp.sqrt(jnp.where(disc >= 0, disc, jnp.nan))
  return b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2)


def quadratic_minimizer(a, fa, da, b, fb) -> jax.Array:
  """Minimizer of the quadratic through (a, fa), (b, fb) with slope da at a."""
  h = b - a
  curvature = fb - fa - da * h  # = c h^2 for q(t) = fa + da t + c t^2
  return jnp.where(curvature > 0, a - da * h * h / (2 * curvature), jnp.nan)


def _zoom_trial(s: _Search) -> jax.Array:
  """A step strictly inside (lo, hi): interpolation, safeguarded."""
  lo, hi = s.a_lo, s.a_hi
  cubic = cubic_minimizer(lo, s.f_lo, s.d_lo, hi, s.f_hi, s.d_hi)
  quad = quadratic_minimizer(lo, s.f_lo, s.d_lo, hi, s.f_hi)
  t = jnp.where(jnp.isfinite(cubic), cubic,
                jnp.where(jnp.isfinite(quad), quad, 0.5 * (lo + hi)))
  # f blew up at hi (overflow, NaN): it is far too long, shrink hard.
  t = jnp.where(jnp.isfinite(s.f_hi), t, lo + _ZOOM_MARGIN * (hi - lo))
  near_lo = lo + _ZOOM_MARGIN * (hi - lo)
  near_hi = hi - _ZOOM_MARGIN * (hi - lo)
  return jnp.clip(t, jnp.minimum(near_lo, near_hi), jnp.maximum(near_lo, near_hi))


def _extrapolation_trial(a0, f0, d0, a1, f1, d1) -> jax.Array:
  """A step past a1 > a0 while the slope is still negative at a1."""
  low = a1 + _EXTRAPOLATE_MIN * (a1 - a0)
  high = a1 + _EXTRAPOLATE_MAX * (a1 - a0)
  t = cubic_minimizer(a0, f0, d0, a1, f1, d1)
  return jnp.where(jnp.isfinite(t) & (t > a1), jnp.clip(t, low, high), high)


def wolfe_linesearch(value_and_grad: ValueAndGrad, params: Any, direction: Any,
                     value: jax.Array, grad: Any, *, initial_step: jax.Array,
                     max_steps: int = 20, c1: float = 1e-4,
                     c2: float = 0.9) -> LinesearchResult:
  """Strong Wolfe step along `direction` from `params` (see the module doc).

  Args:
    value_and_grad: params -> (f, grad f), e.g. `jax.value_and_grad(f)`.
    params: the point x (a pytree).
    direction: d, a pytree like params; a descent direction (grad' d < 0),
      else the search makes no evaluation and returns a = 0.
    value, grad: f(x) and grad f(x), already known.
    initial_step: the first trial a.
    max_steps: the most evaluations made.
    c1, c2: the Wolfe constants, 0 < c1 < c2 < 1.

  Returns:
    A `LinesearchResult`; never NaN: with no decrease found, a = 0 and the
    value and gradient at x.
  """
  dtype = jnp.asarray(value).dtype
  f0 = jnp.asarray(value, dtype)
  slope0 = jnp.asarray(otu.tree_vdot(grad, direction), dtype)
  sufficient_slope = c1 * slope0
  curvature_bound = -c2 * slope0

  def evaluate(a):
    x = jax.tree.map(lambda p, v: p + (a * v).astype(p.dtype), params, direction)
    f, g = value_and_grad(x)
    f = jnp.asarray(f, dtype)
    slope = jnp.asarray(otu.tree_vdot(g, direction), dtype)
    # A NaN counts as +inf: too far, so the step shrinks.
    bad = ~(jnp.isfinite(f) & jnp.isfinite(slope))
    return jnp.where(bad, jnp.inf, f), jnp.where(bad, jnp.nan, slope), g

  def body(s: _Search) -> _Search:
    a = s.trial
    f, slope, g = evaluate(a)
    decrease = (f <= f0 + a * sufficient_slope) & (f < s.f_lo)
    wolfe = decrease & (jnp.abs(slope) <= curvature_bound)
    bracketed = jnp.isfinite(s.a_hi)
    # Passing sufficient decrease but sloping away from hi: lo becomes hi.
    flip = decrease & ~wolfe & jnp.where(
        bracketed, slope * (s.a_hi - s.a_lo) >= 0, slope >= 0)

    pick = lambda new, old: jnp.where(decrease, new, old)
    hi_from = lambda lo_val, hi_val, trial_val: jnp.where(
        flip, lo_val, jnp.where(decrease, hi_val, trial_val))
    n = s._replace(
        a_lo=pick(a, s.a_lo), f_lo=pick(f, s.f_lo), d_lo=pick(slope, s.d_lo),
        g_lo=otu.tree_where(decrease, g, s.g_lo),
        a_hi=hi_from(s.a_lo, s.a_hi, a), f_hi=hi_from(s.f_lo, s.f_hi, f),
        d_hi=hi_from(s.d_lo, s.d_hi, slope),
        num_evals=s.num_evals + 1, wolfe=wolfe)

    still_open = ~jnp.isfinite(n.a_hi)
    extrapolated = _extrapolation_trial(s.a_lo, s.f_lo, s.d_lo, a, f, slope)
    trial = jnp.where(still_open, extrapolated, _zoom_trial(n))
    # An interval below the resolution of a cannot be split further.
    collapsed = ~still_open & (
        jnp.abs(n.a_hi - n.a_lo)
        <= 4 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(n.a_hi), jnp.abs(n.a_lo)))
    done = wolfe | (n.num_evals >= max_steps) | collapsed
    return n._replace(trial=trial.astype(dtype), done=done)

  zero = jnp.zeros((), dtype)
  init = _Search(
      trial=jnp.asarray(initial_step, dtype),
      num_evals=jnp.zeros((), jnp.int32),
      done=~(slope0 < 0) | (max_steps <= 0),
      wolfe=jnp.zeros((), bool),
      a_lo=zero, f_lo=f0, d_lo=slope0, g_lo=grad,
      a_hi=jnp.asarray(jnp.inf, dtype), f_hi=jnp.asarray(jnp.inf, dtype),
      d_hi=zero)
  final = jax.lax.while_loop(lambda s: ~s.done, body, init)
  return LinesearchResult(step=final.a_lo, value=final.f_lo, grad=final.g_lo,
                          num_evals=final.num_evals, wolfe=final.wolfe)
