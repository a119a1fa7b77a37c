"""Magnitude pruning of the Dense kernels: masks, their application, sparsity.

A mask is a pytree like the parameters of float32 0/1 arrays (ones on every
leaf that is not a weight matrix, `research.optim.masks.is_weight`: biases and
BatchNorm's scale and bias are never pruned). The train step holds masked weights at zero (research/train/steps.py),
so fine-tuning cannot revive them; iterative pruning passes the previous masks,
so each round only adds to the pruned set (Han et al., 2015).
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research.errors import ConfigError
from research.optim.masks import is_weight

SCOPES = ('global', 'layer')


def validate_prune_config(prune: ml_collections.ConfigDict) -> None:
  sparsity = prune.sparsity
  if (isinstance(sparsity, bool) or not isinstance(sparsity, (int, float))
      or not 0 <= sparsity < 1):
    raise ConfigError(f'prune.sparsity: {sparsity!r} must be in [0, 1) '
                      '(the fraction of kernel weights set to zero; 0 = off)')
  if prune.scope not in SCOPES:
    raise ConfigError(f'prune.scope: {prune.scope!r} is not one of {list(SCOPES)}')


def _path_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', getattr(k, 'name', k))) for k in path)


def kernel_names(params) -> list[str]:
  """'Dense_0/kernel', ... in the order of the flattened tree."""
  return [_path_name(p) for p, leaf in jax.tree_util.tree_leaves_with_path(params)
          if is_weight(leaf)]


def _pruned_flags(scores: np.ndarray, count: int) -> np.ndarray:
  """True at the `count` lowest scores; ties go to the lower flat index (a
  stable sort), so exactly `count` are pruned whatever the repeats."""
  flags = np.zeros(scores.size, bool)
  flags[np.argsort(scores, kind='stable')[:count]] = True
  return flags


def magnitude_masks(params, sparsity: float, scope: str = 'global',
                    previous=None):
  """0/1 masks that zero exactly round(sparsity * n) kernel weights, those of
  smallest magnitude: n over all kernels ('global', one threshold) or over
  each kernel ('layer', each loses the same fraction).

  With `previous` masks (iterative pruning), a weight already pruned stays
  pruned: it ranks below every kept weight. A target below what `previous`
  already prunes raises ValueError.
  """
  if not 0 <= sparsity < 1:
    raise ValueError(f'sparsity {sparsity} must be in [0, 1)')
  if scope not in SCOPES:
    raise ValueError(f'scope {scope!r} is not one of {list(SCOPES)}')
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  old = (jax.tree.leaves(previous) if previous else [None] * len(leaves))
  kernels = [i for i, (_, leaf) in enumerate(leaves) if is_weight(leaf)]
  # Magnitudes on the host in float64; pruned-before weights score -1.
  scores = {}
  for i in kernels:
    magnitude = np.abs(np.asarray(leaves[i][1], np.float64)).ravel()
    if old[i] is not None:
      magnitude[np.asarray(old[i]).ravel() == 0] = -1.0
    scores[i] = magnitude

  def check(already: int, count: int, where: str) -> None:
    if already > count:
      raise ValueError(f'{where}: sparsity {sparsity} prunes {count} weights, '
                       f'fewer than the {already} pruned before')

  flags = {}
  if scope == 'layer':
    for i in kernels:
      count = round(sparsity * scores[i].size)
      check(int(np.sum(scores[i] < 0)), count, _path_name(leaves[i][0]))
      flags[i] = _pruned_flags(scores[i], count)
  elif kernels:
    joined = np.concatenate([scores[i] for i in kernels])
    count = round(sparsity * joined.size)
    check(int(np.sum(joined < 0)), count, 'all kernels')
    pruned = np.split(_pruned_flags(joined, count),
                      np.cumsum([scores[i].size for i in kernels])[:-1])
    flags = dict(zip(kernels, pruned))

  masks = []
  for i, (_, leaf) in enumerate(leaves):
    keep = (~flags[i]).reshape(np.shape(leaf)) if i in flags else np.ones(np.shape(leaf), bool)
    masks.append(jnp.asarray(keep, jnp.float32))
  return jax.tree_util.tree_unflatten(treedef, masks)


def apply_masks(params, masks):
  """`params` with every masked entry exactly +0.0; `masks` empty -> unchanged."""
  if not masks:
    return params
  return jax.tree.map(lambda p, m: jnp.where(m != 0, p, jnp.zeros_like(p)),
                      params, masks)


def sparsity_report(tree) -> dict[str, Any]:
  """{'layers': {kernel name: fraction of zeros}, 'global': fraction of zeros
  over every kernel, 'zeros', 'total'} of params or of masks (a mask's zeros are
  its pruned weights)."""
  layers, zeros, total = {}, 0, 0
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    if not is_weight(leaf):
      continue
    value = np.asarray(leaf)
    z = int(np.sum(value == 0))
    layers[_path_name(path)] = z / value.size
    zeros, total = zeros + z, total + value.size
  return {'layers': layers, 'global': zeros / total if total else 0.0,
          'zeros': zeros, 'total': total}


def iterative_sparsities(final: float, rounds: int) -> list[float]:
  """The sparsity after each of `rounds` rounds, each pruning the same
  fraction of the weights still kept: keep (1 - final) ** (k / rounds)."""
  if rounds < 1:
    raise ValueError(f'rounds {rounds} must be >= 1')
  if not 0 <= final < 1:
    raise ValueError(f'sparsity {final} must be in [0, 1)')
  targets = [1 - (1 - final) ** (k / rounds) for k in range(1, rounds)]
  return [*targets, final]
