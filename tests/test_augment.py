"""Tests for research.augment: each augmentation against its formula in NumPy.

Compiling is most of the cost here (Beta sampling especially), so the tests
share jitted functions and one batch shape, and pass strengths as traced
scalars: each program compiles once for the whole file.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import stats

from research import augment
from research.errors import ConfigError

K = 10  # classes
_N, _H, _W, _C = 64, 8, 9, 3  # not square, so rows and columns differ


def _images(n=_N, h=_H, w=_W, c=_C, seed=0):
  """Random images with no zero pixel, so a zeroed pixel is visible."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(0.1, 2.0, (n, h, w, c)) * rng.choice([-1, 1], (n, h, w, c))
  return jnp.asarray(x, jnp.float32), jnp.asarray(rng.integers(0, K, n),
                                                   jnp.int32)


def _bits(a):
  return np.asarray(a).view(np.uint32)


_f32 = jnp.float32
_MIXUP = jax.jit(augment.mixup, static_argnums=3)
_MIXUP_DRAWS = jax.jit(augment.mixup_draws, static_argnums=1)
_CUTOUT = jax.jit(augment.cutout, static_argnums=2)
_CUTOUT_MASK = jax.jit(augment.cutout_mask, static_argnums=(1, 2))
_CROP = jax.jit(augment.random_crop, static_argnums=2)
_CROP_OFFSETS = jax.jit(augment.crop_offsets, static_argnums=(1, 2))
_FLIP = jax.jit(augment.horizontal_flip)
_FLIP_MASK = jax.jit(augment.flip_mask, static_argnums=1)
_JITTER = jax.jit(augment.brightness_contrast)
_JITTER_DRAWS = jax.jit(augment.brightness_contrast_draws, static_argnums=1)
_LIGHTING = jax.jit(augment.pca_lighting)
_LIGHTING_DRAWS = jax.jit(augment.pca_lighting_draws, static_argnums=(1, 2))


# --------------------------------------------------------------------------
# mixup


def test_mixup_labels_sum_to_one():
  x, y = _images()
  _, y1 = _MIXUP(jax.random.key(0), (x, y), _f32(0.4), K)
  assert y1.shape == (_N, K) and y1.dtype == jnp.float32
  np.testing.assert_allclose(y1.sum(axis=1), 1.0, rtol=1e-6)
  assert np.sum(np.asarray(y1).max(axis=1) < 1) > _N // 2  # most are mixed
  # Soft labels in, soft out: the make_augment sweep test.


def test_mixup_inputs_are_the_labels_convex_combination():
  x, y = _images(seed=3)
  key, alpha = jax.random.key(7), _f32(0.5)
  xm, ym = _MIXUP(key, (x, y), alpha, K)
  x, y, xm, ym = map(np.asarray, (x, y, xm, ym))
  lam_drawn, perm = map(np.asarray, _MIXUP_DRAWS(key, _N, alpha))
  checked = 0
  for n in range(_N):
    classes = np.flatnonzero(ym[n] > 0)
    if len(classes) != 2:  # partner of the same class (or lam == 1)
      continue
    lam = ym[n, y[n]]  # own class carries lam, the partner's 1 - lam
    np.testing.assert_allclose(lam, lam_drawn[n], rtol=1e-6)
    j = classes[classes != y[n]][0]
    np.testing.assert_allclose(ym[n, j], 1 - lam, atol=1e-6)
    if 1 - lam < 1e-3:  # partner too faint to tell candidates apart
      continue
    # Recover the partner from the inputs alone: the example of class j that
    # makes x' the same convex combination as the labels.
    matches = [m for m in np.flatnonzero(y == j)
               if np.allclose(xm[n], lam * x[n] + (1 - lam) * x[m],
                              rtol=1e-5, atol=1e-6)]
    assert matches == [int(perm[n])]
    checked += 1
  assert checked > 30


