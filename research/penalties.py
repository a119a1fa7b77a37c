"""Penalties added to the training loss; the `regularization` config section.

Each penalty is a function of the params that sums over the weight matrices only
(`research.optim.masks.weights_mask`): biases and BatchNorm parameters are never
penalized. The train step adds `penalty_fn(config.regularization)(params)` to
the mean data loss, so the coefficients are per-example-loss units.
"""

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research.config.sections import regularization_config as default_penalty_config
from research.errors import ConfigError, check_section_keys
from research.optim.masks import masked_leaves

PyTree = Any
Penalty = Callable[[PyTree], jax.Array]


def _total(terms: list[jax.Array]) -> jax.Array:
  return sum(terms, jnp.zeros((), jnp.float32))


def l2(params: PyTree) -> jax.Array:
  """R(w) = 1/2 sum_i w_i^2 over the weights; dR/dw = w.

  The 1/2 makes the gradient `w`, so `l2 = c` with SGD equals weight decay
  `w <- (1 - lr c) w`. scikit-learn's MLP adds `0.5 * alpha * ||W||^2 /
  n_samples` to the mean loss of a batch of `n_samples` (coefs only, not
  intercepts): its `alpha` is our `l2 = alpha / batch_size` (for full-batch
  L-BFGS, `alpha / n_train`).
  """
  return 0.5 * _total([jnp.sum(jnp.square(w)) for w in masked_leaves(params)])


def l1(params: PyTree) -> jax.Array:
  """R(w) = sum_i |w_i| over the weights; dR/dw = sign(w)."""
  return _total([jnp.sum(jnp.abs(w)) for w in masked_leaves(params)])


def elastic_net(params: PyTree, l1_weight: float,
                l2_weight: float) -> jax.Array:
  """R(w) = l1_weight sum |w| + l2_weight 1/2 sum w^2 (Zou & Hastie 2005)."""
  return l1_weight * l1(params) + l2_weight * l2(params)


def weight_elimination(params: PyTree, scale: float) -> jax.Array:
  """Weigend et al. (1991): R(w) = sum_i r_i / (1 + r_i), r_i = (w_i / w0)^2.

  With w0 = `scale`: about (w/w0)^2 for |w| << w0 (an L2 penalty) and about 1
  for |w| >> w0 (a count of large weights), so small weights are driven to zero
  while large ones are barely pulled. dR/dw = 2 w w0^2 / (w0^2 + w^2)^2.
  """
  def term(w):
    r = jnp.square(w / scale)
    return jnp.sum(r / (1.0 + r))
  return _total([term(w) for w in masked_leaves(params)])


# --------------------------------------------------------------------------
# The `regularization` config section


_COEFFICIENTS = ('l2', 'l1', 'weight_elimination')


def _is_real(value: Any) -> bool:
  return (isinstance(value, (numbers.Real, np.floating))
          and not isinstance(value, bool))


def validate_penalty_config(cfg: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming `regularization.<key>` for a bad value."""
  known = default_penalty_config()
  check_section_keys(cfg, known, 'regularization')
  for key in known.keys():
    value = cfg[key]
    if not _is_real(value) or not np.isfinite(value):
      raise ConfigError(f'regularization.{key}: {value!r} must be a number')
    if value < 0:
      raise ConfigError(f'regularization.{key}: {value!r} must be >= 0 '
                        '(0 turns it off)')
  if cfg.weight_elimination_scale <= 0:
    raise ConfigError(
        f'regularization.weight_elimination_scale: '
        f'{cfg.weight_elimination_scale!r} must be > 0 (it is w0 in (w/w0)^2)')


def penalty_fn(cfg: ml_collections.ConfigDict) -> Penalty | None:
  """The configured penalty `params -> scalar`, or None when none is set.

  R = l2 * 1/2 ||W||^2 + l1 * ||W||_1 + weight_elimination * WE(W; w0). None
  (rather than a function returning 0) lets the train step skip the term and
  keeps an unregularized run's program unchanged. `max_norm` is a constraint,
  not a penalty: it is applied by `optim.constraints.max_norm`. The section
  was checked when the run's config was resolved.
  """
  coef = {k: float(cfg[k]) for k in _COEFFICIENTS}
  scale = float(cfg.weight_elimination_scale)
  if not any(coef.values()):
    return None

  # Only the non-zero terms are traced: elastic net is l1 and l2 both set.
  terms = [(coef['l2'], l2), (coef['l1'], l1),
           (coef['weight_elimination'],
            lambda params: weight_elimination(params, scale))]
  terms = [(c, fn) for c, fn in terms if c]

  def penalty(params: PyTree) -> jax.Array:
    return _total([c * fn(params) for c, fn in terms])

  return penalty
