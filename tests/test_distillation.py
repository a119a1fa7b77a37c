"""Tests for research.distillation: the loss against SciPy and its closed-form
gradient, the targets of one teacher and of an ensemble against NumPy, the
training path end to end on MNIST-1D, and the refusals."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from research import config as config_lib
from research import distillation, losses, models, optim
from research.errors import ConfigError
from research.parallel import Parallel
from research.train import create_train_state, make_train_step, run
from research.train.epoch import make_train_epoch
from research.train.hparams import initial_hparams
from research.train.loop import build
from research.train.restore import load_trained
from research.train.resolve import config_hash, resolve
from train_helpers import tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

N, C = 64, 10
TEMPERATURES = (0.5, 1.0, 2.0, 4.0, 20.0)


def _logits(seed, scale=4.0, shape=(N, C)):
  return np.random.default_rng(seed).normal(0.0, scale, shape).astype(np.float32)


def _reference_loss(student, teacher_probs, temperature):
  """T^2 KL(p || q) with SciPy's softmax and relative entropy, in float64."""
  q = special.softmax(student.astype(np.float64) / temperature, axis=-1)
  return temperature**2 * special.rel_entr(teacher_probs, q).sum(-1)


@pytest.mark.parametrize('temperature', TEMPERATURES)
def test_soft_loss_is_t_squared_kl_of_softened_distributions(temperature):
  student, teacher = _logits(0), _logits(1)
  log_p = distillation.softened_log_probs(jnp.asarray(teacher), temperature)
  got = distillation.soft_target_loss(jnp.asarray(student), log_p, temperature)
  p = special.softmax(teacher.astype(np.float64) / temperature, axis=-1)
  np.testing.assert_allclose(got, _reference_loss(student, p, temperature),
                             rtol=2e-4, atol=2e-5 * temperature**2)
  assert np.all(np.asarray(got) >= -1e-4 * temperature**2)


@pytest.mark.parametrize('temperature', (1.0, 3.0, 20.0))
def test_ensemble_teacher_averages_softened_probabilities(temperature):
  student, members = _logits(2), [_logits(10 + k) for k in range(3)]
  log_p = distillation.average_log_probs(
      [distillation.softened_log_probs(jnp.asarray(m), temperature)
       for m in members])
  p = np.mean([special.softmax(m.astype(np.float64) / temperature, axis=-1)
               for m in members], axis=0)
  np.testing.assert_allclose(np.exp(log_p), p, rtol=1e-5, atol=1e-7)
  got = distillation.soft_target_loss(jnp.asarray(student), log_p, temperature)
  np.testing.assert_allclose(got, _reference_loss(student, p, temperature),
                             rtol=2e-4, atol=2e-5 * temperature**2)


@pytest.mark.parametrize('temperature', (1.0, 4.0, 100.0, 1000.0))
def test_gradient_is_t_times_softmax_difference(temperature):
  student, teacher = _logits(3), _logits(4)
  log_p = distillation.softened_log_probs(jnp.asarray(teacher), temperature)
  grad = jax.grad(lambda s: jnp.sum(distillation.soft_target_loss(
      s, log_p, temperature)))(jnp.asarray(student))
  assert grad.dtype == jnp.float32 and np.all(np.isfinite(grad))
  q = special.softmax(student.astype(np.float64) / temperature, axis=-1)
  p = special.softmax(teacher.astype(np.float64) / temperature, axis=-1)
  want = temperature * (q - p)
  # float32 rounding of the softmaxes, amplified by T.
  np.testing.assert_allclose(grad, want, atol=2e-6 * max(temperature, 1.0) * 4)


def test_alpha_mixes_hard_and_soft_terms():
  student, teacher = jnp.asarray(_logits(5)), jnp.asarray(_logits(6))
  labels = jnp.asarray(np.random.default_rng(7).integers(0, C, N), jnp.int32)
  temperature = 3.0
  targets = distillation.DistillTargets(
      labels, distillation.softened_log_probs(teacher, temperature))
  hard = losses.cross_entropy(student, labels)
  soft = distillation.soft_target_loss(student, targets.teacher_log_probs,
                                       temperature)
  loss = lambda a: distillation.distillation_loss(student, targets,
                                                  temperature, a)
  np.testing.assert_allclose(loss(0.0), hard, rtol=1e-6)
  np.testing.assert_allclose(loss(1.0), soft, rtol=1e-6)
  np.testing.assert_allclose(loss(0.3), 0.3 * soft + 0.7 * hard, rtol=1e-5)