def _beta_ks_pvalue(lam, alpha, eps=1e-4):
  """KS p-value of lam against Beta(alpha, alpha) truncated to [eps, 1 - eps].

  float32 rounds draws within 6e-8 of 1 to exactly 1 (about 2% of them for
  alpha = 0.2), an atom the continuous Beta lacks; comparing the draws inside
  [eps, 1 - eps] with the truncated distribution tests everything else.
  """
  dist = stats.beta(alpha, alpha)
  lo, hi = dist.cdf(eps), dist.cdf(1 - eps)
  inside = lam[(lam >= eps) & (lam <= 1 - eps)].astype(np.float64)
  return stats.kstest(inside, lambda v: (dist.cdf(v) - lo) / (hi - lo)).pvalue


def test_mixup_lambda_is_beta():
  # The draws mixup uses (the test above shows the labels carry exactly them):
  # 150 batches of 64, so the compiled sampler is reused.
  def draws(alpha, seed):
    keys = [jax.random.key(1000 * seed + i) for i in range(150)]
    return np.concatenate([
        np.asarray(_MIXUP_DRAWS(k, _N, _f32(alpha))[0]) for k in keys])
  for i, alpha in enumerate((0.2, 1.0, 2.0)):
    assert _beta_ks_pvalue(draws(alpha, i), alpha) > 1e-3
  # A wrong alpha is caught: the test has power.
  assert _beta_ks_pvalue(draws(0.3, 0), 0.2) < 1e-6


def test_mixup_alpha_traced_under_jit():
  x, y = _images()
  key = jax.random.key(4)
  # _MIXUP traces alpha: one program for every value, 0 included, where it
  # is exactly no mixing. (vmapped over alpha: the make_augment sweep test)
  x0, y0 = _MIXUP(key, (x, y), _f32(0.0), K)
  np.testing.assert_array_equal(x0, x)
  np.testing.assert_array_equal(y0, jax.nn.one_hot(y, K))
  x1, _ = _MIXUP(key, (x, y), _f32(0.2), K)
  x2, _ = _MIXUP(key, (x, y), _f32(1.0), K)
  assert not np.allclose(x1, x) and not np.allclose(x1, x2)


def test_mixup_static_zero_is_off():
  x, y = _images(8)
  xm, ym = augment.mixup(jax.random.key(0), (x, y), 0, K)
  assert xm is x
  np.testing.assert_array_equal(ym, jax.nn.one_hot(y, K))


# --------------------------------------------------------------------------
# cutout


def _np_square(centre, size, h, w):
  mask = np.zeros((h, w), bool)
  top, left = centre[0] - size // 2, centre[1] - size // 2
  mask[max(top, 0):max(top + size, 0), max(left, 0):max(left + size, 0)] = True
  return mask


def test_cutout_zeroes_exactly_the_reported_square():
  x, y = _images()
  key = jax.random.key(5)
  xc, yc = _CUTOUT(key, (x, y), 4)
  mask, centres = map(np.asarray, _CUTOUT_MASK(key, x.shape, 4))
  for n in range(_N):
    np.testing.assert_array_equal(mask[n], _np_square(centres[n], 4, _H, _W))
  cut = np.broadcast_to(mask[..., None], x.shape)
  assert np.all(np.asarray(xc)[cut] == 0)
  np.testing.assert_array_equal(_bits(xc)[~cut], _bits(x)[~cut])
  np.testing.assert_array_equal(yc, y)


def test_cutout_square_is_clipped_at_the_border():
  size = 4  # rows [cy - 2, cy + 2): a corner centre keeps a 2 x 2 square
  draws = [_CUTOUT_MASK(jax.random.key(i), (_N, _H, _W, _C), size)
           for i in range(30)]  # 1920 squares from the one compiled program
  mask = np.concatenate([np.asarray(m) for m, _ in draws])
  centres = np.concatenate([np.asarray(c) for _, c in draws])
  # Centres cover the whole image, corners included.
  assert centres.min() == 0
  assert centres[:, 0].max() == _H - 1 and centres[:, 1].max() == _W - 1
  areas = mask.sum(axis=(1, 2))
  want = [_np_square(c, size, _H, _W).sum() for c in centres]
  np.testing.assert_array_equal(areas, want)
  assert areas.max() == size * size and areas.min() < size * size
  assert areas.min() == 2 * 2


