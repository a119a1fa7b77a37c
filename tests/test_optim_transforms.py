"""The project's optimizers against Optax's built-ins and against their formulas.

Each runs 100 steps of random float32 gradients on a small pytree (a matrix and
a vector), with a constant learning rate and under schedules; every step's
update is compared. Where the Optax built-in has the same definition the match
is to float32 rounding, checked with rtol = atol = 1e-6 (the updates are of
order lr = 0.1). The NumPy references run in float64 and are checked with
rtol = 1e-5, atol = 1e-6: 100 steps of float32 accumulation.
"""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optim_steps import STEPS, assert_trees_close, numpy_run, run_steps
from optim_steps import grads as grads_of
from research import optim

LR = 0.1
TIGHT = dict(rtol=1e-6, atol=1e-6)  # ours vs Optax, both float32
LOOSE = dict(rtol=1e-5, atol=1e-5)  # ours (float32) vs NumPy (float64)

LEARNING_RATES = {
    'constant': LR,
    'warmup_cosine': optax.warmup_cosine_decay_schedule(0.0, LR, 10, STEPS),
}


# (ours, Optax's) as functions of the learning rate: the same definition.
SAME_AS_OPTAX = {
    'sgd': (optim.sgd, optax.sgd),
    'momentum': (lambda lr: optim.momentum(lr, momentum=0.9),
                 lambda lr: optax.sgd(lr, momentum=0.9)),
    'momentum_0.5': (lambda lr: optim.momentum(lr, momentum=0.5),
                     lambda lr: optax.sgd(lr, momentum=0.5)),
    'nesterov': (lambda lr: optim.nesterov(lr, momentum=0.9),
                 lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True)),
    # Optax's AdaGrad puts eps inside the root, g / sqrt(G + eps), and ours
    # outside, g / (sqrt(G) + eps): they agree only for eps = 0 (the NumPy
    # test below checks eps > 0). Optax's default G_0 is 0.1, ours 0.
    'adagrad': (lambda lr: optim.adagrad(lr, eps=0.0),
                     lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0,
                                              eps=0.0)),
    'adagrad_g0': (lambda lr: optim.adagrad(lr, eps=0.0, initial_accumulator=0.1),
                        lambda lr: optax.adagrad(lr, initial_accumulator_value=0.1,
                                                 eps=0.0)),
    # Optax's rmsprop default is eps inside the root; ours is outside.
    'rmsprop': (lambda lr: optim.rmsprop(lr, decay=0.9, eps=1e-8),
                lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-8,
                                         eps_in_sqrt=False)),
    'rmsprop_large_eps': (lambda lr: optim.rmsprop(lr, decay=0.99, eps=0.1),
                          lambda lr: optax.rmsprop(lr, decay=0.99, eps=0.1,
                                                   eps_in_sqrt=False)),
    # With eps_in_sqrt (the slides' form), both agree with Optax at eps > 0.
    'adagrad_eps_in_sqrt': (
        lambda lr: optim.adagrad(lr, eps=1e-2, initial_accumulator=0.1,
                                 eps_in_sqrt=True),
        lambda lr: optax.adagrad(lr, initial_accumulator_value=0.1, eps=1e-2)),
    'rmsprop_eps_in_sqrt': (
        lambda lr: optim.rmsprop(lr, decay=0.9, eps=1e-2, eps_in_sqrt=True),
        lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-2, eps_in_sqrt=True)),
    'adadelta': (lambda lr: optim.adadelta(lr, decay=0.95, eps=1e-6),
                 lambda lr: optax.adadelta(lr, rho=0.95, eps=1e-6)),
    'adadelta_0.9_1e-3': (lambda lr: optim.adadelta(lr, decay=0.9, eps=1e-3),
                          lambda lr: optax.adadelta(lr, rho=0.9, eps=1e-3)),
    'adam': (optim.adam, optax.adam),
    'adam_b2_0.99': (lambda lr: optim.adam(lr, b1=0.8, b2=0.99, eps=1e-3),
                     lambda lr: optax.adam(lr, b1=0.8, b2=0.99, eps=1e-3)),
    'nadam': (optim.nadam, optax.nadam),
    'nadam_b2_0.99': (lambda lr: optim.nadam(lr, b1=0.8, b2=0.99, eps=1e-3),
                      lambda lr: optax.nadam(lr, b1=0.8, b2=0.99, eps=1e-3)),
}


@pytest.mark.parametrize('lr_name', sorted(LEARNING_RATES))
@pytest.mark.parametrize('case', sorted(SAME_AS_OPTAX))
def test_matches_optax(case, lr_name):
  ours, theirs = SAME_AS_OPTAX[case]
  lr = LEARNING_RATES[lr_name]
  grads = grads_of()
  our_updates, our_params, _ = run_steps(ours(lr), grads)
  their_updates, their_params, _ = run_steps(theirs(lr), grads)
  assert_trees_close(our_updates, their_updates, **TIGHT)
  assert_trees_close(our_params, their_params, **TIGHT)


