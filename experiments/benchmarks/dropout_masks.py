"""What cheaper dropout masks would save: the model's masks against two
cheaper ways to draw them, each timed alone at a step's shapes.

  threefry    `research.layers.dropout`, what the model does: one uniform
              float per unit from JAX's default (threefry) bits, compared
              with the keep probability.
  8-bit       the same threefry bits, four units per 32-bit word: a unit is
              kept when its byte is >= round(256 * rate), so the rate is
              rounded to a multiple of 1/256 (0.2 becomes 51/256 = 0.1992)
              and a quarter of the threefry evaluations are needed.
  rbg         JAX's 'rbg' key implementation (XLA's RngBitGenerator), one
              uniform per unit, as `jax.random.bernoulli` draws them.

Each is timed as a jitted `lax.scan` over steps with a key per step
(`masks_seconds`); the kept units are scaled by the exact keep probability,
so each mask keeps the layer's mean.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks.matmul_peak import time_best
from research.layers import dropout

VARIANTS = ('threefry', '8-bit', 'rbg')


def byte_threshold_dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
  """Dropout whose mask compares bytes of threefry words with a threshold:
  rate rounded to k / 256, four units per 32-bit word."""
  threshold = round(256 * rate)
  keep_prob = 1.0 - threshold / 256
  *lead, width = x.shape
  if width % 4:
    raise ValueError(f'8-bit masks need a width divisible by 4, got {width}')
  words = jax.random.bits(key, (*lead, width // 4), jnp.uint32)
  # Byte j of every word masks the j-th quarter of the units: no interleaving.
  keep = jnp.concatenate([((words >> (8 * j)) & 0xFF) >= threshold
                          for j in range(4)], axis=-1)
  return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))


def rbg_dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
  """Dropout drawn from an 'rbg' key made from the threefry key's bits."""
  rbg_key = jax.random.wrap_key_data(
      jax.random.bits(key, (4,), jnp.uint32), impl='rbg')
  keep = jax.random.bernoulli(rbg_key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


_DRAW = {'threefry': dropout, '8-bit': byte_threshold_dropout,
         'rbg': rbg_dropout}


def masks_seconds(variant: str, batch_size: int, hidden: Sequence[int],
                  rate: float, *, steps: int = 20, repeats: int = 5,
                  dtype=jnp.float32) -> float:
  """Seconds per step of drawing and applying the hidden layers' masks alone
  (a key per step): what a step spends on its random bits besides its
  matmuls; 'threefry' is the model's own `research.layers.dropout`."""
  draw = _DRAW[variant]
  rng = np.random.default_rng(0)
  xs = [jnp.asarray(rng.standard_normal((batch_size, w), np.float32), dtype)
        for w in hidden]

  @jax.jit
  def run(key, xs):
    def body(total, step):
      step_key = jax.random.fold_in(key, step)
      for i, x in enumerate(xs):
        total += jnp.sum(draw(jax.random.fold_in(step_key, i), x, rate))
      return total, None
    return jax.lax.scan(body, jnp.zeros((), dtype), jnp.arange(steps))[0]

  return time_best(run, jax.random.key(0), xs, repeats=repeats) / steps
