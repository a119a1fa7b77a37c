"""Magnitude pruning: exact masks (against NumPy), and fine-tuning in the real
training loop that keeps the pruned weights at zero, resumes exactly, restores
old checkpoints, and refuses bad configs."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import models
from research.errors import ConfigError
from research.pruning import (apply_masks, iterative_sparsities, kernel_names,
                              magnitude_masks, sparsity_report)
from research.train import Checkpointer, create_train_state, run
from research.tracking import RunDir
from research.train.restore import load_trained
from research.train.resolve import resolve
from train_helpers import Capture, assert_trees_equal, tiny_config

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`


def random_params(seed: int, ties: bool = False):
  """A params tree like an MLP's with BatchNorm: kernels, biases, scales.
  With `ties`, the magnitudes take only 5 values (many repeats)."""
  rng = np.random.default_rng(seed)
  shapes = {'Dense_0': (20, 16), 'Dense_1': (16, 8), 'Dense_2': (8, 3)}
  params = {}
  for name, shape in shapes.items():
    kernel = rng.normal(size=shape)
    if ties:
      kernel = rng.choice([-2., -1., 1., 0.5, 3.], size=shape)
    params[name] = {'kernel': jnp.asarray(kernel, jnp.float32),
                    'bias': jnp.asarray(rng.normal(size=shape[1]), jnp.float32)}
  params['BatchNorm_0'] = {'scale': jnp.asarray(rng.normal(size=16), jnp.float32),
                           'bias': jnp.asarray(rng.normal(size=16), jnp.float32)}
  return params


def expected_pruned(magnitudes: np.ndarray, count: int) -> set:
  """Flat indices of the `count` smallest magnitudes, ties to the lower index."""
  order = sorted(range(magnitudes.size), key=lambda i: (magnitudes[i], i))
  return set(order[:count])


def kernels_flat(tree) -> np.ndarray:
  return np.concatenate([np.asarray(tree[n.split('/')[0]]['kernel']).ravel()
                         for n in kernel_names(tree)])


@pytest.mark.parametrize('ties', [False, True])
@pytest.mark.parametrize('sparsity', [0.0, 0.3, 0.5, 0.8, 0.95])
def test_global_mask_prunes_exactly_the_smallest(sparsity, ties):
  params = random_params(int(sparsity * 100) + ties, ties=ties)
  masks = magnitude_masks(params, sparsity, 'global')
  magnitudes = np.abs(kernels_flat(params).astype(np.float64))
  count = round(sparsity * magnitudes.size)
  pruned = set(np.flatnonzero(kernels_flat(masks) == 0))
  assert pruned == expected_pruned(magnitudes, count)
  assert set(np.unique(kernels_flat(masks))) <= {0.0, 1.0}
  # Biases and BatchNorm's parameters are never pruned.
  for name, leaves in masks.items():
    for leaf_name, leaf in leaves.items():
      if leaf_name != 'kernel':
        np.testing.assert_array_equal(leaf, np.ones_like(params[name][leaf_name]))
  report = sparsity_report(apply_masks(params, masks))
  assert report['zeros'] == count and report['total'] == magnitudes.size


@pytest.mark.parametrize('ties', [False, True])
@pytest.mark.parametrize('sparsity', [0.25, 0.6, 0.9])
def test_layer_mask_prunes_the_same_fraction_of_each_kernel(sparsity, ties):
  params = random_params(7 + ties, ties=ties)
  masks = magnitude_masks(params, sparsity, 'layer')
  report = sparsity_report(masks)
  for name in ('Dense_0', 'Dense_1', 'Dense_2'):
    kernel = np.abs(np.asarray(params[name]['kernel'], np.float64)).ravel()
    count = round(sparsity * kernel.size)
    pruned = set(np.flatnonzero(np.asarray(masks[name]['kernel']).ravel() == 0))
    assert pruned == expected_pruned(kernel, count)
    assert report['layers'][f'{name}/kernel'] == count / kernel.size


def test_previous_masks_stay_pruned_and_lower_targets_are_refused():
  params = random_params(3)
  first = magnitude_masks(params, 0.5, 'global')
  # Fine-tuning moves weights: some pruned ones would now rank above kept ones.
  moved = jax.tree.map(lambda p: p + jax.random.normal(jax.random.PRNGKey(0), p.shape),
                       params)
  second = magnitude_masks(moved, 0.75, 'global', previous=first)
  old, new = kernels_flat(first), kernels_flat(second)
  assert np.all(new[old == 0] == 0)
  assert np.sum(new == 0) == round(0.75 * new.size)
  # The newly pruned are the smallest of the weights kept before.
  kept = np.flatnonzero(old == 1)
  magnitudes = np.abs(kernels_flat(moved)[kept].astype(np.float64))
  newly = expected_pruned(magnitudes, round(0.75 * new.size) - np.sum(old == 0))
  assert set(kept[sorted(newly)]) == set(np.flatnonzero((new == 0) & (old == 1)))
  with pytest.raises(ValueError, match='fewer than'):
    magnitude_masks(moved, 0.4, 'global', previous=first)
  with pytest.raises(ValueError, match='fewer than'):
    magnitude_masks(moved, 0.3, 'layer', previous=first)


def test_iterative_sparsities_remove_the_same_fraction_each_round():
  for final, rounds in ((0.9, 3), (0.99, 4), (0.5, 1)):
    targets = iterative_sparsities(final, rounds)
    assert len(targets) == rounds and targets[-1] == final
    keeps = np.concatenate([[1.0], 1 - np.asarray(targets)])
    np.testing.assert_allclose(keeps[1:] / keeps[:-1], (1 - final) ** (1 / rounds))


# --------------------------------------------------------------------------
# In the training loop (MNIST-1D, a 32-32 MLP)


@pytest.fixture(scope='module')
def dense_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('dense')
  summary = run(tiny_config('train.num_epochs=2'), workdir=workdir)
  assert summary['status'] == 'done'
  return workdir


def pruned_config(source_dir, *overrides):
  return tiny_config(f'train.init_from={source_dir}', 'prune.sparsity=0.8',
                     'train.num_epochs=2', *overrides)


@pytest.fixture(scope='module')
def pruned_run(dense_run, tmp_path_factory):
  """Fine-tuned at 80% global sparsity with Adam and decoupled weight decay."""
  workdir = tmp_path_factory.mktemp('pruned')
  summary = run(pruned_config(dense_run, 'optimizer.name=adam',
                              'optimizer.weight_decay=0.1'), workdir=workdir)
  assert summary['status'] == 'done'
  # A fresh start: step 0, then this run's own epochs.
  assert summary['steps'] == 2 * summary['steps_per_epoch']
  return workdir


def crash_at(epoch_to_crash: int):
  """An epoch hook that kills the run after that epoch, before its checkpoint."""
  def crash(epoch, state):
    del state
    if epoch == epoch_to_crash:
      raise KeyboardInterrupt('simulated kill')
  return crash


def assert_pruned_weights_are_zero(state, trained_from):
  for mask, weight, before in zip(jax.tree.leaves(state.masks),
                                  jax.tree.leaves(state.params),
                                  jax.tree.leaves(trained_from)):
    mask, weight, before = np.asarray(mask), np.asarray(weight), np.asarray(before)
    assert np.all(weight[mask == 0] == 0.0)
    assert not np.array_equal(weight[mask == 1], before[mask == 1])  # trained


def test_fine_tuning_with_adam_and_weight_decay_keeps_pruned_weights_at_zero(
    dense_run, pruned_run):
  dense = load_trained(dense_run)
  pruned = load_trained(pruned_run, dataset=dense.dataset)
  # The masks are in the checkpoint, and are those of the dense run's weights.
  assert_trees_equal(pruned.state.masks, magnitude_masks(dense.state.params, 0.8))
  assert_pruned_weights_are_zero(pruned.state, dense.state.params)
  report = sparsity_report(pruned.state.params)
  assert report['zeros'] == round(0.8 * report['total'])


def test_momentum_max_norm_fine_tuning_resumes_exactly(dense_run, tmp_path):
  config = pruned_config(dense_run, 'optimizer.name=momentum',
                         'optimizer.learning_rate=0.05',
                         'regularization.max_norm=2.0', 'prune.scope=layer')
  full = Capture()
  run(config, workdir=tmp_path / 'full', epoch_end_hook=full)
  assert_pruned_weights_are_zero(full.states[2], load_trained(dense_run).state.params)
  for name, fraction in sparsity_report(full.states[2].params)['layers'].items():
    size = np.size(full.states[2].params[name.split('/')[0]]['kernel'])
    assert fraction == round(0.8 * size) / size
  with pytest.raises(KeyboardInterrupt):
    run(config, workdir=tmp_path / 'cut', epoch_end_hook=crash_at(2))
  resumed = Capture()
  summary = run(config, workdir=tmp_path / 'cut', epoch_end_hook=resumed)
  assert summary['resumed_from_epoch'] == 1 and sorted(resumed.states) == [2]
  assert_trees_equal(full.states[2], resumed.states[2])


def test_iterative_round_keeps_the_previous_rounds_pruned(pruned_run, tmp_path):
  summary = run(pruned_config(pruned_run, 'prune.sparsity=0.9',
                              'train.num_epochs=1'), workdir=tmp_path)
  assert summary['status'] == 'done'
  first = load_trained(pruned_run)
  second = load_trained(tmp_path, dataset=first.dataset).state
  first = first.state
  old, new = kernels_flat(first.masks), kernels_flat(second.masks)
  assert np.all(new[old == 0] == 0) and np.sum(new == 0) == round(0.9 * new.size)
  assert_pruned_weights_are_zero(second, first.params)


def test_checkpoint_written_before_masks_existed_restores(tmp_path):
  @flax.struct.dataclass
  class OldTrainState:  # the state's fields before `masks`
    step: Any
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: Any
    hparams: Any = flax.struct.field(default_factory=dict)

  config = tiny_config()
  model = models.build_model(config.model, 10)
  state = create_train_state(0, model, optax.adam(1e-3), jnp.zeros((1, 40)))
  old = OldTrainState(jnp.asarray(7, jnp.int32), state.params, state.batch_stats,
                      state.opt_state, state.rng, state.hparams)
  checkpointer = Checkpointer(tmp_path)
  checkpointer.save_latest(7, old, {'epoch': 1})
  restored, meta = checkpointer.restore_latest(
      create_train_state(1, model, optax.adam(1e-3), jnp.zeros((1, 40))))
  checkpointer.close()
  assert meta == {'epoch': 1} and restored.masks == {}
  assert_trees_equal(restored.params, state.params)
  assert int(restored.step) == 7


def test_refusals(dense_run, pruned_run, tmp_path):
  for bad in ('prune.sparsity=1.0', 'prune.sparsity=-0.1'):
    with pytest.raises(ConfigError, match=r'prune\.sparsity'):
      resolve(tiny_config(bad))
  with pytest.raises(ConfigError, match=r"prune\.scope.*'global', 'layer'"):
    resolve(tiny_config('prune.scope=row'))
  with pytest.raises(ConfigError, match=r'train\.init_from.*no run'):
    run(pruned_config(tmp_path / 'missing'), workdir=tmp_path / 'a')
  assert not (tmp_path / 'missing').exists()
  # A run that was interrupted: its config and an unfinished summary.
  unfinished = RunDir(tmp_path / 'unfinished')
  unfinished.write_config(RunDir(dense_run).read_config())
  unfinished.write_summary({**RunDir(dense_run).read_summary(),
                            'status': 'interrupted'})
  with pytest.raises(ConfigError, match=r'train\.init_from.*not finished'):
    run(pruned_config(unfinished.path), workdir=tmp_path / 'b')
  with pytest.raises(ConfigError, match=r'another architecture.*model\.hidden'):
    run(pruned_config(dense_run, 'model.hidden=(16, 16)'), workdir=tmp_path / 'c')
  # From a pruned run, a run may prune more, not less.
  with pytest.raises(ConfigError, match=r'prune\.sparsity.*below'):
    run(pruned_config(pruned_run, 'prune.sparsity=0.5'), workdir=tmp_path / 'd')