# ---------------------------------------------------------------------------
# NumPy references (float64), one leaf at a time.


def _momentum_a(p, g, v, lr, t, mu=0.9):
  del t  # v = mu v + g ; p -= lr v
  v = mu * v + g
  return p - lr * v, v


def _momentum_b(p, g, v, lr, t, mu=0.9):
  del t  # v = mu v - lr g ; p += v
  v = mu * v - lr * g
  return p + v, v


def _nesterov(p, g, v, lr, t, mu=0.9):
  del t  # v = mu v + g ; p -= lr (g + mu v)
  v = mu * v + g
  return p - lr * (g + mu * v), v


def _zeros(p):
  return np.zeros_like(p)


def test_momentum_both_forms_agree_for_a_constant_learning_rate():
  # With lr fixed, (B)'s velocity is -lr times (A)'s, so the paths coincide.
  grads = grads_of()
  _, ours, _ = run_steps(optim.momentum(LR, momentum=0.9), grads)
  form_b = numpy_run(_momentum_b, grads, LR, _zeros)
  assert_trees_close(ours, form_b, **LOOSE)


def test_momentum_forms_differ_under_a_schedule():
  # A step decay, lr 0.1 -> 0.01 at step 50. In (A) the learning rate scales
  # the whole velocity, so the step shrinks 10x at once; in (B) it scales
  # only new gradients, and the old velocity keeps pushing at the old rate.
  # The implementation is (A): a schedule then means "the step size now",
  # and it is Optax's and PyTorch's form.
  lr = optax.piecewise_constant_schedule(LR, {50: 0.1})
  grads = grads_of()
  _, ours, _ = run_steps(optim.momentum(lr, momentum=0.9), grads)
  form_a = numpy_run(_momentum_a, grads, lr, _zeros)
  form_b = numpy_run(_momentum_b, grads, lr, _zeros)
  assert_trees_close(ours, form_a, **LOOSE)
  gap = max(np.max(np.abs(form_a[k] - form_b[k])) for k in grads)
  assert gap > 1e-2, gap  # far beyond the 1e-6 tolerance above
  # Up to the change they agree.
  for k in grads:
    np.testing.assert_allclose(form_a[k][:50], form_b[k][:50], rtol=1e-10)


@pytest.mark.parametrize('lr_name', sorted(LEARNING_RATES))
def test_nesterov_matches_its_formula(lr_name):
  lr = LEARNING_RATES[lr_name]
  grads = grads_of()
  _, ours, _ = run_steps(optim.nesterov(lr, momentum=0.9), grads)
  assert_trees_close(ours, numpy_run(_nesterov, grads, lr, _zeros), **LOOSE)


@pytest.mark.parametrize('lr_name', sorted(LEARNING_RATES))
def test_adagrad_matches_its_formula(lr_name):
  # eps outside the root, where Optax's differs; a large eps so it matters.
  eps, g0 = 0.5, 0.1

  def step(p, g, s, lr, t):
    del t
    s = s + g * g
    return p - lr * g / (np.sqrt(s) + eps), s

  lr = LEARNING_RATES[lr_name]
  grads = grads_of()
  _, ours, _ = run_steps(optim.adagrad(lr, eps=eps, initial_accumulator=g0), grads)
  assert_trees_close(ours, numpy_run(step, grads, lr, lambda p: np.full_like(p, g0)),
                      **LOOSE)


def test_adagrad_eps_is_outside_the_root():
  # First step from G_0 = 0: lr g / (|g| + eps), not lr g / sqrt(g^2 + eps).
  g = jnp.array([1e-3, 2.0])
  tx = optim.adagrad(1.0, eps=1e-2)
  updates, _ = tx.update(g, tx.init(g))
  np.testing.assert_allclose(updates, -g / (jnp.abs(g) + 1e-2), rtol=1e-6)


@pytest.mark.parametrize('lr_name', sorted(LEARNING_RATES))
def test_rmsprop_matches_its_formula(lr_name):
  decay, eps = 0.9, 1e-3

  def step(p, g, e, lr, t):
    del t
    e = decay * e + (1 - decay) * g * g
    return p - lr * g / (np.sqrt(e) + eps), e

  lr = LEARNING_RATES[lr_name]
  grads = grads_of()
  _, ours, _ = run_steps(optim.rmsprop(lr, decay=decay, eps=eps), grads)
  assert_trees_close(ours, numpy_run(step, grads, lr, _zeros), **LOOSE)


