"""AdamW, NAdamW, Lion and Prodigy against Optax's and against their formulas.

As in test_optim_transforms.py: 100 steps of random float32 gradients on a
small pytree (a matrix and a vector), under a constant learning rate and a
warmup-cosine schedule; every step's update and parameters are compared.

Against Optax (both float32, the same definition): rtol = atol = 1e-6
(reached: 2e-7 AdamW / NAdamW, 7e-8 Lion). Prodigy's estimate d feeds its own
rounding back, so its whole runs drift apart by up to 1.1e-5 and are checked
at 1e-4, and each of its steps, Optax's taken from our state, at 1e-6.

Against a float64 NumPy version of the formula: AdamW, NAdamW and Lion over
the whole 100-step run with rtol = atol = 1e-5 (reached 6e-6: float32's 0.999
is 1.3e-5 off, so its bias correction sqrt(1 - b2^t) is 6e-6 off at t = 1).
Prodigy step by step instead: each step's float64 result from our float32
state, at the same 1e-5. Over a whole run float32 and float64 Prodigy drift
1e-4 (d0 = 1e-2) to 1e-1 (d0 = 1e-6) apart, Optax's as ours: its first steps
move the parameters by about d0, near float32's resolution of x, so
x_0 - x and with it d are known to float32 only roughly, and d then scales
every later step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

from optim_steps import (STEPS, assert_trees_close, lr_at, numpy_run,
                         run_steps)
from optim_steps import grads as grads_of
from optim_steps import params as params_of
from research.config.sections import optimizer_config
from research.errors import ConfigError
from research.optim import registry
from research.optim.adam import adam, nadam
from research.optim.adamw import adamw, nadamw
from research.optim.build import validate_optimizer_config
from research.optim.lion import lion
from research.optim.masks import weights_mask
from research.optim.prodigy import prodigy

TIGHT = dict(rtol=1e-6, atol=1e-6)  # ours vs Optax, both float32
# Prodigy's steps feed back into its estimate d, which amplifies rounding: a
# one-ulp difference in one update (XLA's, eager against jit) grows to 2e-6 to
# 1.1e-5 in 100 steps (6e-5 if Optax's runs eagerly too: its `b ** count` is
# then an integer power, ours a float one). So its whole runs are compared at
# 1e-4, and each of its steps, taken by Optax's from our state, at 1e-6.
PRODIGY_RUN = dict(rtol=1e-4, atol=1e-4)
LOOSE = dict(rtol=1e-5, atol=1e-5)  # ours (float32) vs NumPy (float64)


def _schedules(peak, init=0.0):
  return {'constant': peak,
          'warmup_cosine': optax.warmup_cosine_decay_schedule(init, peak, 10, STEPS)}


# Adam-like steps at 0.1; Lion's sign steps are lr on every coordinate, so a
# smaller rate (as its authors advise); Prodigy's rate is a multiplier of its
# own estimate, 1 recommended. Prodigy's warm-up starts at 0.01, not 0: from
# 0 Optax's d is 0/0 = NaN (see `test_prodigy_warmup_from_zero`).
LEARNING_RATES = {'adam': _schedules(0.1), 'lion': _schedules(0.01),
                  'prodigy': _schedules(1.0, init=0.01)}


# Prodigy's d grows only where the gradients keep pointing one way (on
# independent random ones it stays at d0 = 1e-6 and no step is larger than
# 1e-6, which any atol hides): its gradients are random ones plus the pull of
# a quadratic, g + PULL (p - TARGET), so d climbs by 6 orders of magnitude.
PULL = {'adam': 0.0, 'lion': 0.0, 'prodigy': 1.0}
TARGET = 2.0


def _run(tx, grads, jit=False, pull=0.0):
  """(updates, params) of every step, stacked, with the gradients plus the
  pull (p - TARGET); under jit with `jit`: Optax's Prodigy, eagerly, compiles
  an `integer_pow` for each of the 100 counts of its `beta ** count`."""
  steps = run_steps(tx, grads, update=jax.jit(tx.update) if jit else None,
                    pull=(lambda p: jax.tree.map(lambda x: pull * (x - TARGET), p))
                    if pull else None)
  return steps.updates, steps.params


# ---------------------------------------------------------------------------
# Against Optax: (family of learning rates, ours, Optax's), same definition.

WD = 0.1  # large enough that the decay shows in 100 steps

SAME_AS_OPTAX = {
    'adamw': ('adam', adamw, lambda lr: optax.adamw(lr, mask=weights_mask)),
    'adamw_every_leaf': (
        'adam', lambda lr: adamw(lr, b1=0.8, b2=0.99, eps=1e-3, weight_decay=WD,
                                 mask=None),
        lambda lr: optax.adamw(lr, b1=0.8, b2=0.99, eps=1e-3, weight_decay=WD)),
    'adamw_weights': ('adam', lambda lr: adamw(lr, weight_decay=WD),
                      lambda lr: optax.adamw(lr, weight_decay=WD, mask=weights_mask)),
    'nadamw': ('adam', nadamw, lambda lr: optax.nadamw(lr, mask=weights_mask)),
    'nadamw_every_leaf': (
        'adam', lambda lr: nadamw(lr, b1=0.8, b2=0.99, eps=1e-3, weight_decay=WD,
                                  mask=None),
        lambda lr: optax.nadamw(lr, b1=0.8, b2=0.99, eps=1e-3, weight_decay=WD)),
    'lion': ('lion', lion, lambda lr: optax.lion(lr, mask=weights_mask)),
    'lion_every_leaf': (
        'lion', lambda lr: lion(lr, b1=0.8, b2=0.95, weight_decay=WD, mask=None),
        lambda lr: optax.lion(lr, b1=0.8, b2=0.95, weight_decay=WD)),
    'prodigy': ('prodigy', prodigy, optax.contrib.prodigy),
    'prodigy_decay_every_leaf': (
        'prodigy', lambda lr: prodigy(lr, b1=0.8, b2=0.99, d_coef=0.5,
                                      weight_decay=WD, mask=None),
        lambda lr: optax.contrib.prodigy(lr, betas=(0.8, 0.99), estim_lr_coef=0.5,
                                         weight_decay=WD)),
    'prodigy_safeguard': (
        'prodigy', lambda lr: prodigy(lr, d0=1e-4, eps=1e-6, safeguard_warmup=True),
        lambda lr: optax.contrib.prodigy(lr, estim_lr0=1e-4, eps=1e-6,
                                         safeguard_warmup=True)),
    'prodigy_b3': (
        'prodigy', lambda lr: prodigy(lr, b3=0.9),
        lambda lr: optax.contrib.prodigy(lr, beta3=0.9)),
}


# Each optimizer at its defaults under both learning rates; its variants (other
# hyperparameters, the decay on every leaf) under the schedule; but Prodigy's
# safeguard under the constant rate: under the schedule its d grows only to
# 2e-3 (r still has the small warm-up rates in it, s no longer).
DEFAULT_CASES = ('adamw', 'nadamw', 'lion', 'prodigy')
OPTAX_CASES = [(case, lr_name) for case in sorted(SAME_AS_OPTAX)
               for lr_name in ('constant', 'warmup_cosine')
               if case in DEFAULT_CASES
               or lr_name == ('constant' if case == 'prodigy_safeguard'
                              else 'warmup_cosine')]


@pytest.mark.parametrize('case, lr_name', OPTAX_CASES)
def test_matches_optax(case, lr_name):
  family, ours, theirs = SAME_AS_OPTAX[case]
  lr = LEARNING_RATES[family][lr_name]
  grads = grads_of()
  ours, theirs = ours(lr), theirs(lr)
  our_updates, our_params = _run(ours, grads, pull=PULL[family])
  their_updates, their_params = _run(theirs, grads, jit=family == 'prodigy',
                                     pull=PULL[family])
  tol = PRODIGY_RUN if family == 'prodigy' else TIGHT
  assert_trees_close(our_updates, their_updates, **tol)
  assert_trees_close(our_params, their_params, **tol)
  if family == 'prodigy':
    _check_prodigy_steps_against_optax(ours, theirs)


def _check_prodigy_steps_against_optax(ours, theirs):
  """Each of our steps against Optax's taken from the same (our) state."""
  grads = grads_of()
  params = params_of()
  state = ours.init(params)
  their_update = jax.jit(theirs.update)
  for t in range(STEPS):
    g = jax.tree.map(lambda n, p: n[t] + PULL['prodigy'] * (p - TARGET),
                     grads, params)
    updates, new_state = ours.update(g, state, params)
    same = optax.contrib.ProdigyState(
        exp_avg=state.mu, exp_avg_sq=state.nu, grad_sum=state.s,
        params0=state.params0, estim_lr=state.d, numerator_weighted=state.r,
        count=state.count)
    their_updates, theirs_new = their_update(g, same, params)
    assert_trees_close(updates, their_updates, **TIGHT)
    # rtol 1e-6, and atol 1e-6 of each leaf's largest entry (a moment's
    # coordinate near 0 is a sum that cancels).
    jax.tree.map(
        lambda a, d: np.testing.assert_allclose(
            a, d, rtol=1e-6, atol=1e-6 * np.max(np.abs(d))),
        (new_state.mu, new_state.nu, new_state.s, new_state.d, new_state.r),
        (theirs_new.exp_avg, theirs_new.exp_avg_sq, theirs_new.grad_sum,
         theirs_new.estim_lr, theirs_new.numerator_weighted))
    params = optax.apply_updates(params, updates)
    state = new_state


