"""`research bench-optimizers`: its trials, its scoring of trial curves, its
calibration rule, its errors, and one tiny end-to-end run."""

import json
import math

import pytest

import experiments  # noqa: F401  (registers the workloads)
from experiments import optimizer_benchmark as workloads
from launch import bench_args, bench_optimizers as bench, cli
from launch.bench_optimizers import Budget, Cell, TrialResult
from launch.registry import load_registry
from research import optim
from research.errors import ConfigError
from research.registry import Target


def _trial(study, steps, curve=(), cost=0.001, lr=1e-3):
  return TrialResult(study, {'optimizer.learning_rate': lr}, 'done', steps,
                     max((v for _, v in curve), default=None), tuple(curve), cost,
                     10.0)


def test_every_workload_has_a_target_and_a_budget():
  registry = load_registry()
  names = registry.workloads()
  assert len(names) >= 5 and set(workloads.QUICK['workloads']) <= set(names)
  for name in names:
    experiment = registry.get(name)
    assert 0.0 < experiment.target.value < 1.0, name
    config = experiment.config()
    assert config.data.dev_size > 0 and config.train.monitor == ''
    assert config.train.checkpoint_every_epochs == config.train.num_epochs


def test_target_rejects_bad_values():
  with pytest.raises(ValueError, match='dev/accuracy'):
    Target('accuracy', 0.5)
  with pytest.raises(ValueError, match='mode'):
    Target('dev/loss', 0.5, 'lowest')
  with pytest.raises(ValueError, match='number'):
    Target('dev/loss', '0.5')
  assert str(Target('dev/loss', 0.25, 'min')) == 'dev/loss <= 0.25'


def test_trials_are_halton_points_of_the_optimizers_own_space():
  budget = Budget(studies=3, trials_per_study=4)
  planned = bench.trials_of('bench_mnist1d_mlp', 'lion', budget)
  assert len(planned) == 12
  seeds = [t.seed for _, _, t in planned]
  assert sorted(seeds) == [0, 1, 2, 3, 1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003]
  # A larger budget extends a smaller one: the same first trials.
  assert bench.trials_of('bench_mnist1d_mlp', 'lion', Budget(2, 6))[:4] == planned[:4]
  space = optim.entry('lion').tuning['optimizer.learning_rate']
  by_study = {}
  for study, point, trial in planned:
    lr = point['optimizer.learning_rate']
    assert space.low <= lr <= space.high
    assert 'optimizer.name=lion' in trial.overrides
    assert f'optimizer.learning_rate={lr!r}' in trial.overrides
    by_study.setdefault(study, set()).add(lr)
  # Each study draws its own points.
  assert len(by_study[0] | by_study[1] | by_study[2]) == 12


def test_schedule_free_keeps_the_warmup_and_drops_the_decay():
  assert bench.optimizer_overrides('adam') == ('optimizer.name=adam',)
  assert 'optimizer.schedule.name=constant' in bench.optimizer_overrides(
      'schedule_free_adamw')


def test_bad_plans_say_what_is_known():
  with pytest.raises(ConfigError, match='no validation target.*bench_mnist1d_mlp'):
    bench.check_plan(['quickstart'], ['adam'])
  with pytest.raises(ConfigError, match='known:.*adam'):
    bench.check_plan(['bench_mnist1d_mlp'], ['adamm'])
  with pytest.raises(ConfigError, match='no tuning search space.*adam'):
    bench.check_plan(['bench_mnist1d_mlp'], ['lbfgs'])
  with pytest.raises(ConfigError, match='at least one'):
    bench.check_plan([], ['adam'])
  with pytest.raises(ConfigError, match='studies'):
    Budget(0, 4)
  with pytest.raises(ConfigError, match='trials_per_study'):
    Budget(1, 1001)


