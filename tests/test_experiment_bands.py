"""Published numbers beside our means: bands.accept_section, and the
REFERENCES §3 and §7 experiments' points."""

import pathlib

from experiments import bands
from launch import sweep
from launch import trials as trials_lib
from research.tables import TableInputs

registry = trials_lib.load_registry()


def _record(overrides, test, status='done'):
  return {'status': status, 'overrides': list(overrides),
          'final': {'test/accuracy': test, 'train/accuracy': 1.0}}


def test_accept_section_means_bands_and_missing_points():
  records = [_record(['a=1'], 0.982), _record(['a=1'], 0.986),  # mean 98.4: in
             _record(['a=1'], 0.5, status='diverged'),  # not averaged
             _record(['a=2'], 0.970)]
  text = bands.accept_section(records, [
      bands.Target('one', ('a=1',), '98.40%', (98.1, 98.7)),
      bands.Target('two', ('a=2',), '98.40%', (98.1, 98.7)),
      bands.Target('three', ('a=3',), '1.6% error', None)], 'REFERENCES.md §0')
  rows = [l for l in text.splitlines() if l.startswith('| ') and not l.startswith('| :')][1:]
  assert rows[0] == ('| one | 2 | 98.40% (1.60% error) | 100.00% | 98.40% | '
                     '98.10–98.70% | **yes** |')
  assert rows[1].endswith('| **no** |') and '| 1 | 97.00%' in rows[1]
  assert rows[2] == '| three | 0 | — | — | 1.6% error | — | not run |'
  assert text.startswith('## Against REFERENCES.md §0')


def test_lecun_points_are_told_apart_by_their_loss():
  trials = sweep.expand('lecun_mnist', seeds=(0,))
  assert len(trials) == 4 and len({t.overrides for t in trials}) == 4
  records = [_record(t.overrides, 0.90 + 0.01 * i) for i, t in enumerate(trials)]
  text = registry.get('lecun_mnist').report(TableInputs(
      'lecun_mnist', records, [], pathlib.Path('/nonexistent')))
  # Each row averages exactly its own record.
  for i, name in enumerate(['linear classifier', 'linear classifier, MSE',
                            '2-layer, 800 HU', '3-layer, 500+150 HU']):
    assert f'| {name} | 1 | {90 + i:.2f}% ' in text


def test_mnist_mlp_publishes_its_base_config():
  assert registry.get('mnist_mlp').published == {
      '': '98.40% ("98.40% test accuracy after 20 epochs")'}


def test_table3_points_and_scikit_learn_settings():
  trials = sweep.expand('fashion_mnist_table3', seeds=(0,))
  assert len(trials) == 10
  experiment = registry.get('fashion_mnist_table3')
  # Every published cell is a point that runs.
  assert set(experiment.published) == {' '.join(t.overrides) for t in trials}
  config = experiment.config()
  # scikit-learn's 0.5 * alpha * ||W||^2 / batch, alpha 1e-4, batch 200.
  assert config.regularization.l2 == 1e-4 / 200 and config.train.batch_size == 200
  assert (config.train.monitor, config.train.patience, config.train.min_delta) == (
      'train/loss', 10, 1e-4)
  records = [_record(t.overrides, 0.87) for t in trials]
  text = experiment.report(TableInputs('fashion_mnist_table3', records, [],
                                       pathlib.Path('/nonexistent')))
  # 87.0% is within a point of Fashion-MNIST's 87.1, 87.0 and 86.8 only.
  assert text.count('**yes**') == 3


def test_dropout_accept_needs_the_band_and_the_gap_to_l2():
  from experiments import dropout_mnist  # pylint: disable=g-import-not-at-top
  trials = sweep.expand('dropout_mnist_cpu', seeds=(0,))
  assert len(trials) == 2 and len(sweep.expand('dropout_mnist', seeds=(0,))) == 10
  best = dropout_mnist._overrides('Table 9: dropout + max-norm')
  l2 = dropout_mnist._overrides('Table 9: L2')
  assert {t.overrides for t in trials} == {best, l2}

  def report(best_accuracy, l2_accuracy):
    return registry.get('dropout_mnist_cpu').report(TableInputs(
        'dropout_mnist_cpu', [_record(best, best_accuracy), _record(l2, l2_accuracy)],
        [], pathlib.Path('/nonexistent')))

  text = report(0.9875, 0.9840)  # 1.25% and 1.60% error
  assert '| Table 9: dropout + max-norm | 1 | 98.75% (1.25% error) |' in text
  assert '1.05% error (Table 9) | 98.70–100.00% | **yes** |' in text
  assert 'L2 only is 0.35 points worse' in text and '(accept: ≥ 0.3): **yes**' in text
  text = report(0.9860, 0.9850)  # 1.40% and 1.50%: neither holds
  assert '98.70–100.00% | **no** |' in text and '(accept: ≥ 0.3): **no**' in text
  assert 'Table 9: L2 + KL-sparsity' in text