# ---------------------------------------------------------------------------
# Against the formulas, in float64 NumPy.


def _zeros2(p):
  return np.zeros_like(p), np.zeros_like(p)


def _adamw_step(b1, b2, eps, wd, nesterov):
  def step(p, g, state, lr, t):
    decays = p.ndim >= 2  # the default mask: weight matrices
    m, v = state
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    if nesterov:
      m_hat = b1 * m / (1 - b1**(t + 1)) + (1 - b1) * g / (1 - b1**t)
    else:
      m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    direction = m_hat / (np.sqrt(v_hat) + eps) + (wd * p if decays else 0.0)
    return p - lr * direction, (m, v)
  return step


@pytest.mark.parametrize('lr_name', ['constant', 'warmup_cosine'])
@pytest.mark.parametrize('nesterov', [False, True], ids=['adamw', 'nadamw'])
def test_adamw_and_nadamw_match_their_formula(nesterov, lr_name):
  b1, b2, eps = 0.9, 0.999, 1e-8
  lr = LEARNING_RATES['adam'][lr_name]
  grads = grads_of()
  factory = nadamw if nesterov else adamw
  _, ours = _run(factory(lr, b1, b2, eps, weight_decay=WD), grads)
  expected = numpy_run(_adamw_step(b1, b2, eps, WD, nesterov), grads, lr, _zeros2)
  assert_trees_close(ours, expected, **LOOSE)


