"""Mixup (Zhang et al., 2018): convex combinations of pairs of examples.

One lambda per *example* (Zhang et al. draw one per batch). Per-example draws
give every example its own mixing weight, so the gradient averages over many
lambdas instead of one, and a batch carries N samples of Beta(alpha, alpha)
rather than one; in expectation the two are the same augmentation.
"""

import jax
import jax.numpy as jnp

from research.augment.batch import Batch
from research.augment.batch import is_static_zero
from research.augment.batch import per_example


def soft_labels(y: jax.Array, num_classes: int) -> jax.Array:
  """(N,) ids -> one-hot float32 (N, K); (N, K) soft labels pass through."""
  if y.ndim == 2:
    if y.shape[1] != num_classes:
      raise ValueError(f'soft labels have {y.shape[1]} classes, '
                       f'num_classes is {num_classes}')
    return y.astype(jnp.float32)
  return jax.nn.one_hot(y, num_classes, dtype=jnp.float32)


def mixup_draws(key: jax.Array, n: int,
                alpha: float | jax.Array) -> tuple[jax.Array, jax.Array]:
  """The random part of `mixup`: lam (N,) ~ Beta(alpha, alpha), perm (N,).

  A traced alpha <= 0 gives lam = 1 (no mixing), so a vmapped sweep may hold
  alpha = 0 as one of its points.
  """
  k_lam, k_perm = jax.random.split(key)
  alpha = jnp.asarray(alpha, jnp.float32)
  # Beta(0, 0) is not a distribution; draw from a harmless one and discard.
  safe = jnp.where(alpha > 0, alpha, 1.0)
  lam = jax.random.beta(k_lam, safe, safe, (n,), dtype=jnp.float32)
  lam = jnp.where(alpha > 0, lam, 1.0)
  perm = jax.random.permutation(k_perm, n)
  return lam, perm


def mixup(key: jax.Array, batch: Batch, alpha: float | jax.Array,
          num_classes: int) -> Batch:
  """Mixes each example with a partner drawn by a permutation of the batch.

    lam_n ~ Beta(alpha, alpha),  m = perm[n]
    x'_n = lam_n x_n + (1 - lam_n) x_m
    y'_n = lam_n onehot(y_n) + (1 - lam_n) onehot(y_m)

  Labels come out soft (N, K) and sum to one; soft labels in are mixed the
  same way. A static Python alpha <= 0 turns mixup off (labels still come out
  one-hot, so the output shape does not depend on alpha).
  """
  x, y = batch
  y_soft = soft_labels(y, num_classes)
  if is_static_zero(alpha) or (isinstance(alpha, (int, float)) and alpha < 0):
    return x, y_soft
  lam, perm = mixup_draws(key, x.shape[0], alpha)
  lam_x = per_example(lam, x).astype(x.dtype)
  x_mix = lam_x * x + (1 - lam_x) * x[perm]
  lam_y = lam[:, None]
  y_mix = lam_y * y_soft + (1 - lam_y) * y_soft[perm]
  return x_mix, y_mix