@pytest.mark.parametrize('name', ['adagrad', 'rmsprop'])
def test_eps_in_sqrt_matches_the_slides_formula(name):
  # u = g / sqrt(acc + eps): a large eps so it matters, G_0 = 0.
  eps, decay, lr = 0.5, 0.9, 0.1

  def step(p, g, acc, lr, t):
    del t
    acc = acc + g * g if name == 'adagrad' else decay * acc + (1 - decay) * g * g
    return p - lr * g / np.sqrt(acc + eps), acc

  tx = (optim.adagrad(lr, eps=eps, eps_in_sqrt=True) if name == 'adagrad'
        else optim.rmsprop(lr, decay=decay, eps=eps, eps_in_sqrt=True))
  grads = grads_of()
  _, ours, _ = run_steps(tx, grads)
  assert_trees_close(ours, numpy_run(step, grads, lr, _zeros), **LOOSE)


@pytest.mark.parametrize('lr_name', sorted(LEARNING_RATES))
def test_adadelta_matches_its_formula(lr_name):
  decay, eps = 0.9, 1e-2

  def step(p, g, state, lr, t):
    del t
    e_g2, e_dx2 = state
    e_g2 = decay * e_g2 + (1 - decay) * g * g
    delta = np.sqrt(e_dx2 + eps) / np.sqrt(e_g2 + eps) * g
    # The average is of the unit-rate step: the learning rate stays outside.
    e_dx2 = decay * e_dx2 + (1 - decay) * delta * delta
    return p - lr * delta, (e_g2, e_dx2)

  lr = LEARNING_RATES[lr_name]
  grads = grads_of()
  _, ours, _ = run_steps(optim.adadelta(lr, decay=decay, eps=eps), grads)
  zeros = lambda p: (np.zeros_like(p), np.zeros_like(p))
  assert_trees_close(ours, numpy_run(step, grads, lr, zeros), **LOOSE)


def _adam_step(b1, b2, eps, bias_correction):
  def step(p, g, state, lr, t):
    m, v = state
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m, v
    if bias_correction:
      m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v)
  return step


@pytest.mark.parametrize('bias_correction', [True, False])
@pytest.mark.parametrize('lr_name', sorted(LEARNING_RATES))
def test_adam_matches_its_formula(lr_name, bias_correction):
  b1, b2, eps = 0.9, 0.999, 1e-8
  lr = LEARNING_RATES[lr_name]
  grads = grads_of()
  _, ours, _ = run_steps(optim.adam(lr, b1, b2, eps, bias_correction=bias_correction),
                 grads)
  expected = numpy_run(_adam_step(b1, b2, eps, bias_correction), grads, lr,
                        lambda p: (np.zeros_like(p), np.zeros_like(p)))
  assert_trees_close(ours, expected, **LOOSE)


def test_adam_without_bias_correction_by_hand():
  # Three steps on one coordinate, written out.
  b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.1
  gs = [1.0, -2.0, 0.5]
  tx = optim.adam(lr, b1, b2, eps, bias_correction=False)
  p = jnp.zeros(1)
  state = tx.init(p)
  m = v = 0.0
  expected = 0.0
  for g in gs:
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    expected -= lr * m / (np.sqrt(v) + eps)
    updates, state = tx.update(jnp.array([g]), state, p)
    p = optax.apply_updates(p, updates)
    np.testing.assert_allclose(p, [expected], rtol=1e-6)
  # The first step is (1 - b1) / sqrt(1 - b2), about 3.2, times the corrected one.
  g = jnp.array([0.3])
  plain = optim.scale_by_adam(b1, b2, 0.0, bias_correction=False)
  corrected = optim.scale_by_adam(b1, b2, 0.0)
  ratio = plain.update(g, plain.init(g))[0] / corrected.update(g, corrected.init(g))[0]
  np.testing.assert_allclose(ratio, [(1 - b1) / np.sqrt(1 - b2)], rtol=1e-5)


def test_nadam_matches_its_formula():
  # optax.nadam's definition: m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t).
  b1, b2, eps = 0.9, 0.999, 1e-8

  def step(p, g, state, lr, t):
    m, v = state
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = b1 * m / (1 - b1**(t + 1)) + (1 - b1) * g / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v)

  grads = grads_of()
  _, ours, _ = run_steps(optim.nadam(LR, b1, b2, eps), grads)
  expected = numpy_run(step, grads, LR,
                        lambda p: (np.zeros_like(p), np.zeros_like(p)))
  assert_trees_close(ours, expected, **LOOSE)


def test_adam_count_saturates_instead_of_wrapping():
  tx = optim.scale_by_adam()
  p = jnp.ones(2)
  state = tx.init(p)._replace(count=jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
  updates, state = tx.update(p, state)
  assert state.count == np.iinfo(np.int32).max
  assert state.count.dtype == jnp.int32
  assert np.all(np.isfinite(updates))
