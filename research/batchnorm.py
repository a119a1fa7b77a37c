"""BatchNorm whose training-time statistics may be hidden from the gradient.

Ioffe & Szegedy (2015, §2) warn against normalizing with statistics that the
gradient step does not see: with x = u + b and x_hat = x - E[x], a gradient
that treats E[x] as a constant moves b, the next E[x] absorbs the move, the
output and the loss do not change, and b grows without bound. This module
lets a model train that way, to show it (experiments/batchnorm_running.py).

`train_stats` says what training normalizes with:
  'batch'          the batch mean / variance, differentiated through (as
                   flax.linen.BatchNorm, which research.models keeps for it);
  'batch_no_grad'  the same numbers under stop_gradient;
  'running'        the running averages, after this batch's update, as
                   constants (they are variables: no gradient reaches them).
Every mode updates the running averages from the batch statistics, and
evaluation (`use_running_average=True`) normalizes with them. The variables
are flax's: params `scale`, `bias`; batch_stats `mean`, `var`; so
checkpoints, pmap (`axis_name`) and vmap treat both modules alike.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

TRAIN_STATS = ('batch', 'batch_no_grad', 'running')


class BatchNorm(nn.Module):
  """Normalizes the last axis over the batch axis 0 (as flax's, for (N, F))."""
  train_stats: str = 'batch'
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array, use_running_average: bool) -> jax.Array:
    if self.train_stats not in TRAIN_STATS:
      raise ValueError(f'train_stats {self.train_stats!r}; known: '
                       f'{", ".join(TRAIN_STATS)}')
    features = x.shape[-1]
    ra_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,),
                            jnp.float32)
    ra_var = self.variable('batch_stats', 'var', jnp.ones, (features,),
                           jnp.float32)
    scale = self.param('scale', nn.initializers.ones, (features,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (features,), jnp.float32)
    # Statistics in float32 at least, as flax computes them.
    stats_dtype = jnp.promote_types(x.dtype, jnp.float32)
    if use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      x_stats = x.astype(stats_dtype)
      moments = jnp.stack([jnp.mean(x_stats, 0), jnp.mean(x_stats**2, 0)])
      if self.axis_name is not None:
        moments = jax.lax.pmean(moments, self.axis_name)
      mean, mean_sq = moments
      var = jnp.maximum(mean_sq - mean**2, 0.0)
      if not self.is_initializing():
        m = self.momentum
        ra_mean.value = (m * ra_mean.value
                         + (1 - m) * jax.lax.stop_gradient(mean))
        ra_var.value = m * ra_var.value + (1 - m) * jax.lax.stop_gradient(var)
      if self.train_stats == 'batch_no_grad':
        mean, var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var)
      elif self.train_stats == 'running':
        mean, var = ra_mean.value, ra_var.value
    dtype = self.dtype or x.dtype
    multiplier = jax.lax.rsqrt(var + self.epsilon) * scale
    y = (x - mean.astype(dtype)) * multiplier.astype(dtype)
    return (y + bias.astype(dtype)).astype(dtype)
