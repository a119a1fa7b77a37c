"""Ensembles: independently trained models whose predicted distributions are
averaged (the lectures' "model ensembles": a few points of accuracy for k times
the compute)."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn


def predict_probabilities(model: nn.Module, state, x: np.ndarray,
                          batch_size: int = 1000) -> jax.Array:
  """softmax of the model in evaluation mode over `x`, in chunks."""

  @jax.jit
  def chunk(x_chunk):
    logits = model.apply({'params': state.params,
                          'batch_stats': state.batch_stats}, x_chunk, train=False)
    return jax.nn.softmax(logits)

  return jnp.concatenate([chunk(x[i:i + batch_size])
                          for i in range(0, len(x), batch_size)])


def average_probabilities(member_probabilities: Sequence[jax.Array]) -> jax.Array:
  """The ensemble's prediction: the mean of its members' distributions."""
  return jnp.mean(jnp.stack(list(member_probabilities)), axis=0)


def scores(probabilities: jax.Array, labels: np.ndarray) -> dict[str, float]:
  """Accuracy and the negative log-likelihood of the true class."""
  labels = jnp.asarray(labels)
  picked = jnp.take_along_axis(probabilities, labels[:, None], -1)[:, 0]
  return {
      'accuracy': float(jnp.mean(jnp.argmax(probabilities, -1) == labels)),
      'nll': float(-jnp.mean(jnp.log(jnp.maximum(picked, jnp.finfo(jnp.float32).tiny)))),
  }
