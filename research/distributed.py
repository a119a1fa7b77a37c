"""Multi-host runs: one process per host (or per GPU) joined by `jax.distributed`.

Every process runs the same program. `initialize` joins them before JAX starts
a backend; `Parallel('sharded')`'s mesh then spans every process's devices, the
state is replicated on all of them, and each process feeds only its own
contiguous part of every global batch (`local_batch`, then `global_batch`).
Only the primary process writes run files, logs and W&B (`is_primary`); every
process takes part in checkpoint saves, which orbax coordinates.

The processes are found from `parallel.coordinator_address`,
`parallel.num_processes` and `parallel.process_id`, or, when those are unset,
from SLURM's environment in a job step of several tasks; otherwise the run is
one process and nothing is initialized. Under SLURM, jax gives each task the
one GPU of its SLURM_LOCALID: start one task per GPU.

Call `initialize` first: anything that asks JAX for devices (`is_primary`
included) starts its backend, after which no process can join.
"""

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from research.errors import ConfigError

# The coordinator's port on SLURM: derived from the job id, so every task of
# a job agrees on it without talking, and two jobs sharing a node rarely clash.
PORT_BASE = 12000
PORT_SPAN = 20000


@dataclasses.dataclass(frozen=True)
class Settings:
  """What `jax.distributed.initialize` needs to join one process."""
  coordinator: str  # host:port of process 0
  num_processes: int
  process_id: int


@dataclasses.dataclass(frozen=True)
class Topology:
  """Where this process stands among the run's processes."""
  process_index: int
  process_count: int
  local_devices: int  # devices this process drives
  global_devices: int  # devices of all processes: the mesh of 'sharded'
  coordinator: str | None  # host:port of process 0; None for one process


# --------------------------------------------------------------------------
# Settings: from the config, else from SLURM (pure functions of their input)


def expand_hostlist(hostlist: str) -> list[str]:
  """SLURM's compressed host list, expanded in order.

  'node[01-03,07],gpu1' -> ['node01', 'node02', 'node03', 'node07', 'gpu1'];
  zero padding is kept, and several bracket groups in one name multiply.
  """
  hosts = []
  for pattern in _split_outside_brackets(hostlist):
    hosts.extend(_expand_pattern(pattern, hostlist))
  return hosts


def _split_outside_brackets(text: str) -> list[str]:
  parts, depth, start = [], 0, 0
  for i, char in enumerate(text):
    if char == '[':
      depth += 1
    elif char == ']':
      depth -= 1
    elif char == ',' and depth == 0:
      parts.append(text[start:i])
      start = i + 1
    if depth not in (0, 1):
      raise ValueError(f'SLURM host list {text!r}: unbalanced brackets')
  if depth:
    raise ValueError(f'SLURM host list {text!r}: unbalanced brackets')
  parts.append(text[start:])
  return [p.strip() for p in parts if p.strip()]


_BRACKETS = re.compile(r'\[([^\[\]]*)\]')
_RANGE = re.compile(r'(\d+)(?:-(\d+))?$')


def _expand_pattern(pattern: str, hostlist: str) -> list[str]:
  match = _BRACKETS.search(pattern)
  if match is None:
    return [pattern]
  head, tail = pattern[:match.start()], pattern[match.end():]
  rests = _expand_pattern(tail, hostlist)
  return [head + item + rest for item in _expand_ranges(match.group(1), hostlist)
          for rest in rests]


def _expand_ranges(spec: str, hostlist: str) -> list[str]:
  """'01-03,07' -> ['01', '02', '03', '07'] (the lower bound's width kept)."""
  items = []
  for part in spec.split(','):
    match = _RANGE.match(part.strip())
    if match is None:
      raise ValueError(f'SLURM host list {hostlist!r}: cannot read range {part!r}')
    low, high = match.group(1), match.group(2) or match.group(1)
    items.extend(f'{i:0{len(low)}d}' for i in range(int(low), int(high) + 1))
  return items


