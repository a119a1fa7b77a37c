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
           sharded over every device (of every process) along a `'members'`
           mesh axis; the data is replicated. The members, which differ only
           in data (seed, learning rate, weight decay, dropout rate, mixup
           alpha: the state's `hparams`), train as one compiled program with
           no communication between devices. A population that does not
           divide over the devices is padded (`padded_size`). With
           `data_parallel` d > 1 the mesh is (members, batch): each member's
           batch is split over d devices as under 'sharded' (the partitioner
           averages its gradient and BatchNorm statistics over them).

The functions compiled here have the signature `fn(state, *data) -> (state,
outputs)`. `Parallel` also places states and data where its mode wants them
and brings them back: `local` gives one device's copy of a run's state (what
evaluation runs on: no program outside the train step spans devices, so no
collective can stall), `host_state` the state checkpoints hold (one plain,
unreplicated state, so a run can resume in any mode).
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from research import cpu_lapack
from research.config import PARALLEL_MODES
from research.errors import ConfigError

MODES = PARALLEL_MODES  # the config section's vocabulary
AXIS = 'batch'  # the device axis of 'pmap' and of the 'sharded' mesh
MEMBER_AXIS = 'members'  # the device axis of a 'vmap' population's mesh


@dataclasses.dataclass(frozen=True)
class Parallel:
  """How one run's (or one population's) steps are compiled and where its
  arrays live."""
  mode: str = 'jit'
  devices: tuple[Any, ...] = ()
  data_parallel: int = 1  # 'vmap': devices per member (its batch split)

  def __post_init__(self):
    if self.mode not in MODES:
      raise ConfigError(f'parallel.mode: {self.mode!r} is not one of {list(MODES)}')
    if not self.devices:
      devices = jax.devices() if self.mode != 'jit' else jax.devices()[:1]
      object.__setattr__(self, 'devices', tuple(devices))
    if self.data_parallel > 1 and self.mode != 'vmap':
      raise ConfigError(f'parallel.data_parallel: {self.data_parallel} splits '
                        "a population member's batch (mode 'vmap'); 'sharded' "
                        'and pmap split the batch over every device already')
    if len(self.devices) % self.data_parallel:
      raise ConfigError(
          f'parallel.data_parallel: {self.data_parallel} devices per member '
          f'do not divide the {len(self.devices)} devices')
    if len(self.devices) > 1 and getattr(self.devices[0], 'platform', None) == 'cpu':
      cpu_lapack.single_threaded_lapack()  # several devices' threads call it

  @classmethod
  def from_config(cls, config, mode: str | None = None) -> 'Parallel':
    """`parallel.mode` (or `mode`) over the first `parallel.num_devices`
    devices (0 = all; 'jit' uses one)."""
    mode = mode or config.parallel.mode
    wanted = config.parallel.num_devices
    devices = jax.devices()
    if jax.process_count() > 1:
      # Only a global mesh spans processes; one process's devices cannot be
      # fed by the others.
      if mode not in ('sharded', 'vmap'):
        raise ConfigError(
            f'parallel.mode: {mode!r} uses one process\'s devices; a run of '
            f"{jax.process_count()} processes needs 'sharded' (a population "
            "'vmap')")
      if wanted and wanted != len(devices):
        raise ConfigError('parallel.num_devices: a multi-process run uses '
                          "every process's devices; leave it 0")
    if mode == 'jit':
      return cls(mode, tuple(devices[:1]))
    if wanted > len(devices):
      raise ConfigError(f'parallel.num_devices: {wanted} devices asked for; '
                        f'{len(devices)} are visible ({devices[0].platform})')
    return cls(mode, tuple(devices[:wanted] if wanted else devices),
               data_parallel=config.parallel.data_parallel)

  # ------------------------------------------------------------------------
  # What the step builders need to know

  @property
  def num_devices(self) -> int:
    return len(self.devices)

  @property
  def population(self) -> bool:
    """Whether the state has a leading member axis."""
    return self.mode == 'vmap'

  @property
  def axis_name(self) -> str | None:
    """The `axis_name` for the train step and BatchNorm: set under pmap only
    (under 'sharded' the partitioner averages over the whole batch itself)."""
    return AXIS if self.mode == 'pmap' else None

  @property
  def mesh(self) -> Mesh:
    if self.population:
      return Mesh(np.asarray(self.devices).reshape(-1, self.data_parallel),
                  (MEMBER_AXIS, AXIS))
    return Mesh(np.asarray(self.devices), (AXIS,))

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, PartitionSpec())

  @property
  def batch_sharding(self) -> NamedSharding:
    """Split along the first axis (examples; a population's members) over
    the mesh's first axis."""
    return NamedSharding(self.mesh, PartitionSpec(self.mesh.axis_names[0]))

  @property
  def member_groups(self) -> int:
    """How many members train side by side: devices / data_parallel."""
    return self.num_devices // self.data_parallel

  def padded_size(self, members: int) -> int:
    """The population size that divides over the devices: `members` rounded
    up to a multiple of `member_groups` (the padding members are frozen
    copies whose results are dropped)."""
    n = self.member_groups
    return -(-members // n) * n

  def check_batch_size(self, batch_size: int,
                       key: str = 'train.batch_size') -> None:
    """A batch must split evenly over the devices (before anything compiles)."""
    split = (self.data_parallel if self.population else
             self.num_devices if self.mode in ('sharded', 'pmap') else 1)
    if batch_size % split:
      raise ConfigError(
          f'{key}: {batch_size} examples do not split evenly over the '
          f'{split} devices of parallel.mode={self.mode!r}'
          + (' (parallel.data_parallel)' if self.population else ''))

  def local_batch_size(self, batch_size: int) -> int:
    """Examples each device sees in a step (the global batch under 'sharded',
    which the partitioner splits; one device's slice under 'pmap')."""
    return batch_size // self.num_devices if self.mode == 'pmap' else batch_size

  def wrap_step(self, train_step: Callable) -> Callable:
    """The step with its batch laid out for the mode: under 'sharded' (and a
    population's `data_parallel`), split over the mesh's 'batch' axis (a
    layout hint to the partitioner, not a change of values; inside the
    population's vmap, the member axis is prepended)."""
    if not (self.mode == 'sharded' or self.data_parallel > 1):
      return train_step
    sharding = NamedSharding(self.mesh, PartitionSpec(AXIS))

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
    return jax.jit(_over_members(fn), donate_argnums=donate,
                   out_shardings=self.batch_sharding)

  def compile_eval(self, fn: Callable) -> Callable:
    """`fn(state, *data) -> outputs` for evaluation: on `local` copies of the
    state and data (one device) in every mode but 'vmap', where it maps over
    the members where they are."""
    if self.population:
      return jax.jit(_over_members(fn), out_shardings=self.batch_sharding)
    return jax.jit(fn)

  # ------------------------------------------------------------------------
  # Placing and fetching

  def put_state(self, state):
    """One state (under 'vmap': a stacked population, see `stack`, of
    `padded_size` members) placed for the compiled functions."""
    if self.mode == 'pmap':
      return jax.tree.map(self._replicate, state)
    if self.population:
      return self._put_global(state, self.batch_sharding)
    if self.mode == 'sharded':
      return self._put_global(state, self.replicated)
    return jax.device_put(state, self.devices[0])

  def _put_global(self, tree, sharding: NamedSharding):
    """Through the host, each process placing its own devices' pieces: moving
    committed arrays (a restored state) onto other processes' devices is a
    cross-host transfer, unsupported on CPU."""
    def place(leaf):
      leaf = np.asarray(jax.device_get(leaf))
      return jax.make_array_from_callback(leaf.shape, sharding,
                                          lambda index: leaf[index])
    return jax.tree.map(place, tree)

  def _replicate(self, leaf) -> jax.Array:
    """One copy per device along a new leading axis, as pmap's arguments are
    laid out (what `jax.device_put_replicated` did before its removal)."""
    leaf = np.asarray(leaf) if not isinstance(leaf, jax.Array) else leaf
    copies = [jax.device_put(leaf[None], d) for d in self.devices]
    return jax.make_array_from_single_device_arrays(
        (self.num_devices,) + leaf.shape, self.batch_sharding, copies)

  def put_data(self, tree):
    """Arrays every step reads whole (the resident dataset), placed: under
    'vmap' replicated over the population's devices."""
    if self.population:
      return self._put_global(tree, self.replicated)
    return self.put_state(tree)

  def local(self, placed):
    """A run's placed state, data or outputs as one device's copy, with no
    program that spans devices (an index into a pmap or sharded array would
    compile one, with an all-reduce per leaf). Under 'vmap', as placed."""
    if self.mode == 'pmap':
      return jax.tree.map(lambda a: a.addressable_data(0)[0], placed)
    if self.mode == 'sharded':
      return jax.tree.map(lambda a: a.addressable_data(0), placed)
    return placed

  def host_state(self, placed):
    """What checkpoints and hooks see: one run's state (device 0's replica
    under 'pmap'; the global replicated array under 'sharded', which every
    process of a multi-host run saves together); under 'vmap' the whole
    population as host arrays."""
    if self.mode == 'pmap':
      return self.local(placed)
    if self.population:
      return fetch(placed)
    return placed


def _over_members(fn: Callable) -> Callable:
  def population_fn(state, *data):
    # spmd_axis_name: a sharding constraint inside `fn` keeps the member
    # axis on the 'members' mesh axis.
    return jax.vmap(fn, in_axes=(0,) + (None,) * len(data),
                    spmd_axis_name=MEMBER_AXIS)(state, *data)
  return population_fn


# --------------------------------------------------------------------------
# Populations


def fetch(tree):
  """Host (NumPy) copies of arrays, also those sharded over the devices of
  several processes."""
  if jax.process_count() > 1:
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def stack(states: Sequence[Any], size: int | None = None):
  """Member states -> one population state with a leading member axis,
  padded to `size` members with copies of the first."""
  states = list(states)
  states += states[:1] * ((size or len(states)) - len(states))
  return jax.tree.map(lambda *leaves: np.stack([np.asarray(l) for l in leaves]),
                      *states)


def member(population, index: int):
  """Member `index` of a population state (or of any output of it)."""
  return jax.tree.map(lambda a: a[index], population)


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
  if (isinstance(p.data_parallel, bool) or not isinstance(p.data_parallel, int)
      or p.data_parallel < 1):
    raise ConfigError(f'parallel.data_parallel: {p.data_parallel!r} must be '
                      'an integer >= 1')
  if p.data_parallel > 1 and p.mode not in ('vmap', 'jit'):
    raise ConfigError(f'parallel.data_parallel: {p.data_parallel} splits a '
                      "population member's batch (the population launcher's "
                      f"mode 'vmap'), not a run under {p.mode!r}")
  if ((p.mode in ('sharded', 'pmap') or p.data_parallel > 1)
      and config.train.batching != 'epoch'):
    raise ConfigError(
        f"parallel.mode: {p.mode!r} (data_parallel {p.data_parallel}) splits "
        "minibatches over devices; it needs "
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