def test_cutout_size_zero_is_identity():
  x, y = _images()
  assert augment.cutout(jax.random.key(0), (x, y), 0)[0] is x


# --------------------------------------------------------------------------
# random crop


def test_random_crop_is_a_shifted_copy():
  x, y = _images()
  key, p = jax.random.key(2), 3
  xc, _ = _CROP(key, (x, y), p)
  assert xc.shape == x.shape
  offsets = np.asarray(_CROP_OFFSETS(key, _N, p))
  assert offsets.min() == 0 and offsets.max() == 2 * p
  # out[i, j] = x[i + dy - p, j + dx - p], zeros from outside the image.
  padded = np.pad(np.asarray(x), ((0, 0), (p, p), (p, p), (0, 0)))
  for n, (dy, dx) in enumerate(offsets):
    np.testing.assert_array_equal(xc[n], padded[n, dy:dy + _H, dx:dx + _W])


def test_random_crop_padding_zero_is_identity():
  x, y = _images()
  assert augment.random_crop(jax.random.key(0), (x, y), 0)[0] is x
  # The centre crop (dy, dx) = (p, p) is the image itself.
  np.testing.assert_array_equal(
      augment.crop_at(x, jnp.full((_N, 2), 2), 2), x)


# --------------------------------------------------------------------------
# flips


def test_flip_probability_one_and_zero():
  x, y = _images()
  key = jax.random.key(0)
  np.testing.assert_array_equal(_FLIP(key, (x, y), _f32(1))[0],
                                np.asarray(x)[:, :, ::-1])
  np.testing.assert_array_equal(_FLIP(key, (x, y), _f32(0))[0], x)
  assert augment.horizontal_flip(key, (x, y), 0.0)[0] is x  # static: skipped


def test_flip_follows_its_mask_and_undoes_itself():
  x, y = _images()
  key = jax.random.key(1)
  xf, _ = _FLIP(key, (x, y), _f32(0.5))
  flip = np.asarray(_FLIP_MASK(key, _N, _f32(0.5)))
  assert 0 < flip.sum() < _N
  want = np.where(flip[:, None, None, None], np.asarray(x)[:, :, ::-1], x)
  np.testing.assert_array_equal(xf, want)
  twice, _ = _FLIP(key, (xf, y), _f32(0.5))
  np.testing.assert_array_equal(twice, x)


# --------------------------------------------------------------------------
# brightness / contrast


@pytest.mark.parametrize('shape', [(_N, _H, _W, _C), (_N, 40)])
def test_brightness_contrast_matches_formula(shape):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  y = jnp.zeros(shape[0], jnp.int32)
  key, bright, contrast = jax.random.key(3), _f32(0.4), _f32(0.3)
  xj, _ = _JITTER(key, (x, y), bright, contrast)
  b, c = map(np.asarray, _JITTER_DRAWS(key, _N, bright, contrast))
  assert np.all(np.abs(b) <= 0.4) and np.all(np.abs(c - 1) <= 0.3)
  assert np.std(b) > 0.1 and np.std(c) > 0.1
  x64 = np.asarray(x, np.float64)
  for n in range(_N):
    m = x64[n].mean()  # over all pixels and channels of the image
    np.testing.assert_allclose(xj[n], (x64[n] - m) * c[n] + m + b[n],
                               rtol=1e-5, atol=1e-5)


def test_brightness_contrast_zero_strength_is_identity():
  x, y = _images()
  key = jax.random.key(0)
  assert augment.brightness_contrast(key, (x, y), 0.0, 0)[0] is x
  np.testing.assert_array_equal(_JITTER(key, (x, y), _f32(0), _f32(0))[0], x)


