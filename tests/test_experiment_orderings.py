"""The orderings the BatchNorm (REFERENCES §5) and Adam (§6) reproductions
judge, on made-up trial records."""

import json
import pathlib

import pytest

from experiments import adam_mnist
from launch import sweep
from launch import trials as trials_lib
from research.tables import TableInputs

registry = trials_lib.load_registry()


def _record(tmp_path, overrides, seed, final, curve=None):
  """A finished trial record; `curve` ({step: value}) becomes its metrics.jsonl
  rows of test accuracy and training-mode loss."""
  run_dir = tmp_path / f'run{len(list(tmp_path.iterdir()))}'
  run_dir.mkdir()
  rows = [{'epoch': i + 1, 'step': step, 'test/accuracy': v, 'train/loss': 1 - v}
          for i, (step, v) in enumerate(sorted((curve or {}).items()))]
  (run_dir / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
  return {'status': 'done', 'seed': seed, 'overrides': list(overrides),
          'run_dir': str(run_dir), 'final': final}


def _report(name, records):
  return registry.get(name).report(TableInputs(name, records, [], pathlib.Path('/nonexistent')))


def _bn_records(tmp_path, bn_curves, plain_curves):
  records = []
  for seed, (bn, plain) in enumerate(zip(bn_curves, plain_curves)):
    for placement, curve in (('before', bn), ('none', plain)):
      records.append(_record(tmp_path, [f'model.batchnorm={placement!r}'], seed,
                             {'test/accuracy': curve[max(curve)]}, curve))
  return records


def test_batchnorm_mnist_points_are_the_two_placements():
  trials = sweep.expand('batchnorm_mnist', seeds=(0,))
  assert {t.overrides for t in trials} == {("model.batchnorm='none'",),
                                           ("model.batchnorm='before'",)}
  config = registry.get('batchnorm_mnist').config()
  assert (config.train.batch_size, config.model.activation) == (60, 'sigmoid')
  assert config.train.num_epochs * (55_000 // 60) >= 50_000


@pytest.mark.parametrize('seeds, behind_at, verdict', [
    (3, None, 'yes'),
    (2, None, 'NO'),  # too few seeds
    (3, 6000, 'NO'),  # behind at one checked step
    (3, 1000, 'yes'),  # behind only before the first checked step
])
def test_batchnorm_ordering_verdict(tmp_path, seeds, behind_at, verdict):
  steps = (1000, 6000, 12000)
  plain = [{s: 0.90 + 0.001 * i for i, s in enumerate(steps)} for _ in range(seeds)]
  bn = [{s: 0.95 for s in steps} for _ in range(seeds)]
  if behind_at:
    bn[-1][behind_at] = 0.5
  text = _report('batchnorm_mnist', _bn_records(tmp_path, bn, plain))
  assert f'(≥ 3 needed): {verdict}.**' in text
  assert '| 12000 | 90.20 ± 0.00 | 95.00 ± 0.00 |' in text
  if behind_at == 6000:
    assert 'no: behind at steps [6000]' in text


def test_adam_mnist_tunes_each_optimizer_and_judges_adam(tmp_path):
  assert len(sweep.expand('adam_mnist', seeds=(0,))) == 17
  records = []
  for name, (_, grid) in adam_mnist.OPTIMIZERS.items():
    for seed in range(3):
      for i, lr in enumerate(grid):
        # The second rate of each grid is its best; Adam lowest at seeds 0, 1.
        cost = 0.1 * (1 + list(adam_mnist.OPTIMIZERS).index(name)) + abs(i - 1)
        if name == 'Adam':
          cost = (0.05 if seed < 2 else 0.25) + abs(i - 1)
        option = adam_mnist.option_name(name, lr)
        records.append(_record(tmp_path, adam_mnist._overrides(option), seed,
                               {'train/loss': cost, 'test/accuracy': 0.98},
                               {100: 0.5}))
  text = _report('adam_mnist', records)
  adam_row = next(l for l in text.splitlines() if l.startswith('| Adam |'))
  # The second rate (3e-4) chosen; mean cost (0.05 + 0.05 + 0.25) / 3.
  assert '| 0.0003 | 3 | 0.1167 ± 0.1155 |' in adam_row
  assert '**0.0003: 0.1167**' in adam_row
  assert 'lowest first: AdaGrad < Adam < RMSProp' in text
  assert 'seed 0: yes, seed 1: yes, seed 2: no' in text
  assert 'over >= 3 seeds' in registry.get('adam_mnist').reference
  assert 'optimizers (3 seeds; ≥ 3 needed): NO.**' in text


def test_adam_mnist_flags_a_best_rate_at_the_edge_of_its_grid(tmp_path):
  name, (_, grid) = 'SGD Nesterov', adam_mnist.OPTIMIZERS['SGD Nesterov']
  records = [_record(tmp_path, adam_mnist._overrides(adam_mnist.option_name(name, lr)), 0,
                     {'train/loss': lr, 'test/accuracy': 0.9}) for lr in grid]
  best = adam_mnist.tuned(records)[name]
  assert best[0] == grid[0] and best[3] == ' (edge of grid)'
