"""The recipe's learning-rate steps: the too small / ok / too large diagnosis
(on synthetic curves, against its stated rules, and on real short runs), the
coarse learning-rate step (against the range test's steps run one rate at a
time) and overfitting a few batches."""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from launch import recipe as recipe_cli
from launch import recipe_args
from research.errors import ConfigError
from research.recipe import coarse_lr, lr_diagnosis, lr_range, overfit
from train_helpers import tiny_config

diagnose = lr_diagnosis.diagnose_learning_rate


# --------------------------------------------------------------------------
# The diagnosis on synthetic curves (fast)


def _noisy(curve, scale=0.01, seed=0):
  rng = np.random.default_rng(seed)
  return np.asarray(curve) * (1 + scale * rng.standard_normal(len(curve)))


def test_synthetic_curves():
  t = np.arange(100)
  flat = _noisy(np.full(100, 2.3))
  decreasing = _noisy(2.3 * np.exp(-t / 40) + 0.2)
  rising = _noisy(2.3 * (1 + t / 200))
  exploding = 2.3 * np.exp(t / 10)
  with_nan = np.r_[2.3 * np.exp(-t[:50] / 40), np.nan, np.full(49, np.nan)]
  oscillating = 2.3 + 0.9 * np.sin(t)  # swings, no progress
  slow = 2.3 * (1 - 0.0005 * t)  # falls 5% in 100 steps
  cases = {'too small': (flat, slow), 'ok': (decreasing,),
           'too large': (rising, exploding, with_nan, oscillating)}
  for verdict, curves in cases.items():
    for curve in curves:
      assert diagnose(curve).verdict == verdict, curve[:5]
  d = diagnose(with_nan)
  assert 'step 51' in d.reason and np.isnan(d.drop)
  assert diagnose([np.inf, 1.0]).verdict == 'too large'
  assert 'exploded' in diagnose(exploding).reason
  assert 'oscillated' in diagnose(oscillating).reason


