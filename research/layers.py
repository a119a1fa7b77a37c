"""Building blocks of the MLP's regularizers: dropout, DropConnect, stochastic
depth and maxout, each with rates that may be traced arrays.

A rate enters as data, not as a static attribute, so a sweep over rates (or a
`vmap` over a population with different rates) compiles once. A rate that is a
Python/NumPy 0 switches its regularizer off statically: no rng is drawn.
"""

import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype

Rate = float | jax.Array


def is_static_zero(rate: Rate) -> bool:
  """True for a Python/NumPy number equal to 0 (never for a jax array)."""
  return isinstance(rate, (numbers.Number, np.generic)) and rate == 0


def dropout(key: jax.Array, x: jax.Array, rate: Rate) -> jax.Array:
  """Inverted dropout: keeps a unit with probability 1 - rate, scaled up.

    out = m * x / (1 - rate),  m ~ Bernoulli(1 - rate) elementwise,

  so E[out] = x and evaluation uses x itself. Unlike `flax.linen.Dropout`,
  `rate` may be a traced array, so a sweep over rates compiles once. `rate`
  must be < 1. The masks are drawn at float32 precision or better whatever
  `x`'s dtype, so a bfloat16 network draws the masks a float32 one draws.
  """
  keep, keep_prob = _keep_mask(key, x, rate)
  return jnp.where(keep, x / keep_prob.astype(x.dtype), jnp.zeros_like(x))


# How dropout's expectation is kept: 'inverted' scales the kept units by
# 1 / (1 - rate) in training (`dropout`), 'vanilla' (Srivastava et al. 2014)
# keeps them unscaled (`vanilla_dropout`) and multiplies by 1 - rate at test.
DROPOUT_SCALINGS = ('inverted', 'vanilla')


def vanilla_dropout(key: jax.Array, x: jax.Array, rate: Rate) -> jax.Array:
  """Dropout without scaling: out = m * x, m ~ Bernoulli(1 - rate).

  E[out] = (1 - rate) x, so evaluation uses (1 - rate) x (the weight-scaling
  rule). Draws `dropout`'s mask for the same key: vanilla_dropout(k, x, r) /
  (1 - r) == dropout(k, x, r), the two being one network reparametrized.
  """
  keep, _ = _keep_mask(key, x, rate)
  return jnp.where(keep, x, jnp.zeros_like(x))


def _keep_mask(key: jax.Array, x: jax.Array, rate: Rate):
  keep_prob = 1.0 - jnp.asarray(rate, _mask_dtype(x))
  return jax.random.bernoulli(key, keep_prob, x.shape), keep_prob


def _mask_dtype(x: jax.Array) -> jnp.dtype:
  return jnp.promote_types(x.dtype, jnp.float32)


def dropconnect(key: jax.Array, kernel: jax.Array, rate: Rate) -> jax.Array:
  """DropConnect's weight mask (Wan et al. 2013), inverted:

    W~ = M * W / (1 - rate),  M_ij ~ Bernoulli(1 - rate),

  i.e. dropout applied to the weights rather than to the units. E[W~] = W,
  hence E[x W~ + b] = x W + b: a layer evaluated with all weights, unscaled,
  is the mean of the training layer (the "mean network"; the paper instead
  samples the pre-activation from a moment-matched Gaussian at test time).
  """
  return dropout(key, kernel, rate)


def stochastic_depth(branch: jax.Array, rate: Rate,
                     key: jax.Array | None = None) -> jax.Array:
  """The residual branch f(h) of a block h + f(h) under stochastic depth.

  Training (a `key` given): b * f(h), b ~ Bernoulli(1 - rate) drawn once per
  example (row of `branch`), so a block is skipped for some examples of a
  batch and kept for the others. Evaluation (`key` None): (1 - rate) * f(h),
  the expectation of the training branch ("rescale at test", Huang et al.
  2016), so E_b[h + b f(h)] = h + (1 - rate) f(h) for a given h.
  """
  keep_prob = 1.0 - jnp.asarray(rate, _mask_dtype(branch))
  if key is None:
    return keep_prob.astype(branch.dtype) * branch
  shape = branch.shape[:1] + (1,) * (branch.ndim - 1)
  keep = jax.random.bernoulli(key, keep_prob, shape)
  return jnp.where(keep, branch, jnp.zeros_like(branch))


def maxout(x: jax.Array, pieces: int) -> jax.Array:
  """Maxout units (Goodfellow et al. 2013) over the last axis:

    out[..., j] = max_{p < pieces} x[..., j * pieces + p],

  so a Dense of width * pieces features followed by this gives `width` units,
  unit j taking the max of the adjacent columns j*pieces ... j*pieces+pieces-1.
  """
  width, rest = divmod(x.shape[-1], pieces)
  if rest:
    raise ValueError(f'maxout: {x.shape[-1]} features do not split into '
                     f'{pieces} pieces')
  return jnp.max(x.reshape(x.shape[:-1] + (width, pieces)), axis=-1)


class DropConnectDense(nn.Module):
  """`flax.linen.Dense` whose kernel is masked by DropConnect in training.

  Its parameters are those of `nn.Dense` (`kernel` (fan_in, features) and
  `bias`), created with the same names, so a model's parameter tree,
  initial values and checkpoints do not depend on whether DropConnect is on.
  The mask is drawn once per call, shared by every example of the batch (the
  common practical form: one (fan_in, features) mask rather than one per
  example, which would cost a kernel per example). The bias is not masked.
  """
  features: int
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
  param_dtype: jnp.dtype = jnp.float32
  dtype: jnp.dtype | None = None  # of the computation; None: promoted inputs

  @nn.compact
  def __call__(self, x: jax.Array, rate: Rate = 0.0,
               deterministic: bool = True) -> jax.Array:
    """x W~ + b, with W~ = W in evaluation or for a static zero rate.

    Args:
      x: inputs (..., fan_in).
      rate: probability of dropping each weight; may be a traced array.
      deterministic: use all weights, unscaled, and draw no rng.
    """
    kernel = self.param('kernel', self.kernel_init,
                        (x.shape[-1], self.features), self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,),
                       self.param_dtype) if self.use_bias else None)
    x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
    if not deterministic and not is_static_zero(rate):
      kernel = dropconnect(self.make_rng('dropout'), kernel, rate)
    y = jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))
    return y if bias is None else y + bias
