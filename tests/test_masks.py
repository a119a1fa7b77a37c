"""Tests for research.optim.masks on a real MLP parameter tree."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import models
from research.optim.masks import masked_leaves, weights_mask
from train_helpers import tiny_config


@functools.lru_cache(maxsize=None)
def _params(batchnorm: str, seed: int = 0):
  """A built model's params, every leaf perturbed so none is all zeros/ones."""
  config = tiny_config(f'model.batchnorm={batchnorm}')
  model = models.build_model(config.model, 10)
  x = jax.random.normal(jax.random.PRNGKey(seed), (4, 40))
  params = model.init(jax.random.PRNGKey(seed), x)['params']
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(leaves))
  return jax.tree.unflatten(tree, [
      p + 0.5 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


def _flat(tree):
  return {'/'.join(str(k.key) for k in path): v
          for path, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


@pytest.mark.parametrize('batchnorm', ['none', 'after', 'before'])
def test_kernels_true_biases_and_batchnorm_false(batchnorm):
  params = _params(batchnorm)
  mask = _flat(weights_mask(params))
  assert mask, 'empty parameter tree'
  for name, value in mask.items():
    assert value == name.endswith('/kernel'), name
  assert any(n.startswith('BatchNorm_') for n in mask) == (batchnorm != 'none')
  assert len(masked_leaves(params)) == 3  # two hidden layers and the output


def test_mask_on_abstract_params():
  params = jax.eval_shape(lambda: _params('after'))
  assert _flat(weights_mask(params)) == _flat(weights_mask(_params('after')))


def test_masked_decay_leaves_biases_and_batchnorm_alone():
  params = _params('after')
  lr, wd = 0.1, 0.3
  tx = optax.chain(optax.add_decayed_weights(wd, mask=weights_mask),
                   optax.sgd(lr))
  state = tx.init(params)
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = jax.jit(tx.update)(zeros, state, params)
  new = _flat(optax.apply_updates(params, updates))
  old = _flat(params)
  for name, value in new.items():
    if name.endswith('/kernel'):
      np.testing.assert_allclose(value, old[name] * (1 - lr * wd), rtol=1e-6)
    else:  # Dense biases, BatchNorm scale and bias: bit-for-bit unchanged
      np.testing.assert_array_equal(value, old[name])


def test_unmasked_decay_would_touch_them():
  """The control: without the mask, biases and BatchNorm do shrink."""
  params = _params('after')
  tx = optax.chain(optax.add_decayed_weights(0.3), optax.sgd(0.1))
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  new = _flat(optax.apply_updates(params, updates))
  assert not np.allclose(new['BatchNorm_0/scale'], _flat(params)['BatchNorm_0/scale'])
