"""Muon and SOAP, step by step: against optax.contrib.muon, and against float64
NumPy versions of their formulas.

The pytree is a (16, 8) matrix, an (8,) vector and an (8, 16) matrix (both
orientations: Newton-Schulz transposes a tall matrix, and SOAP's left and
right factors swap sizes), with random float32 gradients; every step's update
is compared. Tolerances are on updates of order lr = 0.1.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

from optim_steps import run_steps
from research.errors import ConfigError
from research.optim import entry
from research.optim import names as optim_names
from research.optim.muon import (NS_COEFFS, muon, muon_labels, newton_schulz,
                                 scale_by_orthogonalized_momentum)
from research.optim.soap import scale_by_soap_matrices, soap, soap_labels
from research.train.population import train_population
from train_helpers import tiny_config
from research.optim.adam import scale_by_adam, scale_by_nadam

LR = 0.1
SHAPES = {'tall': (16, 8), 'vector': (8,), 'wide': (8, 16)}
# Ours against Optax, both float32, the same operations: float32 rounding
# (reached: 1e-7 on updates up to 0.15).
TIGHT = dict(rtol=1e-6, atol=1e-6)
# Ours (float32) against the float64 formulas. Muon reached 1.6e-7 on the
# matrices and 1.3e-6 on the vector (Adam's 1 - b2^t for b2 = 0.999 formed
# in float32 is 1.3e-5 off, as in Optax's). SOAP reached 1.6e-8 on the vector
# and 3.2e-7 on the matrices. Its margin is wider: a rotated entry much
# smaller than its matrix carries float32's absolute rounding of the
# rotation, relatively large, and Adam's division by sqrt(v) passes that on
# (another draw of gradients had an entry at 4e-4 of the scale: 6e-6).
MUON_NUMPY = dict(rtol=5e-6, atol=5e-6)
SOAP_NUMPY = dict(rtol=2e-5, atol=2e-5)


def _normal(seed, shape):
  # NumPy's generator: no JAX kernels to compile for the data.
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _params():
  return {name: jnp.asarray(_normal(i, shape))
          for i, (name, shape) in enumerate(SHAPES.items())}


def _grads(steps, seed=1):
  """`steps` random float32 gradients per leaf, stacked along a leading axis."""
  return {name: _normal((seed, i), (steps, *shape))
          for i, (name, shape) in enumerate(SHAPES.items())}


def _run(tx, grads, steps, params=None, update=None, state=None, start=0):
  """The updates, stacked per leaf, and the state after each step (the
  update jitted unless given)."""
  out = run_steps(tx, grads, _params() if params is None else params,
                  steps=steps, update=update or jax.jit(tx.update), state=state,
                  start=start)
  return out.updates, out.states


STEPS = 30  # Muon
SOAP_STEPS = 40


@functools.cache
def _muon_updates(nesterov: bool, ours: bool = True):
  tx = (muon if ours else optax.contrib.muon)(LR, nesterov=nesterov)
  return _run(tx, _grads(STEPS), STEPS)[0]


@jax.jit
def _soap_update(grads, state, params, frequency):
  # The frequency traced, so every test shares one compiled step.
  return soap(LR, precondition_frequency=frequency).update(
      grads, state, params)


@functools.cache
def _soap_run(frequency: int):
  tx = soap(LR)
  update = lambda g, s, p: _soap_update(g, s, p, frequency)
  return _run(tx, _grads(SOAP_STEPS), SOAP_STEPS, update=update)


def _assert_close(actual, desired, **tol):
  for name in desired:
    np.testing.assert_allclose(actual[name], desired[name], err_msg=name, **tol)


# ---------------------------------------------------------------------------
# Float64 NumPy formulas, one leaf at a time: `fn(g_seq) -> updates`.


def _adam_numpy(g_seq, b1, b2, eps, nesterov=False):
  m = v = np.zeros_like(g_seq[0])
  out = []
  for t, g in enumerate(g_seq, start=1):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    if nesterov:  # optax.nadam's look-ahead
      m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
    else:
      m_hat = m / (1 - b1 ** t)
    out.append(-LR * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps))
  return np.stack(out)


def _newton_schulz_numpy(x, steps=5, eps=1e-8):
  a, b, c = NS_COEFFS
  tall = x.shape[0] > x.shape[1]
  x = x.T if tall else x
  x = x / (np.linalg.norm(x) + eps)
  for _ in range(steps):
    gram = x @ x.T
    x = a * x + (b * gram + c * gram @ gram) @ x
  return x.T if tall else x


def _muon_numpy(g_seq, beta=0.95, nesterov=True, eps=1e-8):
  fan_in, fan_out = g_seq.shape[1:]
  scale = np.sqrt(max(1.0, fan_out / fan_in))
  m = np.zeros_like(g_seq[0])
  out = []
  for t, g in enumerate(g_seq, start=1):
    m = beta * m + (1 - beta) * g
    if nesterov:
      m_hat = beta * m / (1 - beta ** (t + 1)) + (1 - beta) * g / (1 - beta ** t)
    else:
      m_hat = m / (1 - beta ** t)
    out.append(-LR * scale * _newton_schulz_numpy(m_hat, eps=eps))
  return np.stack(out)


def _eigenbasis_numpy(matrix):
  _, vectors = np.linalg.eigh(matrix)
  return vectors[:, ::-1]


def _refresh_numpy(matrix, basis, nu, axis):
  order = np.argsort(-np.diag(basis.T @ matrix @ basis))
  basis, nu = basis[:, order], np.take(nu, order, axis=axis)
  return np.linalg.qr(matrix @ basis)[0], nu


def _soap_numpy(g_seq, b1=0.95, b2=0.95, eps=1e-8, frequency=10,
                first_bases=None, rotate=(True, True)):
  """SOAP on one matrix. The first step's update is zero and only starts L, R
  and the bases: by eigh here, or `first_bases` (see the test). A side not
  in `rotate` keeps the identity (one-sided SOAP)."""
  rows, cols = g_seq.shape[1:]
  m, v = np.zeros((rows, cols)), np.zeros((rows, cols))
  left, right = np.zeros((rows, rows)), np.zeros((cols, cols))
  out = [np.zeros((rows, cols))]
  g = g_seq[0]
  left, right = (1 - b2) * g @ g.T, (1 - b2) * g.T @ g
  q_left, q_right = first_bases or (_eigenbasis_numpy(left), _eigenbasis_numpy(right))
  for t, g in enumerate(g_seq[1:], start=1):  # Adam's step t
    rotated = q_left.T @ g @ q_right
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * rotated ** 2
    m_hat = q_left.T @ m @ q_right / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    out.append(-LR * q_left @ (m_hat / (np.sqrt(v_hat) + eps)) @ q_right.T)
    left = b2 * left + (1 - b2) * g @ g.T
    right = b2 * right + (1 - b2) * g.T @ g
    if t % frequency == 0:
      if rotate[0]:
        q_left, v = _refresh_numpy(left, q_left, v, 0)
      if rotate[1]:
        q_right, v = _refresh_numpy(right, q_right, v, 1)
  return np.stack(out)


# ---------------------------------------------------------------------------
# Muon


@pytest.mark.parametrize('nesterov', [True, False])
def test_muon_matches_optax_contrib_muon_every_step(nesterov):
  # The same definition: Nadam-style debiased Nesterov momentum, Frobenius
  # normalization, 5 quintic steps, width scale sqrt(max(1, out/in)), and
  # (N)Adam with Muon's learning rate and eps on the vector.
  _assert_close(_muon_updates(nesterov), _muon_updates(nesterov, ours=False),
                **TIGHT)


@pytest.mark.parametrize('nesterov', [True, False])
def test_muon_matches_its_formula_in_float64(nesterov):
  g64 = {k: np.asarray(v, np.float64) for k, v in _grads(STEPS).items()}
  expected = {
      'tall': _muon_numpy(g64['tall'], nesterov=nesterov),
      'wide': _muon_numpy(g64['wide'], nesterov=nesterov),
      'vector': _adam_numpy(g64['vector'], 0.9, 0.999, 1e-8, nesterov=nesterov),
  }
  _assert_close(_muon_updates(nesterov), expected, **MUON_NUMPY)


def _with_singular_values(shape, singular, seed=3):
  """A random matrix of `shape` with the given singular values."""
  rank = min(shape)
  u, _ = np.linalg.qr(_normal((seed, 0), (shape[0], rank)))
  v, _ = np.linalg.qr(_normal((seed, 1), (shape[1], rank)))
  return jnp.asarray((u * singular) @ v.T, jnp.float32)


@pytest.mark.parametrize('shape', [(16, 8), (8, 16), (32, 4)])
def test_newton_schulz_brings_singular_values_into_a_band_around_one(shape):
  # Singular values spread over 10x (smallest / Frobenius norm ~ 0.05):
  # after 5 quintic steps all lie in the band, about [0.7, 1.2].
  spread = np.geomspace(1.0, 10.0, min(shape))
  for x in (jnp.asarray(_normal(3, shape)),
            _with_singular_values(shape, spread)):
    singular = np.linalg.svd(np.asarray(newton_schulz(x)),
                             compute_uv=False)
    assert singular.min() > 0.65 and singular.max() < 1.2, singular


def test_muon_mask_sends_the_vector_to_adam():
  assert muon_labels(_params()) == {'tall': 'muon', 'vector': 'adam',
                                             'wide': 'muon'}
  grads = {'vector': _grads(STEPS)['vector']}
  params = {'vector': _params()['vector']}
  for nesterov, adam in ((True, scale_by_nadam), (False, scale_by_adam)):
    tx = optax.chain(adam(0.9, 0.999, 1e-8), optax.scale_by_learning_rate(LR))
    alone, _ = _run(tx, grads, STEPS, params=params, update=tx.update)
    # Eager against jitted: float32 rounding apart.
    np.testing.assert_allclose(_muon_updates(nesterov)['vector'],
                               alone['vector'], **TIGHT)


def test_muon_mask_on_an_mlp_with_batchnorm():
  # Kernels to Muon; biases and BatchNorm's scale and bias to Adam.
  from research.models import MLP
  model = MLP(num_classes=3, hidden=(5, 4), batchnorm='before')
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, 6)))
  labels = jax.tree_util.tree_flatten_with_path(
      muon_labels(shapes['params']))[0]
  names = [jax.tree_util.keystr(path) for path, _ in labels]
  assert any('BatchNorm' in name for name in names), names
  for name, (_, label) in zip(names, labels):
    assert label == ('muon' if 'kernel' in name else 'adam'), name


def test_orthogonalized_momentum_refuses_vectors():
  with pytest.raises(ValueError, match='2-D'):
    scale_by_orthogonalized_momentum().init(_params())


# ---------------------------------------------------------------------------
# SOAP


def _soap_inner(state):
  """The matrices' ScaleBySoapState inside soap's chain/partition state."""
  return state[0].inner_states['soap'].inner_state


def _replace_soap_inner(state, **fields):
  partition, rest = state[0], state[1:]
  masked = partition.inner_states['soap']
  inner = masked._replace(inner_state=masked.inner_state._replace(**fields))
  states = dict(partition.inner_states, soap=inner)
  return (partition._replace(inner_states=states), *rest)


@pytest.mark.parametrize('frequency', [10, 3])
def test_soap_matches_its_formula_in_float64(frequency):
  # 40 steps: the bases are refreshed (QR) after Adam's steps 10, 20, 30 (3,
  # 6, ... with frequency 3). The first bases come from eigh of the first
  # L = (1-b2) G G^T, of rank <= 8: for the 16-row side half its
  # eigenvalues are 0, and eigh's basis of that eigenspace is arbitrary
  # (float32 and float64 LAPACK pick different ones). So the float64 formula
  # starts from our first bases (checked to be eigenbases of L and R in the
  # next test); everything after is computed independently.
  ours, states = _soap_run(frequency)
  first = _soap_inner(states[0])
  g64 = {k: np.asarray(v, np.float64) for k, v in _grads(SOAP_STEPS).items()}
  expected = {'vector': _adam_numpy(g64['vector'], 0.95, 0.95, 1e-8)}
  for name in ('tall', 'wide'):
    bases = tuple(np.asarray(q[name], np.float64)
                  for q in (first.q_left, first.q_right))
    expected[name] = _soap_numpy(g64[name], frequency=frequency,
                                 first_bases=bases)
  _assert_close(ours, expected, **SOAP_NUMPY)
  # The bases stay orthonormal through the refreshes.
  last = _soap_inner(states[-1])
  for name in ('tall', 'wide'):
    for q in (last.q_left[name], last.q_right[name]):
      np.testing.assert_allclose(q.T @ q, np.eye(q.shape[0]), atol=1e-5)


def test_soap_first_step_sets_eigenbases_and_moves_no_matrix():
  updates, states = _soap_run(10)
  inner = _soap_inner(states[0])
  grads = _grads(SOAP_STEPS)
  for name in ('tall', 'wide'):
    assert not np.any(updates[name][0]) and np.all(updates[name][1] != 0)
    g = np.asarray(grads[name][0], np.float64)
    for factor, q in ((0.05 * g @ g.T, inner.q_left[name]),
                      (0.05 * g.T @ g, inner.q_right[name])):
      q = np.asarray(q, np.float64)
      np.testing.assert_allclose(q.T @ q, np.eye(len(q)), atol=1e-5)
      rotated = q.T @ factor @ q  # diagonal, decreasing
      diagonal = np.diag(rotated)
      np.testing.assert_allclose(rotated, np.diag(diagonal),
                                 atol=1e-5 * diagonal.max())
      assert np.all(np.diff(diagonal) <= 1e-5 * diagonal.max())
  # The vector's Adam has taken its first step.
  assert np.all(updates['vector'][0] != 0)
  assert soap_labels(_params()) == {'tall': 'soap', 'vector': 'adam',
                                             'wide': 'soap'}


def test_soap_with_identity_bases_and_no_refresh_is_adam():
  # With Q_L = Q_R = I kept (precondition_frequency beyond the run), SOAP's
  # matrix update is Adam's, elementwise: after the first step (which sets
  # the bases), replace them by identities; steps 2.. are then Adam's steps
  # 1.. on gradients 2.. .
  steps, never = 30, 1000
  grads = _grads(steps)
  params = _params()
  _, states = _soap_run(10)
  first = _soap_inner(states[0])
  identity = lambda bases: dict(bases, **{k: jnp.eye(len(bases[k]))
                                          for k in ('tall', 'wide')})
  state = _replace_soap_inner(states[0], q_left=identity(first.q_left),
                              q_right=identity(first.q_right))
  update = lambda g, s, p: _soap_update(g, s, p, never)
  ours, states = _run(None, grads, steps, params=params, update=update,
                      state=state, start=1)
  tx = optax.chain(scale_by_adam(0.95, 0.95, 1e-8),
                   optax.scale_by_learning_rate(LR))
  matrices = {k: grads[k][1:] for k in ('tall', 'wide')}
  adam, _ = _run(tx, matrices, steps - 1, params={k: params[k] for k in matrices},
                 update=tx.update)
  _assert_close({k: ours[k] for k in matrices}, adam, **TIGHT)
  for q in (*_soap_inner(states[-1]).q_left.values(),
            *_soap_inner(states[-1]).q_right.values()):
    if hasattr(q, 'shape'):
      np.testing.assert_array_equal(q, jnp.eye(q.shape[0]))


def test_soap_matrices_refuses_vectors():
  with pytest.raises(ValueError, match='2-D'):
    scale_by_soap_matrices().init(_params())


def test_an_optimizer_that_cannot_vmap_is_refused_as_a_population(tmp_path, monkeypatch):
  # SOAP vmaps now (tests/test_parallel.py trains it as a population on 8
  # devices); the registry's `vmaps` field still guards any that does not.
  assert [n for n in optim_names() if not entry(n).vmaps] == []
  from research.train import population  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(population.optim, 'entry',
                      lambda n: dataclasses.replace(entry(n), vmaps=n != 'soap'))
  with pytest.raises(ConfigError, match=r"^optimizer.name: 'soap' cannot train "
                     'as a vmapped population'):
    train_population([tiny_config('optimizer.name=soap',
                                  f'tracking.output_dir={tmp_path}')])
  assert not any(tmp_path.iterdir())


def test_one_sided_soap_keeps_the_identity_on_sides_over_max_precond_dim():
  # max_precond_dim 8: 'tall' (16 x 8) is rotated on the right only, 'wide'
  # (8 x 16) on the left only; 0: neither, which is Adam.
  grads = _grads(SOAP_STEPS)
  g64 = {k: np.asarray(v, np.float64) for k, v in grads.items()}
  ours, states = _run(soap(LR, max_precond_dim=8), grads, SOAP_STEPS)
  first = _soap_inner(states[0])
  assert first.q_left['tall'] is None and first.left['tall'] is None
  assert first.q_right['wide'] is None and first.right['wide'] is None
  expected = {'vector': _adam_numpy(g64['vector'], 0.95, 0.95, 1e-8)}
  for name, rotate in (('tall', (False, True)), ('wide', (True, False))):
    bases = tuple(np.eye(n) if q[name] is None else np.asarray(q[name], np.float64)
                  for q, n in ((first.q_left, SHAPES[name][0]),
                               (first.q_right, SHAPES[name][1])))
    expected[name] = _soap_numpy(g64[name], first_bases=bases, rotate=rotate)
  _assert_close(ours, expected, **SOAP_NUMPY)
  # Neither side: Adam from the second step on (the first only counts).
  adam_like, _ = _run(soap(LR, max_precond_dim=0), grads, SOAP_STEPS)
  for name in ('tall', 'wide'):
    np.testing.assert_allclose(adam_like[name][0], 0.0)
    np.testing.assert_allclose(
        adam_like[name][1:], _adam_numpy(g64[name][1:], 0.95, 0.95, 1e-8),
        **SOAP_NUMPY)
