"""Regularization inside the compiled steps: traced rates, mixup, test-time
views, BatchNorm evaluated with batch statistics; ensembles; reloading a run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import config as config_lib
from research import ensembles, losses, optim
from research.augment import tta_views
from research.train import make_eval_step, make_train_step, run
from research.train.restore import load_trained
from research.train.resolve import config_from_record, config_hash
from train_helpers import Capture, assert_trees_equal, model_state_and_step, tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


def test_dropout_rate_is_data_a_new_rate_does_not_recompile():
  _, state, step, batch = model_state_and_step('model.dropout=0.3')
  assert 'dropout' in state.hparams
  losses_seen = []
  for rate in (0.1, 0.3, 0.6):
    s = state.replace(hparams={**state.hparams, 'dropout': jnp.asarray(rate, jnp.float32)})
    losses_seen.append(float(step(s, batch)[1]['loss']))
  assert step._cache_size() == 1
  assert len(set(losses_seen)) == 3


def test_zero_rates_stay_out_of_the_state():
  _, state, _, _ = model_state_and_step('model.dropout=0.0')
  assert set(state.hparams) == {'learning_rate'}  # always traced


def test_learning_rate_and_weight_decay_are_data():
  """One compilation for several rates, each equal to the step built with that
  rate as a Python constant."""
  overrides = ('optimizer.weight_decay=1e-3',)
  config = tiny_config(*overrides)
  model, state, _, batch = model_state_and_step(*overrides)
  loss = losses.get('cross_entropy')
  traced = jax.jit(make_train_step(
      model, optim.optimizer_for(config, steps_per_epoch=1), loss))
  for lr, wd in ((0.01, 1e-3), (0.1, 0.0), (0.003, 0.5)):
    hparams = {'learning_rate': jnp.float32(lr), 'weight_decay': jnp.float32(wd)}
    got, _ = traced(state.replace(hparams=hparams), batch)
    # Python constants; the chain keeps its decay term (a zero one is exact).
    constant_config = config_lib.apply_overrides(config, [f'optimizer.learning_rate={lr}'])
    constant = jax.jit(make_train_step(
        model, optim.build_optimizer(constant_config, hparams={'weight_decay': wd}), loss))
    want, _ = constant(state, batch)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert traced._cache_size() == 1


def test_mixup_in_the_step_trains_on_soft_labels():
  _, state, step, batch = model_state_and_step('augment.mixup_alpha=0.4')
  assert float(state.hparams['mixup_alpha']) == pytest.approx(0.4)
  new_state, metrics = step(state, batch)
  assert np.isfinite(metrics['loss'])
  # Mixing changes the loss against the same un-mixed batch.
  _, plain_state, plain_step, _ = model_state_and_step()
  assert metrics['loss'] != plain_step(plain_state, batch)[1]['loss']


def test_identity_view_equals_plain_evaluation():
  model, state, _, (x, y) = model_state_and_step()
  mask = jnp.ones(len(x))
  plain = make_eval_step(model, losses.get('cross_entropy'))(state, x, y, mask)
  views = tta_views('none', x.shape[1:])
  tta = make_eval_step(model, losses.get('cross_entropy'), views=views)(state, x, y, mask)
  assert plain['correct'] == tta['correct']
  np.testing.assert_allclose(plain['loss_sum'], tta['loss_sum'], rtol=1e-5)


def test_batch_statistics_evaluation_depends_on_the_chunk():
  model, state, step, (x, y) = model_state_and_step('model.batchnorm=before')
  state, _ = step(state, (x, y))
  ev = make_eval_step(model, losses.get('cross_entropy'), bn_batch_statistics=True)
  running = make_eval_step(model, losses.get('cross_entropy'))
  ones = jnp.ones(32)
  whole = ev(state, x[:32], y[:32], ones)
  shifted = ev(state, x[:32] + 0.5, y[:32], ones)
  assert whole['loss_sum'] != running(state, x[:32], y[:32], ones)['loss_sum']
  # A constant shift of every input is removed by the batch's own mean.
  np.testing.assert_allclose(whole['loss_sum'], shifted['loss_sum'], rtol=1e-4)


def test_an_ensemble_of_one_is_the_single_model():
  model, state, _, (x, y) = model_state_and_step()
  probabilities = ensembles.predict_probabilities(model, state, np.asarray(x), batch_size=16)
  logits = model.apply({'params': state.params, 'batch_stats': state.batch_stats}, x)
  np.testing.assert_allclose(probabilities, jax.nn.softmax(logits), rtol=1e-6, atol=1e-7)
  one = ensembles.scores(ensembles.average_probabilities([probabilities]), np.asarray(y))
  single = ensembles.scores(probabilities, np.asarray(y))
  assert one == single
  assert one['accuracy'] == pytest.approx(float(jnp.mean(jnp.argmax(logits, -1) == y)))


def test_ensemble_averages_distributions():
  a = jnp.array([[0.9, 0.1], [0.2, 0.8]])
  b = jnp.array([[0.3, 0.7], [0.4, 0.6]])
  np.testing.assert_allclose(ensembles.average_probabilities([a, b]),
                             [[0.6, 0.4], [0.3, 0.7]])


def test_a_run_reloads_from_its_directory(tmp_path):
  capture = Capture()
  config = tiny_config('train.num_epochs=2', 'model.dropout=0.2', 'model.hidden=(16,)')
  run(config, workdir=tmp_path, epoch_end_hook=capture)
  trained = load_trained(tmp_path)
  assert config_hash(trained.config) == config_hash(config)
  assert_trees_equal(jax.device_get(trained.state), capture.states[2])


def test_config_survives_its_json_form():
  config = tiny_config('data.classes=(3, 5)', 'optimizer.schedule.name=step',
                       'optimizer.schedule.step_epochs=(2, 3)')
  again = config_from_record(json.loads(json.dumps(config.to_dict())))
  assert again.to_dict() == config.to_dict()
