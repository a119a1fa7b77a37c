"""Checks of research/parallel.py on 8 fake CPU devices, run in a subprocess.

The device count must be set before JAX starts, so tests/test_parallel.py runs
`python tests/parallel_worker.py CHECK WORKDIR` with a time limit; a check
prints one JSON line of results and exits 0, or raises.
"""

import os
import sys

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('WANDB_MODE', 'disabled')

import json  # pylint: disable=g-import-not-at-top
import pathlib

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from research import losses, models, optim  # pylint: disable=g-import-not-at-top
from research.parallel import Parallel
from research.train import create_train_state, make_train_step, run
from research.train.hparams import initial_hparams
from train_helpers import tiny_config

NUM_DEVICES = 8


def _max_difference(a, b) -> float:
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _setup(batch_size=64):
  config = tiny_config('model.batchnorm=before', 'optimizer.name=momentum',
                       'optimizer.learning_rate=0.05')
  model = models.build_model(config.model, 10)
  tx = optim.build_optimizer(config)
  x = jax.random.normal(jax.random.PRNGKey(1), (batch_size, 40))
  y = jax.random.randint(jax.random.PRNGKey(2), (batch_size,), 0, 10)
  state = create_train_state(0, model, tx, x[:1], hparams=initial_hparams(config))
  optimizer_for = optim.optimizer_for(config, steps_per_epoch=1)
  return model, optimizer_for, state, (x, y)


def check_steps(num_steps: int = 5) -> dict:
  """pmap and sharded jit vs one device on the concatenated batch."""
  model, optimizer_for, state, (x, y) = _setup()
  loss = losses.get('cross_entropy')
  results = {}
  single = Parallel('jit')
  step = single.compile(make_train_step(model, optimizer_for, loss),
                        donate_state=False)
  reference = state
  for _ in range(num_steps):
    reference, _ = step(reference, (x, y))
    jax.block_until_ready(reference)

  for mode in ('sharded', 'pmap'):
    parallel = Parallel(mode)
    assert parallel.num_devices == NUM_DEVICES, parallel.devices
    train_step = make_train_step(model.clone(bn_axis_name=parallel.axis_name),
                                 optimizer_for, loss, axis_name=parallel.axis_name)
    compiled = parallel.compile(parallel.wrap_step(train_step), donate_state=False)
    placed = parallel.put_state(state)
    if mode == 'pmap':  # each device its contiguous slice of the batch
      batch = jax.tree.map(
          lambda a: a.reshape((NUM_DEVICES, -1) + a.shape[1:]), (x, y))
    else:
      batch = (x, y)
    for _ in range(num_steps):
      placed, metrics = compiled(placed, batch)
      jax.block_until_ready(placed)  # wait on each step (NOTES-jax-cpu.md)
    got = parallel.host_state(placed)
    local = jax.tree.leaves(parallel.local((placed, metrics)))
    results[mode] = {
        # Evaluation reads these: one device each, so no program outside the
        # train step spans devices (an index into `placed` would compile one
        # with an all-reduce per leaf, which can stall on CPU).
        'local_on_one_device': all(len(a.devices()) == 1 for a in local),
        'params': _max_difference(got.params, reference.params),
        'batch_stats': _max_difference(got.batch_stats, reference.batch_stats),
        'opt_state': _max_difference(got.opt_state, reference.opt_state),
        'step': int(got.step),
        'params_moved': _max_difference(got.params, state.params),
        'loss_equal_on_devices': bool(np.all(
            np.asarray(metrics['loss']) == np.asarray(metrics['loss']).ravel()[0])),
    }
  return results


def check_loop(workdir: str) -> dict:
  """Whole runs: pmap and sharded against jit; a pmap run interrupted after
  epoch 2 and resumed with parallel.mode=sharded ends where jit ends."""
  workdir = pathlib.Path(workdir)
  base = ('model.batchnorm=before', 'train.batch_size=64', 'train.num_epochs=3')

  def final_params(path):
    from research.train.restore import load_trained  # pylint: disable=g-import-not-at-top
    return load_trained(path, 'latest').state.params

  summaries = {}
  for mode in ('jit', 'pmap', 'sharded'):
    summaries[mode] = run(tiny_config(*base, f'parallel.mode={mode}'),
                          workdir=workdir / mode)

  class Stop(Exception):
    pass

  def stop_after_two(epoch, state):
    del state
    if epoch == 2:
      raise Stop()

  try:
    run(tiny_config(*base, 'parallel.mode=pmap'), workdir=workdir / 'resumed',
        epoch_end_hook=stop_after_two)
  except Stop:
    pass
  resumed = run(tiny_config(*base, 'parallel.mode=sharded'),
                workdir=workdir / 'resumed')
  reference = final_params(workdir / 'jit')
  return {
      'params': {mode: _max_difference(final_params(workdir / mode), reference)
                 for mode in ('pmap', 'sharded', 'resumed')},
      'test_accuracy': {mode: s['final']['test/accuracy']
                        for mode, s in {**summaries, 'resumed': resumed}.items()},
      'devices': {mode: s['parallel']['devices'] for mode, s in summaries.items()},
      'resumed_from_epoch': resumed['resumed_from_epoch'],
  }