# --------------------------------------------------------------------------
# PCA lighting


def _correlated_pixels(n=_N, rank=3, seed=0):
  """3-channel images whose pixel covariance is A A^T (rank `rank`)."""
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(3, rank)) * np.array([2.0, 1.0, 0.3])[:rank]
  z = rng.normal(size=(n, _H, _W, rank))
  return (z @ a.T + np.array([0.5, -1.0, 2.0])).astype(np.float32)


def test_channel_pca_matches_eigh_of_the_covariance():
  x = _correlated_pixels(300)
  vals, vecs = augment.channel_pca(x, chunk=7)  # chunks must add up
  cov = np.cov(x.reshape(-1, 3).astype(np.float64), rowvar=False)
  want_vals, want_vecs = np.linalg.eigh(cov)
  np.testing.assert_allclose(vals, want_vals[::-1], rtol=1e-4)
  assert np.all(np.diff(vals) <= 0)
  # Eigenvectors up to sign.
  np.testing.assert_allclose(np.abs(np.sum(vecs * want_vecs[:, ::-1], 0)), 1,
                             rtol=1e-5)
  np.testing.assert_allclose(vecs @ np.diag(vals) @ vecs.T, cov, rtol=1e-4,
                             atol=1e-5)


def test_pca_lighting_shift_lies_in_the_span_with_the_right_scale():
  x = jnp.asarray(_correlated_pixels(rank=2))  # lambda_3 ~ 0
  vals, vecs = augment.channel_pca(x)
  key, std = jax.random.key(9), _f32(0.5)
  xl, _ = _LIGHTING(key, (x, jnp.zeros(_N, jnp.int32)), vals, vecs, std)
  delta = np.asarray(xl, np.float64) - np.asarray(x, np.float64)
  # The same shift at every pixel of an image.
  np.testing.assert_allclose(
      delta, np.broadcast_to(delta[:, :1, :1], delta.shape), atol=1e-5)
  shift = delta[:, 0, 0, :]
  alpha = np.asarray(_LIGHTING_DRAWS(key, _N, 3, std))
  assert 0.35 < alpha.std() < 0.65
  # Coordinates along the eigenvectors are alpha_i lambda_i; none along v_3.
  np.testing.assert_allclose(shift @ vecs, alpha * vals, rtol=1e-3, atol=1e-5)
  assert np.abs(shift @ vecs[:, 2]).max() < 1e-5


def test_pca_lighting_one_channel_is_a_brightness_shift():
  x, y = _images(c=1)
  vals, vecs = augment.channel_pca(x)
  np.testing.assert_allclose(vals, [np.var(np.asarray(x), ddof=1)], rtol=1e-4)
  np.testing.assert_allclose(np.abs(vecs), [[1.0]])
  key = jax.random.key(0)
  delta = np.asarray(_LIGHTING(key, (x, y), vals, vecs, _f32(0.2))[0] - x)
  alpha = _LIGHTING_DRAWS(key, _N, 1, _f32(0.2))
  want = alpha[:, 0] * vals[0] * vecs[0, 0]
  np.testing.assert_allclose(delta, np.broadcast_to(
      np.asarray(want)[:, None, None, None], delta.shape), rtol=1e-4, atol=1e-6)


def test_pca_lighting_std_zero_is_identity():
  x = jnp.asarray(_correlated_pixels())
  y = jnp.zeros(_N, jnp.int32)
  vals, vecs = augment.channel_pca(x)
  key = jax.random.key(0)
  assert augment.pca_lighting(key, (x, y), vals, vecs, 0.0)[0] is x
  np.testing.assert_array_equal(
      _LIGHTING(key, (x, y), vals, vecs, _f32(0))[0], x)


# --------------------------------------------------------------------------
# composition


def _config(**values):
  cfg = augment.default_augment_config()
  cfg.update(values)
  return cfg


