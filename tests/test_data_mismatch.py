"""Train-dev evaluation and per-class reports in run summaries, batched
prediction, and the data_mismatch experiment's report."""

import json
import pathlib
import re

import jax
import numpy as np
import optax
import pytest

from research import augment, data, losses, models, registry
from research import config as config_lib
from research.tables import TableInputs
from research.train import create_train_state, run
from research.train.epoch import make_evaluate, make_predict
from research.train.population import train_population
from research.train.steps import make_eval_step, make_predict_step
from research.train.resolve import resolve
import experiments  # pylint: disable=unused-import  (registers them)
from experiments import data_mismatch_report as data_mismatch
from train_helpers import tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


def _rows(run_dir):
  lines = (run_dir / 'metrics.jsonl').read_text().splitlines()
  return [json.loads(line) for line in lines]


# --- prediction ---------------------------------------------------------------


@pytest.mark.parametrize('tta', ['none', 'flips_crops'])
def test_predict_is_the_argmax_evaluation_scores(tta):
  """Chunked, padded prediction = argmax of the whole split's logits (or of
  the averaged views), and its accuracy is `evaluate`'s."""
  config = tiny_config('model.hidden=(16,)')
  model = models.build_model(config.model, 10)
  x = jax.random.normal(jax.random.PRNGKey(0), (37, 6, 6, 1))
  y = jax.random.randint(jax.random.PRNGKey(1), (37,), 0, 10)
  state = create_train_state(0, model, optax.sgd(0.1), x[:1])
  views = None if tta == 'none' else augment.tta_views(tta, (6, 6, 1))
  predict = jax.jit(make_predict(make_predict_step(model, views=views),
                                 batch_size=8))
  got = np.asarray(predict(state, x))
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  if views is None:
    scores = model.apply(variables, x, train=False)
  else:
    scores = sum(jax.nn.softmax(model.apply(variables, v(x), train=False))
                 for v in views)
  assert got.dtype == np.int32 and got.shape == (37,)
  np.testing.assert_array_equal(got, np.argmax(np.asarray(scores), -1))
  evaluate = jax.jit(make_evaluate(
      make_eval_step(model, losses.get('cross_entropy'), views=views),
      batch_size=8))
  assert float(evaluate(state, x, y)['accuracy']) == pytest.approx(
      np.mean(got == np.asarray(y)), abs=1e-6)


# --- a run: train-dev metrics and the report --------------------------------


def _check_report(report, labels, accuracy, num_classes):
  confusion = np.array(report['confusion'])
  assert confusion.shape == (num_classes, num_classes)
  assert confusion.sum() == len(labels) == report['examples']
  # Rows are true classes: their sums are the label counts.
  np.testing.assert_array_equal(confusion.sum(1),
                                np.bincount(labels, minlength=num_classes))
  assert report['per_class']['support'] == np.bincount(
      labels, minlength=num_classes).tolist()
  assert report['accuracy'] == pytest.approx(accuracy, abs=1e-6)
  assert report['accuracy'] == pytest.approx(np.trace(confusion) / len(labels))
  error = 1 - report['accuracy']
  interval = report['error_interval']
  assert interval['level'] == 0.95 and interval['low'] < error < interval['high']
  recall = np.diag(confusion) / confusion.sum(1)
  np.testing.assert_allclose(report['per_class']['recall'], recall)
  assert report['macro']['recall'] == pytest.approx(recall.mean())
  assert report['weighted']['recall'] == pytest.approx(report['accuracy'])


def test_run_logs_train_dev_and_reports_per_class(tmp_path, mnist_dir):
  overrides = [
      'data.name=mnist', f'data.dir={mnist_dir}', 'data.classes=(3, 8, 5)',
      'data.normalization=unit_interval', 'data.dev_size=300',
      'data.train_dev_size=400', 'data.shift=rotate', 'data.shift_amount=45.0',
      'model.hidden=(16,)', 'model.residual=false', 'train.batch_size=256',
      'train.num_epochs=1', 'train.shuffle=true', 'train.monitor=dev/accuracy',
      'tracking.wandb=disabled',
      'tracking.progress=false']
  config = config_lib.apply_overrides(registry.get('quickstart').config(),
                                      overrides)
  summary = run(config, workdir=tmp_path / 'run')
  d = data.load_dataset(config.data)
  rows = _rows(tmp_path / 'run')
  assert all(0 <= r['train_dev/accuracy'] <= 1 and 'train_dev/loss' in r
             for r in rows)
  final = summary['final']
  assert final['train_dev/accuracy'] == rows[-1]['train_dev/accuracy']
  assert summary['data']['train_dev'] == 400
  assert summary['data']['test'] == len(d.y_test)
  report = summary['report']
  assert sorted(report) == ['dev', 'test']
  _check_report(report['test'], d.y_test, final['test/accuracy'], 3)
  _check_report(report['dev'], d.y_dev, final['dev/accuracy'], 3)
  assert report['test']['per_class']['class_names'] == ['3', '8', '5']
  # The same summary is on disk, as JSON.
  on_disk = json.loads((tmp_path / 'run' / 'summary.json').read_text())
  assert on_disk['report']['test']['confusion'] == report['test']['confusion']
  # The rotated target is harder than the upright train-dev split.
  assert final['dev/accuracy'] < final['train_dev/accuracy']