@pytest.mark.parametrize('lr_name', ['constant', 'warmup_cosine'])
def test_lion_matches_its_formula(lr_name):
  b1, b2 = 0.9, 0.99

  def step(p, g, m, lr, t):
    decays = p.ndim >= 2
    del t  # u = sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g; p -= lr (u + wd p)
    u = np.sign(b1 * m + (1 - b1) * g)
    m = b2 * m + (1 - b2) * g
    return p - lr * (u + (WD * p if decays else 0.0)), m

  lr = LEARNING_RATES['lion'][lr_name]
  grads = grads_of()
  _, ours = _run(lion(lr, b1, b2, weight_decay=WD), grads)
  expected = numpy_run(step, grads, lr, np.zeros_like)
  assert_trees_close(ours, expected, **LOOSE)


def _numpy_prodigy_step(state, x, g, gamma, t, b1=0.9, b2=0.999, eps=1e-8,
                        d0=1e-6, d_coef=1.0, wd=0.0, safeguard_warmup=False):
  """One Prodigy step in float64 from `state` (a float64 copy of ours) on the
  whole tree at once (d is global): the docstring's equations, with Optax's
  bias correction. Returns the update and the new (m, v, s, d, r)."""
  b3 = np.sqrt(b2)
  d, r = state['d'], state['r']
  lam = gamma * d * np.sqrt(1 - b2**t) / (1 - b1**t)
  weight = d / d0 * lam
  r_new = b3 * r + weight * sum(np.sum(g[i] * (state['x0'][i] - x[i])) for i in x)
  # What float32 can know r to: its terms' magnitude (they cancel), in ulps.
  r_error = 1e-6 * (b3 * abs(r) + weight * sum(
      np.sum(np.abs(g[i] * (state['x0'][i] - x[i]))) for i in x))
  r = r_new
  m = {i: b1 * state['m'][i] + (1 - b1) * d * g[i] for i in x}
  v = {i: b2 * state['v'][i] + (1 - b2) * d**2 * g[i]**2 for i in x}
  s = {i: b3 * state['s'][i] + d / d0 * (d if safeguard_warmup else lam) * g[i]
       for i in x}
  norm = sum(np.sum(np.abs(s[i])) for i in x)
  new_d = max(d, d_coef * r / norm) if norm > 0 else d
  update = {i: -lam * (m[i] / (np.sqrt(v[i]) + d * eps) + wd * x[i]) for i in x}
  d_error = d_coef * r_error / norm if norm > 0 else 0.0
  return update, dict(m=m, v=v, s=s, d=new_d, r=r, r_error=r_error,
                      d_error=d_error)