_ALL_ON = dict(crop_padding=3, flip=True, brightness=0.2, contrast=0.3,
               pca_lighting=0.1, cutout_size=4, mixup_alpha=0.4)


# A fixed (eigvals, eigvecs): the stages only need one of the right shape.
_PCA = (np.array([2.0, 1.0, 0.5], np.float32), np.eye(3, dtype=np.float32))
_COMPOSED = jax.jit(augment.make_augment(
    _config(**_ALL_ON), num_classes=K, image_shape=(_H, _W, _C), pca=_PCA))

_AUGMENTATIONS = {
    'mixup': lambda k, b: _MIXUP(k, b, _f32(0.4), K),
    'cutout': lambda k, b: _CUTOUT(k, b, 4),
    'random_crop': lambda k, b: _CROP(k, b, 3),
    'horizontal_flip': lambda k, b: _FLIP(k, b, _f32(0.5)),
    'brightness_contrast': lambda k, b: _JITTER(k, b, _f32(.2), _f32(.3)),
    'pca_lighting': lambda k, b: _LIGHTING(k, b, *_PCA, _f32(0.3)),
    'make_augment': _COMPOSED,
}


@pytest.mark.parametrize('name', sorted(_AUGMENTATIONS))
def test_deterministic_for_a_key_differs_across_keys_and_jits(name):
  fn = _AUGMENTATIONS[name]  # each one jitted
  batch = _images(seed=1)
  k1, k2 = jax.random.key(11), jax.random.key(12)
  a, b = fn(k1, batch), fn(k1, batch)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[0], fn(k2, batch)[0])


def _by_hand(key, batch, mix=True):
  """The documented order, stage by stage, with the stage keys fold_in(key, i).

  Mixup by its formula with its own draws, so every program here is one the
  other tests compiled already.
  """
  stage = lambda i: jax.random.fold_in(key, i)
  b = _CROP(stage(0), batch, 3)
  b = _FLIP(stage(1), b, _f32(0.5))
  b = _JITTER(stage(2), b, _f32(0.2), _f32(0.3))
  b = _LIGHTING(stage(3), b, *_PCA, _f32(0.1))
  x, y = _CUTOUT(stage(4), b, 4)
  if not mix:
    return x, y
  lam, perm = _MIXUP_DRAWS(stage(5), x.shape[0], _f32(0.4))
  lam_x = lam[:, None, None, None]
  onehot = jax.nn.one_hot(y, K)
  return (lam_x * x + (1 - lam_x) * x[perm],
          lam[:, None] * onehot + (1 - lam[:, None]) * onehot[perm])


def test_make_augment_is_the_stages_in_order():
  batch = _images(seed=2)
  key = jax.random.key(5)
  got, want = _COMPOSED(key, batch), _by_hand(key, batch)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-7)
  assert not np.allclose(got[0], batch[0])


def test_make_augment_vmaps_over_keys():
  # Every stage but mixup (vmapped in the sweep test below), one key each.
  cfg = _config(**{**_ALL_ON, 'mixup_alpha': 0.0})
  fn = augment.make_augment(cfg, num_classes=K, image_shape=(_H, _W, _C),
                            pca=_PCA)
  batch = _images(seed=3)
  keys = [jax.random.key(1), jax.random.key(2)]
  xs, ys = jax.jit(jax.vmap(fn, in_axes=(0, None)))(jnp.stack(keys), batch)
  for i in range(2):
    want = _by_hand(keys[i], batch, mix=False)
    np.testing.assert_allclose(xs[i], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ys[i], batch[1])
  assert not np.allclose(xs[0], xs[1])


def test_make_augment_none_when_off():
  assert augment.make_augment(_config(tta='flips'), num_classes=K,
                              image_shape=(8, 8, 1)) is None
  with pytest.raises(ConfigError, match='augment.pca_lighting'):
    augment.make_augment(_config(pca_lighting=0.1), num_classes=K,
                         image_shape=(8, 8, 3))