def test_population_members_get_train_dev_and_reports(tmp_path):
  configs = [tiny_config('model.hidden=(8,)', 'train.num_epochs=1',
                         'data.train_dev_size=500', f'seed={seed}',
                         f'tracking.output_dir={tmp_path}')
             for seed in (0, 1)]
  summaries = train_population(configs)
  d = data.load_dataset(configs[0].data)
  for s in summaries:
    assert s['data']['train_dev'] == 500
    rows = _rows(pathlib.Path(s['run_dir']))
    assert [sorted(k for k in r if k.startswith('train_dev/')) for r in rows
            ] == [['train_dev/accuracy', 'train_dev/loss']]
    assert rows[-1]['train_dev/accuracy'] == s['final']['train_dev/accuracy']
    assert sorted(s['report']) == ['test']  # no dev split here
    _check_report(s['report']['test'], d.y_test, s['final']['test/accuracy'], 10)
  assert (summaries[0]['report']['test']['confusion']
          != summaries[1]['report']['test']['confusion'])


# --- the experiment -----------------------------------------------------------


def test_experiment_config_and_sweep_points_validate():
  exp = registry.get('data_mismatch')
  config = exp.config()
  resolve(config)
  assert config.data.shift == 'rotate' and config.data.train_dev_size > 0
  assert 0.0 in exp.axes['data.shift_amount'].values
  for amount in exp.axes['data.shift_amount'].values:
    resolve(config_lib.merge(config, {'data.shift_amount': amount}))


def _record(amount, seed, accuracies, status='done'):
  final = {f'{split}/accuracy': a for split, a in accuracies.items()}
  config = registry.get('data_mismatch').config()
  config.data.shift_amount = amount
  return {'status': status, 'seed': seed, 'label': f'a={amount} s={seed}',
          'run_dir': None, 'final': final, 'config': config.to_dict()}


def _table_rows(markdown):
  rows = {}
  for line in markdown.splitlines():
    cells = [c.strip() for c in line.strip('|').split('|')]
    if line.startswith('| ±'):
      rows[cells[0]] = cells[1:]
  return rows


def test_report_decomposes_mean_errors(tmp_path):
  rng = np.random.default_rng(0)
  expected = {}
  records = []
  for amount in (0.0, 30.0):
    per_seed = []
    for seed in (0, 1):
      acc = dict(zip(('train', 'train_dev', 'dev', 'test'),
                     rng.uniform(0.6, 0.99, 4)))
      per_seed.append(acc)
      records.append(_record(amount, seed, acc))
    err = {k: np.mean([1 - a[k] for a in per_seed]) for k in per_seed[0]}
    terms = {'avoidable bias': err['train'] - data_mismatch.BAYES_ERROR,
             'variance': err['train_dev'] - err['train'],
             'data mismatch': err['dev'] - err['train_dev'],
             'dev overfitting': err['test'] - err['dev']}
    expected[f'±{amount:g}°'] = (err, terms)
  # Left out: a failed trial and one without a train-dev split.
  records.append(_record(30.0, 2, {'train': 0.1, 'train_dev': 0.1, 'dev': 0.1,
                                   'test': 0.1}, status='failed'))
  broken = _record(0.0, 3, {'train': 0.5, 'dev': 0.5, 'test': 0.5})
  records.append(broken)
  logged = []
  text = data_mismatch.report(TableInputs(
      experiment='data_mismatch', records=records, sweeps=[],
      figures_dir=tmp_path / 'figures' / 'data_mismatch', log=logged.append))

  assert text.startswith('## Bias, variance and data mismatch')
  assert len(logged) == 2
  rows = _table_rows(text)
  assert sorted(rows) == sorted(expected)
  for label, (err, terms) in expected.items():
    cells = rows[label]
    assert cells[0] == '2'  # seeds
    got_errors = [float(c) for c in cells[1:5]]
    np.testing.assert_allclose(
        got_errors, [100 * err[k] for k in ('train', 'train_dev', 'dev', 'test')],
        atol=0.006)
    got_terms = [float(c) for c in cells[5:9]]
    np.testing.assert_allclose(got_terms, [100 * v for v in terms.values()],
                               atol=0.006)
    assert cells[9] == max(terms, key=terms.get)
  figure = tmp_path / 'figures' / 'data_mismatch' / data_mismatch.FIGURE
  assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert f'(figures/data_mismatch/{data_mismatch.FIGURE})' in text
  # The reading names each point's largest term.
  assert re.search(r'The largest term is .+ at ±0°', text)


def test_report_without_finished_trials_says_so(tmp_path):
  text = data_mismatch.report(TableInputs(
      experiment='data_mismatch', records=[], sweeps=[],
      figures_dir=tmp_path, log=lambda _: None))
  assert 'No finished trials' in text and 'research sweep data_mismatch' in text
