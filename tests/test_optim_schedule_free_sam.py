"""Schedule-Free SGD / AdamW and SAM against Optax and float64 NumPy.

Each runs 100 steps on a small pytree (a matrix and a vector). Schedule-Free
gets random float32 gradients; SAM, which takes a second gradient itself, a
loss with random float32 targets each step, quadratic plus quartic, whose
gradient is known in closed form. Every step's update (and, for
Schedule-Free, the evaluation point x) is compared with Optax's
implementation at rtol = atol = 1e-6, and the trajectory with a float64 NumPy
version of the paper's formula at rtol = atol = 1e-5.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn

from optim_steps import STEPS, assert_trees_close, at, stack
from optim_steps import grads as grads_of
from optim_steps import params as params_of
from research import config as config_lib
from research.errors import ConfigError
from research.optim import registry
from research.optim.build import validate_optimizer_config
from research.optim.momentum import momentum
from research.optim.sam import sam
from research.optim.schedule_free import (ScheduleFreeState, schedule_free_adamw,
                                          schedule_free_eval_params,
                                          schedule_free_sgd)
from research.optim.weight_decay import decoupled_weight_decay
from research.train import create_train_state, make_train_step
from research.train.resolve import resolve
from train_helpers import tiny_config

TIGHT = dict(rtol=1e-6, atol=1e-6)  # ours vs Optax, both float32
LOOSE = dict(rtol=1e-5, atol=1e-5)  # ours (float32) vs NumPy (float64)


def _trajectory(tx, step, inputs):
  """What `step(params, state, inputs at t)` saw at each of STEPS steps from
  tx's initial state, stacked."""
  params = params_of()
  state = tx.init(params)
  out = []
  for t in range(STEPS):
    params, state, seen = step(params, state, at(inputs, t))
    out.append(seen)
  return stack(out)


# ---------------------------------------------------------------------------
# Schedule-Free


def _run_schedule_free(tx, eval_params, grads):
  """Per step: (the update, the parameters y, the evaluation point x)."""

  @jax.jit
  def step(params, state, g):
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
    return params, state, (updates, params, eval_params(state, params))

  return _trajectory(tx, step, grads)


# name: (ours, Optax's, hyperparameters of both); lr 0.1 for SGD, 0.01 AdamW.
SCHEDULE_FREE = {
    'sgd': (schedule_free_sgd, optax.contrib.schedule_free_sgd,
            dict(learning_rate=0.1)),
    'sgd_warmup_decay': (schedule_free_sgd, optax.contrib.schedule_free_sgd,
                         dict(learning_rate=0.1, warmup_steps=10, b1=0.95,
                              weight_decay=0.05, weight_lr_power=1.0)),
    'adamw': (schedule_free_adamw, optax.contrib.schedule_free_adamw,
              dict(learning_rate=0.01)),
    'adamw_warmup_decay': (schedule_free_adamw, optax.contrib.schedule_free_adamw,
                           dict(learning_rate=0.01, warmup_steps=10, b1=0.8,
                                b2=0.99, eps=1e-3, weight_decay=0.1)),
    # A schedule as the learning rate (Optax's warmup_steps takes only a float).
    'adamw_schedule': (schedule_free_adamw, optax.contrib.schedule_free_adamw,
                       dict(learning_rate=optax.linear_schedule(0.0, 0.01, 20))),
}


@functools.cache
def _ours_schedule_free(case):
  ours, _, hparams = SCHEDULE_FREE[case]
  return _run_schedule_free(ours(**hparams), schedule_free_eval_params,
                            grads_of(1))


@pytest.mark.parametrize('case', sorted(SCHEDULE_FREE))
def test_schedule_free_matches_optax(case):
  _, theirs, hparams = SCHEDULE_FREE[case]
  grads = grads_of(1)
  our = _ours_schedule_free(case)
  their = _run_schedule_free(theirs(**hparams),
                             optax.contrib.schedule_free_eval_params, grads)
  for a, d in zip(our, their):  # updates, y, x
    assert_trees_close(a, d, **TIGHT)


