"""Tests for research.optim.schedules against their closed forms in NumPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.errors import ConfigError
from research.optim import schedules
from research.train.resolve import resolve
from train_helpers import tiny_config

SPE = 10  # steps per epoch
EPOCHS = 12
T = SPE * EPOCHS
LR = 0.37
STEPS = np.arange(0, T + 15)  # past the end too


def _config(name='constant', **values):
  c = schedules.default_schedule_config()
  c.name = name
  for key, value in values.items():
    c[key] = value
  return c


def _evaluate(schedule, steps=STEPS):
  return np.asarray(schedule(jnp.asarray(steps, jnp.int32)), np.float64)


def _sgdr_restarts(t0, mult, limit):
  """Restart steps after warmup: spe * T0 * (1 + mult + ... + mult^(k-1))."""
  restarts, k = [0], 1
  while restarts[-1] < limit:
    restarts.append(round(SPE * t0 * sum(mult**i for i in range(k))))
    k += 1
  return np.array(restarts)


def expected(c, lr, t):
  """The closed form of the module docstring, in NumPy."""
  t = np.asarray(t, np.float64)
  w = round(c.warmup_epochs * SPE)
  d = max(T - w, 1)
  f = c.final_fraction
  s = t - w
  if c.name == 'constant':
    m = np.ones_like(t)
  elif c.name == 'step':
    m = c.gamma ** sum((t >= round(e * SPE)).astype(float) for e in c.step_epochs)
  elif c.name == 'cosine':
    m = f + (1 - f) * 0.5 * (1 + np.cos(np.pi * np.minimum(s, d) / d))
  elif c.name == 'linear':
    m = 1 - (1 - f) * np.minimum(s, d) / d
  elif c.name == 'inverse_sqrt':
    ww = max(w, 1)
    m = np.sqrt(ww / np.maximum(t, ww))
  elif c.name == 'sgdr':
    restarts = _sgdr_restarts(c.sgdr_period_epochs, c.sgdr_period_mult, d)
    k = np.clip(np.searchsorted(restarts, s, side='right') - 1, 0,
                len(restarts) - 2)
    length = restarts[k + 1] - restarts[k]
    r = np.minimum(s - restarts[k], length)
    m = f + (1 - f) * 0.5 * (1 + np.cos(np.pi * r / length))
  if w:
    f0 = c.warmup_init_fraction
    m = np.where(t < w, f0 + (1 - f0) * t / w, m)
  return lr * m


def _build(c, lr=LR):
  return schedules.build_schedule(c, lr, steps_per_epoch=SPE, num_epochs=EPOCHS)


def _check(c, lr=LR):
  schedule = _build(c, lr)
  np.testing.assert_allclose(_evaluate(schedule), expected(c, lr, STEPS),
                             rtol=2e-6, atol=1e-7)
  return schedule


# --------------------------------------------------------------------------
# Each schedule equals its closed form


def test_default_is_constant_and_returns_the_float():
  c = schedules.default_schedule_config()
  assert c.name == 'constant'
  assert _build(c) == LR  # a plain float: optimizers see a constant


def test_constant_with_warmup():
  schedule = _check(_config(warmup_epochs=2.5, warmup_init_fraction=0.1))
  assert float(schedule(0)) == pytest.approx(0.1 * LR)
  assert float(schedule(T)) == pytest.approx(LR)


def test_step_decay_at_boundaries():
  c = _config('step', step_epochs=(3, 7.5), gamma=0.3)
  schedule = _check(c)
  for boundary, before, after in [(30, 1.0, 0.3), (75, 0.3, 0.09)]:
    assert float(schedule(boundary - 1)) == pytest.approx(LR * before)
    assert float(schedule(boundary)) == pytest.approx(LR * after)
    assert float(schedule(boundary + 1)) == pytest.approx(LR * after)


def test_cosine_peak_mid_end():
  c = _config('cosine', final_fraction=0.15)
  schedule = _check(c)
  assert float(schedule(0)) == pytest.approx(LR)
  assert float(schedule(T // 2)) == pytest.approx(LR * (1 + 0.15) / 2)
  assert float(schedule(T)) == pytest.approx(0.15 * LR)
  assert float(schedule(T + 50)) == pytest.approx(0.15 * LR)


def test_linear():
  schedule = _check(_config('linear', final_fraction=0.2))
  assert float(schedule(T // 4)) == pytest.approx(LR * (1 - 0.8 / 4))
  assert float(schedule(T)) == pytest.approx(0.2 * LR)


def test_inverse_sqrt_without_warmup():
  schedule = _check(_config('inverse_sqrt'))
  assert float(schedule(0)) == pytest.approx(LR)
  assert float(schedule(1)) == pytest.approx(LR)
  assert float(schedule(100)) == pytest.approx(LR / 10)


def test_inverse_sqrt_with_warmup_is_the_transformer_rule():
  c = _config('inverse_sqrt', warmup_epochs=1.6)  # W = 16
  schedule = _check(c)
  t = np.arange(1, T)
  np.testing.assert_allclose(_evaluate(schedule, t),
                             LR * np.minimum(t / 16, np.sqrt(16 / t)), rtol=2e-6)


@pytest.mark.parametrize('mult', [1.0, 2.0, 3.0])
def test_sgdr_restarts_and_cosine_within_periods(mult):
  c = _config('sgdr', sgdr_period_epochs=1.5, sgdr_period_mult=mult,
              final_fraction=0.05)
  schedule = _check(c)
  restarts = _sgdr_restarts(1.5, mult, T)  # 15, 15 (1 + mult), ...
  assert restarts[1] == 15 and restarts[2] == round(15 * (1 + mult))
  for start, end in zip(restarts[:-1], restarts[1:]):
    length = end - start
    assert float(schedule(start)) == pytest.approx(LR)  # restart at the peak
    # The period's last step is near its floor; the next one restarts.
    want = LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (length - 1) / length)))
    assert float(schedule(end - 1)) == pytest.approx(want, rel=1e-5)
    if end < restarts[-1]:
      assert float(schedule(end)) == pytest.approx(LR)
    mid = start + length // 2
    want = LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (length // 2) / length)))
    assert float(schedule(mid)) == pytest.approx(want, rel=1e-5)


def test_sgdr_periods_cover_the_run():
  c = _config('sgdr', sgdr_period_epochs=5.0, sgdr_period_mult=2.0)
  schedule = _check(c)  # periods 50, 100: the run ends mid second period
  assert float(schedule(T)) > float(schedule(T + 1)) > 0.05 * LR


@pytest.mark.parametrize('name,values', [
    ('constant', {}),
    ('step', {'step_epochs': (4, 9), 'gamma': 0.2}),
    ('cosine', {'final_fraction': 0.1}),
    ('linear', {'final_fraction': 0.3}),
    ('inverse_sqrt', {}),
    ('sgdr', {'sgdr_period_epochs': 2.0, 'sgdr_period_mult': 2.0,
              'final_fraction': 0.01}),
])
@pytest.mark.parametrize('warmup_epochs,init_fraction', [(2.0, 0.0), (1.25, 0.3)])
def test_warmup_then_each(name, values, warmup_epochs, init_fraction):
  c = _config(name, warmup_epochs=warmup_epochs,
              warmup_init_fraction=init_fraction, **values)
  schedule = _check(c)
  w = round(warmup_epochs * SPE)
  ramp = _evaluate(schedule, np.arange(w + 1))
  np.testing.assert_allclose(
      ramp[:w], LR * (init_fraction + (1 - init_fraction) * np.arange(w) / w),
      rtol=2e-6)
  # Continuous at the join: the ramp reaches lr exactly where the schedule
  # starts, and the last warmup step is one ramp increment below it.
  assert ramp[w] == pytest.approx(LR)
  assert ramp[w] - ramp[w - 1] == pytest.approx(LR * (1 - init_fraction) / w)


@pytest.mark.parametrize('name,values', [
    ('constant', {'warmup_epochs': 1.0}),
    ('step', {'step_epochs': (4, 9), 'gamma': 0.2}),
    ('cosine', {'final_fraction': 0.1, 'warmup_epochs': 0.5}),
    ('linear', {}),
    ('inverse_sqrt', {'warmup_epochs': 3.0}),
    ('sgdr', {'sgdr_period_epochs': 0.7, 'sgdr_period_mult': 1.5}),
])
def test_jittable_and_array_learning_rate(name, values):
  schedule = _build(_config(name, **values))
  eager = _evaluate(schedule)
  np.testing.assert_allclose(_evaluate(jax.jit(schedule)), eager, rtol=1e-6,
                             atol=1e-7)  # float32 cos near -1
  assert np.all(eager >= 0)
  for t in (0, 7, 61, T):
    assert float(jax.jit(schedule)(t)) == pytest.approx(float(schedule(t)), rel=1e-6)
  # The learning rate may be a traced array: a sweep over it compiles once.
  lrs = jnp.asarray([0.1, 0.5, 2.0])
  swept = jax.jit(jax.vmap(
      lambda lr: _build(_config(name, **values), lr)(jnp.asarray(STEPS))))(lrs)
  np.testing.assert_allclose(np.asarray(swept), np.asarray(lrs)[:, None] * eager / LR,
                             rtol=2e-6, atol=3e-7)


# --------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize('values,key', [
    ({'name': 'cosin'}, 'name'),
    ({'warmup_epochs': -1.0}, 'warmup_epochs'),
    ({'warmup_epochs': 1.0, 'warmup_init_fraction': 1.5}, 'warmup_init_fraction'),
    ({'warmup_init_fraction': 0.5}, 'warmup_init_fraction'),  # no warmup
    ({'name': 'step', 'step_epochs': ()}, 'step_epochs'),
    ({'name': 'step', 'step_epochs': (5, 3)}, 'step_epochs'),
    ({'name': 'step', 'step_epochs': (0, 3)}, 'step_epochs'),
    ({'name': 'step', 'step_epochs': (2, 3), 'warmup_epochs': 2.0}, 'step_epochs'),
    ({'name': 'step', 'step_epochs': (2,), 'gamma': 0.0}, 'gamma'),
    ({'name': 'cosine', 'final_fraction': 1.2}, 'final_fraction'),
    ({'name': 'sgdr', 'sgdr_period_epochs': 0.0}, 'sgdr_period_epochs'),
    ({'name': 'sgdr', 'sgdr_period_mult': 0.5}, 'sgdr_period_mult'),
    ({'name': 'cosine', 'gamma': 0.5}, 'gamma'),  # not read by cosine
    ({'name': 'constant', 'final_fraction': 0.5}, 'final_fraction'),
    ({'name': 'step', 'step_epochs': ('10',)}, 'step_epochs'),
])
def test_validation_names_the_key(values, key):
  c = _config(**values)
  # Checked once, when the run's config is resolved; build_schedule trusts it.
  with pytest.raises(ConfigError, match=rf'^optimizer\.schedule\.{key}:'):
    schedules.validate_schedule_config(c)


def test_unknown_name_lists_the_known_ones():
  with pytest.raises(ConfigError, match="unknown schedule 'cosin'; known: constant, step"):
    schedules.validate_schedule_config(_config('cosin'))


def test_unknown_key():
  c = _config()
  c.warmup = 1.0
  with pytest.raises(ConfigError, match=r'^optimizer\.schedule\.warmup: unknown key'):
    schedules.validate_schedule_config(c)


def test_warmup_longer_than_a_decaying_run():
  with pytest.raises(ConfigError, match=r'^optimizer\.schedule\.warmup_epochs:'):
    _build(_config('cosine', warmup_epochs=float(EPOCHS)))
  with pytest.raises(ConfigError, match=r'^optimizer\.schedule\.warmup_epochs:'):
    _build(_config('constant', warmup_epochs=EPOCHS + 1.0))


def test_sgdr_with_too_many_restarts():
  c = _config('sgdr', sgdr_period_epochs=0.01, sgdr_period_mult=1.0)
  with pytest.raises(ConfigError, match=r'^optimizer\.schedule\.sgdr_period_epochs:'):
    schedules.build_schedule(c, LR, steps_per_epoch=100, num_epochs=20)


def test_defaults_validate():
  schedules.validate_schedule_config(schedules.default_schedule_config())


# --------------------------------------------------------------------------
# Linear scaling rule


def test_scaled_learning_rate():
  assert schedules.scaled_learning_rate(0.1, 1024, 256) == pytest.approx(0.4)
  assert schedules.scaled_learning_rate(0.3, 64, 256) == pytest.approx(0.075)
  assert schedules.scaled_learning_rate(0.3, 64, 0) == 0.3  # off
  with pytest.raises(ValueError):
    schedules.scaled_learning_rate(0.3, 64, -1)


@pytest.mark.parametrize('batch', [8, 96, 1000])
def test_inverse_scaling_keeps_the_step_of_a_summed_loss(batch):
  # The slides' lr / N on a loss summed over the batch takes the step that
  # the unscaled rate takes on the mean: lr * ref / B * sum = lr * ref * mean.
  rng = np.random.default_rng(batch)
  grads = rng.normal(size=batch)
  lr, ref = 0.3, 32
  inverse = schedules.scaled_learning_rate(lr, batch, ref, 'inverse')
  assert inverse == pytest.approx(lr * ref / batch)
  assert inverse * grads.sum() == pytest.approx(lr * ref * grads.mean())
  assert schedules.scaled_learning_rate(lr, batch, 0, 'inverse') == lr  # off
  with pytest.raises(ValueError, match='linear, inverse'):
    schedules.scaled_learning_rate(lr, batch, ref, 'quadratic')


# --------------------------------------------------------------------------
# WSD


def wsd_expected(c, lr, t, spe=SPE, total=T):
  """The module docstring's WSD formula, in float64 NumPy."""
  t = np.asarray(t, np.float64)
  w = round(c.warmup_epochs * spe)
  length = max(round(c.decay_fraction * total), 1)
  start = total - length
  u = np.clip((t - start) / length, 0.0, 1.0)
  g = u if c.decay_shape == 'linear' else np.sqrt(u)
  f = c.final_fraction
  m = np.where(t < start, 1.0, f + (1 - f) * (1 - g))
  if w:
    f0 = c.warmup_init_fraction
    m = np.where(t < w, f0 + (1 - f0) * t / w, m)
  return lr * m