def _float64(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


STEP_TOL = 1e-5


def _assert_step_close(actual, desired):
  """rtol 1e-5, and atol 1e-5 of the largest entry: a coordinate of m near 0
  (a sum that cancels) is known to float32 only relative to its terms."""
  np.testing.assert_allclose(actual, desired, rtol=STEP_TOL,
                             atol=STEP_TOL * np.max(np.abs(desired)))


def _check_prodigy_steps(learning_rate, **kw):
  """Runs our Prodigy for STEPS steps and checks each against the float64
  step taken from our own state (ours vs the formula, step by step: over a
  whole run float32 and float64 Prodigy drift 1e-4 to 1e-1 apart, see the
  module docstring). Returns our updates and states."""
  ours_kw = {('weight_decay' if k == 'wd' else k): v for k, v in kw.items()}
  tx = prodigy(learning_rate, mask=None, **ours_kw)
  grads = grads_of()
  params = params_of()
  state = tx.init(params)
  updates_seq, states = [], [state]
  for t in range(STEPS):
    g = jax.tree.map(lambda n, p: n[t] + PULL['prodigy'] * (p - TARGET),
                     grads, params)
    updates, new_state = tx.update(g, state, params)
    before = dict(m=_float64(state.mu), v=_float64(state.nu), s=_float64(state.s),
                  x0=_float64(state.params0), d=float(state.d), r=float(state.r))
    expected_update, expected = _numpy_prodigy_step(
        before, _float64(params), _float64(g), lr_at(learning_rate, t), t + 1, **kw)
    for i in params:
      _assert_step_close(updates[i], expected_update[i])
      for ours_, key in ((new_state.mu, 'm'), (new_state.nu, 'v'), (new_state.s, 's')):
        _assert_step_close(ours_[i], expected[key][i])
    # r sums terms that cancel: it is checked to 10 ulps of its terms' size,
    # and d = r / ||s||_1 to what that leaves.
    np.testing.assert_allclose(new_state.r, expected['r'], rtol=1e-5,
                               atol=10 * expected['r_error'])
    np.testing.assert_allclose(new_state.d, expected['d'], rtol=1e-5,
                               atol=10 * expected['d_error'])
    params = optax.apply_updates(params, updates)
    state = new_state
    updates_seq.append(updates)
    states.append(state)
  return updates_seq, states


PRODIGY_CASES = {
    'defaults': {},
    'decay_safeguard': dict(b1=0.8, b2=0.99, d0=1e-4, d_coef=2.0, wd=WD,
                            safeguard_warmup=True),
}


@pytest.mark.parametrize('lr_name', ['constant', 'warmup_cosine'])
@pytest.mark.parametrize('case', sorted(PRODIGY_CASES))
def test_prodigy_matches_its_formula(case, lr_name):
  kw = PRODIGY_CASES[case]
  _, states = _check_prodigy_steps(LEARNING_RATES['prodigy'][lr_name], **kw)
  assert float(states[-1].d) > 1e4 * kw.get('d0', 1e-6) or (
      float(states[-1].d) > 0.5)  # the estimate has grown: the steps are real


def test_prodigy_estimate_grows_and_stays_a_maximum():
  # d_k never decreases, and on consistent gradients (a quadratic) it climbs
  # from d0 = 1e-6 by orders of magnitude within 50 steps.
  target = {'w': jnp.ones((4, 3)), 'b': jnp.ones(3)}
  loss = lambda p: sum(jnp.sum((p[k] - target[k]) ** 2) for k in p)
  tx = prodigy(1.0)

  @jax.jit
  def step(params, state):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    return optax.apply_updates(params, updates), state

  params = jax.tree.map(jnp.zeros_like, target)
  state = tx.init(params)
  ds = [float(state.d)]
  for _ in range(50):
    params, state = step(params, state)
    ds.append(float(state.d))
  assert all(b >= a for a, b in zip(ds, ds[1:]))
  assert ds[-1] > 1e3 * ds[0], ds[-1]


def test_prodigy_warmup_from_zero():
  # At gamma_0 = 0, ||s||_1 = 0: d stays d0 (as the authors' PyTorch code),
  # where Optax divides 0 by 0 and its d, and its steps, are NaN from then on.
  # Otherwise the same as the formula.
  lr = optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, STEPS)
  updates, states = _check_prodigy_steps(lr)
  assert not any(np.any(u) for u in jax.tree.leaves(updates[0]))  # gamma_0 = 0
  assert states[1].d == np.float32(1e-6) and float(states[-1].d) > 0.5
  assert all(np.all(np.isfinite(u)) for u in jax.tree.leaves(updates))