def _numpy_schedule_free(grads, *, adam, learning_rate, warmup_steps=0, b1=0.9,
                         b2=0.999, eps=1e-8, weight_decay=0.0,
                         weight_lr_power=2.0):
  """The paper's three sequences, x kept explicitly, in float64, one leaf at
  a time (every operation is elementwise). The z step reads the rate at the
  update count t, the averaging weight at t + 1, as Optax does."""

  def lr(t):
    peak = learning_rate(t) if callable(learning_rate) else learning_rate
    return peak * min(t / warmup_steps, 1.0) if warmup_steps else peak

  y_out, x_out = {}, {}
  for key, g_seq in grads.items():
    y = np.asarray(params_of()[key], np.float64)
    z, x, v = y.copy(), y.copy(), np.zeros_like(y)
    max_lr, weight_sum, ys, xs = 0.0, 0.0, [], []
    for t, g in enumerate(np.asarray(g_seq, np.float64)):
      max_lr = max(max_lr, float(lr(t + 1)))
      weight = max_lr ** weight_lr_power
      weight_sum += weight
      c = weight / weight_sum if weight_sum else 0.0
      if adam:
        v = b2 * v + (1 - b2) * g * g
        g = g / (np.sqrt(v / (1 - b2 ** (t + 1))) + eps)
      z = z - lr(t) * (g + weight_decay * y)
      x = (1 - c) * x + c * z
      y = b1 * x + (1 - b1) * z
      ys.append(y)
      xs.append(x)
    y_out[key], x_out[key] = np.stack(ys), np.stack(xs)
  return y_out, x_out


@pytest.mark.parametrize('case', sorted(SCHEDULE_FREE))
def test_schedule_free_matches_its_formula(case):
  ours, _, hparams = SCHEDULE_FREE[case]
  grads = grads_of(1)
  _, y, x = _ours_schedule_free(case)
  y_ref, x_ref = _numpy_schedule_free(grads, adam=ours is schedule_free_adamw,
                                      **hparams)
  assert_trees_close(y, y_ref, **LOOSE)
  assert_trees_close(x, x_ref, **LOOSE)


def test_constant_rate_averages_the_z_sequence_uniformly():
  # With a constant rate the weights are equal: after t updates x is the mean
  # of z_2..z_{t+1}, the z's they made (the first weight is all of the sum, so
  # x_2 = z_2: the initial point is not averaged in). Recover z from (y, x).
  _, y, x = _ours_schedule_free('sgd')  # lr 0.1, b1 0.9
  b1 = 0.9
  for key in y:
    z = (y[key] - b1 * x[key]) / (1 - b1)  # y = b1 x + (1 - b1) z
    mean = np.cumsum(z, 0) / np.arange(1, STEPS + 1).reshape(
        (-1,) + (1,) * (z.ndim - 1))
    np.testing.assert_allclose(x[key], mean, rtol=1e-4, atol=1e-4)


def test_eval_params_are_found_inside_the_projects_chains():
  # As the builder wraps an optimizer: with_extra_args_support around a chain
  # of clipping, the optimizer (itself with_extra_args_support), weight decay.
  params = params_of()
  alone = schedule_free_adamw(0.01)
  wrapped = optax.with_extra_args_support(optax.chain(
      optax.clip_by_global_norm(1e3), registry.get('schedule_free_adamw', 0.01),
      optax.add_decayed_weights(0.0)))
  states = [tx.init(params) for tx in (alone, wrapped)]
  for t in range(3):
    g = at(grads_of(3), t)
    u0, states[0] = alone.update(g, states[0], params)
    u1, states[1] = wrapped.update(g, states[1], params, value=0.0, grad=g,
                                   value_fn=None)
    assert_trees_close(u1, u0, rtol=0, atol=0)
    params = optax.apply_updates(params, u0)
  assert_trees_close(schedule_free_eval_params(states[1], params),
         schedule_free_eval_params(states[0], params), rtol=0, atol=0)
  # x differs from y once the averaging and the interpolation part ways.
  x = schedule_free_eval_params(states[1], params)
  assert not np.allclose(x['w'], params['w'])
  with pytest.raises(ValueError, match='ScheduleFreeState'):
    schedule_free_eval_params(optax.adam(0.1).init(params), params)
  assert any(isinstance(s, ScheduleFreeState) for s in jax.tree.leaves(
      states[1], is_leaf=lambda s: isinstance(s, ScheduleFreeState)))