def test_wsd_defaults():
  c = schedules.default_schedule_config()
  assert (c.decay_fraction, c.decay_shape) == (0.2, 'linear')
  schedules.validate_schedule_config(_config('wsd'))


@pytest.mark.parametrize('shape', ['linear', '1-sqrt'])
@pytest.mark.parametrize('values', [
    {},
    {'decay_fraction': 0.35, 'final_fraction': 0.1},
    {'warmup_epochs': 1.25, 'warmup_init_fraction': 0.3, 'decay_fraction': 0.5},
    {'warmup_epochs': 2.0, 'decay_fraction': 0.013, 'final_fraction': 0.05},
    {'decay_fraction': 1.0},
])
def test_wsd_matches_its_formula_at_every_step(shape, values):
  c = _config('wsd', decay_shape=shape, **values)
  schedules.validate_schedule_config(c)
  schedule = schedules.build_schedule(c, LR, steps_per_epoch=SPE,
                                      num_epochs=EPOCHS)
  got = _evaluate(schedule)
  np.testing.assert_allclose(got, wsd_expected(c, LR, STEPS), rtol=2e-6,
                             atol=1e-7)
  # Stable at the peak until the decay, which ends at final_fraction.
  length = max(round(c.decay_fraction * T), 1)
  w = round(c.warmup_epochs * SPE)
  assert got[w:].min() >= c.final_fraction * LR * (1 - 1e-6)  # never below
  np.testing.assert_allclose(got[w:T - length + 1], LR, rtol=1e-6)
  assert got[T] == pytest.approx(c.final_fraction * LR, abs=1e-7)


