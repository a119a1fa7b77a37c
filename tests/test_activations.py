"""Tests for research.activations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import activations
from research.config import base_config
from research.models import build_model, validate_model_config
from research.errors import ConfigError

_X = np.random.default_rng(0).normal(0.0, 3.0, size=(1000,)).astype(np.float32)

_FORMULAS = {
    'linear': lambda x: x,
    'binary_step': lambda x: (x > 0).astype(np.float32),
    'sigmoid': lambda x: 1.0 / (1.0 + np.exp(-x)),
    'tanh': np.tanh,
    'relu': lambda x: np.maximum(x, 0.0),
    'leaky_relu': lambda x: np.where(x > 0, x, 0.01 * x),
    'elu': lambda x: np.where(x > 0, x, np.expm1(x)),
    'softplus': lambda x: np.log1p(np.exp(x)),
}


def test_names_sorted_and_complete():
  assert activations.NAMES == tuple(sorted(_FORMULAS))


@pytest.mark.parametrize('name', sorted(_FORMULAS))
def test_matches_numpy_formula(name):
  got = np.asarray(activations.get(name)(jnp.asarray(_X)))
  np.testing.assert_allclose(got, _FORMULAS[name](_X), rtol=1e-5, atol=1e-6)
  assert got.dtype == np.float32


def test_binary_step_gradient_is_zero():
  grad = jax.vmap(jax.grad(activations.get('binary_step')))(jnp.asarray(_X))
  np.testing.assert_array_equal(np.asarray(grad), 0.0)


def test_binary_step_output_is_zero_or_one():
  out = np.asarray(activations.get('binary_step')(jnp.asarray(_X)))
  assert set(np.unique(out)) == {0.0, 1.0}


def test_leaky_relu_slope_and_elu_alpha():
  x = jnp.asarray([-2.0, -100.0])
  np.testing.assert_allclose(activations.get('leaky_relu')(x), [-0.02, -1.0],
                             rtol=1e-6)
  # ELU saturates at -alpha = -1.
  np.testing.assert_allclose(activations.get('elu')(x)[1], -1.0, rtol=1e-6)
  grad = jax.grad(activations.get('leaky_relu'))(-3.0)
  np.testing.assert_allclose(grad, 0.01, rtol=1e-6)


def test_unknown_name_lists_known():
  with pytest.raises(ConfigError, match='model.activation') as e:
    activations.get('relux')
  assert "'relux'" in str(e.value)
  assert ', '.join(activations.NAMES) in str(e.value)


def test_leaky_slope_is_a_parameter():
  # The lecture's slope 0.1: the formula, its gradient below zero, and the
  # model section's key (validated, reaching the MLP).
  slope = 0.1
  got = activations.get('leaky_relu', slope)(jnp.asarray(_X))
  np.testing.assert_allclose(got, np.where(_X > 0, _X, slope * _X), rtol=1e-6)
  grad = jax.vmap(jax.grad(activations.get('leaky_relu', slope)))(jnp.asarray(_X))
  np.testing.assert_allclose(grad, np.where(_X >= 0, 1.0, slope))
  assert activations.get('relu', slope) is jax.nn.relu  # others ignore it


def test_leaky_slope_in_the_model_config():
  c = base_config().model
  c.activation, c.leaky_slope = 'leaky_relu', 0.1
  assert build_model(c, 10).leaky_slope == 0.1
  for bad in (-0.1, 1.0):
    c.leaky_slope = bad
    with pytest.raises(ConfigError, match='model.leaky_slope'):
      validate_model_config(c)
