"""One train step (or epoch) compiled four ways, chosen by `parallel.mode`.

  jit      one device.
  sharded  `jit` over a 1-D mesh of devices, the batch split along it by a
           `NamedSharding`; the state and the resident data are replicated.
           XLA partitions the step and inserts the all-reduces itself: the
           gradient and BatchNorm's batch statistics are means over the whole
           batch, so the result is one device's on the concatenated batch.
  pmap     a replica per device, `axis_name='batch'`: each device takes its
           slice of every batch, the step `pmean`s the gradient, the loss and
           (through the model's `bn_axis_name`) BatchNorm's statistics, and
           folds the device index into its key (different dropout masks).
  vmap     a population: every leaf of the state has a leading member axis,
           and the members, which differ only in data (seed, learning rate,
           weight decay, dropout rate, mixup alpha: the state's `hparams`),
           train as one compiled program.

The functions compiled here have the signature `fn(state, *data) -> (state,
outputs)`. `Parallel` also places states and data where its mode wants them
and brings them back (`host_state`): checkpoints always hold one plain,
unreplicated state, so a run can resume in any mode.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from research.config import PARALLEL_MODES
from research.errors import ConfigError

MODES = PARALLEL_MODES  # the config section's vocabulary
AXIS = 'batch'  # the device axis of 'pmap' and of the 'sharded' mesh


@dataclasses.dataclass(frozen=True)
class Parallel:
  """How one run's steps are compiled and where its arrays live."""
  mode: str = 'jit'
  devices: tuple[Any, ...] = ()

  def __post_init__(self):
    if self.mode not in MODES:
      raise ConfigError(f'parallel.mode: {self.mode!r} is not one of {list(MODES)}')
    if not self.devices:
      devices = jax.devices() if self.mode in ('sharded', 'pmap') else jax.devices()[:1]
      object.__setattr__(self, 'devices', tuple(devices))

  @classmethod
  def from_config(cls, config) -> 'Parallel':
    """`parallel.mode` over the first `parallel.num_devices` devices (0 = all)."""
    mode, wanted = config.parallel.mode, config.parallel.num_devices
    devices = jax.devices()
    if jax.process_count() > 1:
      # Only a global mesh spans processes; one process's devices cannot be
      # fed by the others.
      if mode != 'sharded':
        raise ConfigError(
            f'parallel.mode: {mode!r} uses one process\'s devices; a run of '
            f"{jax.process_count()} processes needs 'sharded'")
      if wanted and wanted != len(devices):
        raise ConfigError('parallel.num_devices: a multi-process run uses '
                          "every process's devices; leave it 0")
    if mode in ('jit', 'vmap'):
      return cls(mode, tuple(devices[:1]))
    if wanted > len(devices):
      raise ConfigError(f'parallel.num_devices: {wanted} devices asked for; '
                        f'{len(devices)} are visible ({devices[0].platform})')
    return cls(mode, tuple(devices[:wanted] if wanted else devices))

  # ------------------------------------------------------------------------
  # What the step builders need to know

  @property
  def num_devices(self) -> int:
    return len(self.devices)

  @property
  def axis_name(self) -> str | None:
    """The `axis_name` for the train step and BatchNorm: set under pmap only
    (under 'sharded' the partitioner averages over the whole batch itself)."""
    return AXIS if self.mode == 'pmap' else None

  @property
  def mesh(self) -> Mesh:
    return Mesh(np.asarray(self.devices), (AXIS,))

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, PartitionSpec())

  @property
  def batch_sharding(self) -> NamedSharding:
    """Split along the first (example) axis over the mesh."""
    return NamedSharding(self.mesh, PartitionSpec(AXIS))

  def check_batch_size(self, batch_size: int,
                       key: str = 'train.batch_size') -> None:
    """A batch must split evenly over the devices (before anything compiles)."""
    if self.mode in ('sharded', 'pmap') and batch_size % self.num_devices:
      raise ConfigError(
          f'{key}: {batch_size} examples do not split evenly over the '
          f'{self.num_devices} devices of parallel.mode={self.mode!r}')

  def local_batch_size(self, batch_size: int) -> int:
    """Examples each device sees in a step (the global batch under 'sharded',
    which the partitioner splits; one device's slice under 'pmap')."""
    return batch_size // self.num_devices if self.mode == 'pmap' else batch_size

  def wrap_step(self, train_step: Callable) -> Callable:
    """The step with its batch laid out for the mode: under 'sharded', split
    over the mesh (a layout hint to the partitioner, not a change of values)."""
    if self.mode != 'sharded':
      return train_step
    sharding = self.batch_sharding

    def sharded_step(state, batch):
      return train_step(state, jax.lax.with_sharding_constraint(batch, sharding))

    return sharded_step

  # ------------------------------------------------------------------------
  # Compiling

  def compile(self, fn: Callable, *, donate_state: bool = True) -> Callable:
    """`fn(state, *data) -> (state, outputs)` compiled for the mode.

    Under 'vmap' the state has a member axis and the data is shared; under
    'pmap' both have a device axis (see `put_state`, `put_data`).
    """
    donate = (0,) if donate_state else ()
    if self.mode == 'jit':
      return jax.jit(fn, donate_argnums=donate)
    if self.mode == 'sharded':
      # Outputs replicated too: the state stays laid out as it came in.
      return jax.jit(fn, donate_argnums=donate, out_shardings=self.replicated)
    if self.mode == 'pmap':
      return jax.pmap(fn, axis_name=AXIS, devices=self.devices,
                      donate_argnums=donate)

    def population_fn(state, *data):
      return jax.vmap(fn, in_axes=(0,) + (None,) * len(data))(state, *data)

    return jax.jit(population_fn, donate_argnums=donate)

  def compile_eval(self, fn: Callable) -> Callable:
    """`fn(state, *data) -> outputs` for evaluation: on `host_state` of the
    state and data in every mode but 'vmap', where it maps over members."""
    if self.mode == 'vmap':
      return jax.jit(lambda state, *data: jax.vmap(
          fn, in_axes=(0,) + (None,) * len(data))(state, *data))
    if self.mode == 'sharded':
      return jax.jit(fn, out_shardings=self.replicated)
    return jax.jit(fn)

  # ------------------------------------------------------------------------
  # Placing and fetching

  def put_state(self, state):
    """One state (under 'vmap': a stacked population, see `stack`) placed for
    the compiled functions."""
    if self.mode == 'pmap':
      return jax.tree.map(self._replicate, state)
    if self.mode == 'sharded':
      if jax.process_count() > 1:
        # Through the host: moving committed arrays (a restored state) onto
        # other processes' devices is a cross-host transfer, unsupported on CPU.
        state = jax.device_get(state)
      return jax.device_put(state, self.replicated)
    return jax.device_put(state, self.devices[0])

  def _replicate(self, leaf) -> jax.Array:
    """One copy per device along a new leading axis, as pmap's arguments are
    laid out (what `jax.device_put_replicated` did before its removal)."""
    leaf = np.asarray(leaf) if not isinstance(leaf, jax.Array) else leaf
    copies = [jax.device_put(leaf[None], d) for d in self.devices]
    return jax.make_array_from_single_device_arrays(
        (self.num_devices,) + leaf.shape, self.batch_sharding, copies)

  def put_data(self, tree):
    """Arrays every step reads whole (the resident dataset), placed."""
    return self.put_state(tree)

  def host_state(self, placed):
    """A placed state, placed data or a compiled function's outputs as one
    run's: device 0's replica under 'pmap' (the replicas are equal, and the
    step averaged its metrics over devices), as it is otherwise. What
    checkpoints, hooks and `compile_eval`'s functions see."""
    if self.mode == 'pmap':
      return jax.tree.map(lambda a: a[0], placed)
    return placed


