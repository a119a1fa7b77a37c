"""One process of a two-process run on this machine (tests/test_distributed.py).

  python tests/distributed_worker.py PROCESS_ID NUM_PROCESSES PORT \
      LOCAL_DEVICES STEPS OUT_DIR

Joins the others through `research.distributed.initialize` (CPU collectives
over loopback), trains STEPS 'sharded' steps while feeding only its own part
of every global batch, and writes the state after the first and after the last
step to OUT_DIR/process{ID}.npz; prints one JSON line of timings. The test
computes the same steps with `setup` and `Parallel('jit')` on one device.

With a last argument `run`, each process instead calls `research.train.run`
on the same config (parallel.mode=sharded, the coordinator in its parallel
section) and run directory OUT_DIR/run, as `research run` on every host would.
"""

import json
import pathlib
import sys
import time

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))

BATCH_SIZE = 32  # splits over 2 processes x 2 devices
FEATURES = 40  # MNIST-1D-shaped inputs
# BatchNorm (its statistics must be the global batch's), no dropout.
OVERRIDES = ('model.batchnorm=before', 'model.dropout=0.0',
             'optimizer.name=momentum', 'optimizer.learning_rate=0.05')


def setup(num_steps: int):
  """(train_step, initial state, global batches) every process agrees on."""
  # Imported here: the worker joins the other processes before any of this.
  from research import losses, models, optim  # pylint: disable=g-import-not-at-top
  from research.train import create_train_state, make_train_step
  from research.train.hparams import initial_hparams
  from train_helpers import tiny_config

  config = tiny_config(*OVERRIDES)
  model = models.build_model(config.model, 10)
  rng = np.random.default_rng(0)
  xs = rng.normal(size=(num_steps, BATCH_SIZE, FEATURES)).astype(np.float32)
  ys = rng.integers(0, 10, size=(num_steps, BATCH_SIZE)).astype(np.int32)
  state = create_train_state(0, model, optim.build_optimizer(config), xs[0, :1],
                             hparams=initial_hparams(config))
  train_step = make_train_step(model, optim.optimizer_for(config, steps_per_epoch=1),
                               losses.get('cross_entropy'))
  return train_step, jax.device_get(state), list(zip(xs, ys))


def flat(state) -> dict[str, np.ndarray]:
  """The state's params and batch statistics as named host arrays."""
  tree = {'params': state.params, 'batch_stats': state.batch_stats}
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
  return {jax.tree_util.keystr(path, simple=True, separator='/'): np.asarray(leaf)
          for path, leaf in leaves}


def main(process_id: int, num_processes: int, port: int, local_devices: int,
         num_steps: int, out_dir: str) -> None:
  started = time.perf_counter()
  # Before JAX starts: CPU only, and this process's device count.
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', local_devices)
  from research import distributed  # pylint: disable=g-import-not-at-top
  from research.config import base_config
  from research.parallel import Parallel

  parallel_config = base_config().parallel
  parallel_config.coordinator_address = f'127.0.0.1:{port}'
  parallel_config.num_processes = num_processes
  parallel_config.process_id = process_id
  topology = distributed.initialize(parallel_config, timeout_s=60)
  assert distributed.initialize(parallel_config) == topology  # idempotent
  assert topology.process_index == process_id, topology
  assert topology.global_devices == num_processes * local_devices, topology
  joined = time.perf_counter()

  train_step, state, batches = setup(num_steps)
  parallel = Parallel('sharded', tuple(jax.devices()))
  sharding = parallel.batch_sharding
  mine = distributed.rows_of_process(sharding, (BATCH_SIZE,))
  assert mine == distributed.process_shard(BATCH_SIZE, process_id,
                                           num_processes), mine
  step = parallel.compile(parallel.wrap_step(train_step))
  state = parallel.put_state(state)

  results, step_times = {}, []
  for i, batch in enumerate(batches):
    t = time.perf_counter()
    local = distributed.local_batch(batch)  # only this process's rows
    state, metrics = step(state, distributed.global_batch(local, sharding))
    # Wait on every step: unwaited sharded loops abort on CPU (NOTES-jax-cpu.md).
    loss = float(metrics['loss'])
    step_times.append(time.perf_counter() - t)
    if i == 0 or i == num_steps - 1:
      results.update({f'step{i + 1}/{k}': v for k, v in flat(state).items()})
      results[f'step{i + 1}/loss'] = np.asarray(loss)

  np.savez(pathlib.Path(out_dir) / f'process{process_id}.npz', **results)
  print(json.dumps({
      'process': process_id, 'primary': distributed.is_primary(),
      'join_s': joined - started, 'first_step_s': step_times[0],
      'later_steps_s': sum(step_times[1:]),
      'total_s': time.perf_counter() - started}), flush=True)


RUN_OVERRIDES = ('model.batchnorm=before', 'train.batch_size=64',
                 'train.num_epochs=2', 'parallel.mode=sharded')


def run_main(process_id: int, num_processes: int, port: int,
             local_devices: int, out_dir: str) -> None:
  """A whole run through the real entry point: `run` joins the processes."""
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', local_devices)
  from research.train import run  # pylint: disable=g-import-not-at-top
  from train_helpers import tiny_config
  config = tiny_config(*RUN_OVERRIDES,
                       f"parallel.coordinator_address='127.0.0.1:{port}'",
                       f'parallel.num_processes={num_processes}',
                       f'parallel.process_id={process_id}')
  summary = run(config, workdir=pathlib.Path(out_dir) / 'run')
  print(json.dumps({'process': process_id, 'final': summary['final'],
                    'parallel': summary['parallel']}), flush=True)


POPULATION_OVERRIDES = ('model.hidden=(16,)', 'train.num_epochs=2',
                        'model.dropout=0.1')
POPULATION_SIZE = 3  # padded to 4 over 2 processes x 2 devices


def population_configs(out_dir, coordinator: tuple[str, ...] = ()):
  from train_helpers import tiny_config  # pylint: disable=g-import-not-at-top
  return [tiny_config(*POPULATION_OVERRIDES, f'seed={i}',
                      f'optimizer.learning_rate={(0.003, 0.01, 0.03)[i]}',
                      f'tracking.output_dir={out_dir}', *coordinator)
          for i in range(POPULATION_SIZE)]


def population_main(process_id: int, num_processes: int, port: int,
                    local_devices: int, out_dir: str) -> None:
  """A population whose member axis spans both processes' devices."""
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', local_devices)
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  summaries = train_population(population_configs(
      pathlib.Path(out_dir) / 'pop',
      (f"parallel.coordinator_address='127.0.0.1:{port}'",
       f'parallel.num_processes={num_processes}',
       f'parallel.process_id={process_id}')))
  print(json.dumps({'process': process_id,
                    'final': [s['final'] for s in summaries],
                    'parallel': summaries[0]['parallel'],
                    'population': summaries[0]['population']}), flush=True)


if __name__ == '__main__':
  if sys.argv[7:] == ['run']:
    run_main(*(int(a) for a in sys.argv[1:5]), sys.argv[6])
  elif sys.argv[7:] == ['population']:
    population_main(*(int(a) for a in sys.argv[1:5]), sys.argv[6])
  else:
    main(*(int(a) for a in sys.argv[1:6]), sys.argv[6])