def test_train_step_minimizes_the_distillation_loss():
  config = tiny_config('model.hidden=(8,)')
  model = models.build_model(config.model, C)
  tx = optim.build_optimizer(config)
  x = jax.random.normal(jax.random.PRNGKey(1), (N, 40))
  targets = distillation.DistillTargets(
      jnp.asarray(np.random.default_rng(8).integers(0, C, N), jnp.int32),
      distillation.softened_log_probs(jnp.asarray(_logits(9)), 2.0))
  state = create_train_state(0, model, tx, x[:1], hparams=initial_hparams(config))
  loss_fn = distillation.make_loss(2.0, 0.7)
  step = jax.jit(make_train_step(model, tx, loss_fn, num_classes=C))
  _, metrics = step(state, (x, targets))
  logits = model.apply({'params': state.params}, x, train=False)
  np.testing.assert_allclose(metrics['loss'], jnp.mean(loss_fn(logits, targets)),
                             rtol=1e-5)
  np.testing.assert_allclose(
      metrics['accuracy'], np.mean(np.argmax(logits, -1) == targets.labels))


@pytest.mark.parametrize('batching', ('epoch', 'fixed'))
def test_epoch_batches_every_leaf_of_the_targets_alike(batching):
  # Leaf 2 holds each row's index too: a step sees matching rows iff equal.
  ids = jnp.arange(32)
  targets = distillation.DistillTargets(
      ids.astype(jnp.int32), jnp.tile(ids[:, None], (1, C)).astype(jnp.float32))

  def step(state, batch):
    x, y = batch
    mismatch = (jnp.sum(jnp.abs(x[:, 0] - y.labels))
                + jnp.sum(jnp.abs(y.teacher_log_probs[:, 3] - y.labels)))
    return state.replace(step=state.step + 1), {'loss': mismatch,
                                                'count': jnp.asarray(y.labels.shape[0])}

  config = tiny_config('model.hidden=(4,)')
  model = models.build_model(config.model, C)
  x = jnp.tile(ids[:, None], (1, 40)).astype(jnp.float32)
  state = create_train_state(0, model, optim.build_optimizer(config), x[:1])
  epoch = jax.jit(make_train_epoch(step, num_examples=32, batch_size=8,
                                   shuffle=True, batching=batching))
  _, metrics = epoch(state, x, targets)
  assert np.all(np.asarray(metrics['loss']) == 0)
  assert np.all(np.asarray(metrics['count']) == 8)


# --------------------------------------------------------------------------
# End to end on MNIST-1D


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
  """Two finished teacher runs (one epoch each) and their output dir."""
  out = tmp_path_factory.mktemp('runs')
  summaries = [run(tiny_config(f'tracking.output_dir={out}', 'model.hidden=(24,)',
                               'train.num_epochs=1', f'seed={seed}'))
               for seed in (0, 1)]
  return [s['run_dir'] for s in summaries], out


def _student(out, teacher, *overrides):
  return tiny_config(f'tracking.output_dir={out}', 'model.hidden=(8,)',
                     'train.num_epochs=1', f'distill.teacher={teacher}',
                     'distill.temperature=3.0', *overrides)


def test_student_trains_restores_and_reports(teachers):
  dirs, out = teachers
  summary = run(_student(out, dirs[0], 'distill.alpha=0.5'))
  assert summary['status'] == 'done'
  assert 0 <= summary['final']['test/accuracy'] <= 1
  # The final train/loss is the plain cross-entropy of the int labels.
  assert summary['final']['train/loss'] > 0
  restored = load_trained(summary['run_dir'])
  assert restored.config.distill.teacher == dirs[0]
  x_test = restored.dataset.x_test
  predicted = np.argmax(restored.model.apply(
      {'params': restored.state.params}, x_test, train=False), -1)
  np.testing.assert_allclose(np.mean(predicted == restored.dataset.y_test),
                             summary['final']['test/accuracy'], atol=1e-6)


