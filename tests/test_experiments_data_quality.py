"""The label_noise and learning_curves experiments: configs and reports, on
synthetic trial records (no training)."""

import numpy as np
import pytest

from experiments import label_noise, label_noise_report
from experiments import learning_curves, learning_curves_report
from experiments.data_mismatch import BAYES_ERROR
from research import metrics
from research import registry
from research.config import merge
from research.train.resolve import resolve
from research.tables import TableInputs


def _record(seed, final, best=None, *, noise=0.0, hidden=(256,), n=5000, epochs=100):
  return {'status': 'done', 'seed': seed, 'epochs': epochs,
          'config': {'data': {'label_noise': noise}, 'model': {'hidden': list(hidden)}},
          'final': final, 'best': best, 'data': {'train': n, 'test': 10000}}


def test_configs_are_valid_at_every_point():
  noise = registry.get('label_noise').get_config()
  for f in label_noise.FRACTIONS:
    assert resolve(merge(noise, [('data.label_noise', f)])).data.label_noise == f
  curves = registry.get('learning_curves').get_config()
  for model in learning_curves.MODELS.values():
    for option in learning_curves.size_options().values():
      resolve(merge(curves, list({**model, **option}.items())))


@pytest.mark.parametrize('size', learning_curves.SIZES)
def test_every_size_gets_the_update_budget(size):
  epochs = learning_curves.epochs_for(size)
  steps = epochs * (size // learning_curves.BATCH_SIZE)
  assert steps >= learning_curves.MIN_STEPS and epochs >= learning_curves.MIN_EPOCHS
  # ... and not much more than needed.
  assert epochs == learning_curves.MIN_EPOCHS or (
      (epochs - 1) * (size // learning_curves.BATCH_SIZE) < learning_curves.MIN_STEPS)
  option = learning_curves.size_options()[learning_curves.size_name(size)]
  assert option['data.train_size'] == size and option['train.num_epochs'] == epochs


# --- label_noise_report ------------------------------------------------------

def _noise_records(rng, test_end, test_best, train_acc):
  records = []
  for f, e, b, a in zip(label_noise.FRACTIONS, test_end, test_best, train_acc):
    for seed in range(3):
      jitter = rng.normal(0, 1e-3)
      records.append(_record(
          seed, {'train/accuracy': a + jitter, 'test/accuracy': 1 - e - jitter,
                 'dev/accuracy': 1 - e},
          {'epoch': 20, 'test/accuracy': 1 - b + jitter}, noise=f))
  return records


def test_label_noise_summary_and_claims():
  rng = np.random.default_rng(0)
  fr = np.array(label_noise.FRACTIONS)
  # Memorizes everything (train acc 1): the corrupted labels fitted is 100%.
  records = _noise_records(rng, 0.05 + 0.5 * fr, 0.05 + 0.05 * fr, np.ones(6))
  rows = label_noise_report.summarize(records)
  assert [r['fraction'] for r in rows] == list(label_noise.FRACTIONS)
  for r in rows[1:]:
    expected = [(a - (1 - r['fraction'])) / r['fraction'] for a in r['train_acc']]
    np.testing.assert_allclose(r['memorized'], expected)
    assert np.mean(r['memorized']) == pytest.approx(1.0, abs=0.01)
  low, high = metrics.error_interval(rows[2]['test_errors'], rows[2]['test_total'])
  assert low < np.mean(rows[2]['test_end']) < high
  verdicts = {c[0].split(' (')[0]: c[2] for c in label_noise_report.claims(rows)}
  assert verdicts['Test error grows with the noise.'] == 'yes'
  assert verdicts['Fairly robust to random label noise, up to a point'].startswith('yes, at every fraction up to 50%')
  assert verdicts['A net big enough to memorize fits the noisy labels if trained long.'] == 'yes'
  assert verdicts['Early stopping on clean dev data keeps what memorizing the noise costs.'] == 'yes'


def test_label_noise_claims_can_fail():
  rng = np.random.default_rng(1)
  fr = np.array(label_noise.FRACTIONS)
  # Falling test error, the early-stopped error growing like the noise, a net
  # that fits only the clean labels, the best checkpoint no better than the end.
  records = _noise_records(rng, 0.3 - 0.2 * fr, 0.3 + 0.8 * fr, 1 - fr)
  verdicts = [c[2] for c in label_noise_report.claims(label_noise_report.summarize(records))]
  assert verdicts[0].startswith('partly')
  assert verdicts[1] == 'no'
  assert verdicts[2] == 'no'
  assert verdicts[3] == 'no'


def test_label_noise_report_writes_its_figure(tmp_path):
  rng = np.random.default_rng(2)
  fr = np.array(label_noise.FRACTIONS)
  records = _noise_records(rng, 0.05 + 0.3 * fr, 0.05 + 0.1 * fr, 0.9 + 0.0 * fr)
  text = label_noise_report.report(TableInputs('label_noise', records, [], tmp_path))
  assert (tmp_path / label_noise_report.FIGURE).is_file()
  assert text.startswith('## ') and 'claims' in text
  empty = label_noise_report.report(TableInputs('label_noise', [], [], tmp_path))
  assert 'No finished run' in empty


# --- learning_curves_report -------------------------------------------------

def _curve_records(model, train, dev, sizes=(250, 1000, 4000)):
  hidden = learning_curves.MODELS[model]['model.hidden']
  return [_record(seed, {'train/accuracy': 1 - t, 'dev/accuracy': 1 - d + 1e-3 * seed,
                         'test/accuracy': 1 - d}, hidden=hidden, n=n)
          for n, t, d in zip(sizes, train, dev) for seed in range(2)]


LINEAR, MLP = learning_curves.MODELS


def test_learning_curves_decomposition_and_reading(tmp_path):
  records = (_curve_records(LINEAR, (0.02, 0.05, 0.065), (0.15, 0.09, 0.08))
             + _curve_records(MLP, (0.0, 0.0, 0.001), (0.20, 0.10, 0.05)))
  data = learning_curves_report.curves(records)
  assert list(data) == [LINEAR, MLP]
  p = data[LINEAR][2]
  assert p['n'] == 4000 and p['seeds'] == 2
  assert p['dev'] == pytest.approx(0.08 - 0.0005)
  expected = metrics.error_decomposition(p['train'], p['dev'], p['dev'],
                                         bayes_error=BAYES_ERROR)
  assert p['terms'] == expected
  assert p['terms']['avoidable_bias'] == pytest.approx(0.065 - BAYES_ERROR)
  assert learning_curves_report._reading(p['terms']).startswith('bias')
  assert learning_curves_report._reading(data[MLP][0]['terms']).startswith('variance')
  # Dev error falls 50% from 4000 on... the MLP: 0.10 -> 0.05.
  assert learning_curves_report._next_drop(data[MLP], 1) == pytest.approx(0.5, abs=0.01)
  assert learning_curves_report._next_drop(data[MLP], 2) is None
  claims = learning_curves_report.claims(data)
  assert claims[0][2] == 'yes'  # variance points drop 50%, the bias one 11%
  assert [c[2] for c in claims[1:]] == ['yes', 'yes']
  text = learning_curves_report.report(TableInputs('learning_curves', records, [], tmp_path))
  assert (tmp_path / learning_curves_report.FIGURE).is_file()
  assert f'### {LINEAR}' in text and f'### {MLP}' in text


def test_learning_curves_claim_can_fail():
  # More data does not help where variance dominates: the claim is refused.
  records = (_curve_records(MLP, (0.0, 0.0, 0.0), (0.20, 0.20, 0.20))
             + _curve_records(LINEAR, (0.08, 0.08, 0.08), (0.20, 0.10, 0.09)))
  claims = learning_curves_report.claims(learning_curves_report.curves(records))
  assert claims[0][2] == 'no'
  assert claims[1][2] == 'yes'  # the linear's gap closes: 0.12 -> 0.01
  assert claims[2][2] == 'no'  # the MLP's stays 0.20