# --------------------------------------------------------------------------
# Populations


def stack(states: Sequence[Any]):
  """Member states -> one population state with a leading member axis."""
  return jax.tree.map(lambda *leaves: np.stack([np.asarray(l) for l in leaves]),
                      *states)


def member(population, index: int):
  """Member `index` of a population state (or of any output of it)."""
  return jax.tree.map(lambda a: a[index], population)


def population_size(population) -> int:
  return int(jax.tree.leaves(population)[0].shape[0])


def validate_parallel_config(config) -> None:
  """Checks the `parallel` section (the devices are counted later, by
  `Parallel.from_config`: they are not known before JAX starts)."""
  p = config.parallel
  if p.mode not in MODES:
    raise ConfigError(f'parallel.mode: {p.mode!r} is not one of {list(MODES)}')
  if (isinstance(p.num_devices, bool) or not isinstance(p.num_devices, int)
      or p.num_devices < 0):
    raise ConfigError(f'parallel.num_devices: {p.num_devices!r} must be an '
                      'integer >= 0')
  if p.mode in ('sharded', 'pmap') and config.train.batching != 'epoch':
    raise ConfigError(
        f"parallel.mode: {p.mode!r} splits minibatches over devices; it needs "
        f"train.batching='epoch' (not {config.train.batching!r})")
  if p.coordinator_address:
    if isinstance(p.num_processes, bool) or p.num_processes < 1:
      raise ConfigError(f'parallel.num_processes: {p.num_processes!r} must be '
                        'an integer >= 1')
    if isinstance(p.process_id, bool) or p.process_id < 0:
      raise ConfigError(f'parallel.process_id: {p.process_id!r} must be an '
                        'integer >= 0')
    if p.process_id >= p.num_processes:
      raise ConfigError(f'parallel.process_id: {p.process_id} must be below '
                        f'parallel.num_processes={p.num_processes}')
  elif p.num_processes or p.process_id != -1:
    raise ConfigError('parallel.num_processes / parallel.process_id: set '
                      'parallel.coordinator_address too (or leave all three '
                      'unset to read SLURM\'s environment)')