# ---------------------------------------------------------------------------
# Weight decay: on weights only, and nothing when zero.


@pytest.mark.parametrize('name', ['adamw', 'nadamw', 'lion', 'prodigy'])
def test_weight_decay_hits_weights_not_biases(name):
  # The first step with and without decay: the bias's updates are the same,
  # the matrix's differ by exactly -lr * wd * p (-lambda_0 wd p for Prodigy,
  # whose step lambda_0 = gamma d0 sqrt(1 - b2) / (1 - b1)).
  lr, wd = 0.1, 0.5
  params = params_of()
  g = jax.tree.map(lambda x: x[0], grads_of())
  with_decay = registry.get(name, lr, weight_decay=wd)
  without = registry.get(name, lr, weight_decay=0.0)
  u1, _ = with_decay.update(g, with_decay.init(params), params)
  u0, _ = without.update(g, without.init(params), params)
  np.testing.assert_array_equal(u1['b'], u0['b'])
  step = lr * (1e-6 * np.sqrt(1 - 0.999) / (1 - 0.9) if name == 'prodigy' else 1)
  np.testing.assert_allclose(u1['w'] - u0['w'], -step * wd * params['w'],
                             rtol=1e-5, atol=1e-12)
  assert np.all(u1['w'] != u0['w'])


@pytest.mark.parametrize('pair', [(adamw, adam), (nadamw, nadam)],
                         ids=['adamw', 'nadamw'])
def test_zero_weight_decay_is_adam_exactly(pair):
  # Bit for bit, under a schedule, with the (zero) decay on every leaf.
  with_decay, plain = pair
  lr = LEARNING_RATES['adam']['warmup_cosine']
  grads = grads_of()
  ours = _run(with_decay(lr, weight_decay=0.0, mask=None), grads)
  expected = _run(plain(lr), grads)
  jax.tree.map(np.testing.assert_array_equal, ours, expected)


def _optimizer_section(name, weight_decay, own_weight_decay):
  c = optimizer_config()
  c.name = name
  c.weight_decay = weight_decay
  c.hparams.weight_decay = own_weight_decay
  return c


@pytest.mark.parametrize('name', ['adamw', 'nadamw', 'lion', 'prodigy'])
def test_own_and_chain_weight_decay_are_refused_together(name):
  # Both are p -= lr wd p on the weights: they would add up unseen.
  with pytest.raises(ConfigError, match=r'^optimizer\.weight_decay: .*'
                     r'optimizer\.hparams\.weight_decay=0\.1'):
    validate_optimizer_config(_optimizer_section(name, 0.01, 0.1))
  # One of the two at 0 is fine.
  assert validate_optimizer_config(
      _optimizer_section(name, 0.01, 0.0))['weight_decay'] == 0.0
  assert validate_optimizer_config(
      _optimizer_section(name, 0.0, 0.1))['weight_decay'] == 0.1
