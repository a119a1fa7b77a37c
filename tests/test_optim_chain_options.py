"""Chain options of research.optim: the WSD schedule (against its closed form
in NumPy), gradient accumulation (optax.MultiSteps, against one big batch) and
the parameter EMA (against optax.ema applied to the parameter sequence)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import config as config_lib
from research.errors import ConfigError
from research.optim import averaging, build_optimizer
from research.train.resolve import resolve
from train_helpers import tiny_config

SPE = 10  # steps per epoch
EPOCHS = 12
T = SPE * EPOCHS
LR = 0.37
STEPS = np.arange(0, T + 15)  # past the end too


# --------------------------------------------------------------------------
# Gradient accumulation in the chain


def _params(key=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(key))
  return {'Dense_0': {'kernel': jax.random.normal(k1, (6, 3)),
                      'bias': jax.random.normal(k2, (3,))}}


def _loss(params, x, y):
  logits = x @ params['Dense_0']['kernel'] + params['Dense_0']['bias']
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _extra(value):
  # What the train step passes: the chain must accept (or drop) them.
  return dict(value=value, grad=None, value_fn=lambda p: value)


@pytest.mark.parametrize('name, extra', [
    ('sgd', []),
    ('momentum', ['optimizer.grad_clip_norm=0.5', 'optimizer.weight_decay=0.1']),
    ('adam', ['optimizer.schedule.name=wsd', 'optimizer.ema_decay=0.9']),
])
def test_k_batches_of_b_make_the_update_of_one_batch_of_k_b(name, extra):
  k, b, spe = 3, 8, 6  # 6 micro-batches an epoch: 2 updates an epoch
  micro = config_lib.apply_overrides(tiny_config(), [
      f'optimizer.name={name}', 'optimizer.learning_rate=0.3',
      'optimizer.schedule.name=cosine', 'optimizer.schedule.warmup_epochs=1',
      'optimizer.reference_batch_size=16', f'train.batch_size={b}',
      'train.num_epochs=3', f'optimizer.accumulate_steps={k}', *extra])
  resolve(micro)
  big = config_lib.apply_overrides(micro, [
      'optimizer.accumulate_steps=1', f'train.batch_size={k * b}'])
  ours = build_optimizer(micro, steps_per_epoch=spe)
  theirs = build_optimizer(big, steps_per_epoch=spe // k)

  def step(tx):
    # A train step's optimizer part, with the extra args it passes.
    @jax.jit
    def run(params, state, x, y):
      value, g = jax.value_and_grad(_loss)(params, x, y)
      u, state = tx.update(g, state, params, **_extra(value))
      return optax.apply_updates(params, u), state, u
    return run

  step1, step2 = step(ours), step(theirs)
  rng = np.random.default_rng(0)
  p1 = p2 = _params()
  s1, s2 = ours.init(p1), theirs.init(p2)
  for _ in range(3 * spe // k):  # the whole run, 6 updates
    x = jnp.asarray(rng.normal(size=(k * b, 6)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, size=k * b))
    for j in range(k):
      p1, s1, u = step1(p1, s1, x[j * b:(j + 1) * b], y[j * b:(j + 1) * b])
      if j < k - 1:  # no update until the k-th batch
        assert not any(np.any(leaf) for leaf in jax.tree.leaves(u))
    p2, s2, _ = step2(p2, s2, x, y)
    for a, c in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
      np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
  if micro.optimizer.ema_decay:
    for a, c in zip(jax.tree.leaves(averaging.ema_params(s1)),
                    jax.tree.leaves(averaging.ema_params(s2))):
      np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


def test_accumulation_with_the_states_traced_learning_rate():
  config = config_lib.apply_overrides(tiny_config(), [
      'optimizer.name=adam', 'optimizer.schedule.name=cosine',
      'optimizer.accumulate_steps=2', 'optimizer.weight_decay=0.01'])
  resolve(config)
  params = _params()

  def run(hparams):
    # hparams None: the config's own rates, as Python floats.
    tx = build_optimizer(config, steps_per_epoch=4, hparams=hparams)
    state, p = tx.init(params), params
    for t in range(4):
      g = jax.tree.map(lambda q: jnp.sin(q + t), p)
      u, state = tx.update(g, state, p, **_extra(jnp.float32(1.0)))
      p = optax.apply_updates(p, u)
    return p

  p = jax.jit(lambda: run(None))()
  run = jax.jit(run)
  traced = run({'learning_rate': jnp.float32(config.optimizer.learning_rate),
                'weight_decay': jnp.float32(0.01)})
  for a, b in zip(jax.tree.leaves(traced), jax.tree.leaves(p)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # A population vmaps over the hyperparameters.
  rates = {'learning_rate': jnp.asarray([1e-3, 1e-2]),
           'weight_decay': jnp.asarray([0.01, 0.01])}
  population = jax.vmap(run)(rates)
  assert jax.tree.leaves(population)[0].shape[0] == 2


@pytest.mark.parametrize('overrides, key', [
    (['optimizer.accumulate_steps=0'], 'optimizer.accumulate_steps'),
    (['optimizer.accumulate_steps=-2'], 'optimizer.accumulate_steps'),
    (['optimizer.name=lbfgs', 'optimizer.accumulate_steps=2'],
     'optimizer.accumulate_steps'),
    (['optimizer.ema_decay=1.0'], 'optimizer.ema_decay'),
    (['optimizer.ema_decay=-0.5'], 'optimizer.ema_decay'),
])
def test_chain_option_errors_name_the_key(overrides, key):
  config = config_lib.apply_overrides(tiny_config(), overrides)
  with pytest.raises(ConfigError, match='^' + re.escape(key) + ':'):
    resolve(config)


def test_accumulate_steps_must_be_an_int():
  config = tiny_config()
  config.optimizer.accumulate_steps = True
  with pytest.raises(ConfigError, match=r'^optimizer\.accumulate_steps:'):
    resolve(config)


def test_chain_option_defaults_are_off():
  config = resolve(tiny_config())
  assert config.optimizer.accumulate_steps == 1
  assert config.optimizer.ema_decay == 0.0
  tx = build_optimizer(config, steps_per_epoch=4)
  assert averaging.find_ema_state(tx.init(_params())) is None
  with pytest.raises(ValueError, match='ema_decay'):
    averaging.ema_params(tx.init(_params()))


# --------------------------------------------------------------------------
# Parameter EMA


def _sequence(n, key=1):
  """Random params and updates, as a chain would see them."""
  keys = jax.random.split(jax.random.PRNGKey(key), 2 * n)
  params = [_params(int(keys[i][0]) % 1000) for i in range(n)]
  updates = [jax.tree.map(lambda p, i=i: 0.1 * jnp.cos(p * (i + 1)), params[i])
             for i in range(n)]
  return params, updates


@pytest.mark.parametrize('decay', [0.0, 0.5, 0.9, 0.999])
@pytest.mark.parametrize('debias', [True, False])
def test_parameter_ema_equals_optax_ema_of_the_parameters(decay, debias):
  params, updates = _sequence(12)
  tx = averaging.parameter_ema(decay, debias=debias)
  reference = optax.ema(decay, debias=debias)
  state, ref_state = tx.init(params[0]), reference.init(params[0])
  for p, u in zip(params, updates):
    out, state = tx.update(u, state, p)
    assert out is u  # the updates pass through unchanged
    want, ref_state = reference.update(optax.apply_updates(p, u), ref_state)
    got = averaging.ema_params(state)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    # And against NumPy: sum_i (1-d) d^(t-i) x_i / (1 - d^t).
  xs = [np.asarray(optax.apply_updates(p, u)['Dense_0']['kernel'], np.float64)
        for p, u in zip(params, updates)]
  t = len(xs)
  weights = np.array([(1 - decay) * decay**(t - 1 - i) for i in range(t)])
  want = np.tensordot(weights, np.stack(xs), axes=1)
  if debias:
    want /= 1 - decay**t
  np.testing.assert_allclose(
      averaging.ema_params(state)['Dense_0']['kernel'], want, rtol=2e-5,
      atol=1e-6)


def test_ema_params_before_any_update_and_in_a_population():
  params = _params()
  tx = averaging.parameter_ema(0.9)
  state = tx.init(params)
  same = averaging.ema_params(state, params)
  for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)
  # A population: states stacked along a leading member axis.
  stacked = jax.tree.map(lambda *x: jnp.stack(x), params, _params(5))
  states = jax.vmap(tx.init)(stacked)
  updates = jax.tree.map(jnp.ones_like, stacked)
  _, states = jax.vmap(tx.update)(updates, states, stacked)
  got = averaging.ema_params(states)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(stacked)):
    np.testing.assert_allclose(a, b + 1, rtol=1e-6)


def test_ema_in_the_built_chain_is_last_and_found_by_ema_params():
  config = config_lib.apply_overrides(tiny_config(), [
      'optimizer.name=momentum', 'optimizer.learning_rate=0.1',
      'optimizer.ema_decay=0.8', 'optimizer.weight_decay=0.05',
      'regularization.max_norm=2.0', 'optimizer.schedule.name=wsd'])
  resolve(config)
  tx = build_optimizer(config, steps_per_epoch=5)
  reference = optax.ema(0.8)
  p = _params()
  state, ref_state = tx.init(p), reference.init(p)
  for t in range(15):
    g = jax.tree.map(lambda q: jnp.sin(3 * q + t), p)
    u, state = tx.update(g, state, p, **_extra(jnp.float32(0.0)))
    p = optax.apply_updates(p, u)  # after max-norm: the final params
    want, ref_state = reference.update(p, ref_state)
    got = averaging.ema_params(state)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
