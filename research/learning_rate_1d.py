"""The lecture's optimal learning rate in one dimension.

For E(w) quadratic in one weight, the step w <- w - eta E'(w) lands on the
minimum when eta = eta_opt = 1 / E''; it converges, oscillating, for
eta_opt < eta < 2 eta_opt, and diverges above 2 eta_opt (each step
multiplies the distance to the minimum by |1 - eta E''|).

On a network, the same holds along one direction u (a unit vector): with
E''_u = u^T H u (a Hessian-vector product, never the Hessian), a gradient
step p - eta g moves ||g|| along u = g / ||g||, so the loss along it is, to
second order, E(eta) = E(0) - eta ||g||^2 + (eta^2 / 2) ||g||^2 E''_u:
its minimum is at eta_opt = 1 / E''_u and it climbs back to E(0) at
2 eta_opt. `loss_along` measures the real loss there, where the quadratic
model is only a model.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

Loss = Callable[[Any], jax.Array]  # params -> scalar loss


def quadratic_gd(curvature: float, eta: float, w0: float, steps: int) -> np.ndarray:
  """w_t of gradient descent on E(w) = curvature w^2 / 2 from w0 (t = 0..steps):
  w_t = (1 - eta curvature)^t w0."""
  return w0 * (1.0 - eta * curvature) ** np.arange(steps + 1)


def directional_curvature(loss_fn: Loss, params: Any, direction: Any) -> jax.Array:
  """u^T H u for u = direction / ||direction||: forward-over-reverse (the
  Hessian-vector product jvp(grad))."""
  flat, unravel = ravel_pytree(params)
  u, _ = ravel_pytree(direction)
  u = u / jnp.linalg.norm(u)
  flat_loss = lambda x: loss_fn(unravel(x))
  _, hu = jax.jvp(jax.grad(flat_loss), (flat,), (u,))
  return jnp.vdot(u, hu)


def optimal_rate_along_gradient(loss_fn: Loss, params: Any) -> dict[str, float]:
  """eta_opt = 1 / E''_u along the gradient, and what it comes from."""
  value, grad = jax.value_and_grad(loss_fn)(params)
  curvature = directional_curvature(loss_fn, params, grad)
  grad_norm = jnp.linalg.norm(ravel_pytree(grad)[0])
  return {'loss': float(value), 'grad_norm': float(grad_norm),
          'curvature': float(curvature), 'eta_opt': float(1.0 / curvature)}


def loss_along(loss_fn: Loss, params: Any, etas: np.ndarray) -> np.ndarray:
  """E(p - eta g) for each eta (g the gradient at p), one vmapped call."""
  grad = jax.grad(loss_fn)(params)
  flat, unravel = ravel_pytree(params)
  g, _ = ravel_pytree(grad)
  at = lambda eta: loss_fn(unravel(flat - eta * g))
  return np.asarray(jax.vmap(at)(jnp.asarray(etas, flat.dtype)))


def crossing(etas: np.ndarray, losses: np.ndarray, level: float) -> float | None:
  """The first eta after the minimum where the loss climbs back to `level`
  (linear interpolation between grid points); None if it never does."""
  etas, losses = np.asarray(etas), np.asarray(losses)
  start = int(np.argmin(losses))
  for i in range(start, len(etas) - 1):
    if losses[i] < level <= losses[i + 1]:
      t = (level - losses[i]) / (losses[i + 1] - losses[i])
      return float(etas[i] + t * (etas[i + 1] - etas[i]))
  return None
