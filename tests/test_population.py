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
import xla_flags
from train_helpers import assert_trees_equal, tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

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


class Stop(Exception):
  """Raised by `stop_at_two`: a kill after epoch 2, before its checkpoint."""


def stop_at_two(epoch, state):
  del state
  if epoch == 2:
    raise Stop()


def _params(run_dir):
  return jax.tree.leaves(load_trained(run_dir).state.params)


# At the tests' -O0, mixup's Beta sampler (a rejection loop) rounds
# differently vmapped and alone and can accept another draw; compiled as
# users' runs are, the members equal their runs to 1e-5.
@pytest.mark.slow
@xla_flags.compiled_as_users_are
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
  # Its updates were masked from the diverged epoch on: its last good state
  # (here the initial one) is its latest checkpoint.
  assert 'the last good checkpoint is step 0' in summaries[1]['error']
  assert int(load_trained(summaries[1]['run_dir']).state.step) == 0
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


def _tree_bytes(root):
  """{relative path: bytes} of every file under `root`."""
  return {str(p.relative_to(root)): p.read_bytes()
          for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.mark.slow
def test_population_sweep_over_a_finished_run_leaves_it_untouched(tmp_path, capsys):
  """The blocker of issue 17: `research run`, then `research sweep --launcher
  population` over the same output directory."""
  from launch.cli import main  # pylint: disable=g-import-not-at-top
  common = ['--set', 'train.num_epochs=2', '--set', 'model.hidden=(16,)',
            '--set', 'tracking.wandb=disabled']
  out = tmp_path / 'runs_x'
  assert main(['run', 'quickstart', *common, '--set', f'tracking.output_dir={out}']) == 0
  [finished] = list((out / 'quickstart').iterdir())
  before = _tree_bytes(finished)
  assert main(['sweep', 'quickstart', '--launcher', 'population', *common,
               '--output-dir', str(out)]) == 0
  printed = capsys.readouterr()
  assert 'failed' not in printed.out, printed.out
  records = [json.loads(p.read_text()) for p in (out / 'quickstart').glob('*/trial.json')]
  assert sorted(r['status'] for r in records) == ['done'] * 3
  # The plain run's files are as it left them; only its trial record is new.
  after = _tree_bytes(finished)
  assert after.pop('trial.json')
  assert after == before
  assert not list(out.rglob('population-*'))  # no second home for a member
  # Again: everything is skipped, nothing trains.
  assert main(['sweep', 'quickstart', '--launcher', 'population', *common,
               '--output-dir', str(out)]) == 0
  assert 'population of' not in capsys.readouterr().err


@pytest.mark.slow
def test_an_interrupted_member_resumes_alone_and_a_run_resumes_in_a_population(tmp_path):
  """A member's run directory is a run's: its checkpoints resume either way."""
  configs = _configs(tmp_path, members=SIMPLE_MEMBERS)

  with pytest.raises(Stop):
    train_population(configs, epoch_end_hook=stop_at_two)
  alone = run(configs[0])  # member 0 finishes as a plain run
  assert alone['resumed_from_epoch'] == 1 and alone['status'] == 'done'
  summaries = train_population(configs)  # member 1 resumes; member 0 is left
  assert summaries[0]['already_finished'] and summaries[0]['final'] == alone['final']
  assert summaries[1]['resumed_from_epoch'] == 1 and summaries[1]['status'] == 'done'
  assert summaries[1]['population'] == {'size': 1, 'member': 0, 'padded_size': 1}
  reference = run(configs[1], workdir=tmp_path / 'reference')
  assert summaries[1]['final'] == pytest.approx(reference['final'], rel=1e-5, abs=1e-6)


def test_members_draw_the_batches_and_masks_of_their_runs():
  """Permutations and dropout masks are integers and booleans from the same
  keys: vmapped over members they are the runs' own, bit for bit."""
  from research.train.epoch import epoch_batch_indices  # pylint: disable=g-import-not-at-top
  keys = jax.random.split(jax.random.PRNGKey(3), 5)
  batched = jax.vmap(lambda k: epoch_batch_indices(k, 1000, 32, True))(keys)
  masks = jax.vmap(lambda k: jax.random.bernoulli(k, 0.7, (64, 100)))(keys)
  for i, key in enumerate(keys):
    np.testing.assert_array_equal(batched[i], epoch_batch_indices(key, 1000, 32, True))
    np.testing.assert_array_equal(masks[i], jax.random.bernoulli(key, 0.7, (64, 100)))


@pytest.mark.slow
def test_members_follow_their_runs_step_by_step(tmp_path):
  """Same initialization (bit for bit), then the same trajectory to float32
  rounding: after 10 steps and after 100 (shuffled batches, dropout)."""
  extra = ('train.batch_size=400', 'train.shuffle=true', 'train.num_epochs=10',
           'model.dropout=0.2')  # 4000 examples: 10 steps an epoch
  members = [('seed=0', 'optimizer.learning_rate=0.01'),
             ('seed=1', 'optimizer.learning_rate=0.003')]
  states = {}

  def keep(name):
    def hook(epoch, state):
      if epoch in (1, 10):
        states[name, epoch] = jax.device_get(state)
    return hook

  from research.parallel import member  # pylint: disable=g-import-not-at-top
  from research.train.loop import build, initial_state  # pylint: disable=g-import-not-at-top
  from research.parallel import Parallel  # pylint: disable=g-import-not-at-top
  configs = _configs(tmp_path / 'pop', *extra, members=members)
  train_population(configs, epoch_end_hook=keep('population'))
  parts = build(configs[0], Parallel('jit'))
  for i, m in enumerate(members):
    config = tiny_config(*BASE, *m, *extra, f'tracking.output_dir={tmp_path / "alone"}')
    run(config, epoch_end_hook=keep(i))
    # Both start from `initial_state` of the config: the same bits.
    assert_trees_equal(jax.device_get(initial_state(config, parts)),
                       jax.device_get(initial_state(configs[i], parts)))
    for epoch, tolerance in ((1, 1e-6), (10, 1e-4)):
      alone, pop = states[i, epoch], member(states['population', epoch], i)
      assert int(pop.step) == int(alone.step) == 10 * epoch
      for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(pop.params)):
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance)
