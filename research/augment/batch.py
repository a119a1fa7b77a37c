"""What every augmentation shares: the batch type and small shape helpers."""

import numbers

import jax
import jax.numpy as jnp
import numpy as np

# (x, y): x float32 (N, H, W, C) images or (N, D) vectors; y int32 (N,) class
# ids or float32 (N, K) soft labels.
Batch = tuple[jax.Array, jax.Array]


def is_static_zero(value) -> bool:
  """True only for a Python (or NumPy) number equal to 0: 'off' at trace time.

  A traced scalar is never static, so a swept strength of 0 goes through the
  arithmetic, which each augmentation arranges to be the identity there.
  """
  return (isinstance(value, (numbers.Real, np.number))
          and not isinstance(value, bool) and float(value) == 0.0)


def per_example(v: jax.Array, x: jax.Array) -> jax.Array:
  """Reshapes a per-example (N,) array to broadcast against x (N, ...)."""
  return jnp.reshape(v, v.shape + (1,) * (x.ndim - v.ndim))


def require_images(x: jax.Array, what: str) -> None:
  """Spatial augmentations need (N, H, W, C); say so for anything else."""
  if x.ndim != 4:
    raise ValueError(
        f'{what} needs images of shape (N, H, W, C); got x of shape {x.shape}')