def test_wsd_is_a_function_of_the_step_so_resuming_sees_the_same_rate():
  c = _config('wsd', warmup_epochs=1.0, decay_shape='1-sqrt',
                       decay_fraction=0.3, final_fraction=0.02)
  def build():
    return schedules.build_schedule(c, LR, steps_per_epoch=SPE,
                                    num_epochs=EPOCHS)
  full = _evaluate(jax.jit(build()))
  # A "resumed" run rebuilds the schedule and asks for one step at a time.
  resumed = build()
  for t in (0, 9, 10, 83, 84, 100, T - 1, T):
    assert float(resumed(jnp.int32(t))) == pytest.approx(full[t], rel=1e-6)
  # A traced learning rate (a swept hyperparameter) only scales it.
  lrs = jnp.asarray([0.1, 1.0], jnp.float32)
  swept = jax.vmap(lambda lr: schedules.build_schedule(
      c, lr, steps_per_epoch=SPE, num_epochs=EPOCHS)(jnp.arange(T)))(lrs)
  np.testing.assert_allclose(swept, np.outer(lrs, full[:T] / LR), rtol=2e-6,
                             atol=1e-8)


@pytest.mark.parametrize('values, key', [
    ({'decay_shape': 'cosine'}, 'decay_shape'),
    ({'decay_shape': 'sqrt'}, 'decay_shape'),
    ({'decay_fraction': 0.0}, 'decay_fraction'),
    ({'decay_fraction': 1.5}, 'decay_fraction'),
    ({'decay_fraction': float('nan')}, 'decay_fraction'),
    ({'final_fraction': 1.2}, 'final_fraction'),
    ({'name': 'cosine', 'decay_fraction': 0.3}, 'decay_fraction'),  # unused
    ({'name': 'linear', 'decay_shape': '1-sqrt'}, 'decay_shape'),  # unused
    ({'gamma': 0.5}, 'gamma'),  # not read by wsd
])
def test_wsd_validation_names_the_key(values, key):
  with pytest.raises(ConfigError, match=rf'^optimizer\.schedule\.{key}:'):
    schedules.validate_schedule_config(_config(**{'name': 'wsd', **values}))


