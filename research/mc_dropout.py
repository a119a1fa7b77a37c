"""Monte-Carlo dropout: the lecture's test-time E_z f(x, z), estimated by
averaging the predicted distribution over K sampled dropout masks, against the
weight-scaling rule (the one deterministic forward pass that evaluation uses).

A sample is the model's forward pass with its masks drawn (`sample_masks=True`)
and BatchNorm in evaluation mode (its running statistics, `train=False`), so
only the dropout-family noise is marginalized. The K samples of a chunk of
inputs are one `vmap` over K mask keys.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn


def mask_keys(key: jax.Array, num_samples: int) -> jax.Array:
  """The K mask keys; sample k of chunk c draws with fold_in(keys[k], c)."""
  return jax.random.split(key, num_samples)


def sample_predictions(model: nn.Module, variables, x: np.ndarray,
                       key: jax.Array, num_samples: int, *,
                       transform: Callable[[jax.Array], jax.Array] = jax.nn.softmax,
                       batch_size: int = 500, **rates) -> jax.Array:
  """transform(logits) of `num_samples` mask draws: (num_samples, N, C).

  `variables` are the model's ({'params', 'batch_stats'}); `rates` (e.g.
  dropout_rate=...) are passed to the model's call. The default transform
  gives predicted distributions; `transform=lambda z: z` the logits.
  """
  if num_samples < 1:
    raise ValueError(f'num_samples: {num_samples} must be >= 1')
  keys = mask_keys(key, num_samples)

  @jax.jit
  def chunk(x_chunk, index):
    def one(k):
      logits = model.apply(variables, x_chunk, train=False, sample_masks=True,
                           rngs={'dropout': jax.random.fold_in(k, index)}, **rates)
      return transform(logits)
    return jax.vmap(one)(keys)

  # The last chunk padded to a full one (its extra rows dropped): one compile.
  n = len(x)
  x = np.asarray(x)
  padded = np.concatenate([x, np.zeros((-n % batch_size,) + x.shape[1:], x.dtype)])
  return jnp.concatenate([chunk(padded[i:i + batch_size], c) for c, i in
                          enumerate(range(0, n, batch_size))], axis=1)[:, :n]


def running_means(samples: jax.Array, counts) -> dict[int, jax.Array]:
  """{K: the mean of the first K samples} for each K in `counts`: the MC
  estimate with K masks, every K from one set of draws (the estimates for
  different K are nested, as one run of K_max samples would see them)."""
  total = samples.shape[0]
  bad = [k for k in counts if not 1 <= k <= total]
  if bad:
    raise ValueError(f'counts {bad} must be in [1, {total}]')
  cumulative = jnp.cumsum(samples, axis=0)
  return {int(k): cumulative[k - 1] / k for k in counts}


def mc_predict(model: nn.Module, variables, x: np.ndarray, key: jax.Array,
               num_samples: int, **kwargs) -> jax.Array:
  """The MC-dropout prediction: the mean of `sample_predictions`, (N, C)."""
  return jnp.mean(sample_predictions(model, variables, x, key, num_samples,
                                     **kwargs), axis=0)