# ---------------------------------------------------------------------------
# SAM, on f_t(p) = sum a (p - c_t)^2 / 2 + q (p - c_t)^4 / 4, c_t random

CURVATURE = {'w': jnp.linspace(0.5, 2.0, 12).reshape(4, 3),
             'b': jnp.array([0.5, 1.0, 2.0])}
QUARTIC = 0.1


def _loss(params, targets):
  terms = jax.tree.map(
      lambda p, c, a: jnp.sum(0.5 * a * (p - c) ** 2 + 0.25 * QUARTIC * (p - c) ** 4),
      params, targets, CURVATURE)
  return sum(jax.tree.leaves(terms))


def _numpy_grad(params, targets):
  return {k: np.asarray(CURVATURE[k], np.float64) * (params[k] - targets[k])
          + QUARTIC * (params[k] - targets[k]) ** 3 for k in params}


def _run_sam(tx, targets, *, optax_sam=False):
  """Per step: the update, and the parameters after it. The call is the train
  step's (value, grad, value_fn), or Optax's opaque-mode grad_fn."""

  @jax.jit
  def step(params, state, c):
    value_fn = lambda p: _loss(p, c)
    value, grad = jax.value_and_grad(value_fn)(params)
    if optax_sam:
      updates, state = tx.update(grad, state, params,
                                 grad_fn=lambda p, _: jax.grad(value_fn)(p))
    else:
      updates, state = tx.update(grad, state, params, value=value, grad=grad,
                                 value_fn=value_fn)
    params = optax.apply_updates(params, updates)
    return params, state, (updates, params)

  return _trajectory(tx, step, targets)


def _optax_sam(outer, rho):
  adversary = optax.chain(optax.contrib.normalize(), optax.sgd(rho))
  return optax.contrib.sam(outer, adversary, sync_period=2, opaque_mode=True)


LR = 0.05
SAM = {  # name: (ours, Optax's outer optimizer, rho)
    'momentum': (dict(base='momentum'), optax.sgd(LR, momentum=0.9), 0.05),
    'momentum_rho_0.2': (dict(base='momentum', momentum=0.5),
                         optax.sgd(LR, momentum=0.5), 0.2),
    'adam': (dict(base='adam'), optax.adam(LR), 0.05),
    'adam_b2_0.99': (dict(base='adam', b1=0.8, b2=0.99, eps=1e-3),
                     optax.adam(LR, b1=0.8, b2=0.99, eps=1e-3), 0.1),
}


@functools.cache
def _ours_sam(case):
  hparams, _, rho = SAM[case]
  return _run_sam(registry.get('sam', LR, rho=rho, **hparams), grads_of(4))


@pytest.mark.parametrize('case', sorted(SAM))
def test_sam_matches_optax(case):
  _, outer, rho = SAM[case]
  targets = grads_of(4)
  ours = _ours_sam(case)
  theirs = _run_sam(_optax_sam(outer, rho), targets, optax_sam=True)
  for a, d in zip(ours, theirs):  # updates, params
    assert_trees_close(a, d, **TIGHT)