def test_wsd_decay_during_warmup_is_refused_when_built():
  c = _config('wsd', warmup_epochs=6.0, decay_fraction=0.6)
  schedules.validate_schedule_config(c)
  with pytest.raises(ConfigError, match=r'^optimizer\.schedule\.decay_fraction:'):
    schedules.build_schedule(c, LR, steps_per_epoch=SPE, num_epochs=EPOCHS)
  with pytest.raises(ConfigError, match=r'^optimizer\.schedule\.warmup_epochs:'):
    schedules.build_schedule(_config('wsd', warmup_epochs=12.0), LR,
                             steps_per_epoch=SPE, num_epochs=EPOCHS)


def test_wsd_through_a_run_config():
  config = resolve(tiny_config(
      'optimizer.schedule.name=wsd', 'optimizer.schedule.decay_shape=1-sqrt'))
  assert config.optimizer.schedule.decay_fraction == 0.2
  with pytest.raises(ConfigError, match=r'optimizer\.schedule\.decay_shape'):
    resolve(tiny_config('optimizer.schedule.name=wsd',
                        'optimizer.schedule.decay_shape=exp'))


# --------------------------------------------------------------------------
# The schedule counts updates under gradient accumulation


@pytest.mark.parametrize('k', [2, 3, 7])
@pytest.mark.parametrize('shape', ['linear', '1-sqrt'])
def test_schedule_under_accumulation_counts_updates(k, shape):
  c = _config('wsd', warmup_epochs=1.5, decay_shape=shape, final_fraction=0.1)
  schedule = schedules.build_schedule(c, LR, steps_per_epoch=SPE,
                                      num_epochs=EPOCHS, accumulate_steps=k)
  updates = T // k  # the run's updates
  steps = np.arange(updates + 5)
  np.testing.assert_allclose(
      _evaluate(schedule, steps),
      wsd_expected(c, LR, steps, spe=SPE / k, total=updates), rtol=2e-6,
      atol=1e-7)


def test_accumulation_equals_a_run_with_fewer_steps_per_epoch():
  for name, values in [('cosine', {'warmup_epochs': 2.0}),
                       ('step', {'step_epochs': (3, 8)}),
                       ('sgdr', {'sgdr_period_epochs': 1.5}),
                       ('wsd', {'warmup_epochs': 0.5})]:
    c = _config(name, **values)
    accumulated = schedules.build_schedule(
        c, LR, steps_per_epoch=SPE, num_epochs=EPOCHS, accumulate_steps=2)
    plain = schedules.build_schedule(c, LR, steps_per_epoch=SPE // 2,
                                     num_epochs=EPOCHS)
    np.testing.assert_array_equal(_evaluate(accumulated), _evaluate(plain))


def test_accumulation_that_leaves_no_update_is_refused():
  with pytest.raises(ConfigError, match=r'^optimizer\.accumulate_steps:'):
    schedules.build_schedule(_config('cosine'), LR, steps_per_epoch=2,
                             num_epochs=2, accumulate_steps=5)