def check_population(workdir: str) -> dict:
  """A 10-member population on 8 devices (padded to 16: 2 members a device,
  some of them padding) and on 1; 4 members each split over 2 devices."""
  from research.config import merge  # pylint: disable=g-import-not-at-top
  from research.parallel import stack  # pylint: disable=g-import-not-at-top
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  from research.train.restore import load_trained  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir)

  def configs(k, devices, name, *extra, data_parallel=1):
    return [merge(tiny_config('model.hidden=(16,)', 'train.num_epochs=2',
                              'model.dropout=0.1', f'seed={i}',
                              f'optimizer.learning_rate={(0.003, 0.01, 0.03)[i % 3]}',
                              *extra),
                  {'parallel.num_devices': devices,
                   'parallel.data_parallel': data_parallel,
                   'tracking.output_dir': str(workdir / name)})
            for i in range(k)]

  placed = Parallel('vmap').put_state(stack([np.arange(3.0)] * 16))
  out = {'members_per_device': sorted({s.data.shape[0] for s in placed.addressable_shards}),
         'devices_used': len(placed.sharding.device_set)}
  # With data_parallel 2 a member's batch is split: the step's gradient is
  # summed over the 2 devices of its group (an all-reduce in the program).
  for dp in (1, 2):
    par = Parallel('vmap', data_parallel=dp)
    step = par.compile(par.wrap_step(
        lambda w, x: (w - 0.1 * jax.numpy.mean(x @ w), jax.numpy.mean(x))))
    hlo = step.lower(par.put_state(stack([np.ones(4, np.float32)] * 8)),
                     par.put_data(np.ones((16, 4), np.float32))).compile().as_text()
    out[f'all_reduce_dp{dp}'] = 'all-reduce' in hlo
  # 4 members, each split over 2 devices (BatchNorm: statistics of the
  # member's whole batch), against 4 members on one device.
  bn = ('model.batchnorm=before', 'train.batch_size=64')
  for k, many, one in (
      (10, configs(10, 0, '10-on-8'), configs(10, 1, '10-on-1')),
      ('4x2', configs(4, 0, '4x2-on-8', *bn, data_parallel=2),
       configs(4, 1, '4-on-1', *bn))):
    many, one = train_population(many), train_population(one)
    out[k] = {
        'parallel': many[0]['parallel'], 'population': many[0]['population'],
        'statuses': sorted({s['status'] for s in many}),
        'final': max(abs(a['final'][key] - b['final'][key])
                     for a, b in zip(many, one) for key in a['final']),
        'params': max(_max_difference(load_trained(a['run_dir']).state.params,
                                      load_trained(b['run_dir']).state.params)
                      for a, b in zip(many, one)),
    }
  return out


def check_soap_population(workdir: str) -> dict:
  """SOAP (eigh and QR: LAPACK custom calls) as a 2-member population on 8
  devices (padded to 8), 1 epoch of the quickstart, against its 2 runs alone;
  the seconds each took (compile included)."""
  import time  # pylint: disable=g-import-not-at-top
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  from research.train.restore import load_trained  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir)

  def config(seed, name):
    # The quickstart's own widths: OpenBLAS runs LAPACK on 100-row matrices
    # multithreaded (on 32-row ones not, and nothing stalled).
    return tiny_config('model.hidden=(100, 100)', 'optimizer.name=soap',
                       'optimizer.learning_rate=0.003',
                       'train.num_epochs=1', f'seed={seed}',
                       f'tracking.output_dir={workdir / name}')

  start = time.perf_counter()
  members = train_population([config(0, 'population'), config(1, 'population')])
  seconds = {'population': time.perf_counter() - start}
  start = time.perf_counter()
  alone = [run(config(0, 'alone')), run(config(1, 'alone'))]
  seconds['alone'] = time.perf_counter() - start
  return {
      'seconds': seconds, 'parallel': members[0]['parallel'],
      'population': members[0]['population'],
      'statuses': sorted({s['status'] for s in members}),
      'final': [{key: (a['final'][key], b['final'][key]) for key in a['final']}
                for a, b in zip(members, alone)],
      'params': max(_max_difference(load_trained(a['run_dir']).state.params,
                                    load_trained(b['run_dir']).state.params)
                    for a, b in zip(members, alone)),
  }


def check_stable(modes: str, data_dir: str, workdir: str, runs: int = 5) -> dict:
  """`runs` consecutive runs of mnist_mlp with BatchNorm under each of
  `modes` ('pmap,sharded') on 8 devices, each a fresh run directory (the
  persistent compilation cache on, as for a user, so runs after the first
  skip most of XLA's compile)."""
  from research import compilation_cache, config as config_lib, registry  # pylint: disable=g-import-not-at-top
  os.environ['RESEARCH_COMPILATION_CACHE'] = str(pathlib.Path(workdir) / 'cache')
  compilation_cache.enable()
  finished = {}
  for mode in modes.split(','):
    finished[mode] = []
    for i in range(runs):
      config = config_lib.apply_overrides(registry.get('mnist_mlp').config(), [
          f'data.dir={data_dir}', 'data.dev_size=59000',  # 1,000 to train on
          'model.batchnorm=before', 'model.hidden=(64,)', 'train.batch_size=64',
          'train.num_epochs=2', f'parallel.mode={mode}',
          'tracking.wandb=disabled', 'tracking.progress=false'])
      summary = run(config, workdir=pathlib.Path(workdir) / f'{mode}-{i}')
      assert summary['parallel']['devices'] == NUM_DEVICES, summary['parallel']
      finished[mode].append(summary['status'])
  return {'statuses': finished}


if __name__ == '__main__':
  check = sys.argv[1]
  if check == 'all':  # one process for the checks on generated data
    workdir = pathlib.Path(sys.argv[2])
    out = {'steps': check_steps(), 'loop': check_loop(workdir / 'loop'),
           'population': check_population(workdir / 'population')}
  elif check == 'soap':
    out = check_soap_population(sys.argv[2])
  elif check == 'stable':
    out = check_stable(*sys.argv[2:5], *map(int, sys.argv[5:6]))
  else:
    raise SystemExit(f'unknown check {check!r}')
  print(json.dumps(out))
