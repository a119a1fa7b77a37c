"""Tests for research.initializers: moments, bounds and shapes of samples."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from research import initializers
from research.errors import ConfigError

FAN_IN, FAN_OUT = 400, 300

# name -> (distribution, expected std or uniform bound).
_EXPECTED = {
    'small_normal': ('normal', 0.01),
    'large_normal': ('normal', 1.0),
    'xavier_normal': ('normal', np.sqrt(2 / (FAN_IN + FAN_OUT))),
    'glorot_normal': ('normal', np.sqrt(2 / (FAN_IN + FAN_OUT))),
    'xavier_uniform': ('uniform', np.sqrt(6 / (FAN_IN + FAN_OUT))),
    'glorot_uniform': ('uniform', np.sqrt(6 / (FAN_IN + FAN_OUT))),
    'he_normal': ('normal', np.sqrt(2 / FAN_IN)),
    'kaiming_normal': ('normal', np.sqrt(2 / FAN_IN)),
    'he_uniform': ('uniform', np.sqrt(6 / FAN_IN)),
    'lecun_normal': ('normal', np.sqrt(1 / FAN_IN)),
    'lecun_uniform': ('uniform', np.sqrt(3 / FAN_IN)),
    'pytorch': ('uniform', 1 / np.sqrt(FAN_IN)),
}


def _kernel(name, std=None, seed=0):
  kernel_init, _ = initializers.get(name, std, fan_in=FAN_IN)
  k = kernel_init(jax.random.key(seed), (FAN_IN, FAN_OUT), jnp.float32)
  assert k.shape == (FAN_IN, FAN_OUT) and k.dtype == jnp.float32
  return np.asarray(k, np.float64).ravel()


def test_names_cover_expected():
  assert initializers.NAMES == tuple(sorted(_EXPECTED))


@pytest.mark.parametrize('name', sorted(_EXPECTED))
def test_kernel_moments(name):
  dist, param = _EXPECTED[name]
  std = param if dist == 'normal' else param / np.sqrt(3)
  k = _kernel(name)
  assert abs(k.mean()) < 0.02 * std
  np.testing.assert_allclose(k.std(), std, rtol=0.02)


@pytest.mark.parametrize(
    'name', [n for n, (d, _) in _EXPECTED.items() if d == 'normal'])
def test_normal_kernels_are_untruncated_normals(name):
  std = _EXPECTED[name][1]
  k = _kernel(name)
  assert stats.kstest(k, 'norm', args=(0.0, std)).pvalue > 1e-3
  # A normal truncated at 2 std would have no samples beyond it; 120k
  # untruncated samples have about 5% there.
  assert np.mean(np.abs(k) > 2 * std) > 0.04


@pytest.mark.parametrize(
    'name', [n for n, (d, _) in _EXPECTED.items() if d == 'uniform'])
def test_uniform_kernels_fill_their_bounds(name):
  bound = _EXPECTED[name][1]
  k = _kernel(name)
  assert k.min() >= -bound and k.max() <= bound
  assert k.min() < -0.99 * bound and k.max() > 0.99 * bound
  assert stats.kstest(k, 'uniform', args=(-bound, 2 * bound)).pvalue > 1e-3


@pytest.mark.parametrize('name', ['small_normal', 'large_normal'])
def test_std_overrides_fixed_scale(name):
  np.testing.assert_allclose(_kernel(name, std=0.3).std(), 0.3, rtol=0.02)
  # 0 means the default.
  np.testing.assert_allclose(
      _kernel(name, std=0.0).std(), _EXPECTED[name][1], rtol=0.02)


def test_pytorch_bias_is_uniform_in_fan_in_bound():
  _, bias_init = initializers.get('pytorch', fan_in=FAN_IN)
  b = np.asarray(bias_init(jax.random.key(1), (20000,), jnp.float32))
  bound = 1 / np.sqrt(FAN_IN)
  assert b.min() >= -bound and b.max() <= bound
  assert b.min() < -0.99 * bound and b.max() > 0.99 * bound
  np.testing.assert_allclose(b.std(), bound / np.sqrt(3), rtol=0.03)


def test_pytorch_needs_fan_in():
  with pytest.raises(ValueError, match='fan_in'):
    initializers.get('pytorch')


@pytest.mark.parametrize('name', [n for n in _EXPECTED if n != 'pytorch'])
def test_other_biases_are_zero(name):
  _, bias_init = initializers.get(name, fan_in=FAN_IN)
  b = bias_init(jax.random.key(1), (FAN_OUT,), jnp.float32)
  np.testing.assert_array_equal(np.asarray(b), np.zeros(FAN_OUT))


def test_different_keys_give_different_kernels():
  assert not np.array_equal(_kernel('he_normal', seed=0),
                            _kernel('he_normal', seed=1))


def test_unknown_name_lists_known():
  with pytest.raises(ConfigError, match='model.init') as e:
    initializers.get('he_normall')
  assert ', '.join(initializers.NAMES) in str(e.value)


@pytest.mark.parametrize('name', ['he_normal', 'xavier_uniform', 'pytorch'])
def test_std_only_for_fixed_normals(name):
  with pytest.raises(ConfigError, match='model.init_std'):
    initializers.get(name, std=0.1, fan_in=FAN_IN)
  initializers.get(name, std=0.0, fan_in=FAN_IN)  # 0 means "default": fine.


def test_negative_std_rejected():
  with pytest.raises(ConfigError, match='model.init_std'):
    initializers.get('small_normal', std=-1.0)
