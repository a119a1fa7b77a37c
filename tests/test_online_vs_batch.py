"""The online_vs_batch experiment: its config and its report's arithmetic on
made-up run directories."""

import math

import numpy as np
import pytest

from experiments import online_vs_batch as exp
from experiments import online_vs_batch_report as rep
from research import config as config_lib
from research import tables
from research.data import load_dataset
from research.tracking.run_dir import RunDir


def _config(training_set, batching, lr):
  c = exp.get_config()
  c = config_lib.merge(c, {**exp.TRAINING_SETS[training_set],
                           **exp.BATCHINGS[batching],
                           'optimizer.learning_rate': lr})
  return c.to_dict()


def _record(tmp_path, training_set, batching, lr, seed, losses, dev,
            status='done'):
  """A finished trial's record with its metrics.jsonl: `losses` per epoch,
  `dev` {epoch: accuracy}."""
  config = _config(training_set, batching, lr)
  run = RunDir(tmp_path / f'{training_set}-{batching}-{lr}-{seed}')
  run.path.mkdir(parents=True, exist_ok=True)
  for epoch, loss in enumerate(losses, start=1):
    row = {'epoch': epoch, 'step': epoch, 'train/loss': float(loss)}
    if epoch in dev:
      row['dev/accuracy'] = dev[epoch]
    run.append_metrics(row)
  run.write_summary({'epoch_time_per_step_s': 0.01,
                     'population': {'size': 3}})
  return {'status': status, 'seed': seed, 'config': config,
          'run_dir': str(run.path), 'final': {
              'train/loss': float(losses[-1]),
              'dev/accuracy': dev[max(dev)] if dev else 0.0,
              'test/accuracy': 0.5}}


def test_training_sets_spend_the_same_budget():
  for name, keys in exp.TRAINING_SETS.items():
    size = keys['data.train_size'] * keys['data.train_repeats']
    assert keys['train.num_epochs'] * size == exp.EXAMPLES_SEEN, name
    assert keys['train.eval_every_epochs'] * size == exp.EVAL_EVERY_EXAMPLES
    for batching in exp.BATCHINGS.values():  # no partial batch dropped
      assert size % batching.get('train.batch_size', size) == 0


def test_config_loads_the_redundant_set():
  c = config_lib.merge(exp.get_config(), exp.TRAINING_SETS['100 x 10 copies'])
  d = load_dataset(c.data)
  assert len(d.x_train) == 1000
  np.testing.assert_array_equal(d.x_train[:100], d.x_train[900:])


def test_examples_to_target_against_a_loop(tmp_path):
  rng = np.random.default_rng(0)
  losses = np.sort(rng.uniform(0.01, 3.0, size=30))[::-1]
  r = _record(tmp_path, '1000 unique', 'online (batch 1)', 0.01, 0, losses, {})
  run = rep.Run(r, RunDir(r['run_dir']).read_metrics())
  for target in (2.0, 0.5, 0.2, 0.001):
    expected = math.inf
    for epoch, loss in enumerate(losses, start=1):
      if loss < target:
        expected = epoch * 1000.0
        break
    assert run.examples_to(target) == expected


def test_examples_to_target_over_windows(tmp_path):
  rng = np.random.default_rng(1)
  losses = rng.uniform(0.0, 2.0, size=300)  # '100 once': 100 per epoch
  r = _record(tmp_path, '100 once', 'online (batch 1)', 0.01, 0, losses, {})
  run = rep.Run(r, RunDir(r['run_dir']).read_metrics())
  means = [losses[i:i + 10].mean() for i in range(0, 300, 10)]
  for target in (0.8, 0.9, 1.0, 0.0):
    below = [i for i, m in enumerate(means) if m < target]
    expected = (below[0] + 1) * 1000.0 if below else math.inf
    assert run.examples_to(target, window=1000) == expected
  assert run.examples_to(1.5, window=100) == run.examples_to(1.5)


@pytest.mark.slow  # draws the figure (matplotlib): seconds
def test_rates_check_and_report(tmp_path):
  steps = np.arange(1, 301)
  records = []
  for seed in range(2):
    for lr, speed in ((0.1, 1.0), (1.0, 3.0)):  # lr 1.0 falls 3x faster
      once = 2.0 * np.exp(-speed * steps / 30) + 0.001 * seed
      records.append(_record(tmp_path, '100 once', 'full batch', lr, seed,
                             once, {e: 0.2 for e in range(10, 301, 10)}))
      # The copies: one step per epoch, the same steps: 30 of them.
      records.append(_record(tmp_path, '100 x 10 copies', 'full batch', lr,
                             seed, once[:30] + 1e-6,
                             {e: 0.2 + lr / 10 for e in range(1, 31)}))
  records.append(_record(tmp_path, '100 once', 'full batch', 3.0, 0,
                         [np.nan], {}, status='diverged'))
  points = rep.collect(records)
  assert points[('100 once', 'full batch', 3.0)]['left_out'] == 1
  chosen = rep.best_rates(points)
  assert chosen[('100 once', 'full batch')]['speed'] == 1.0
  assert chosen[('100 x 10 copies', 'full batch')]['dev'] == 1.0
  worst, pairs = rep.exact_gradient_check(points)
  assert pairs == 4 and worst == pytest.approx(1e-6, rel=1e-3)
  # First epoch below 1.0: 2 exp(-3 e / 30) < 1 from e = 7 on, at 1,000 vs
  # 100 examples per step: the 10x of the redundancy example.
  runs = points[('100 x 10 copies', 'full batch', 1.0)]['runs']
  assert [r.examples_to(1.0) for r in runs] == [7000.0, 7000.0]
  runs = points[('100 once', 'full batch', 1.0)]['runs']
  assert [r.examples_to(1.0) for r in runs] == [700.0, 700.0]
  text = rep.report(tables.TableInputs(
      experiment='online_vs_batch', records=records, sweeps=[],
      figures_dir=tmp_path / 'figures', log=lambda line: None))
  assert (tmp_path / 'figures' / 'loss_against_examples.png').is_file()
  assert 'full batch needs 10.0x the examples' in text
  assert '| 100 once | full batch | 1 | 700 |' in text
