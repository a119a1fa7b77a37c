"""Vanilla vs inverted dropout (research/layers.py, research/models.py) and
Monte-Carlo dropout (research/mc_dropout.py), against closed forms."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import layers, mc_dropout, models
from research.config import base_config
from research.errors import ConfigError

P, P_IN = 0.5, 0.2


def _mlp(**kw):
  return models.MLP(**{'num_classes': 5, 'hidden': (16, 8),
                       'dropout_rate': P, 'input_dropout_rate': P_IN, **kw})


def _init(model, x):
  return model.init(jax.random.key(0), x)


@pytest.mark.parametrize('rate', [0.3, np.float32(0.5)])
def test_vanilla_dropout_is_inverted_dropout_times_keep(rate):
  x = jax.random.normal(jax.random.key(1), (40, 30))
  key = jax.random.key(2)
  vanilla = jax.jit(layers.vanilla_dropout)(key, x, jnp.asarray(rate))
  inverted = layers.dropout(key, x, rate)
  np.testing.assert_allclose(vanilla / (1 - rate), inverted, rtol=1e-6)
  kept = np.asarray(vanilla) != 0  # unscaled: x where kept, else 0
  np.testing.assert_array_equal(np.asarray(vanilla)[kept], np.asarray(x)[kept])
  assert 0.4 < 1 - kept.mean() < 0.6 if rate == 0.5 else 0.2 < 1 - kept.mean() < 0.4


def _reparametrized(params):
  """Vanilla weights computing the inverted net's function: a kernel fed by
  dropped units is divided by their keep probability."""
  params = dict(params)  # a shallow copy; replaced leaves only
  for name, keep in (('Dense_0', 1 - P_IN), ('Dense_1', 1 - P), ('Dense_2', 1 - P)):
    params[name] = {**params[name], 'kernel': params[name]['kernel'] / keep}
  return params


def test_vanilla_and_inverted_are_one_network_reparametrized():
  x = jax.random.normal(jax.random.key(3), (12, 20))
  inverted, vanilla = _mlp(), _mlp(dropout_scaling='vanilla')
  params = _init(inverted, x)['params']
  vparams = _reparametrized(params)
  rngs = {'dropout': jax.random.key(4)}
  train_inv = inverted.apply({'params': params}, x, train=True, rngs=rngs)
  train_van = vanilla.apply({'params': vparams}, x, train=True, rngs=rngs)
  np.testing.assert_allclose(train_van, train_inv, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(vanilla.apply({'params': vparams}, x),
                             inverted.apply({'params': params}, x), rtol=1e-5, atol=1e-5)
  # Same weights, different functions: the scaling matters.
  assert not np.allclose(vanilla.apply({'params': params}, x),
                         inverted.apply({'params': params}, x), atol=1e-3)


def test_vanilla_evaluation_scales_units_by_keep_probability():
  x = jax.random.normal(jax.random.key(5), (6, 20))
  model = _mlp(dropout_scaling='vanilla')
  params = _init(model, x)['params']
  _, inter = model.apply({'params': params}, x, mutable=['intermediates'])
  inter = inter['intermediates']
  for i in range(2):  # each hidden layer's output: (1 - p) x its activation
    np.testing.assert_allclose(inter[f'output_{i}'][0], (1 - P) * inter[f'activation_{i}'][0],
                               rtol=1e-6)
  # A linear net without biases: the eval output is (1 - p_in)(1 - p)^2 times
  # the no-dropout forward of the same weights (traced rates too).
  linear = _mlp(dropout_scaling='vanilla', activation='linear')
  params = {k: {'kernel': v['kernel'], 'bias': jnp.zeros_like(v['bias'])}
            for k, v in params.items()}
  evaluated = jax.jit(lambda r, ri: linear.apply({'params': params}, x, dropout_rate=r,
                                                 input_dropout_rate=ri))(P, P_IN)
  plain = linear.apply({'params': params}, x, dropout_rate=0.0, input_dropout_rate=0.0)
  np.testing.assert_allclose(evaluated, (1 - P_IN) * (1 - P) ** 2 * plain, rtol=1e-5,
                             atol=1e-6)


def test_sample_masks_draws_training_masks_with_evaluation_batchnorm():
  x = jax.random.normal(jax.random.key(6), (10, 20))
  rngs = {'dropout': jax.random.key(7)}
  model = _mlp()
  variables = _init(model, x)
  np.testing.assert_array_equal(
      model.apply(variables, x, train=False, sample_masks=True, rngs=rngs),
      model.apply(variables, x, train=True, rngs=rngs))
  # With BatchNorm: its running statistics (as evaluation), not the batch's.
  bn = _mlp(batchnorm='before', dropout_rate=0.0, input_dropout_rate=0.0)
  variables = _init(bn, x)
  variables = {'params': variables['params'], 'batch_stats': jax.tree_util.tree_map(
      lambda a: a + 0.3, variables['batch_stats'])}
  sampled = bn.apply(variables, x, train=False, sample_masks=True, rngs=rngs)
  np.testing.assert_array_equal(sampled, bn.apply(variables, x))
  trained, _ = bn.apply(variables, x, train=True, rngs=rngs, mutable=['batch_stats'])
  assert not np.allclose(sampled, trained, atol=1e-3)


def test_one_sample_is_one_dropout_forward():
  x = np.asarray(jax.random.normal(jax.random.key(8), (7, 20)))
  model = _mlp()
  variables = _init(model, x)
  key = jax.random.key(9)
  samples = mc_dropout.sample_predictions(model, variables, x, key, 1, batch_size=4)
  assert samples.shape == (1, 7, 5)
  (k,) = mc_dropout.mask_keys(key, 1)
  for c, start in enumerate((0, 4)):  # chunk c draws with fold_in(k, c)
    logits = model.apply(variables, x[start:start + 4], train=True,
                         rngs={'dropout': jax.random.fold_in(k, c)})
    np.testing.assert_allclose(samples[0, start:start + 4], jax.nn.softmax(logits),
                               rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(samples.sum(-1), 1.0, rtol=1e-5)
  many = mc_dropout.sample_predictions(model, variables, x, key, 3, batch_size=4)
  assert many.shape == (3, 7, 5) and not np.allclose(many[0], many[1])
  with pytest.raises(ValueError, match='num_samples'):
    mc_dropout.sample_predictions(model, variables, x, key, 0)


@pytest.mark.parametrize('scaling', ['inverted', 'vanilla'])
def test_mc_logits_of_a_linear_net_converge_to_weight_scaling(scaling):
  """Logits linear in the mask: E_z f(x, z) is the weight-scaling forward; the
  spread of the MC mean is the closed-form variance over Bernoulli masks."""
  x = np.asarray(jax.random.normal(jax.random.key(10), (8, 12)))
  model = models.MLP(num_classes=4, hidden=(32,), activation='linear',
                     dropout_rate=P, dropout_scaling=scaling)
  variables = _init(model, x)
  num = 4000
  samples = mc_dropout.sample_predictions(model, variables, x, jax.random.key(11), num,
                                          transform=lambda z: z)
  weight_scaling = np.asarray(model.apply(variables, x), np.float64)
  p = variables['params']
  a = x @ np.asarray(p['Dense_0']['kernel']) + np.asarray(p['Dense_0']['bias'])
  w = np.asarray(p['Dense_1']['kernel'])
  # Unit i contributes w_ij a_i s m_i, m_i ~ Bernoulli(1 - P), s its scale.
  s = 1 / (1 - P) if scaling == 'inverted' else 1.0
  variance = (a ** 2) @ (w ** 2) * s ** 2 * P * (1 - P)
  mean = np.asarray(samples, np.float64).mean(0)
  assert np.all(np.abs(mean - weight_scaling) < 5 * np.sqrt(variance / num) + 1e-5)
  np.testing.assert_allclose(np.asarray(samples, np.float64).var(0), variance, rtol=0.15)


def test_mc_softmax_converges_to_the_exact_expectation_over_masks():
  """A net whose only dropout is on its 4 inputs: E_z softmax(f(x, z)) by
  enumerating the 16 masks, which the weight-scaling softmax is not."""
  x = np.asarray(jax.random.normal(jax.random.key(12), (5, 4))) * 2
  model = models.MLP(num_classes=3, hidden=(), input_dropout_rate=P)
  variables = _init(model, x)
  kernel = np.asarray(variables['params']['Dense_0']['kernel'], np.float64)
  bias = np.asarray(variables['params']['Dense_0']['bias'], np.float64)
  exact = np.zeros((5, 3))
  second = np.zeros((5, 3))
  for bits in itertools.product((0, 1), repeat=4):
    m = np.array(bits)
    z = (x * m / (1 - P)) @ kernel + bias
    soft = np.exp(z - z.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    prob = np.prod(np.where(m == 1, 1 - P, P))
    exact += prob * soft
    second += prob * soft ** 2
  num = 4000
  mc = mc_dropout.mc_predict(model, variables, x, jax.random.key(13), num)
  se = np.sqrt((second - exact ** 2) / num)
  assert np.all(np.abs(np.asarray(mc) - exact) < 5 * se + 1e-6)
  weight_scaling = jax.nn.softmax(model.apply(variables, x))
  assert np.max(np.abs(np.asarray(weight_scaling) - exact)) > 20 * se.max()


def test_running_means_are_prefix_means():
  samples = jax.random.uniform(jax.random.key(14), (6, 3, 2))
  means = mc_dropout.running_means(samples, (1, 4, 6))
  for k, m in means.items():
    np.testing.assert_allclose(m, np.asarray(samples)[:k].mean(0), rtol=1e-6)
  with pytest.raises(ValueError, match=r'\[7\]'):
    mc_dropout.running_means(samples, (1, 7))


def test_dropout_scaling_config():
  c = base_config()
  assert c.model.dropout_scaling == 'inverted'
  c.model.dropout_scaling = 'vanilla'
  models.validate_model_config(c.model)
  assert models.build_model(c.model, 10).dropout_scaling == 'vanilla'
  c.model.dropout_scaling = 'scaled'
  with pytest.raises(ConfigError, match=r"model\.dropout_scaling: .*'scaled'.*inverted, vanilla"):
    models.validate_model_config(c.model)


def test_report_scores_a_net_without_dropout_identically_for_every_rule():
  """No dropout (static 0): every MC estimate is the weight-scaling forward."""
  from experiments import dropout_inference_report as report  # heavy: matplotlib
  x = np.asarray(jax.random.normal(jax.random.key(15), (30, 20)))
  labels = np.arange(30) % 5
  model = _mlp(dropout_rate=0.0, input_dropout_rate=0.0)
  scored = report.score_run(model, _init(model, x), x, labels, jax.random.key(0),
                            counts=(1, 3))
  for rule in ('mc', 'geometric'):
    for k in (1, 3):
      assert scored[rule][k]['accuracy'] == scored['weight_scaling']['accuracy']
      np.testing.assert_allclose(scored[rule][k]['nll'], scored['weight_scaling']['nll'],
                                 rtol=1e-5)


def _fake_run(ws_error, mc_errors):
  score = lambda e: {'accuracy': 1 - e, 'nll': 0.05 + e}  # noqa: E731
  return {'weight_scaling': score(ws_error),
          'mc': {k: score(e) for k, e in mc_errors.items()},
          'geometric': {k: score(ws_error) for k in mc_errors}}


def test_report_claims_read_the_measurements():
  from experiments import dropout_inference_report as report
  from experiments.dropout_inference import MC_SAMPLES
  # MC worse than weight scaling up to K = 10, then equal: the paper's shape.
  shape = lambda ws, s: {k: ws + (0.01 / k if k < 20 else -0.0001 * s)  # noqa: E731
                         for k in MC_SAMPLES}
  scored = {'inverted': [_fake_run(0.015 + 1e-4 * s, shape(0.015 + 1e-4 * s, s))
                         for s in range(3)],
            'vanilla': [_fake_run(0.01505 + 1e-4 * s, shape(0.01505 + 1e-4 * s, s))
                        for s in range(3)]}
  text = report.claims(scored)
  assert text.count('**yes**') == 5 and '**no**' not in text, text
  assert 'first K whose gap is within 2 SE of 0 (or below): 20' in text
  # MC 0.1 points worse than weight scaling at every K >= 20: close, not matched.
  near = lambda ws: {k: ws + (0.01 / k if k < 20 else 0.001) for k in MC_SAMPLES}  # noqa: E731
  scored['inverted'] = [_fake_run(0.015 + 1e-4 * s, near(0.015 + 1e-4 * s))
                        for s in range(3)]
  assert report.claims(scored).count('**partly**') == 1
  # Vanilla 1 point worse on every seed: not equivalent.
  scored['vanilla'] = [_fake_run(0.025 + 1e-4 * s, shape(0.025 + 1e-4 * s, s))
                       for s in range(3)]
  assert report.claims(scored).count('**no**') == 1
  assert 'MC, K = 100' in report.results_table(scored)
