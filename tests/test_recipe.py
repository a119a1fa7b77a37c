"""research/recipe and `research recipe`: the initial-loss check, overfitting
a batch, the learning-rate range test and coarse-to-fine search, checked
against formulas, NumPy loops and hand-written SGD."""

import argparse
import inspect
import json
import math
import pathlib

import jax
import numpy as np
import pytest
import scipy.special

from launch import recipe as recipe_cli
from launch import recipe_args
from research import config as config_lib
from research import losses, models, optim
from research.errors import ConfigError
from research.penalties import default_penalty_config
from research.recipe import coarse_to_fine as c2f
from research.recipe import coarse_lr, initial_loss, lr_diagnosis, lr_range
from research.recipe import overfit
from research.search import Discrete, LogUniform, Uniform
from research.train import create_train_state, make_train_step
from research.train.hparams import initial_hparams
from research.train.resolve import resolve
from train_helpers import tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


# --------------------------------------------------------------------------
# 1. Initial loss


def _numpy_logits(params, x):
  """The base config's MLP (one ReLU layer), in NumPy."""
  hidden = np.maximum(x @ params['Dense_0']['kernel'] + params['Dense_0']['bias'], 0)
  return hidden @ params['Dense_1']['kernel'] + params['Dense_1']['bias']


def test_initial_loss_is_log_c_for_the_default_init():
  num_classes = 7
  config = config_lib.base_config()  # lecun_normal, one hidden layer of 100
  model = models.build_model(config.model, num_classes)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 64, 40)).astype(np.float32)
  y = rng.integers(0, num_classes, size=(4, 64)).astype(np.int32)
  state = create_train_state(0, model, optim.build_optimizer(config), x[0, :1])
  result = initial_loss.measure_initial_loss(
      model, state, list(zip(x, y)), loss_name='cross_entropy',
      num_classes=num_classes)
  # Independently: the network and the cross-entropy in NumPy.
  params = jax.tree.map(lambda p: np.asarray(p, np.float64), state.params)
  logits = _numpy_logits(params, x.astype(np.float64))
  per_example = (scipy.special.logsumexp(logits, axis=-1)
                 - np.take_along_axis(logits, y[..., None], -1)[..., 0])
  np.testing.assert_allclose(result.batch_losses, per_example.mean(-1),
                             rtol=1e-5)
  assert result.expected == pytest.approx(math.log(num_classes))
  assert result.relative_error == pytest.approx(
      abs(result.loss - math.log(num_classes)) / math.log(num_classes))
  assert result.relative_error < result.tolerance and not result.flagged


def test_large_normal_init_of_a_deep_relu_net_is_flagged():
  # (That the quickstart is not flagged is checked by the command's test.)
  deep = tiny_config('model.init=large_normal', 'model.residual=false',
                     'model.hidden=(32, 32, 32, 32)', 'regularization.l2=1e-3')
  with pytest.warns(initial_loss.InitialLossWarning, match='above the expected'):
    flagged = initial_loss.check_initial_loss(deep, num_batches=2)
  assert flagged.flagged and flagged.relative_error > flagged.tolerance
  # The penalty is reported beside the data loss, not in it: 1e-3 * 1/2 |W|^2.
  assert 0 < flagged.penalty < flagged.loss


def test_expected_loss_of_other_losses():
  assert initial_loss.expected_initial_loss('binary_cross_entropy', 10)[0] == (
      pytest.approx(math.log(2)))
  for name in ('mse', 'mae', 'hinge'):
    value, note = initial_loss.expected_initial_loss(name, 10)
    assert value is None and 'no fixed value' in note
  with pytest.raises(ConfigError, match='known: .*cross_entropy'):
    initial_loss.expected_initial_loss('cross_entropi', 10)


# --------------------------------------------------------------------------
# 2. Overfitting a batch


def test_overfit_config_turns_regularization_off():
  config = overfit.overfit_config(tiny_config(
      'model.dropout=0.3', 'regularization.l2=1e-3', 'augment.mixup_alpha=0.2',
      'optimizer.weight_decay=1e-4', 'data.dev_size=400', 'train.patience=3',
      'train.monitor=dev/accuracy'))
  resolve(config)
  assert initial_hparams(config).keys() == {'learning_rate'}
  assert config.regularization.to_dict() == default_penalty_config().to_dict()
  assert config.train.patience == 0 and config.model.hidden == (32, 32)