def _numpy_sam(targets, *, rho, base='momentum', momentum=0.9, b1=0.9,  # pylint: disable=redefined-outer-name
               b2=0.999, eps=1e-8):
  """SAM's formula in float64 with the closed-form gradient."""
  p = {k: np.asarray(v, np.float64) for k, v in params_of().items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  trajectory = []
  for t in range(STEPS):
    c = {k: np.asarray(x[t], np.float64) for k, x in targets.items()}
    g = _numpy_grad(p, c)
    norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
    g = _numpy_grad({k: p[k] + rho * g[k] / norm for k in p}, c)
    for k in p:
      if base == 'momentum':
        m[k] = momentum * m[k] + g[k]
        p[k] = p[k] - LR * m[k]
      else:
        m[k] = b1 * m[k] + (1 - b1) * g[k]
        v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
        m_hat, v_hat = m[k] / (1 - b1 ** (t + 1)), v[k] / (1 - b2 ** (t + 1))
        p[k] = p[k] - LR * m_hat / (np.sqrt(v_hat) + eps)
    trajectory.append(dict(p))
  return stack(trajectory)


@pytest.mark.parametrize('case', sorted(SAM))
def test_sam_matches_its_formula(case):
  hparams, _, rho = SAM[case]
  targets = grads_of(4)
  _, ours = _ours_sam(case)
  assert_trees_close(ours, _numpy_sam(targets, rho=rho, **hparams), **LOOSE)


def test_sam_steps_with_the_perturbed_gradient():
  targets = grads_of(4)
  _, plain = _run_sam(optax.with_extra_args_support(momentum(LR)), targets)
  # rho = 0: the ascent point is p itself, and SAM is its base optimizer.
  _, at_zero = _run_sam(sam(LR, rho=0.0), targets)
  assert_trees_close(at_zero, plain, **TIGHT)
  # rho > 0 on this quartic loss: a different path, by far more than rounding.
  _, perturbed = _ours_sam('momentum')  # rho 0.05
  gap = max(np.max(np.abs(perturbed[k] - plain[k])) for k in plain)
  assert gap > 1e-2, gap


def test_sam_needs_value_fn_and_a_known_base():
  params = params_of()
  tx = sam(0.1)
  with pytest.raises(ValueError, match='value_fn'):
    tx.update(params, tx.init(params), params)
  with pytest.raises(ConfigError, match='optimizer.hparams.base'):
    sam(0.1, base='lion')
  assert registry.entry('sam').needs_value_fn


def _optimizer_section(*overrides):
  config = config_lib.apply_overrides(config_lib.base_config(), list(overrides))
  return config.optimizer


def test_sam_takes_weight_decay_and_refuses_clipping():
  # Decoupled weight decay after SAM's step, as after any optimizer's.
  hparams = validate_optimizer_config(_optimizer_section(
      'optimizer.name=sam', 'optimizer.weight_decay=5e-4'))
  assert hparams == registry.entry('sam').defaults
  # Clipping the gradient at p would only rescale the direction SAM
  # normalizes: it would do nothing, so it is refused, naming the key.
  with pytest.raises(ConfigError, match=r'optimizer\.grad_clip_norm'):
    validate_optimizer_config(_optimizer_section(
        'optimizer.name=sam', 'optimizer.grad_clip_norm=1.0'))
  # A line search still refuses both.
  for change in ('optimizer.weight_decay=5e-4', 'optimizer.grad_clip_norm=1.0'):
    with pytest.raises(ConfigError, match='line search'):
      validate_optimizer_config(_optimizer_section('optimizer.name=lbfgs', change))
  # A max-norm projection after SAM's step is fine; after a line search, not.
  resolve(tiny_config('optimizer.name=sam', 'regularization.max_norm=3.0'))
  with pytest.raises(ConfigError, match=r'^regularization\.max_norm: .*line search'):
    resolve(tiny_config('optimizer.name=lbfgs', 'train.batching=full',
                        'regularization.max_norm=3.0'))


class _DropoutNet(nn.Module):

  @nn.compact
  def __call__(self, x, train: bool = False, **rates):
    del rates  # the train step's traced rates: none here
    x = nn.Dropout(0.3, deterministic=not train)(jnp.tanh(nn.Dense(16)(x)))
    return nn.Dense(3)(x)


def test_sam_in_the_train_step_sees_the_same_dropout_masks():
  # Through make_train_step's value_fn, with dropout and decoupled weight
  # decay after SAM in the chain: at rho = 0 SAM's own gradient (one more
  # forward-backward) is the step's gradient only if value_fn draws the same
  # dropout masks, and then SAM is its base optimizer, bit for bit.
  x = jax.random.normal(jax.random.key(1), (32, 5))
  y = jax.random.randint(jax.random.key(2), (32,), 0, 3)
  loss = optax.softmax_cross_entropy_with_integer_labels

  def train(optimizer):
    tx = optax.with_extra_args_support(optax.chain(
        optimizer, decoupled_weight_decay(1e-3, 0.05)))
    state = create_train_state(0, _DropoutNet(), tx, x[:1])
    step = jax.jit(make_train_step(_DropoutNet(), tx, loss))
    for _ in range(2):
      state, _ = step(state, (x, y))
    return state.params

  assert_trees_close(train(registry.get('sam', 0.05, rho=0.0)),
         train(registry.get('momentum', 0.05)), rtol=0, atol=0)
