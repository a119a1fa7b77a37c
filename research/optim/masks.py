"""Which parameters are weights: what decay, penalties and max-norm touch.

Weight decay, L1/L2 penalties and the max-norm constraint act on weight matrices
only. Biases and BatchNorm's scale and shift set offsets and gains; shrinking
them towards zero does not reduce capacity and hurts (BN's scale -> 0 kills a
unit), so they are left alone.
"""

from typing import Any

import jax
import numpy as np

PyTree = Any


def is_weight(leaf: Any) -> bool:
  """True for a leaf with >= 2 dimensions (a Dense kernel, fan_in x fan_out)."""
  # `ndim` of arrays, tracers and ShapeDtypeStructs alike, without reading data.
  ndim = getattr(leaf, 'ndim', None)
  return (np.ndim(leaf) if ndim is None else ndim) >= 2


def weights_mask(params: PyTree) -> PyTree:
  """The tree of `params` with True at weight matrices, False at 1-D leaves.

  A flax MLP's `Dense_i/kernel` is True; `Dense_i/bias` and `BatchNorm_i/
  {scale,bias}` are False. Callable as an optax mask, e.g.
  `optax.add_decayed_weights(wd, mask=weights_mask)`.

  The rule is on the rank of a leaf, so call it on one model's params: on a
  population stacked along a leading axis (outside `vmap`) biases are 2-D too.
  """
  return jax.tree.map(is_weight, params)


def masked_leaves(params: PyTree) -> list[Any]:
  """The weight leaves of `params`, in tree order."""
  return [leaf for leaf in jax.tree.leaves(params) if is_weight(leaf)]