def test_make_augment_sweeps_strengths_as_data_on_vectors_with_soft_labels():
  fn = augment.make_augment(_config(mixup_alpha=0.2, brightness=0.1),
                            num_classes=K, image_shape=(40,))
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(_N, 40)), jnp.float32)
  soft = jax.nn.softmax(jnp.asarray(rng.normal(size=(_N, K)), jnp.float32))
  key = jax.random.key(0)
  # A population of three as one program: (alpha, brightness) per member.
  run = jax.jit(jax.vmap(lambda a, b: fn(
      key, (x, soft), {'mixup_alpha': a, 'brightness': b})))
  xs, ys = run(jnp.array([0.0, 0.2, 0.2]), jnp.array([0.0, 0.0, 0.1]))
  # Traced zeros are exactly off.
  np.testing.assert_array_equal(xs[0], x)
  np.testing.assert_array_equal(ys[0], soft)
  # Soft in, soft out: the same convex combination as the inputs.
  lam, perm = _MIXUP_DRAWS(jax.random.fold_in(key, 5), _N, _f32(0.2))
  np.testing.assert_allclose(
      ys[1], lam[:, None] * soft + (1 - lam[:, None]) * soft[perm],
      rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(
      xs[1], lam[:, None] * x + (1 - lam[:, None]) * x[perm], rtol=1e-5,
      atol=1e-6)
  np.testing.assert_allclose(ys[1].sum(axis=1), 1.0, rtol=1e-6)
  # Brightness changes inputs, not labels.
  np.testing.assert_array_equal(ys[2], ys[1])
  assert not np.allclose(xs[2], xs[1])
  # Checked at trace time, so eval_shape (no compile) is enough.
  trace = lambda hp: jax.eval_shape(fn, key, (x, soft), hp)
  trace({'contrast': 0.1})  # its stage is built (brightness > 0)
  with pytest.raises(ConfigError, match='augment.pca_lighting'):
    trace({'pca_lighting': 0.1})  # off in the config: not built
  with pytest.raises(ConfigError, match='augment.cutout_size'):
    trace({'cutout_size': 2})


# --------------------------------------------------------------------------
# test-time augmentation


def _linear_model(seed=0, shape=(6, 7, 1)):
  rng = np.random.default_rng(seed)
  w = jnp.asarray(rng.normal(size=(int(np.prod(shape)), K)), jnp.float32)
  return lambda x: x.reshape(x.shape[0], -1) @ w


def test_tta_none_is_plain_evaluation():
  x, _ = _images(8, 6, 7, 1)
  f = _linear_model()
  views = augment.tta_views('none', (6, 7, 1))
  assert len(views) == 1
  np.testing.assert_array_equal(augment.tta_predict(f, x, views),
                                jax.nn.softmax(f(x)))
  jitted = jax.jit(lambda x: augment.tta_predict(f, x, views))(x)
  plain = jax.jit(lambda x: jax.nn.softmax(f(x)))(x)
  np.testing.assert_array_equal(jitted, plain)


def test_tta_flips_averages_two_views():
  x, _ = _images(8, 6, 7, 1)
  f = _linear_model()
  views = augment.tta_views('flips', (6, 7, 1))
  p = augment.tta_predict(f, x, views)
  want = (jax.nn.softmax(f(x)) + jax.nn.softmax(f(x[:, :, ::-1]))) / 2
  np.testing.assert_allclose(p, want, rtol=1e-6)
  np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
  assert not np.allclose(p, jax.nn.softmax(f(x)))
  # A flip-invariant model gets nothing from the flipped view.
  invariant = lambda x: f(x + x[:, :, ::-1])
  np.testing.assert_allclose(augment.tta_predict(invariant, x, views),
                             jax.nn.softmax(invariant(x)), rtol=1e-5)


def test_tta_crop_views_are_fixed_shifts():
  x, _ = _images(4, 6, 7, 2)
  xn = np.asarray(x)
  crops = augment.tta_views('crops', (6, 7, 2), padding=2)
  assert len(crops) == 5
  assert len(augment.tta_views('flips_crops', (6, 7, 2))) == 10
  padded = np.pad(xn, ((0, 0), (2, 2), (2, 2), (0, 0)))
  # identity, down, up, right, left: crops of the padded image.
  for view, (dy, dx) in zip(crops, [(2, 2), (0, 2), (4, 2), (2, 0), (2, 4)]):
    np.testing.assert_array_equal(view(x), padded[:, dy:dy + 6, dx:dx + 7])
  both = augment.tta_views('flips_crops', (6, 7, 2), padding=2)
  for plain, mirrored in zip(both[:5], both[5:]):
    np.testing.assert_array_equal(mirrored(x), np.asarray(plain(x))[:, :, ::-1])
  cfg = _config(tta='crops', crop_padding=2)
  views = augment.make_tta(cfg, image_shape=(6, 7, 2))
  np.testing.assert_array_equal(views[1](x), crops[1](x))


def test_tta_views_reject_bad_names_and_vectors():
  with pytest.raises(ConfigError, match='augment.tta'):
    augment.tta_views('rotations', (8, 8, 1))
  with pytest.raises(ConfigError, match='augment.tta'):
    augment.tta_views('flips', (40,))
  assert len(augment.tta_views('none', (40,))) == 1


# --------------------------------------------------------------------------
# validation


@pytest.mark.parametrize('key,value', [
    ('mixup_alpha', -0.1), ('mixup_alpha', 'big'), ('cutout_size', -1),
    ('cutout_size', 2.5), ('crop_padding', -2), ('crop_padding', True),
    ('flip', 'yes'), ('brightness', -0.2), ('contrast', 1.5),
    ('contrast', float('nan')), ('pca_lighting', -1.0), ('tta', 'rotations'),
])
def test_validate_rejects_bad_values_naming_the_key(key, value):
  # A fresh ConfigDict takes the types given (a --set override or a dict
  # could carry any), so the types are checked here, not by ConfigDict.
  values = augment.default_augment_config().to_dict()
  cfg = ml_collections.ConfigDict({**values, key: value})
  with pytest.raises(ConfigError, match=f'^augment.{key}:'):
    augment.validate_augment_config(cfg)


@pytest.mark.parametrize('key,value', [
    ('cutout_size', 4), ('crop_padding', 2), ('flip', True),
    ('pca_lighting', 0.1), ('tta', 'flips')])
def test_validate_rejects_image_augmentations_on_vectors(key, value):
  cfg = _config(**{key: value})
  augment.validate_augment_config(cfg, image_shape=(28, 28, 1))
  with pytest.raises(ConfigError, match=f'^augment.{key}:.*images'):
    augment.validate_augment_config(cfg, image_shape=(40,))


def test_validate_image_size_unknown_and_missing_keys():
  augment.validate_augment_config(augment.default_augment_config(),
                                  image_shape=(40,))
  augment.validate_augment_config(_config(mixup_alpha=0.2, brightness=0.1),
                                  image_shape=(40,))
  with pytest.raises(ConfigError, match='^augment.cutout_size:.*larger'):
    augment.validate_augment_config(_config(cutout_size=29),
                                    image_shape=(28, 28, 1))
  with pytest.raises(ConfigError, match='^augment.crop_padding:'):
    augment.validate_augment_config(_config(crop_padding=28),
                                    image_shape=(28, 28, 1))
  cfg = augment.default_augment_config()
  cfg.mixup = 0.2
  with pytest.raises(ConfigError, match='^augment.mixup:.*unknown'):
    augment.validate_augment_config(cfg)
  cfg = augment.default_augment_config()
  del cfg['tta']
  with pytest.raises(ConfigError, match='^augment.tta:.*missing'):
    augment.validate_augment_config(cfg)
