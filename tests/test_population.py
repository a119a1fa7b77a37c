"""research/train/population.py and launch/population.py: k members trained as
one vmapped program equal k separate runs, stop independently, and resume."""

import json

import jax
import numpy as np
import pytest

from launch import population as population_launcher
from launch.trials import Trial
from research.errors import ConfigError
from research.train import run
from research.train.population import group_key, train_population
from research.train.restore import load_trained
from train_helpers import tiny_config

BASE = ('train.num_epochs=3', 'model.hidden=(32,)')
# Members differ in every kind of array hyperparameter at once.
MEMBERS = [
    ('seed=0', 'optimizer.learning_rate=0.01', 'model.dropout=0.1',
     'optimizer.weight_decay=1e-4', 'augment.mixup_alpha=0.2'),
    ('seed=1', 'optimizer.learning_rate=0.003', 'model.dropout=0.3',
     'optimizer.weight_decay=1e-2', 'augment.mixup_alpha=0.4'),
    ('seed=2', 'optimizer.learning_rate=0.03', 'model.dropout=0.2',
     'optimizer.weight_decay=1e-3', 'augment.mixup_alpha=1.0'),
]
# Without mixup, whose Beta sampler takes seconds to compile.
SIMPLE_MEMBERS = [('seed=0', 'optimizer.learning_rate=0.01', 'model.dropout=0.1'),
                  ('seed=1', 'optimizer.learning_rate=0.003', 'model.dropout=0.3')]


def _configs(root, *extra, members=MEMBERS):
  return [tiny_config(*BASE, *m, *extra, f'tracking.output_dir={root}')
          for m in members]


def _params(run_dir):
  return jax.tree.leaves(load_trained(run_dir).state.params)


@pytest.mark.slow
def test_population_equals_separate_runs(tmp_path):
  summaries = train_population(_configs(tmp_path / 'pop'))
  for m, got in zip(MEMBERS, summaries):
    alone = run(tiny_config(*BASE, *m, f'tracking.output_dir={tmp_path / "alone"}'))
    assert got['status'] == 'done' and got['population']['size'] == 3
    assert got['final'] == pytest.approx(alone['final'], rel=1e-5, abs=1e-6)
    for a, b in zip(_params(got['run_dir']), _params(alone['run_dir'])):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # vmapped matmuls round differently
    rows = [json.loads(l) for l in open(f"{got['run_dir']}/metrics.jsonl")]
    assert [r['epoch'] for r in rows] == [1, 2, 3]
  # The member's run directory is the one a single run would use: finished.
  again = run(_configs(tmp_path / 'pop')[0])
  assert again.get('already_finished')


def test_groups():
  base = tiny_config('model.dropout=0.2')
  same = tiny_config('model.dropout=0.5', 'seed=3', 'optimizer.learning_rate=0.1')
  assert group_key(base) == group_key(same)
  # A rate at the base config's default is an array all the same.
  at_default = tiny_config('model.dropout=0.2', 'optimizer.learning_rate=0.001')
  assert group_key(at_default) == group_key(base)
  for other in (tiny_config('model.dropout=0.0'),  # static zero: no noise drawn
                tiny_config('model.dropout=0.2', 'regularization.l2=1e-4'),
                tiny_config('model.dropout=0.2', 'train.batch_size=50')):
    assert group_key(other) != group_key(base)
  with pytest.raises(ConfigError, match=r'also differ in .*train.batch_size'):
    train_population([base, tiny_config('model.dropout=0.2', 'train.batch_size=50')])
  plans = population_launcher.plan([base, tiny_config('model.dropout=0.0'), same,
                                    tiny_config('model.dropout=0.3', 'seed=9')],
                                   max_size=2)
  assert plans == [[0, 2], [3], [1]]


@pytest.mark.slow
def test_members_stop_independently(tmp_path):
  # Member 1 diverges (a learning rate that overflows float32 in a few
  # steps); members 0 and 2 early-stop (min_delta 1.0: no dev accuracy can
  # improve on the first epoch's by that much).
  members = [('seed=0',), ('seed=1', 'optimizer.learning_rate=1e38'), ('seed=2',)]
  configs = _configs(tmp_path, 'data.dev_size=400', 'train.monitor=dev/accuracy',
                     'train.patience=2', 'train.min_delta=1.0', 'train.num_epochs=6',
                     members=members)
  summaries = train_population(configs)
  assert [s['status'] for s in summaries] == ['early_stopped', 'diverged', 'early_stopped']
  assert 'step' in summaries[1]['error'] and 'final' not in summaries[1]
  for config, got in zip(configs, summaries):
    if got['status'] == 'diverged':
      continue
    alone = run(config, workdir=tmp_path / f'alone{config.seed}')
    assert got['epochs'] == alone['epochs'] == 3
    assert got['final'] == pytest.approx(alone['final'], rel=1e-5, abs=1e-6)
    assert got['best']['epoch'] == alone['best']['epoch'] == 1
    best = load_trained(got['run_dir'], 'best').state
    assert int(best.step) == got['best']['step']


@pytest.mark.slow
def test_interrupted_population_resumes_to_the_same_result(tmp_path):
  """With BatchNorm: its running statistics survive vmap and the checkpoint."""
  def configs(root):
    return _configs(root, 'model.batchnorm=before', members=SIMPLE_MEMBERS)

  reference = train_population(configs(tmp_path / 'a'))

  class Stop(Exception):
    pass

  def stop_at_two(epoch, state):
    del state
    if epoch == 2:
      raise Stop()

  with pytest.raises(Stop):
    train_population(configs(tmp_path / 'b'), epoch_end_hook=stop_at_two)
  resumed = train_population(configs(tmp_path / 'b'))
  for r, got in zip(reference, resumed):
    assert got['resumed_from_epoch'] == 1
    assert got['final'] == r['final']
    rows = [json.loads(l) for l in open(f"{got['run_dir']}/metrics.jsonl")]
    assert [row['epoch'] for row in rows] == [1, 2, 3]
    want, have = (load_trained(d).state.batch_stats for d in (r['run_dir'], got['run_dir']))
    assert jax.tree.leaves(want)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(have)):
      np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_population_launcher_agrees_with_separate_runs_and_skips_finished(tmp_path):
  trials = [Trial('quickstart', (f'optimizer.learning_rate={lr}',), seed)
            for lr in (0.003, 0.01) for seed in (0, 1)]
  extra = BASE + ('tracking.wandb=disabled',)
  records = population_launcher.launch(trials, output_dir=str(tmp_path), extra=extra)
  assert [r['status'] for r in records] == ['done'] * 4
  assert len({r['run_dir'] for r in records}) == 4
  for trial, record in zip(trials, records):
    alone = run(trial.config(tmp_path / 'alone', extra))
    assert record['final'] == pytest.approx(alone['final'], rel=1e-5, abs=1e-6)
    assert json.loads(open(f"{record['run_dir']}/trial.json").read())['status'] == 'done'
  again = population_launcher.launch(trials, output_dir=str(tmp_path), extra=extra)
  assert all(r.get('skipped') for r in again)
