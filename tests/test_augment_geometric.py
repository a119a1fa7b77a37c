"""Tests for research/augment/geometric.py against SciPy's ndimage on random
images: the affine warp against `affine_transform`, the elastic field against
`gaussian_filter` + `map_coordinates` given the same uniform field, both
order 1 (bilinear) with zeros outside."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import ndimage

from research import augment
from research import config as config_lib
from research import registry
from research.augment import geometric as geo
from research.config.sections import augment_config
from research.errors import ConfigError
from research.train.resolve import resolve
from experiments import lecun_elastic  # registers it

_N, _H, _W, _C = 6, 12, 15, 2  # not square, so rows and columns differ
_ATOL = 2e-5
# Compiling is most of the cost: jitted once, shared by the tests, which keep
# to few shapes (eager map_coordinates would compile op by op).
_AFFINE = jax.jit(geo.warp_affine)
_ELASTIC = jax.jit(geo.warp_elastic)
_MATRIX = jax.jit(geo.affine_matrix)
_FIELD = jax.jit(geo.elastic_field, static_argnums=(1, 2, 3, 5))
_RESCALE = jax.jit(geo.rescale, static_argnums=1)
_NOISE = jax.jit(geo.pixel_noise)


def _images(n=_N, h=_H, w=_W, c=_C, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (n, h, w, c)).astype(np.float32)


def _labels(n=_N):
  return jnp.arange(n, dtype=jnp.int32) % 10


def _scipy_affine(img, forward, t):
  """Independent: scipy's affine_transform maps output o to input
  M o + offset; with M = A^-1, offset = c - M (c + t)."""
  h, w = img.shape[:2]
  c = np.array([(h - 1) / 2, (w - 1) / 2])
  inv = np.linalg.inv(forward)
  offset = c - inv @ (c + t)
  return np.stack([ndimage.affine_transform(
      img[..., k].astype(np.float64), inv, offset=offset, order=1,
      mode='grid-constant', cval=0.0) for k in range(img.shape[-1])], -1)


def test_affine_warp_matches_scipy_affine_transform():
  x = _images()
  rng = np.random.default_rng(1)
  angle = rng.uniform(-0.5, 0.5, _N)
  shear = rng.uniform(-0.3, 0.3, _N)
  scale = rng.uniform(0.8, 1.2, _N)
  t = rng.uniform(-2, 2, (_N, 2))
  matrix = _MATRIX(jnp.asarray(angle, jnp.float32),
                   jnp.asarray(shear, jnp.float32),
                   jnp.asarray(scale, jnp.float32))
  out = np.asarray(_AFFINE(jnp.asarray(x), matrix,
                           jnp.asarray(t, jnp.float32)))
  for n in range(_N):
    # The forward matrix from its formula, in NumPy.
    cos, sin = np.cos(angle[n]), np.sin(angle[n])
    forward = (np.array([[cos, -sin], [sin, cos]])
               @ np.array([[1, 0], [shear[n], 1]]) * scale[n])
    np.testing.assert_allclose(np.asarray(matrix[n]), forward, atol=1e-6)
    np.testing.assert_allclose(out[n], _scipy_affine(x[n], forward, t[n]),
                               atol=_ATOL)


def test_rotation_by_90_degrees_is_rot90():
  # A square image rotated by exactly 90 degrees lands on the grid: no
  # interpolation, so the warp must equal np.rot90 (up to float rounding).
  x = _images(h=9, w=9)
  matrix = _MATRIX(jnp.full((_N,), np.pi / 2, jnp.float32), jnp.zeros(_N),
                   jnp.ones(_N))
  out = np.asarray(_AFFINE(jnp.asarray(x), matrix, jnp.zeros((_N, 2))))
  rotated = [np.rot90(x, k, axes=(1, 2)) for k in (1, -1)]
  assert min(np.abs(out - r).max() for r in rotated) < 1e-4


def test_identity_parameters_give_the_identity():
  x = jnp.asarray(_images())
  y = _labels()
  # Static zeros: the batch comes back untouched.
  xs, ys = geo.random_warp(jax.random.key(0), (x, y))
  assert xs is x and ys is y
  assert geo.pixel_noise(jax.random.key(0), (x, y), 0.0)[0] is x
  # The identity map and a zero field sample every pixel at its own place.
  eye = jnp.broadcast_to(jnp.eye(2), (_N, 2, 2))
  np.testing.assert_allclose(_AFFINE(x, eye, jnp.zeros((_N, 2))), x,
                             atol=1e-6)
  np.testing.assert_allclose(_ELASTIC(x, jnp.zeros((_N, 2, _H, _W))), x,
                             atol=1e-6)
  # A traced alpha of 0 (a swept point) is the identity by arithmetic.
  f = jax.jit(lambda k, a: geo.random_warp(k, (x, y), elastic_alpha=a)[0])
  np.testing.assert_allclose(f(jax.random.key(1), 0.0), x, atol=1e-6)
  np.testing.assert_allclose(_RESCALE(x, 1.0), x, atol=1e-6)


@pytest.mark.parametrize('sigma', [1.0, 4.0, 2.5])
def test_smoothing_matches_scipy_gaussian_filter(sigma):
  u = np.random.default_rng(2).uniform(-1, 1, (3, _H, _W))
  ours = np.asarray(geo.smooth_field(jnp.asarray(u, jnp.float32), sigma))
  for i in range(3):
    ref = ndimage.gaussian_filter(u[i], sigma, mode='constant', cval=0.0,
                                  truncate=4.0)
    np.testing.assert_allclose(ours[i], ref, atol=1e-5)


def test_elastic_field_and_warp_match_scipy():
  x = _images()
  key = jax.random.key(3)
  alpha, sigma = 34.0, 4.0
  field = np.asarray(_FIELD(key, _N, _H, _W, alpha, sigma))
  # The same uniform draws, smoothed and scaled by SciPy.
  u = np.asarray(jax.random.uniform(key, (_N, 2, _H, _W), jnp.float32, -1, 1))
  ref_field = alpha * np.stack([[ndimage.gaussian_filter(
      u[n, a].astype(np.float64), sigma, mode='constant', truncate=4.0)
      for a in range(2)] for n in range(_N)])
  np.testing.assert_allclose(field, ref_field, atol=1e-4)
  out = np.asarray(_ELASTIC(jnp.asarray(x), jnp.asarray(field)))
  rows, cols = np.meshgrid(np.arange(_H), np.arange(_W), indexing='ij')
  for n in range(_N):
    coords = [rows + ref_field[n, 0], cols + ref_field[n, 1]]
    ref = np.stack([ndimage.map_coordinates(
        x[n, ..., k].astype(np.float64), coords, order=1, mode='grid-constant',
        cval=0.0) for k in range(_C)], -1)
    np.testing.assert_allclose(out[n], ref, atol=1e-4)


@pytest.mark.slow  # compiles the full warp twice (~15 s on a loaded 2-core box)
def test_geometric_composes_affine_then_elastic_in_one_sampling():
  x = _images()
  key = jax.random.key(4)
  kw = dict(rotate_degrees=15.0, shear=0.2, scale=0.1, translate=1.5,
            elastic_alpha=8.0, elastic_sigma=3.0)
  warp = jax.jit(lambda k, x: geo.random_warp(k, (x, _labels()), **kw)[0])
  out = np.asarray(warp(key, jnp.asarray(x)))
  # Rebuild the same draws (the function's own key split) in NumPy terms.
  k_affine, k_elastic = jax.random.split(key)
  u = np.asarray(jax.random.uniform(k_affine, (5, _N), jnp.float32, -1, 1),
                 np.float64)
  field = np.asarray(_FIELD(k_elastic, _N, _H, _W, 8.0, 3.0), np.float64)
  c = np.array([(_H - 1) / 2, (_W - 1) / 2])
  rows, cols = np.meshgrid(np.arange(_H), np.arange(_W), indexing='ij')
  for n in range(_N):
    a, k, s = np.radians(15.0) * u[0, n], 0.2 * u[1, n], 1 + 0.1 * u[2, n]
    t = 1.5 * u[3:, n]
    forward = (np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
               @ np.array([[1, 0], [k, 1]]) * s)
    p = np.stack([rows + field[n, 0], cols + field[n, 1]]) - (c + t)[:, None, None]
    q = np.einsum('ij,jhw->ihw', np.linalg.inv(forward), p) + c[:, None, None]
    ref = np.stack([ndimage.map_coordinates(
        x[n, ..., ch].astype(np.float64), list(q), order=1, mode='grid-constant')
        for ch in range(_C)], -1)
    np.testing.assert_allclose(out[n], ref, atol=1e-4)


def test_draws_are_in_range_and_per_image():
  draws = jax.jit(geo.affine_draws, static_argnums=(1, 2, 3, 4, 5))
  d = draws(jax.random.key(5), 1000, 10.0, 0.3, 0.2, 2.0)
  assert np.abs(np.degrees(d['angle'])).max() <= 10.0
  assert np.abs(d['shear']).max() <= 0.3
  assert 0.8 <= d['scale'].min() and d['scale'].max() <= 1.2
  assert d['translation'].shape == (1000, 2)
  assert np.abs(d['translation']).max() <= 2.0
  # Uniform: std of U(-r, r) is r / sqrt(3).
  np.testing.assert_allclose(np.std(np.degrees(d['angle'])), 10 / np.sqrt(3),
                             rtol=0.1)


def test_pixel_noise_statistics():
  x = jnp.asarray(_images(n=200))
  out, _ = _NOISE(jax.random.key(6), (x, _labels(200)), 0.3)
  noise = np.asarray(out - x).ravel()
  assert abs(noise.mean()) < 4 * 0.3 / np.sqrt(noise.size)
  np.testing.assert_allclose(noise.std(), 0.3, rtol=0.02)
  # Independent across pixels: neighbouring pixels are uncorrelated.
  assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 0.02


def test_rescale_zooms_about_the_centre():
  x = _images(h=9, w=9)
  out = np.asarray(_RESCALE(jnp.asarray(x), 1.25))
  forward = 1.25 * np.eye(2)
  for n in range(2):
    np.testing.assert_allclose(out[n], _scipy_affine(x[n], forward, np.zeros(2)),
                               atol=_ATOL)


@pytest.mark.slow  # compiles the full warp twice (~15 s on a loaded 2-core box)
def test_jit_and_vmap():
  x = jnp.asarray(_images())
  f = jax.jit(lambda k, x: geo.random_warp(k, (x, _labels()), rotate_degrees=10.0,
                                         elastic_alpha=34.0)[0])
  keys = jax.random.split(jax.random.key(7), 3)
  out = jax.vmap(f, in_axes=(0, None))(keys, x)
  assert out.shape == (3,) + x.shape
  np.testing.assert_allclose(out[1], f(keys[1], x), atol=1e-6)
  assert not np.allclose(out[0], out[1])


def _cfg(**kw):
  # From a dict: a ConfigDict's type safety would reject 'a' for a float.
  return ml_collections.ConfigDict({**augment_config().to_dict(), **kw})


def test_make_augment_composes_the_geometric_stages():
  x, y = jnp.asarray(_images()), _labels()
  aug = augment.make_augment(_cfg(elastic_alpha=10.0, pixel_noise=0.1),
                             num_classes=10, image_shape=x.shape[1:])
  out, y_out = jax.jit(aug)(jax.random.key(8), (x, y))
  assert out.shape == x.shape and not np.allclose(out, x)
  np.testing.assert_array_equal(y_out, y)
  # Turning the warp on leaves the other stages' draws unchanged.
  crop = augment.make_augment(_cfg(crop_padding=1), num_classes=10,
                              image_shape=x.shape[1:])
  both = augment.make_augment(_cfg(crop_padding=1, rotate_degrees=1e-9),
                              num_classes=10, image_shape=x.shape[1:])
  np.testing.assert_allclose(jax.jit(crop)(jax.random.key(9), (x, y))[0],
                             jax.jit(both)(jax.random.key(9), (x, y))[0],
                             atol=1e-4)


@pytest.mark.parametrize('key,value,match', [
    ('rotate_degrees', -1.0, 'augment.rotate_degrees'),
    ('rotate_degrees', 200.0, 'augment.rotate_degrees'),
    ('shear', 'a', 'augment.shear'),
    ('scale', 1.0, 'augment.scale'),
    ('translate', float('nan'), 'augment.translate'),
    ('elastic_alpha', -3.0, 'augment.elastic_alpha'),
    ('elastic_sigma', 0.0, 'augment.elastic_sigma'),
    ('pixel_noise', True, 'augment.pixel_noise'),
    ('tta', 'zoom', 'augment.tta'),
])
def test_config_errors_name_the_key(key, value, match):
  with pytest.raises(ConfigError, match=match):
    augment.validate_augment_config(_cfg(**{key: value}))


def test_a_bad_value_fails_when_the_run_config_resolves():
  config = config_lib.apply_overrides(registry.get('lecun_elastic').config(),
                                      ['augment.elastic_sigma=-1.0'])
  with pytest.raises(ConfigError, match='^augment.elastic_sigma:'):
    resolve(config)


def test_lecun_elastic_is_simards_setup():
  config = resolve(registry.get('lecun_elastic').config())
  assert config.model.hidden == (800,) and config.loss.name == 'cross_entropy'
  assert config.augment.elastic_alpha == 34.0
  assert config.augment.elastic_sigma == 4.0
  assert config.data.name == 'mnist' and config.data.dev_size == 0
  assert config.train.num_epochs == lecun_elastic.NUM_EPOCHS


def test_image_only_keys_reject_vector_data():
  with pytest.raises(ConfigError, match='augment.elastic_alpha'):
    augment.validate_augment_config(_cfg(elastic_alpha=34.0),
                                    image_shape=(784,))
  with pytest.raises(ConfigError, match='augment.tta'):
    augment.validate_augment_config(_cfg(tta='scales'), image_shape=(784,))
  # Pixel noise works on vectors.
  augment.validate_augment_config(_cfg(pixel_noise=0.1), image_shape=(784,))
  augment.validate_augment_config(_cfg(elastic_alpha=34.0, tta='scales'),
                                  image_shape=(28, 28, 1))


def test_scales_tta_views():
  x = jnp.asarray(_images())
  cfg = _cfg(tta='scales', scale=0.2)
  views = augment.make_tta(cfg, image_shape=x.shape[1:])
  assert len(views) == 3
  np.testing.assert_array_equal(views[0](x), x)
  # A fixed set: the training-time scale range does not move the views.
  np.testing.assert_allclose(jax.jit(views[1])(x), _RESCALE(x, 0.9), atol=1e-6)
  np.testing.assert_allclose(jax.jit(views[2])(x), _RESCALE(x, 1.1), atol=1e-6)
  wide = augment.tta_views('scales', x.shape[1:], scale=0.2)
  np.testing.assert_allclose(jax.jit(wide[2])(x), _RESCALE(x, 1.2), atol=1e-6)
  # Averaged distributions, each view weighted equally.
  w = jax.random.normal(jax.random.key(10), (_H * _W * _C, 10))
  apply_fn = lambda v: v.reshape(v.shape[0], -1) @ w
  probs = jax.jit(lambda x: augment.tta_predict(apply_fn, x, views))(x)
  ref = sum(jax.nn.softmax(apply_fn(jax.jit(v)(x)), -1) for v in views) / 3
  np.testing.assert_allclose(probs, ref, atol=1e-6)
