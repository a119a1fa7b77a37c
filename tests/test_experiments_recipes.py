"""The schedules, batch_size, early_stopping, search and universal_approximation
experiments: their configs and axes, their reports on fabricated records
(expected cells computed here with NumPy / SciPy), the §8 simulation against
its formula, and universal approximation at tiny sizes."""

import json
import math
import pathlib

import numpy as np
import pytest
from scipy import stats

from experiments import batch_size, batch_size_report, schedules, schedules_report
from experiments import early_stopping_report, search_report
from experiments import universal_approximation_report as ua_report
from launch import sweep
from launch.trials import Trial, load_registry
from research import search as search_lib
from research.optim.schedules import scaled_learning_rate
from research.tables import TableInputs
from research.train.resolve import resolve

TRAINABLE = ('schedules', 'batch_size', 'early_stopping', 'search')
MNIST1D = {'train': 4000, 'dev': 0, 'test': 1000}


def _mean_std(xs) -> str:
  xs = 100 * np.asarray(xs, dtype=np.float64)
  return f'{xs.mean():.2f} ± {xs.std(ddof=1):.2f}'


def fake_record(root: pathlib.Path, trial: Trial, *, status='done', final=None,
                best=None, epochs=None, steps=None, rows=(), data=MNIST1D) -> dict:
  """A trial.json record as `research table` reads it, written with the
  run's metrics.jsonl (from `rows`) into a run directory under `root`."""
  config = trial.config(root)
  run_dir = root / trial.experiment / f'seed{trial.seed}-{abs(hash(trial)) % 10**8}'
  run_dir.mkdir(parents=True)
  (run_dir / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
  record = {'status': status, 'experiment': trial.experiment, 'seed': trial.seed,
          'overrides': list(trial.overrides), 'run_dir': str(run_dir),
          'record_dir': str(run_dir), 'config': json.loads(json.dumps(config.to_dict())),
          'final': final or {}, 'best': best, 'epochs': epochs, 'steps': steps,
          'data': dict(data), 'wall_time_s': 1.0}
  (run_dir / 'trial.json').write_text(json.dumps(record))
  return record


def _inputs(tmp_path, name, records, sweeps=()) -> TableInputs:
  return TableInputs(experiment=name, records=records, sweeps=list(sweeps),
                     figures_dir=tmp_path / 'figures' / name, log=lambda line: None)


def _row(text: str, *cells) -> bool:
  return ('| ' + ' | '.join(str(c) for c in cells) + ' |') in text.splitlines()


def _cells(text: str, *first) -> list[str]:
  """The cells of the markdown row that starts with `first`."""
  start = '| ' + ' | '.join(str(c) for c in first) + ' |'
  rows = [line for line in text.splitlines() if line.startswith(start)]
  assert len(rows) == 1, (start, rows)
  return [c.strip() for c in rows[0].strip('|').split('|')]


# --------------------------------------------------------------------------
# Configs and axes.


@pytest.mark.parametrize('name', TRAINABLE)
def test_registered_config_validates(name):
  config = load_registry().get(name).config()
  resolve(config)
  assert config.experiment == name
  assert config.data.name == 'mnist1d'  # generated locally: no data directory


def test_schedules_axes_expand_to_every_schedule_with_and_without_warmup():
  trials = sweep.expand('schedules', search='grid', seeds=(0, 1))
  assert len(trials) == 24
  points = {(c.name, c.step_epochs, c.warmup_epochs)
            for c in (t.config('runs').optimizer.schedule for t in trials)}
  # Only the step option sets step_epochs; every other schedule keeps ().
  assert points == {(n, (30.0, 45.0) if n == 'step' else (), w)
                    for n in ('constant', 'cosine', 'linear', 'inverse_sqrt', 'sgdr', 'step')
                    for w in (0.0, 5.0)}
  # The overrides hold config keys only, never the Choice axis's own name.
  keys = {item.split('=')[0] for t in trials for item in t.overrides}
  assert keys == {'optimizer.schedule.name', 'optimizer.schedule.step_epochs',
                  'optimizer.schedule.warmup_epochs'}
  assert 'schedules_step' not in load_registry().names()


def test_batch_size_axes_are_batches_times_four_rules():
  trials = sweep.expand('batch_size', search='grid')
  configs = [t.config('runs') for t in trials]
  assert len(trials) == 28
  points = {(c.train.batch_size, c.optimizer.reference_batch_size,
             c.optimizer.batch_scaling, c.optimizer.schedule.warmup_epochs)
            for c in configs}
  assert points == {(b, *rule) for b in (32, 64, 128, 256, 512, 1024, 2048)
                    for rule in ((0, 'linear', 0.0), (32, 'linear', 0.0),
                                 (32, 'linear', 5.0), (32, 'inverse', 0.0))}
  assert {c.optimizer.name for c in configs} == {'momentum'}
  rules = [batch_size_report.rule_of(c.to_dict()) for c in configs]
  assert sorted(set(rules)) == sorted(batch_size.RULES)
  assert all(rules.count(rule) == 7 for rule in batch_size.RULES)
  # Every rule's learning rate at batch B, as the optimizer builds it.
  for c, rule in zip(configs, rules):
    lr = scaled_learning_rate(c.optimizer.learning_rate, c.train.batch_size,
                              c.optimizer.reference_batch_size,
                              c.optimizer.batch_scaling)
    expected = {'fixed lr': 0.02,
                'lr / N (the slides)': 0.02 * 32 / c.train.batch_size}.get(
                    rule, 0.02 * c.train.batch_size / 32)
    assert lr == pytest.approx(expected)


def test_early_stopping_axes_are_patiences_on_a_dev_metric():
  trials = sweep.expand('early_stopping', search='grid')
  configs = [t.config('runs') for t in trials]
  assert sorted(c.train.patience for c in configs) == [0, 5, 20]
  assert all(c.data.dev_size > 0 and c.train.monitor == 'dev/accuracy'
             and c.regularization.l2 == 0 and c.model.dropout == 0 for c in configs)


def test_search_grid_tries_three_rates_and_random_search_nine():
  grid = [t.config('runs').optimizer for t in sweep.expand('search', search='grid')]
  assert len(grid) == 9
  rates = sorted({o.learning_rate for o in grid})
  # The centres of three equal thirds of [1e-4, 1e-1] in log space.
  np.testing.assert_allclose(np.log10(rates), [-3.5, -2.5, -1.5])
  assert len({o.weight_decay for o in grid}) == 3
  draws = {}
  for seed in (1, 2, 3):
    random = [t.config('runs').optimizer for t in sweep.expand(
        'search', search='random', num_trials=9, search_seed=seed)]
    assert all(1e-4 <= o.learning_rate <= 1e-1 and 1e-6 <= o.weight_decay <= 1e-5
               for o in random)
    draws[seed] = {o.learning_rate for o in random}
    assert len(draws[seed]) == 9
  # Each --search-seed is another search: no rate in common.
  assert not (draws[1] & draws[2] or draws[1] & draws[3] or draws[2] & draws[3])


def test_search_sweeps_train_as_one_population_each():
  from launch.population import plan
  for kind, n in (('grid', None), ('random', 9)):
    configs = [t.config('runs') for t in sweep.expand('search', search=kind, num_trials=n,
                                                      search_seed=1 if n else 0)]
    assert plan(configs) == [list(range(len(configs)))]


# --------------------------------------------------------------------------
# schedules


def _rates(name, warmup, *, peak, steps_per_epoch, num_epochs):
  return schedules_report.learning_rates(
      schedules_report.schedule_config(name, warmup), peak=peak,
      steps_per_epoch=steps_per_epoch, num_epochs=num_epochs)


def test_schedule_rates_follow_their_formulas():
  peak, per_epoch, epochs = 0.1, 4, 10
  total, warmup = per_epoch * epochs, 5 * per_epoch
  s = np.arange(total)
  cosine = _rates('cosine', 0.0, peak=peak, steps_per_epoch=per_epoch, num_epochs=epochs)
  np.testing.assert_allclose(cosine, peak * 0.5 * (1 + np.cos(np.pi * s / total)),
                             rtol=1e-5, atol=1e-7)
  linear = _rates('linear', 5.0, peak=peak, steps_per_epoch=per_epoch, num_epochs=epochs)
  expected = np.where(s < warmup, peak * s / warmup,
                      peak * (1 - (s - warmup) / (total - warmup)))
  np.testing.assert_allclose(linear, expected, rtol=1e-5, atol=1e-7)
  constant = _rates('constant', 0.0, peak=peak, steps_per_epoch=per_epoch,
                    num_epochs=epochs)
  np.testing.assert_array_equal(constant, np.full(total, peak))
  # The step option's own step_epochs (30, 45) of a 60-epoch run, after warmup.
  step = _rates('step', 5.0, peak=peak, steps_per_epoch=2, num_epochs=60)
  s = np.arange(120)
  expected = np.where(s < 10, peak * s / 10, peak * 0.1 ** ((s >= 60).astype(int) + (s >= 90)))
  np.testing.assert_allclose(step, expected, rtol=1e-5, atol=1e-9)


def _trial(experiment, axes, point, seed):
  """The Trial a sweep makes of `point` (a Choice by its option name)."""
  overrides = tuple(sweep.format_override(k, v) for k, v in
                    search_lib.overrides_of(axes, point).items())
  return Trial(experiment, overrides, seed)


def _schedule_trial(name, warmup, seed):
  return _trial('schedules', schedules.AXES,
                {'schedule': name, 'optimizer.schedule.warmup_epochs': warmup}, seed)


def test_schedules_report_rows_reading_and_figure(tmp_path):
  rng = np.random.default_rng(0)
  points = {('constant', 0.0): (0.60, 0.2), ('cosine', 0.0): (0.66, 0.006),
            ('cosine', 5.0): (0.67, 0.005), ('step', 0.0): (0.64, 0.01)}
  records, expected = [], {}
  for (name, warmup), (acc, loss) in points.items():
    accs, losses = acc + 0.01 * rng.random(2), loss * (1 + rng.random(2))
    expected[(name, warmup)] = (accs, losses)
    for seed in (0, 1):
      records.append(fake_record(
          tmp_path, _schedule_trial(name, warmup, seed), epochs=60, steps=2400,
          final={'test/accuracy': accs[seed], 'train/loss': losses[seed]}))
  records.append(fake_record(tmp_path, _schedule_trial('cosine', 5.0, 2), status='failed'))
  # A step record in a folder beside these (the former `schedules_step`
  # experiment's): the report reads its records only.
  sibling = fake_record(tmp_path / 'other', _schedule_trial('step', 5.0, 0), epochs=60,
                        steps=2400, final={'test/accuracy': 0.9, 'train/loss': 0.01})
  pathlib.Path(sibling['run_dir']).parent.rename(tmp_path / 'schedules_step')
  text = schedules_report.report(_inputs(tmp_path, 'schedules', records))

  assert (tmp_path / 'figures' / 'schedules' / 'learning_rates.png').stat().st_size > 0
  total, warm = 2400, 5 * 40
  last = {('constant', 0.0): 1.0,
          ('cosine', 0.0): 0.5 * (1 + math.cos(math.pi * (total - 1) / total)),
          ('cosine', 5.0): 0.5 * (1 + math.cos(math.pi * (total - 1 - warm) / (total - warm))),
          ('step', 0.0): 0.01}  # two drops of 10x
  for (name, warmup), (accs, losses) in expected.items():
    cells = _cells(text, name, f'{warmup:g}')
    assert cells[2:5] == ['2', f'{losses.mean():.4f} ± {losses.std(ddof=1):.4f}',
                          _mean_std(accs)]
    # float32: 1 + cos near pi keeps about 1e-7 of absolute precision.
    assert float(cells[5]) == pytest.approx(last[(name, warmup)], rel=1e-5, abs=2e-7)
    assert cells[6] == ('1' if (name, warmup) == ('cosine', 5.0) else '')
  # Rows in the order of the Choice's options; no row of the sibling folder.
  names = [line.split('|')[1].strip() for line in text.splitlines()
           if line.startswith('| ') and line.split('|')[2].strip() in ('0', '5')]
  assert names == ['constant', 'cosine', 'cosine', 'step']
  best = max(expected, key=lambda k: expected[k][0].mean())
  assert best == ('cosine', 5.0)
  assert 'Highest mean test accuracy: cosine + warmup 5' in text
  assert 'lowest: constant (' in text
  low, high = stats.beta.ppf([0.025, 0.975], (1 - expected[best][0].mean()) * 1000 + 1,
                             expected[best][0].mean() * 1000 + 1)
  assert f'±{100 * (high - low) / 2:.1f} points' in text


# --------------------------------------------------------------------------
# batch_size


def _batch_trial(rule, batch, seed):
  return _trial('batch_size', batch_size.AXES,
                {'rule': rule, 'train.batch_size': batch}, seed)


def test_batch_size_report_rows_and_figure(tmp_path):
  rules = {'fixed lr': 0.6, 'linear scaling': 0.62, 'linear scaling + warmup': 0.63,
           'lr / N (the slides)': 0.5}
  assert tuple(rules) == batch_size.RULES
  rng = np.random.default_rng(3)
  records, cells, means = [], {}, {}
  for b in (32, 2048):
    for rule, acc in rules.items():
      accs = acc - b / 1e4 + 0.02 * rng.random(2)
      for seed, a in enumerate(accs):
        records.append(fake_record(tmp_path, _batch_trial(rule, b, seed),
                                   final={'test/accuracy': a, 'train/loss': 1 - a}))
      cells[(b, rule)], means[(b, rule)] = _mean_std(accs), np.mean(accs)
  records.append(fake_record(tmp_path, _batch_trial('linear scaling', 2048, 2),
                             status='diverged'))
  cells[(2048, 'linear scaling')] += ' (1 not finished)'
  text = batch_size_report.report(_inputs(tmp_path, 'batch_size', records))

  assert (tmp_path / 'figures' / 'batch_size' / 'accuracy_against_batch.png').stat().st_size > 0
  assert _row(text, 'batch', 'steps / epoch', 'steps', 'fixed rate', 'rate x N', 'rate / N',
              *rules)
  for b in (32, 2048):
    per_epoch = 4000 // b
    assert _row(text, b, per_epoch, 30 * per_epoch, '0.02', f'{0.02 * b / 32:g}',
                f'{0.02 * 32 / b:.3g}',
                *(cells[(b, rule)] for rule in rules))
  assert 'linear scaling: runs that did not finish (diverged or failed) at batch 2048.' in text
  deltas = [100 * (means[(b, 'linear scaling + warmup')] - means[(b, 'linear scaling')])
            for b in (32, 2048)]
  assert (f'Warmup with linear scaling: {np.mean(deltas):+.1f} points on average over '
          f'batch sizes (from {min(deltas):+.1f} to {max(deltas):+.1f}).') in text
  assert 'fixed lr + warmup' not in text


def test_largest_batch_within_noise():
  n = 1000
  low, high = stats.beta.ppf([0.025, 0.975], 0.35 * n + 1, 0.65 * n + 1)
  noise = high - low
  by_batch = {32: {'test': [0.65], 'left_out': 0},
              64: {'test': [0.65 - 0.9 * noise], 'left_out': 0},
              128: {'test': [0.65 - 1.1 * noise], 'left_out': 0},
              256: {'test': [0.65], 'left_out': 0}}
  assert batch_size_report.largest_within_noise(by_batch, n) == 64
  by_batch[64]['left_out'] = 1  # a diverged run ends the range
  assert batch_size_report.largest_within_noise(by_batch, n) == 32


# --------------------------------------------------------------------------
# early_stopping

# Dev accuracy best at epoch 7; dev loss lowest at epoch 4.
DEV_ACCURACY = [0.30, 0.40, 0.50, 0.55, 0.60, 0.62, 0.64, 0.63, 0.63, 0.62, 0.64, 0.63]
DEV_LOSS = [1.6, 1.3, 1.1, 1.05, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8]


def _rows(num_epochs=len(DEV_ACCURACY)):
  return [{'epoch': e + 1, 'step': 30 * (e + 1), 'train/loss': 1.0 / (e + 1),
           'train/accuracy': min(1.0, 0.5 + 0.05 * e), 'dev/loss': DEV_LOSS[e],
           'dev/accuracy': DEV_ACCURACY[e], 'test/accuracy': DEV_ACCURACY[e] - 0.01}
          for e in range(num_epochs)]


def test_replay_stops_where_patience_runs_out():
  rows = _rows()
  # Best 0.64 at epoch 7 (epoch 11 only ties it); two epochs without a new best.
  assert early_stopping_report.replay(rows, 'dev/accuracy', 'max', 2) == {
      'stop_epoch': 9, 'best_epoch': 7, 'stopped': True}
  assert early_stopping_report.replay(rows, 'dev/loss', 'min', 2) == {
      'stop_epoch': 6, 'best_epoch': 4, 'stopped': True}
  assert early_stopping_report.replay(rows, 'dev/accuracy', 'max', 0) == {
      'stop_epoch': 12, 'best_epoch': 7, 'stopped': False}


def test_early_stopping_report(tmp_path):
  rows = _rows()
  full = fake_record(tmp_path, Trial('early_stopping', ('train.patience=0',), 0),
                     epochs=12, steps=360, rows=rows,
                     final={'test/accuracy': 0.62}, best={'epoch': 7, 'test/accuracy': 0.63})
  stopped = fake_record(tmp_path, Trial('early_stopping', ('train.patience=5',), 0),
                        status='early_stopped', epochs=12, steps=360, rows=rows,
                        final={'test/accuracy': 0.62}, best={'epoch': 7, 'test/accuracy': 0.63})
  wrong = fake_record(tmp_path, Trial('early_stopping', ('train.patience=20',), 0),
                      status='done', epochs=11, steps=330, rows=rows[:11],
                      final={'test/accuracy': 0.61}, best={'epoch': 7, 'test/accuracy': 0.63})
  text = early_stopping_report.report(_inputs(tmp_path, 'early_stopping', [full, stopped, wrong]))

  assert (tmp_path / 'figures' / 'early_stopping' / 'stopping.png').stat().st_size > 0
  assert _row(text, 'off (to the end)', 0, 'done', 12, 7, '63.0', '62.0')
  assert _row(text, 5, 0, 'early_stopped', 12, 7, '63.0', '62.0')
  # Patience 5 after epoch 7 ends at epoch 12 (the last): a match. The
  # patience-20 record claims 11 epochs where the replay gives 12: no match.
  assert 'in 1 of 2 cases' in text
  # Replayed on dev loss with patience 1: best epoch 4, stop at 5, test 0.54.
  assert _row(text, 'dev/loss', 1, '5.0', '4.0', '54.00', '1 of 1')


# --------------------------------------------------------------------------
# search and §8


@pytest.mark.parametrize('q, n', [(0.05, 9), (0.05, 60), (0.2, 3)])
def test_simulated_chance_matches_formula_on_a_synthetic_pool(q, n):
  rng = np.random.default_rng(1)
  scores = rng.normal(size=20_000)
  top = search_report.top_fraction(scores, q)
  assert top.sum() == round(q * len(scores))
  assert np.all(scores[top].min() >= scores[~top].max())
  expected = 1 - (1 - q) ** n
  assert search_report.formula(q, n) == pytest.approx(expected)
  simulated = search_report.simulate_random(top, n, 40_000, rng)
  assert abs(simulated - expected) < 4 * math.sqrt(expected * (1 - expected) / 40_000)


def test_published_example_and_shifted_grid():
  assert search_report.formula(0.05, 60) == pytest.approx(0.954, abs=5e-4)  # "-> 0.95"
  # A contiguous best 5% (a single peak): a shifted grid of 3 values lands
  # in it with chance 3q, 9 random draws with 1 - (1 - q)^9.
  x = np.linspace(0, 1, 10_000, endpoint=False)
  top = search_report.top_fraction(-np.abs(x - 0.37), 0.05)
  rng = np.random.default_rng(2)
  grid = search_report.simulate_grid(top, 3, 40_000, rng)
  assert abs(grid - 0.15) < 4 * math.sqrt(0.15 * 0.85 / 40_000)
  assert search_report.simulate_random(top, 9, 40_000, rng) > grid


def test_fine_scores_average_equal_rates_and_interpolate():
  fine, scores = search_report.fine_scores(np.array([-4.0, -2.0, -2.0, -1.0]),
                                           np.array([0.2, 0.5, 0.7, 0.4]), 1e-4, 1e-1,
                                           num_points=7)
  np.testing.assert_allclose(fine, np.linspace(-4, -1, 7))
  np.testing.assert_allclose(scores, np.interp(fine, [-4, -2, -1], [0.2, 0.6, 0.4]))


def _accuracy(lr):
  return 0.6 - 0.05 * (np.log10(lr) + 2.2) ** 2  # best at lr = 10^-2.2


def _lr_of(trial):
  return trial.config('runs').optimizer.learning_rate


def test_search_report_groups_trials_by_sweep(tmp_path):
  grid = sweep.expand('search', search='grid')
  randoms = {seed: sweep.expand('search', search='random', num_trials=9, search_seed=seed)
             for seed in (1, 2, 3)}
  failed = randoms[2][3]
  records = {}
  for t in [*grid, *randoms[1], *randoms[2], *randoms[3]]:
    score = _accuracy(_lr_of(t))
    records[t] = (fake_record(tmp_path, t, status='failed') if t == failed else
                  fake_record(tmp_path, t, final={'dev/accuracy': score,
                                                  'test/accuracy': score - 0.02}))

  def sweep_record(kind, trials, seed=0):
    return {'search': kind, 'search_seed': seed, 'overrides': [],
            'run_dirs': [records[t]['run_dir'] for t in trials]}

  sweeps = [sweep_record('grid', grid),
            sweep_record('random', randoms[1][:5], 1),  # interrupted after 5 trials
            sweep_record('random', randoms[2], 2),
            sweep_record('random', randoms[1], 1),  # run again: skipped the first 5
            sweep_record('random', randoms[3], 3)]
  text = search_report.report(_inputs(tmp_path, 'search', list(records.values()), sweeps))

  assert (tmp_path / 'figures' / 'search' / 'trials.png').stat().st_size > 0
  finished = {'grid': grid, 'random, seed 1': randoms[1],
              'random, seed 2': [t for t in randoms[2] if t != failed],
              'random, seed 3': randoms[3]}
  best = {}
  for label, trials in finished.items():
    lrs = [_lr_of(t) for t in trials]
    best[label] = max(_accuracy(lr) for lr in lrs)
    cells = _cells(text, label)
    assert cells[1:3] == ['8 of 9' if label == 'random, seed 2' else '9', str(len(set(lrs)))]
    assert cells[5:] == [f'{100 * best[label]:.1f}', f'{100 * (best[label] - 0.02):.1f}']
  assert len([line for line in text.splitlines() if line.startswith('| random')]) == 3
  wins = sum(best[label] > best['grid'] for label in finished if label != 'grid')
  assert f'{wins} of 3 non-grid searches found a better configuration than the grid' in text
  assert 'The budgets differ' in text  # the failed trial leaves seed 2 with 8
  # The grid's weight decays leave the score unchanged at each rate here.
  assert 'spread over at most 0.0 points' in text
  # §8: the pool is every finished trial, each once.
  assert 'The 35 finished trials' in text
  assert '| 0.05 | 60 | 8 |' in text and '| 0.95 |' in text


def test_search_groups_sweeps_by_search_and_seed():
  def record(name, score):
    return {'run_dir': f'/runs/search/{name}', 'status': 'done',
            'final': {'dev/accuracy': score}}

  records = [record(f't{i}', i / 10) for i in range(6)]
  sweeps = [{'search': 'random', 'search_seed': 1, 'run_dirs': ['/a/search/t0', '/a/search/t1']},
            {'search': 'grid', 'search_seed': 7, 'run_dirs': ['/runs/search/t2']},
            {'search': 'random', 'run_dirs': ['/runs/search/t3']},  # no search_seed: 0
            {'search': 'random', 'search_seed': 1, 'overrides': ['train.num_epochs=2'],
             'run_dirs': ['/runs/search/t4', '/runs/search/t1']},
            {'search': 'grid', 'search_seed': 0, 'run_dirs': ['/runs/search/t5']},
            {'search': 'halton', 'search_seed': 2, 'run_dirs': []}]
  found = search_report.searches(sweeps, records)
  # Matched by run directory name; a grid has no search seed; other common
  # overrides make another search; a sweep that listed nothing is none.
  assert [(f.label, f.kind, [r['run_dir'][-2:] for r in f.trials], f.listed)
          for f in found] == [
              ('random, seed 1', 'random', ['t0', 't1'], 2),
              ('grid', 'grid', ['t2', 't5'], 2),
              ('random, seed 0', 'random', ['t3'], 1),
              ('random, seed 1 (2)', 'random', ['t4', 't1'], 2)]


# --------------------------------------------------------------------------
# universal_approximation


@pytest.fixture(scope='module')
def tiny_fits():
  # Adam alone at a high rate: compiling L-BFGS's line search would cost
  # more than all the steps (research's L-BFGS has tests of its own).
  return ua_report.fit_widths((1, 8), log=lambda line: None, num_seeds=2, adam_steps=1000,
                              adam_learning_rate=0.1, lbfgs_steps=0, num_train=64,
                              num_test=201)


def test_wider_layer_fits_better(tiny_fits):
  assert np.median(tiny_fits[8]['rms']) < 0.5 * np.median(tiny_fits[1]['rms'])
  for f in tiny_fits.values():
    x = f['x']
    np.testing.assert_allclose(x, np.linspace(-1, 1, 201), atol=1e-6)
    error = f['prediction'] - (np.sin(3 * np.pi * x) + x)
    np.testing.assert_allclose(f['rms'], np.sqrt(np.mean(error ** 2, axis=1)), rtol=1e-4)
    np.testing.assert_allclose(f['max'], np.abs(error).max(axis=1), rtol=1e-4)


def test_universal_approximation_sections(tiny_fits, tmp_path):
  text = ua_report.sections(tiny_fits, tmp_path, 'universal_approximation',
                            adam_steps=1000, lbfgs_steps=0)
  for w, f in tiny_fits.items():
    assert _row(text, w, 3 * w + 1, f'{np.median(f["rms"]):.3g}',
                f'{f["rms"].min():.3g} – {f["rms"].max():.3g}',
                f'{np.median(f["max"]):.3g}', f'{f["max"].min():.3g} – {f["max"].max():.3g}',
                f'{np.median(f["train_mse"]):.2g}')
  assert (tmp_path / 'errors.png').stat().st_size > 0
  assert (tmp_path / 'fits.png').stat().st_size > 0
  registered = load_registry().get('universal_approximation')
  assert not registered.trainable
  assert registered.report == 'experiments.universal_approximation_report:report'
  assert registered.load_report() is ua_report.report