def test_targets_of_one_teacher_and_of_an_ensemble(teachers):
  dirs, out = teachers
  temperature = 3.0
  member_logits = []
  for d in dirs:
    t = load_trained(d)
    member_logits.append(np.asarray(t.model.apply(
        {'params': t.state.params}, t.dataset.x_train, train=False), np.float64))
  softened = [special.softmax(l / temperature, axis=-1) for l in member_logits]
  for teacher, want in ((dirs[0], softened[0]),
                        (','.join(dirs), np.mean(softened, axis=0))):
    parts = build(_student(out, teacher), Parallel('jit'))
    y = parts.y_train
    assert isinstance(y, distillation.DistillTargets)
    np.testing.assert_array_equal(y.labels, parts.dataset.y_train)
    np.testing.assert_allclose(np.exp(y.teacher_log_probs), want,
                               rtol=1e-4, atol=1e-6)
    # Evaluation keeps the int labels.
    np.testing.assert_array_equal(parts.train_split[1], parts.dataset.y_train)


def test_refusals(teachers, tmp_path):
  dirs, out = teachers

  def refused(config, match):
    with pytest.raises(ConfigError, match=match):
      resolve(config)
      build(config, Parallel('jit'))

  refused(_student(out, tmp_path / 'missing'), r'distill.teacher: .*not a directory')
  unfinished = tmp_path / 'unfinished'
  unfinished.mkdir()
  shutil.copy(f'{dirs[0]}/config.json', unfinished / 'config.json')
  refused(_student(out, unfinished), r"distill.teacher: .*has not finished")
  other = tmp_path / 'other_data'
  shutil.copytree(dirs[0], other)
  written = json.loads((other / 'config.json').read_text())
  written['data']['name'] = 'fashion_mnist'
  (other / 'config.json').write_text(json.dumps(written))
  refused(_student(out, other), r"distill.teacher: .*data.name='fashion_mnist'")
  refused(_student(out, dirs[0], 'data.normalization=unit_interval'),
          r'distill.teacher: .*data.normalization')
  refused(_student(out, dirs[0], 'data.dev_size=100'),
          r'distill.teacher: .*data.dev_size')
  refused(_student(out, dirs[0], 'augment.mixup_alpha=0.2'),
          r'distill.teacher: .*mixup')
  refused(_student(out, dirs[0], 'loss.name=mse'), r'distill.teacher: .*loss.name')
  refused(_student(out, dirs[0], 'distill.temperature=0.0'),
          r'distill.temperature: .*> 0')
  refused(_student(out, dirs[0], 'distill.alpha=1.5'), r'distill.alpha: .*\[0, 1\]')
  not_finite = _student(out, dirs[0])
  not_finite.distill.temperature = float('nan')
  refused(not_finite, r'distill.temperature: .*finite')


def test_defaults_leave_the_run_identity_alone():
  config = tiny_config()
  assert config.distill.teacher == ''
  changed = config_lib.apply_overrides(config, ['distill.alpha=0.5'])
  # Off, the section is left out of the hash; on, the teacher is part of it.
  assert config_hash(config) == config_hash(
      {k: v for k, v in config.to_dict().items() if k != 'distill'})
  assert config_hash(changed) != config_hash(config)


def _setting(alone, by_temperature, teacher=0.97):
  from experiments.distillation_report import SettingResults

  def summaries(accuracies):
    return [{'status': 'done', 'final': {'test/accuracy': a}} for a in accuracies]

  students = {'alone': summaries(alone)}
  students.update({f'T={t}': summaries(a) for t, a in by_temperature.items()})
  return SettingResults(teachers=summaries([teacher]), teacher_accuracy=teacher,
                        students=students, alpha=0.9)


def test_report_verdict_tests_each_temperature_against_seed_noise():
  from experiments import distillation_report as report
  setting = _setting([0.950, 0.952, 0.948],
                     {1: [0.949, 0.951, 0.950],    # +0.0 pp: within noise
                      4: [0.958, 0.960, 0.959],    # +0.9 pp: far above
                      20: [0.940, 0.941, 0.939]})  # -1.0 pp: far below
  assert report.compare(setting) == {'above': ['4'], 'below': ['20'],
                                     'indistinguishable from': ['1']}
  text = report.verdict(setting)
  assert 'Best T = 4: 95.90% (+0.90 pp)' in text
  # The teacher leads the student alone by 2 pp; T = 4 recovers 0.9 of it.
  assert "45% of the teacher's +2.00 pp lead" in text
  assert report.published_direction(setting) == 'it holds at T = 4'
  worse = _setting([0.95, 0.951], {2: [0.94, 0.941]})
  assert 'does not hold' in report.published_direction(worse)
  assert 'even the best T does not beat the student alone' in report.verdict(worse)