def slurm_settings(environ: Mapping[str, str]) -> Settings | None:
  """The processes of a SLURM job step of several tasks, or None.

  Task 0 runs the coordinator on the step's first host. Step variables (set by
  `srun` for the tasks it starts) win over the job's: a batch script of a
  4-task job is itself one process.
  """
  tasks = environ.get('SLURM_STEP_NUM_TASKS') or environ.get('SLURM_NTASKS')
  if not tasks or int(tasks) <= 1:
    return None
  nodelist = (environ.get('SLURM_STEP_NODELIST')
              or environ.get('SLURM_JOB_NODELIST')
              or environ.get('SLURM_NODELIST'))
  missing = [name for name, value in (('SLURM_PROCID', environ.get('SLURM_PROCID')),
                                      ('SLURM_STEP_NODELIST', nodelist),
                                      ('SLURM_JOB_ID', environ.get('SLURM_JOB_ID')))
             if not value]
  if missing:
    raise ConfigError(
        f'SLURM says this job step has {tasks} tasks but {", ".join(missing)} '
        'is not set; set parallel.coordinator_address, parallel.num_processes '
        'and parallel.process_id instead')
  port = PORT_BASE + int(environ['SLURM_JOB_ID']) % PORT_SPAN
  return Settings(coordinator=f'{expand_hostlist(nodelist)[0]}:{port}',
                  num_processes=int(tasks),
                  process_id=int(environ['SLURM_PROCID']))


def resolve_settings(parallel_config,
                     environ: Mapping[str, str]) -> Settings | None:
  """The config's explicit settings, else SLURM's, else None (one process).

  `parallel_config` is the config's `parallel` section (validated: with a
  coordinator address, the process count and id are set too).
  """
  if parallel_config.coordinator_address:
    return Settings(coordinator=parallel_config.coordinator_address,
                    num_processes=int(parallel_config.num_processes),
                    process_id=int(parallel_config.process_id))
  return slurm_settings(environ)


# --------------------------------------------------------------------------
# Joining


def initialize(parallel_config, *, environ: Mapping[str, str] | None = None,
               timeout_s: int = 300) -> Topology:
  """Joins this process to the run's others; call it before any JAX work.

  With no settings (one process) it initializes nothing. A second call, or a
  call after `jax.distributed.initialize` was called elsewhere, is a no-op.
  `timeout_s` bounds the wait for every process to arrive.
  """
  settings = resolve_settings(parallel_config,
                              os.environ if environ is None else environ)
  if settings is not None and not jax.distributed.is_initialized():
    # gloo carries CPU collectives between processes: the default of jax
    # 0.10 (checked there); where it is unset, a cross-process step fails.
    if getattr(jax.config, 'jax_cpu_collectives_implementation', 'gloo') is None:
      jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(
        coordinator_address=settings.coordinator,
        num_processes=settings.num_processes,
        process_id=settings.process_id,
        initialization_timeout=timeout_s)
  # Asking for devices starts the backend: after joining, never before.
  return Topology(process_index=jax.process_index(),
                  process_count=jax.process_count(),
                  local_devices=jax.local_device_count(),
                  global_devices=jax.device_count(),
                  coordinator=settings.coordinator if settings else None)


def is_primary() -> bool:
  """True in the process that writes run files, logs and W&B (process 0)."""
  return jax.process_index() == 0


# --------------------------------------------------------------------------
# Per-process data


def process_shard(num_examples: int, process_index: int,
                  process_count: int) -> slice:
  """The contiguous rows of a global batch that one process feeds.

  Process p takes the p-th of `process_count` equal parts, which is what
  `jax.make_array_from_process_local_data` expects for a batch split along a
  mesh that lists devices process by process (as `jax.devices()` does).
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} is not in '
                     f'[0, {process_count})')
  if num_examples % process_count:
    raise ValueError(f'a batch of {num_examples} examples does not split '
                     f'evenly over {process_count} processes')
  size = num_examples // process_count
  return slice(process_index * size, (process_index + 1) * size)


def local_batch(batch: Any, process_index: int | None = None,
                process_count: int | None = None) -> Any:
  """This process's part of every leaf of a global batch (split on axis 0),
  as host arrays; the index and count default to this process's."""
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count

  def take(leaf):
    return np.asarray(leaf)[process_shard(len(leaf), index, count)]

  return jax.tree.map(take, batch)


def global_batch(local: Any, sharding: jax.sharding.Sharding) -> Any:
  """One global array per leaf, laid out by `sharding`, from every process's
  local part (`local_batch`); the global batch never exists on one host."""
  return jax.tree.map(
      lambda leaf: jax.make_array_from_process_local_data(sharding, leaf), local)


def rows_of_process(sharding: jax.sharding.Sharding,
                    global_shape: Sequence[int]) -> slice:
  """The rows of a global array that this process's devices hold under
  `sharding` (a check that they are `process_shard`'s contiguous rows)."""
  starts, stops = [], []
  for index in sharding.addressable_devices_indices_map(tuple(global_shape)).values():
    rows = index[0]
    starts.append(rows.start or 0)
    stops.append(global_shape[0] if rows.stop is None else rows.stop)
  return slice(min(starts), max(stops))