def test_summarize_takes_the_median_over_studies_of_the_fastest_trial():
  budget = Budget(studies=3, trials_per_study=2)
  cell = Cell('w', 'o', [
      _trial(0, 300), _trial(0, 100, lr=0.1),  # study 0: 100
      _trial(1, math.inf), _trial(1, 500, lr=0.2),  # study 1: 500
      _trial(2, 200, lr=0.3, cost=0.003), _trial(2, math.inf)])  # study 2: 200
  bench.summarize(cell, budget)
  assert cell.median_steps == 200
  # The cost per step is the cheapest member's (a diverged one trained fewer
  # steps in the same time).
  assert cell.step_seconds == 0.001
  assert cell.median_time == pytest.approx(0.2)
  assert cell.studies_reached == 3
  assert sorted(p['optimizer.learning_rate'] for p in cell.fastest_points) == [
      0.1, 0.2, 0.3]


def test_half_the_studies_missing_the_target_is_infinite():
  budget = Budget(studies=2, trials_per_study=1)
  cell = bench.summarize(Cell('w', 'o', [_trial(0, 100), _trial(1, math.inf)]),
                         budget)
  assert math.isinf(cell.median_steps) and math.isinf(cell.median_time)
  assert cell.studies_reached == 1


def test_calibration_rule():
  # Budget 300 steps: the first third is steps <= 100.
  cell = Cell('w', 'o', [
      _trial(0, 0, [(50, 0.61), (100, 0.733), (200, 0.9)]),
      _trial(0, 0, [(50, 0.70), (100, 0.72)]),
      _trial(1, 0, [(50, 0.80), (150, 0.95)]),
      _trial(2, 0, [(100, 0.748)])])
  # Per study: 0.733, 0.80, 0.748 -> median 0.748 -> floored to 0.745.
  assert bench.calibrated_target(cell, 300) == pytest.approx(0.745)
  assert math.isnan(bench.calibrated_target(Cell('w', 'o', []), 300))


def test_quick_plan_and_defaults():
  parser = cli.build_parser()
  args = parser.parse_args(['bench-optimizers', '--quick'])
  assert bench_args._plan(args) == (list(workloads.QUICK['workloads']),
                                    list(workloads.HEADLINE), 3, 4)
  args = parser.parse_args(['bench-optimizers'])
  names, optimizers, studies, trials = bench_args._plan(args)
  assert names == load_registry().workloads()
  assert 'lbfgs' not in optimizers and set(workloads.HEADLINE) <= set(optimizers)
  assert (studies, trials) == (workloads.STUDIES, workloads.TRIALS_PER_STUDY)


def test_a_tiny_benchmark_end_to_end(tmp_path, capsys):
  results = tmp_path / 'results'
  argv = ['bench-optimizers', '--workloads', 'bench_mnist1d_mlp',
          '--optimizers', 'adam,sam', '--studies', '2', '--trials', '2',
          '--set', 'train.num_epochs=3', '--output-dir', str(tmp_path / 'runs'),
          '--results-dir', str(results), '--wandb', 'disabled', '--quiet']
  assert cli.main(argv) == 0
  table = (results / 'optimizer_benchmark.md').read_text()
  assert (results / 'figures' / 'optimizer_benchmark' /
          'performance_profile.png').stat().st_size > 0
  assert '## Scores' in table and 'bench_mnist1d_mlp' in table
  assert 'Training every study took' in table
  assert 'Seeds: 0, 1, 1000, 1001' in table
  out = capsys.readouterr().out
  assert 'sam' in out and 'adam' in out
  # Every trial has its run directory and record, with its cost per step.
  runs = sorted((tmp_path / 'runs' / 'bench_mnist1d_mlp').glob('*/trial.json'))
  assert len(runs) == 8
  for record in map(json.loads, (p.read_text() for p in runs)):
    summary = json.loads((tmp_path / 'runs' / 'bench_mnist1d_mlp' /
                          record['run_dir'].rsplit('/', 1)[-1] /
                          'summary.json').read_text())
    assert summary['epoch_time_per_step_s'] > 0
  # Run again: nothing trains, the same table comes back.
  assert cli.main(argv) == 0
  again = (results / 'optimizer_benchmark.md').read_text()
  assert again.split('## Provenance')[0] == table.split('## Provenance')[0]