def test_overfit_one_batch_and_failure_at_learning_rate_zero():
  config = tiny_config('train.batch_size=32')
  fitted = overfit.overfit_batches(config, num_batches=1, max_steps=200)
  assert fitted.reached and fitted.final_accuracy == 1.0
  assert len(fitted.step_losses) == fitted.steps_to_fit <= 200
  assert fitted.pass_accuracies[-1] == 1.0 and max(fitted.pass_accuracies[:-1]) < 1
  assert fitted.step_losses[-1] < fitted.step_losses[0]

  stuck = overfit.overfit_batches(config, num_batches=2, max_steps=20,
                                  learning_rate=0.0)
  assert not stuck.reached and 'never reached' in stuck.message
  assert stuck.num_examples == 64 and len(stuck.step_losses) == 20
  # A learning rate of 0 leaves the parameters alone: every pass over the
  # two batches sees the same two losses.
  losses_by_pass = np.asarray(stuck.step_losses).reshape(10, 2)
  np.testing.assert_allclose(losses_by_pass, losses_by_pass[:1].repeat(10, 0),
                             rtol=1e-6)


# --------------------------------------------------------------------------
# 3. Learning-rate range test


def test_schedule_is_exactly_geometric():
  rng = np.random.default_rng(0)
  for _ in range(20):
    lr_min = 10 ** rng.uniform(-8, -2)
    lr_max = lr_min * 10 ** rng.uniform(0.5, 8)
    steps = int(rng.integers(2, 500))
    lrs = lr_range.geometric_learning_rates(lr_min, lr_max, steps)
    expected = [lr_min * (lr_max / lr_min) ** (i / (steps - 1))
                for i in range(steps)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert lrs[0] == pytest.approx(lr_min) and lrs[-1] == pytest.approx(lr_max)
  with pytest.raises(ConfigError, match='lr_min'):
    lr_range.geometric_learning_rates(1e-2, 1e-3, 10)


def test_smoothing_matches_a_numpy_loop():
  rng = np.random.default_rng(1)
  values = rng.exponential(size=137)
  for beta in (0.0, 0.5, 0.9, 0.98):
    average, expected = 0.0, []
    for i, v in enumerate(values):
      average = beta * average + (1 - beta) * v
      expected.append(average / (1 - beta ** (i + 1)))
    np.testing.assert_allclose(lr_range.smooth(values, beta), expected,
                               rtol=1e-12)
  # Bias correction: a constant sequence is its own average from the start.
  np.testing.assert_allclose(lr_range.smooth(np.full(10, 3.0), 0.98), 3.0)


def test_stopping_rule_and_suggestion_on_a_known_curve():
  u = np.linspace(-6.0, 1.0, 141)  # log learning rate, step 0.05
  lrs = np.exp(u)
  minimum_at = 60  # u = -3
  curve = 1.0 + (u - u[minimum_at]) ** 2
  stop = lr_range.stopping_index(curve, divergence_factor=4.0)
  # First point after the minimum with 1 + d^2 > 4, i.e. d > sqrt(3).
  assert stop == int(np.flatnonzero(u - u[minimum_at] > math.sqrt(3))[0])
  assert lr_range.stopping_index(curve[:stop], 4.0) is None
  with_nan = curve.copy()
  with_nan[30] = np.nan
  assert lr_range.stopping_index(with_nan, 4.0) == 30

  by_minimum = lr_range.suggest_learning_rate(lrs[:stop], curve[:stop],
                                              rule='minimum')
  assert by_minimum.minimum_lr == pytest.approx(math.exp(-3.0))
  assert by_minimum.suggested_lr == pytest.approx(math.exp(-3.0) / 10)
  # A symmetric drop centred at u = -4 falls fastest there.
  drop = 2.0 - np.tanh(2.0 * (u + 4.0))
  steepest = lr_range.suggest_learning_rate(lrs, drop, rule='steepest')
  assert steepest.suggested_lr == pytest.approx(math.exp(-4.0))
  never_fell = lr_range.suggest_learning_rate(lrs, 1.0 + u - u[0])
  assert never_fell.suggested_lr is None


def _numpy_loss_and_grads(params, x, y):
  """Mean cross-entropy of the base config's MLP and its gradient, by hand."""
  (w1, b1), (w2, b2) = ((params[k]['kernel'], params[k]['bias'])
                        for k in ('Dense_0', 'Dense_1'))
  z = x @ w1 + b1
  hidden = np.maximum(z, 0)
  logits = hidden @ w2 + b2
  log_p = logits - scipy.special.logsumexp(logits, axis=-1, keepdims=True)
  loss = -np.mean(log_p[np.arange(len(y)), y])
  d_logits = (np.exp(log_p) - np.eye(w2.shape[1])[y]) / len(y)
  d_z = (d_logits @ w2.T) * (z > 0)
  grads = {'Dense_0': {'kernel': x.T @ d_z, 'bias': d_z.sum(0)},
           'Dense_1': {'kernel': hidden.T @ d_logits, 'bias': d_logits.sum(0)}}
  return loss, grads


def test_each_step_trains_at_its_own_learning_rate():
  config = config_lib.apply_overrides(config_lib.base_config(), [
      'optimizer.name=sgd', 'train.batching=fixed', 'train.batch_size=16'])
  model = models.build_model(config.model, 10)
  rng = np.random.default_rng(3)
  x = rng.normal(size=(16, 40)).astype(np.float32)
  y = rng.integers(0, 10, size=16).astype(np.int32)
  state = create_train_state(0, model, optim.build_optimizer(config), x[:1],
                             hparams=initial_hparams(config))
  step = make_train_step(model, optim.optimizer_for(config, steps_per_epoch=1),
                         losses.get('cross_entropy'))
  run = jax.jit(lr_range.make_lr_steps(step, batching='fixed', batch_size=16))
  lrs = np.asarray([0.5, 0.05, 0.0], np.float32)
  after, metrics = run(state, x, y, lrs, np.zeros((3, 1), np.int32))

  # Plain SGD in NumPy, one learning rate per step.
  params = jax.tree.map(lambda p: np.asarray(p, np.float64), state.params)
  expected_losses = []
  for lr in lrs:
    loss, grads = _numpy_loss_and_grads(params, x.astype(np.float64), y)
    expected_losses.append(loss)
    params = jax.tree.map(lambda p, g, lr=lr: p - lr * g, params, grads)
  np.testing.assert_allclose(metrics['loss'], expected_losses, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(after.params), jax.tree.leaves(params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------
# 4. Coarse-to-fine search


def test_rank_puts_diverged_points_last():
  scores = [0.3, None, 0.1, float('nan'), 0.2, 0.1]
  assert c2f.rank(scores, 'min') == [2, 5, 4, 0, 1, 3]
  assert c2f.rank(scores, 'max') == [0, 4, 2, 5, 1, 3]
  assert c2f.ranking_metric(tiny_config()) == ('train/loss', 'min')
  assert c2f.ranking_metric(tiny_config('data.dev_size=400')) == (
      'dev/accuracy', 'max')


def test_narrowing_keeps_the_top_points_inside_the_original_bounds():
  rng = np.random.default_rng(2)
  for trial in range(300):
    log = trial % 2 == 0
    low = 10 ** rng.uniform(-6, 0) if log else rng.uniform(-5, 5)
    high = low * 10 ** rng.uniform(0.1, 5) if log else low + rng.uniform(0.1, 10)
    kind = LogUniform if log else Uniform
    original = kind(low, high)
    # A current range inside the original one, and top points inside that.
    cut = np.sort(rng.uniform(size=2))
    current = kind(original.from_unit(cut[0]), original.from_unit(cut[1]))
    if not current.low < current.high:
      continue
    top = [current.from_unit(u) for u in rng.uniform(size=rng.integers(1, 5))]
    margin = rng.uniform(0.01, 0.5)
    narrowed = c2f.narrow_axis(current, top, original, margin)
    assert type(narrowed) is kind
    assert original.low <= narrowed.low < narrowed.high <= original.high
    assert all(narrowed.low <= v <= narrowed.high for v in top)
    space = np.log if log else (lambda v: v)
    pad = margin * (space(current.high) - space(current.low))
    expected_low = max(space(original.low), space(min(top)) - pad)
    assert space(narrowed.low) == pytest.approx(expected_low, abs=1e-9)
  assert c2f.narrow_axis(Discrete((1, 2, 3)), [3, 1], Discrete((1, 2, 3))) == (
      Discrete((1, 3)))


def test_axes_must_be_traced_hyperparameters():
  config = tiny_config()
  with pytest.raises(ConfigError, match='model.hidden: .*traced'):
    c2f.check_axes({'model.hidden': Discrete(((8,), (16,)))}, config)
  with pytest.raises(ConfigError, match='unknown config key'):
    c2f.check_axes({'optimizer.learning_rat': LogUniform(1e-3, 1e-1)}, config)
  c2f.check_axes(c2f.default_axes(config), config)


def test_short_budget_compresses_the_schedule():
  assert [c2f.short_budget(150, f) for f in (0.1, 0.001, 1.0)] == [15, 1, 150]
  config = tiny_config('train.num_epochs=20', 'optimizer.schedule.name=step',
                       'optimizer.schedule.warmup_epochs=2.0',
                       'optimizer.schedule.step_epochs=(10, 15)')
  short = c2f.short_run_config(config, 2)
  resolve(short)
  assert short.train.num_epochs == 2 and short.train.checkpoint_every_epochs == 2
  assert short.optimizer.schedule.warmup_epochs == pytest.approx(0.2)
  assert short.optimizer.schedule.step_epochs == pytest.approx((1.0, 1.5))
  sgdr = c2f.short_run_config(tiny_config(
      'train.num_epochs=40', 'optimizer.schedule.name=sgdr'), 10)
  assert sgdr.optimizer.schedule.sgdr_period_epochs == pytest.approx(2.5)
  with pytest.raises(ConfigError, match='epoch_fraction'):
    c2f.short_budget(150, 0.0)


def test_default_axes_search_learning_rate_and_weight_decay():
  config = tiny_config()
  axes = c2f.default_axes(config, center=0.02)
  assert axes == {'optimizer.learning_rate': LogUniform(0.002, 0.2),
                  'optimizer.weight_decay': LogUniform(
                      *c2f.DEFAULT_WEIGHT_DECAY_RANGE)}
  assert list(c2f.default_axes(config, weight_decay=None)) == [
      'optimizer.learning_rate']


def test_coarse_to_fine_end_to_end(tmp_path):
  """The joint learning rate x weight decay search: a coarse round of 1
  epoch, a fine one of 3, narrowed on both axes."""
  config = tiny_config('train.num_epochs=10')
  axes = {'optimizer.learning_rate': LogUniform(1e-4, 1e-1),
          'optimizer.weight_decay': LogUniform(1e-6, 1e-2)}
  result = c2f.coarse_to_fine_search(
      config, axes, output_dir=tmp_path, rounds=2, points_per_round=3, top_k=2,
      epoch_fraction=0.1, fine_epoch_fraction=0.3)
  assert result.metric == 'train/loss' and len(result.rounds) == 2
  first, second = result.rounds
  assert (first.epochs, second.epochs) == (1, 3)
  assert len(first.points) == len(second.points) == 3
  for rd in result.rounds:
    for point, score, run_dir, verdict in zip(rd.points, rd.scores,
                                              rd.run_dirs, rd.verdicts):
      run_dir = pathlib.Path(run_dir)
      assert run_dir.parent == tmp_path / f'round{rd.index}'
      summary = json.loads((run_dir / 'summary.json').read_text())
      assert summary['epochs'] == rd.epochs
      assert score == summary['final']['train/loss']
      trained = json.loads((run_dir / 'config.json').read_text())['optimizer']
      for key in axes:
        assert trained[key.split('.')[1]] == point[key]
      rows = [json.loads(l) for l in (run_dir / 'metrics.jsonl').read_text(
          ).splitlines() if l]
      assert verdict == lr_diagnosis.diagnose_learning_rate(
          [r['train/loss'] for r in rows]).verdict
    assert sorted(rd.scores) == [rd.scores[i] for i in rd.order]
  for key, axis in axes.items():
    top = [first.points[i][key] for i in first.order[:2]]
    narrowed = c2f.narrow_axis(axis, top, axis)
    assert second.ranges[key] == c2f.describe_axis(narrowed)
    assert all(narrowed.low <= p[key] <= narrowed.high for p in second.points)
  # The best point comes from the longest budget: the fine round.
  assert result.best_round == 2 and result.best_score == min(second.scores)
  with pytest.raises(ConfigError, match='fine_epoch_fraction'):
    c2f.coarse_to_fine_search(config, axes, output_dir=tmp_path,
                              fine_epoch_fraction=1.5)


# --------------------------------------------------------------------------
# The command


def _parse(*argv):
  parser = argparse.ArgumentParser()
  recipe_args.add_parser(parser.add_subparsers(dest='command'))
  return parser.parse_args(['recipe', *argv])


def test_command_writes_the_report(tmp_path, capsys):
  sets = [f'--set={s}' for s in (
      'model.hidden=(32, 32)', 'train.num_epochs=4', 'tracking.wandb=disabled',
      'tracking.progress=false')]
  results = tmp_path / 'results' / 'recipe_quickstart.md'
  args = _parse('quickstart', *sets, '--steps', 'initial_loss,lr_range',
                '--lr-min', '1e-4', '--lr-max', '100', '--lr-steps', '60',
                '--output-dir', str(tmp_path / 'runs'), '--results', str(results))
  assert recipe_cli.cmd_recipe(args) == 0
  record = json.loads((tmp_path / 'runs' / 'recipe_quickstart' /
                       'recipe.json').read_text())
  # The quickstart network starts at chance: log 10.
  first = record['initial_loss']
  assert not first['flagged'] and first['relative_error'] < 0.05
  assert first['penalty'] == 0.0 and len(first['batch_losses']) == 5
  # Adam at a learning rate of 100 blows up: the test stops before the end;
  # the rates it ran are the start of the geometric schedule.
  lr = record['lr_range']
  n = len(lr['losses'])
  assert lr['stopped_at'] == n - 1 < 59 and record['failed'] == []
  np.testing.assert_allclose(
      lr['learning_rates'], lr_range.geometric_learning_rates(1e-4, 100.0, 60)[:n])
  np.testing.assert_allclose(lr['smoothed'], lr_range.smooth(lr['losses'], 0.9))
  assert 1e-4 < lr['suggested_lr'] < lr['learning_rates'][lr['stopped_at']]

  text = results.read_text()
  for heading in ('## 1. Loss at initialization', '## 3. Learning-rate range test',
                  '## Provenance'):
    assert heading in text
  assert '## 2.' not in text and '## 4.' not in text
  assert '](figures/recipe_quickstart/lr_range.png)' in text
  figure = results.parent / 'figures' / 'recipe_quickstart' / 'lr_range.png'
  assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert "--lr-steps 60" in text and "--set 'model.hidden=(32, 32)'" in text
  assert 'suggested learning rate' in capsys.readouterr().out


def test_command_defaults_are_the_library_defaults():
  def defaults(fn):
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()}
  cli = recipe_cli.DEFAULTS
  check, fit = defaults(initial_loss.check_initial_loss), defaults(
      overfit.overfit_batches)
  assert (cli['tolerance'], cli['loss_batches']) == (
      check['tolerance'], check['num_batches'])
  assert (cli['overfit_batches'], cli['overfit_steps']) == (
      fit['num_batches'], fit['max_steps'])
  lr = defaults(lr_range.lr_range_test)
  assert (cli['lr_min'], cli['lr_max'], cli['lr_steps'], cli['lr_rule']) == (
      lr['lr_min'], lr['lr_max'], lr['num_steps'], lr['rule'])
  search = defaults(c2f.coarse_to_fine_search)
  assert (cli['rounds'], cli['points'], cli['top_k'], cli['epoch_fraction'],
          cli['fine_epoch_fraction'], cli['margin']) == (
              search['rounds'], search['points_per_round'], search['top_k'],
              search['epoch_fraction'], search['fine_epoch_fraction'],
              search['margin'])
  assert recipe_cli.weight_decay_range(_parse('quickstart')) == (
      defaults(c2f.default_axes)['weight_decay'])
  coarse = defaults(coarse_lr.coarse_lr_step)
  assert recipe_cli.coarse_lrs(_parse('quickstart')) == coarse['learning_rates']
  assert (cli['coarse_steps'], cli['coarse_weight_decay']) == (
      coarse['num_steps'], coarse['weight_decay'])
  assert coarse['learning_rates'] == (1e-1, 1e-2, 1e-3, 1e-4)  # the lecture's
  assert fit['num_batches'] == 5


def test_command_rejects_bad_arguments(capsys):
  with pytest.raises(ConfigError, match='optimizer.learning_rat'):
    recipe_cli.cmd_recipe(_parse('quickstart', '--set',
                                 'optimizer.learning_rat=0.1'))
  with pytest.raises(ConfigError, match='unknown experiment'):
    recipe_cli.cmd_recipe(_parse('quickstrat'))
  assert recipe_cli.cmd_recipe(_parse('quickstart', '--steps', 'overfit,lr')) == 2
  assert 'known steps: initial_loss' in capsys.readouterr().err
  assert recipe_cli.cmd_recipe(_parse('quickstart', '--lr-rule', 'valley')) == 2
  assert "unknown rule 'valley'" in capsys.readouterr().err
