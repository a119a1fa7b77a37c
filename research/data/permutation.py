"""A fixed random permutation of the input features, the same for every split.

An MLP treats its inputs as an unordered set, so permuting them changes
nothing it can learn: the "permutation-invariant" setting of the dropout
paper, and MNIST-1D's check that its MLP does not exploit the spatial order
(REFERENCES §1). A model with spatial structure (convolutions, crops, flips)
would lose it.
"""

import numpy as np


def feature_permutation(num_features: int, seed: int) -> np.ndarray:
  """The permutation of `num_features` positions drawn from `seed`."""
  return np.random.default_rng(seed).permutation(num_features)


def permute_features(x: np.ndarray, permutation: np.ndarray) -> np.ndarray:
  """x with its features (flattened per example) reordered by `permutation`,
  in its original shape."""
  # Not reshape(len(x), -1): an empty split (no dev set) has no -1 to infer.
  flat = x.reshape(len(x), int(np.prod(x.shape[1:])))
  if flat.shape[1] != len(permutation):
    raise ValueError(f'{flat.shape[1]} features per example, but the '
                     f'permutation has {len(permutation)} positions')
  return flat[:, permutation].reshape(x.shape)