def test_rules_against_a_direct_implementation():
  """Random curves against the module docstring's rules, written anew."""
  rng = np.random.default_rng(4)
  seen = set()
  for trial in range(400):
    n = int(rng.integers(1, 60))
    start = rng.uniform(0.5, 3)
    slope = rng.uniform(-0.5, 0.8) * start / n
    noise = rng.uniform(0, 0.6) * start
    values = start - slope * np.arange(n) + noise * rng.standard_normal(n)
    values = np.abs(values) + 1e-3
    if trial % 17 == 0:
      values[rng.integers(n)] = np.nan
    w = max(1, n // 10)
    if not np.all(np.isfinite(values)):
      expected = 'too large'
    else:
      s, e = values[:w].mean(), values[-w:].mean()
      drop = (s - e) / abs(s)
      later = values[w:] if n > w else values
      if values.max() > 2 * values[0] or drop < -0.05:
        expected = 'too large'
      elif drop < 0.1:
        expected = ('too large' if (later.max() - later.min()) / abs(s) > 0.5
                    else 'too small')
      else:
        expected = 'ok'
      got = diagnose(values)
      assert got.start == pytest.approx(s) and got.end == pytest.approx(e)
      assert got.drop == pytest.approx(drop)
    assert diagnose(values).verdict == expected
    seen.add(expected)
  assert seen == set(lr_diagnosis.VERDICTS)


def test_thresholds_are_parameters_and_checked():
  curve = np.linspace(2.3, 2.0, 50)  # 13% drop
  assert diagnose(curve).verdict == 'ok'
  assert diagnose(curve, min_drop=0.2).verdict == 'too small'
  assert diagnose(np.linspace(2.3, 2.4, 50)).verdict == 'too small'
  assert diagnose(np.linspace(2.3, 2.4, 50), rise_tolerance=0.01).verdict == (
      'too large')
  with pytest.raises(ConfigError, match='spike_factor'):
    diagnose(curve, spike_factor=1.0)
  with pytest.raises(ConfigError, match='window'):
    diagnose(curve, window=0)
  with pytest.raises(ValueError):
    diagnose([])


# --------------------------------------------------------------------------
# Real short runs


@pytest.mark.slow
def test_coarse_step_diagnoses_real_runs():
  """A tiny network at 1e-6 (too small), 1e-2 (fine) and 10 (too large)."""
  result = coarse_lr.coarse_lr_step(tiny_config(), learning_rates=(1e-6, 1e-2, 10.0),
                                    num_steps=60)
  verdicts = {t.learning_rate: t.verdict for t in result.trials}
  assert verdicts == {1e-6: 'too small', 1e-2: 'ok', 10.0: 'too large'}
  assert result.best_lr == 1e-2 and 'fell fastest at lr 0.01' in result.message
  assert all(len(t.losses) == 60 for t in result.trials)
  # Same initialization and batches: the first losses are equal.
  assert len({t.losses[0] for t in result.trials}) == 1


@pytest.mark.slow
def test_coarse_step_is_the_range_steps_at_constant_rates():
  """Each vmapped member trains as the range test's steps at its own
  constant rate, one rate at a time; SGD's drops rank with the rate."""
  config = tiny_config('optimizer.name=sgd')
  rates = (1e-1, 1e-2, 1e-3, 1e-4)
  result = coarse_lr.coarse_lr_step(config, learning_rates=rates, num_steps=40,
                                    weight_decay=1e-4)
  cfg, parts, state, steps = lr_range.prepare_lr_steps(
      tiny_config('optimizer.name=sgd', 'optimizer.weight_decay=1e-4'))
  assert float(state.hparams['weight_decay']) == pytest.approx(1e-4)
  rows = jnp.asarray(lr_range.batch_rows(cfg, len(parts.dataset.x_train), 40))
  run = jax.jit(steps)
  for trial in result.trials[:2]:
    _, metrics = run(state, parts.x_train, parts.y_train,
                     jnp.full(40, trial.learning_rate, jnp.float32), rows)
    np.testing.assert_allclose(trial.losses, metrics['loss'], rtol=2e-4)
  ends = [t.end for t in result.trials]
  assert ends == sorted(ends)  # the larger (safe) rate falls faster
  assert result.best_lr == 1e-1
  assert result.trials[-1].verdict == 'too small'


def test_coarse_step_rejects_bad_values():
  for kwargs, key in (({'learning_rates': ()}, 'learning_rates'),
                      ({'learning_rates': (0.1, -1.0)}, 'learning_rates'),
                      ({'num_steps': 1}, 'num_steps'),
                      ({'weight_decay': -1e-4}, 'weight_decay')):
    with pytest.raises(ConfigError, match=key):
      coarse_lr.coarse_lr_step(tiny_config(), **kwargs)


def test_pick_skips_too_large_rates():
  def trial(lr, drop, verdict):
    return coarse_lr.RateTrial(lr, (1.0,), 1.0, 1.0 - drop, drop, drop,
                               verdict, '')
  trials = [trial(1.0, 5.0, 'too large'), trial(0.1, 0.5, 'ok'),
            trial(0.01, 0.7, 'ok'), trial(1e-3, float('nan'), 'too small'),
            trial(1e-4, 0.01, 'too small')]
  assert coarse_lr.pick(trials).learning_rate == 0.01
  assert coarse_lr.pick(trials[:1]) is None


@pytest.mark.slow
def test_overfit_five_batches_reaches_the_target():
  config = tiny_config('train.batch_size=32')
  assert overfit.DEFAULT_NUM_BATCHES == 5
  fitted = overfit.overfit_batches(config, max_steps=1000)
  assert fitted.num_batches == 5 and fitted.num_examples == 160
  assert fitted.reached and fitted.final_accuracy == 1.0
  assert fitted.steps_to_fit % 5 == 0 and fitted.final_loss < 0.2
  assert '5 batches of 32' in fitted.message


# --------------------------------------------------------------------------
# The command


def _parse(*argv):
  parser = argparse.ArgumentParser()
  recipe_args.add_parser(parser.add_subparsers(dest='command'))
  return parser.parse_args(['recipe', *argv])


@pytest.mark.slow
def test_command_reports_the_coarse_step(tmp_path):
  results = tmp_path / 'results' / 'recipe_quickstart.md'
  args = _parse('quickstart', '--set=model.hidden=(32, 32)',
                '--set=tracking.wandb=disabled', '--steps', 'coarse_lr',
                '--coarse-lrs', '1e-6,0.01,10', '--coarse-steps', '30',
                '--output-dir', str(tmp_path / 'runs'), '--results', str(results))
  assert recipe_cli.cmd_recipe(args) == 0
  record = json.loads((tmp_path / 'runs' / 'recipe_quickstart' /
                       'recipe.json').read_text())
  trials = record['coarse_lr']['trials']
  assert [t['learning_rate'] for t in trials] == [1e-6, 0.01, 10.0]
  assert trials[0]['verdict'] == 'too small' and trials[2]['verdict'] == 'too large'
  text = results.read_text()
  assert '## 4. Coarse learning-rate step' in text and '*Lecture:*' in text
  assert "--coarse-lrs 1e-6,0.01,10" in text and '| **0.01** |' in text
  assert (results.parent / 'figures' / 'recipe_quickstart' / 'coarse_lr.png'
          ).read_bytes()[:4] == b'\x89PNG'


def test_command_rejects_bad_coarse_arguments(capsys):
  for flags, message in ((('--coarse-lrs', '0.1,x'), 'comma-separated'),
                         (('--coarse-lrs', '0.1,-1'), 'positive'),
                         (('--weight-decay-range', '1e-2,1e-6'), 'LOW,HIGH'),
                         (('--fine-epoch-fraction', '0'), '(0, 1]'),
                         (('--coarse-steps', '1'), '>= 2')):
    assert recipe_cli.cmd_recipe(_parse('quickstart', *flags)) == 2
    assert message in capsys.readouterr().err
  assert recipe_cli.weight_decay_range(_parse('quickstart', '--weight-decay-range',
                                              'none')) is None
