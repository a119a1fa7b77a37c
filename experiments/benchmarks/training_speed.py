"""Training speed of MNIST-sized MLPs: the codebase's training path against
PyTorch eager and a host-fed JAX loop, and the MNIST-1D recipe (issue 8).

  python -m experiments.benchmarks.training_speed [--data-dir ../shared/data]
      [--widths 100 512 1024] [--batches 128 1024] [--epochs 3] [--repeats 5]
      [--mixed-batches 128] [--skip-torch] [--skip-accuracy] [--skip-recipe]
      [--output experiments/results/benchmarks.md]

Models: the `mnist_mlp` experiment (784-W-W-10, ReLU, dropout 0.2, RMSProp
1e-3, rho 0.9, eps 1e-7) at each width W and batch size. For each:
  ours       `research.train.run` of that config, in a fresh process (nothing
             compiled or cached yet); `--epochs` + 2 epochs, evaluation and
             a checkpoint only after the last. Epoch times are the intervals
             between `epoch_end_hook` calls of epochs 2 .. `--epochs` + 1:
             the loop's own per-epoch work (the compiled `lax.scan` epoch,
             reading its losses, the metrics record) and nothing else.
  PyTorch    experiments/benchmarks/torch_mlp.py, `--epochs` epochs after an
             untimed first one.
  host-fed   experiments/benchmarks/host_loop.py, the same.
Each width is also run in mixed precision (`model.compute_dtype=bfloat16`)
at the `--mixed-batches` sizes: its speed, and its time to 98%.
Compile time and setup (data, model init, placement) come from the run's
summary: `compile_time_s`, and `wall_time_s - compile_time_s - steps /
steps_per_second` (the loop's own `setup_s`). The time to 98% test accuracy
trains epoch by epoch with a test evaluation after each; ours stops the run
through its SIGTERM handler (at the end of the epoch, with its summary).
"""

import argparse
import importlib.util
import math
import os
import pathlib
import statistics
import sys
import tempfile
import time

from experiments import grid
from experiments.benchmarks import dropout_masks, matmul_peak
from experiments.benchmarks.codebase_runs import (compilation_cache_at,
                                                  experiment_config, first_epoch_s,
                                                  in_fresh_process, loop_s,
                                                  recipe_runs, train_run)
from research import registry
from research.tables import markdown_table, provenance
from research.tracking import environment

TARGET_ACCURACY = 0.98
NOT_INSTALLED = "not installed (pip install -e '.[torch]')"
SKIPPED = 'skipped (--skip-torch)'
FLOAT32_ONLY = 'not measured (float32 only)'
RECIPE_SEEDS = (0, 1, 2)
MASKS_BATCH = 128  # the batch of the cheaper-masks table


def torch_recipe(values: dict, repeats: int) -> dict:
  """The recipe in PyTorch: its first call in this process, then the
  fastest of `repeats` more."""
  from experiments.benchmarks import torch_mlp  # pylint: disable=g-import-not-at-top
  from research.data import load_dataset  # pylint: disable=g-import-not-at-top
  config = experiment_config('quickstart', values)
  data = load_dataset(config.data)
  x, y = torch_mlp.as_tensors(data.x_train, data.y_train)
  kwargs = dict(steps=config.train.num_epochs * (len(x) // config.train.batch_size),
                batch_size=config.train.batch_size,
                learning_rate=config.optimizer.learning_rate)
  first = torch_mlp.mnist1d_recipe(x, y, **kwargs)
  warm = min(torch_mlp.mnist1d_recipe(x, y, **kwargs)['seconds']
             for _ in range(repeats))
  return {'first_s': first['seconds'], 'warm_s': warm, 'steps': kwargs['steps'],
          'threads': torch_mlp.threads()}


# --------------------------------------------------------------------------
# One (width, batch) cell


def mnist_values(width: int, batch: int, data_dir: str, dtype: str = 'float32',
                 **train) -> dict:
  return {'model.hidden': (width, width), 'train.batch_size': batch,
          'model.compute_dtype': dtype,
          'data.dir': data_dir, **{f'train.{k}': v for k, v in train.items()}}


def model_name(width: int, dtype: str = 'float32') -> str:
  name = f'784-{width}-{width}-10'
  return name if dtype == 'float32' else f'{name}, {dtype}'


def cell_name(cell: dict) -> str:
  return model_name(cell['width'], cell.get('dtype', 'float32'))


def input_dim(data) -> int:
  return math.prod(data.x_train.shape[1:])


def torch_model(config, data):
  """The PyTorch twin of the `mnist_mlp` config: (model, optimizer)."""
  from experiments.benchmarks import torch_mlp  # pylint: disable=g-import-not-at-top
  model = torch_mlp.mnist_mlp(input_dim(data), config.model.hidden,
                              data.num_classes, dropout=config.model.dropout)
  optimizer = torch_mlp.rmsprop(
      model, learning_rate=config.optimizer.learning_rate,
      decay=config.optimizer.hparams.decay, eps=config.optimizer.hparams.eps)
  return model, optimizer


def speed_cell(width, batch, args, data, torch_status, dtype='float32') -> dict:
  """Examples per second of the three loops, ours' compile and setup, and
  the FLOP rates."""
  from experiments.benchmarks import host_loop  # pylint: disable=g-import-not-at-top
  epochs = args.epochs + 2  # the first and the last (evaluated) are not timed
  values = mnist_values(width, batch, args.data_dir, dtype, num_epochs=epochs,
                        eval_every_epochs=epochs, checkpoint_every_epochs=epochs)
  with tempfile.TemporaryDirectory() as cache, compilation_cache_at(cache):
    ours = in_fresh_process(train_run, 'mnist_mlp', values)  # an empty cache
    # A second process, started from what the first put in the cache.
    cached = in_fresh_process(train_run, 'mnist_mlp', values, None, 1)
  examples = ours['steps_per_epoch'] * batch  # per epoch, in whole batches
  config = experiment_config('mnist_mlp', mnist_values(width, batch, args.data_dir, dtype))
  host = host_loop.epoch_seconds(config, data.x_train, data.y_train,
                                 data.num_classes, epochs=args.epochs)
  cell = {'width': width, 'batch': batch, 'dtype': dtype, 'ours': ours,
          'cached': cached,
          # The last interval holds the evaluation: not timed.
          'ours_epoch_s': statistics.median(ours['epoch_s'][:-1]),
          'host_rate': examples / statistics.median(host['epoch_s']),
          'host_first_epoch_s': host['first_epoch_s'], 'torch_rate': torch_status}
  cell['ours_rate'] = examples / cell['ours_epoch_s']
  if torch_status is None:
    from experiments.benchmarks import torch_mlp  # pylint: disable=g-import-not-at-top
    x, y = torch_mlp.as_tensors(data.x_train, data.y_train)
    seconds = torch_mlp.epoch_seconds(*torch_model(config, data), x, y,
                                      batch_size=batch, epochs=args.epochs + 1)
    cell['torch_rate'] = examples / statistics.median(seconds[1:])
  layers = matmul_peak.dense_layers(input_dim(data), (width, width),
                                    data.num_classes)
  cell['flops'] = (cell['ours_rate'] / batch *
                   matmul_peak.train_step_flops(layers, batch))
  cell['shape_peak'] = matmul_peak.step_matmul_rate(layers, batch,
                                                    repeats=args.repeats,
                                                    dtype=dtype)
  cell['step_ms'] = 1e3 * cell['ours_epoch_s'] / ours['steps_per_epoch']
  cell['matmul_ms'] = 1e3 * matmul_peak.train_step_flops(layers, batch) / cell['shape_peak']
  cell['dropout_ms'] = 1e3 * dropout_masks.masks_seconds(
      'threefry', batch, (width, width), config.model.dropout,
      repeats=args.repeats, dtype=dtype)
  if dtype == 'float32' and batch == MASKS_BATCH:
    # The model's own masks are the ones just timed: one figure in both tables.
    cell['mask_variants_ms'] = {
        v: cell['dropout_ms'] if v == 'threefry' else
        1e3 * dropout_masks.masks_seconds(v, batch, (width, width),
                                          config.model.dropout,
                                          repeats=args.repeats)
        for v in dropout_masks.VARIANTS}
  return cell


def accuracy_cell(width, batch, args, data, torch_status, dtype='float32') -> dict:
  """Seconds and epochs to TARGET_ACCURACY test accuracy, ours and PyTorch's."""
  with tempfile.TemporaryDirectory() as cache, compilation_cache_at(cache):
    ours = in_fresh_process(train_run, 'mnist_mlp', mnist_values(
        width, batch, args.data_dir, dtype, num_epochs=args.accuracy_epochs,
        eval_every_epochs=1, checkpoint_every_epochs=args.accuracy_epochs),
        TARGET_ACCURACY)
  cell = {'width': width, 'batch': batch, 'dtype': dtype, 'ours_epochs': len(ours['time_s']),
          'ours_accuracy': ours['test_accuracy'][-1],
          'ours_s': loop_s(ours), 'ours_total_s': ours['time_s'][-1],
          'torch': torch_status}
  if torch_status is None:
    from experiments.benchmarks import torch_mlp  # pylint: disable=g-import-not-at-top
    config = experiment_config('mnist_mlp', mnist_values(width, batch, args.data_dir))
    cell['torch'] = torch_mlp.time_to_accuracy(
        *torch_model(config, data),
        torch_mlp.as_tensors(data.x_train, data.y_train),
        torch_mlp.as_tensors(data.x_test, data.y_test), batch_size=batch,
        target=TARGET_ACCURACY, max_epochs=args.accuracy_epochs)
  return cell


# --------------------------------------------------------------------------
# The report


def _ratio(a, b) -> str:
  return f'{a / b:.2f}x' if isinstance(b, float) and isinstance(a, float) else '—'


def _rate(r) -> str:
  return f'{r:,.0f}' if isinstance(r, float) else str(r)


def speed_table(cells, peak: float, gpu: bool) -> str:
  efficiency = 'MFU (of measured peak)' if gpu else '% of peak'
  headers = ['model', 'batch', 'ours ex/s', 'PyTorch ex/s', 'host-fed JAX ex/s',
             'ours / PyTorch', 'ours / host-fed', 'ours epoch (ms)',
             'ours GFLOP/s', efficiency, 'peak at this shape (GFLOP/s)',
             '% of shape peak']
  rows = [[cell_name(c), c['batch'], _rate(c['ours_rate']),
           _rate(c['torch_rate']), _rate(c['host_rate']),
           _ratio(c['ours_rate'], c['torch_rate']),
           _ratio(c['ours_rate'], c['host_rate']),
           f"{1e3 * c['ours_epoch_s']:,.1f}", f"{c['flops'] / 1e9:,.1f}",
           f"{100 * c['flops'] / peak:.0f}%", f"{c['shape_peak'] / 1e9:,.1f}",
           f"{100 * c['flops'] / c['shape_peak']:.0f}%"] for c in cells]
  return markdown_table(headers, rows)


def step_table(cells) -> str:
  """Where a step of ours goes: its matmuls and its dropout masks, each
  timed alone at the step's shapes, and the rest (optimizer update, bias and
  activation gradients, the batch gather, the loss)."""
  headers = ['model', 'batch', 'ours step (ms)', 'matmuls alone (ms)',
             'dropout masks alone (ms)', 'rest (ms)']
  rows = [[cell_name(c), c['batch'], f"{c['step_ms']:.3f}",
           f"{c['matmul_ms']:.3f}", f"{c['dropout_ms']:.3f}",
           f"{c['step_ms'] - c['matmul_ms'] - c['dropout_ms']:.3f}"] for c in cells]
  return markdown_table(headers, rows)


def masks_table(cells) -> str:
  """The model's dropout masks against two cheaper ways to draw them."""
  variants = dropout_masks.VARIANTS
  headers = (['model', 'batch', 'ours step (ms)'] +
             [f'{v} masks (ms)' for v in variants] +
             [f'{v}: saving, % of the step' for v in variants[1:]])
  rows = []
  for c in cells:
    if 'mask_variants_ms' not in c:
      continue
    ms = c['mask_variants_ms']
    rows.append([cell_name(c), c['batch'], f"{c['step_ms']:.3f}",
                 *(f'{ms[v]:.3f}' for v in variants),
                 *(f"{100 * (ms['threefry'] - ms[v]) / c['step_ms']:+.0f}%"
                   for v in variants[1:])])
  return markdown_table(headers, rows) if rows else 'Not measured.'


def startup_table(cells) -> str:
  headers = ['model', 'batch', 'setup (s)', 'compile (s)',
             'compile + 1st epoch (s)', '1st epoch done, from start (s)',
             'from the cache: compile (s)', 'from the cache: compile + 1st epoch (s)',
             'host-fed JAX 1st epoch, with compilation (s)']
  rows = [[cell_name(c), c['batch'], f"{c['ours']['setup_s']:.2f}",
           f"{c['ours']['compile_s']:.2f}", f'{first_epoch_s(c["ours"]):.2f}',
           f"{c['ours']['time_s'][0]:.2f}", f"{c['cached']['compile_s']:.2f}",
           f'{first_epoch_s(c["cached"]):.2f}', f"{c['host_first_epoch_s']:.2f}"]
          for c in cells]
  return markdown_table(headers, rows)


def accuracy_table(cells) -> str:
  headers = ['model', 'batch', 'ours epochs', 'ours s (compile + train + eval)',
             'ours s (incl. setup)', 'PyTorch epochs', 'PyTorch s (train + eval)',
             'PyTorch s / ours s']
  rows = []
  for c in cells:
    reached = c['ours_accuracy'] >= TARGET_ACCURACY
    ours = (str(c['ours_epochs']) if reached
            else f"not reached in {c['ours_epochs']} ({100 * c['ours_accuracy']:.2f}%)")
    t = c['torch']
    if isinstance(t, dict):
      torch_epochs = (str(t['epochs']) if t['reached'] else
                      f"not reached in {t['epochs']} ({100 * t['accuracy']:.2f}%)")
      torch_s, ratio = f"{t['seconds']:.1f}", _ratio(t['seconds'], c['ours_s'])
    else:
      torch_epochs, torch_s, ratio = t, '—', '—'
    rows.append([cell_name(c), c['batch'], ours,
                 f"{c['ours_s']:.1f}", f"{c['ours_total_s']:.1f}",
                 torch_epochs, torch_s, ratio])
  return markdown_table(headers, rows)


def recipe_matmul_seconds(steps: int, repeats: int, members: int = 0) -> float:
  """Seconds of the recipe's `steps` train steps' matmuls alone, at the
  shapes of the quickstart's model and batch (`matmul_peak.step_matmul_rate`);
  with `members`, those of a vmapped population of that many."""
  from research.data import load_dataset  # pylint: disable=g-import-not-at-top
  config = registry.get('quickstart').config()
  data = load_dataset(config.data)
  layers = matmul_peak.dense_layers(input_dim(data), tuple(config.model.hidden),
                                    data.num_classes)
  batch = config.train.batch_size
  rate = matmul_peak.step_matmul_rate(layers, batch, steps=100, repeats=repeats,
                                     members=members)
  return (max(members, 1) * steps * matmul_peak.train_step_flops(layers, batch)
          / rate)


def recipe_seconds(ours: dict, torch) -> dict:
  """First call (with compilation) and warm seconds of each implementation."""
  again = ours['population_again']
  seconds = {
      'ours': (loop_s(ours['first']),
               loop_s(ours['warm']) - ours['warm']['compile_s']),
      'population': (loop_s(ours['population']), None),
      'population_again': (loop_s(again), loop_s(again) - again['compile_s']),
      'matmuls': (None, ours['matmul_s']),
      'population_matmuls': (None, ours['population_matmul_s']),
  }
  if 'cached' in ours:
    seconds['cached'] = (loop_s(ours['cached']), None)
  if isinstance(torch, dict):
    seconds['torch'] = (torch['first_s'], torch['warm_s'])
  return seconds


def recipe_table(ours: dict, torch) -> str:
  seconds = recipe_seconds(ours, torch)
  first, warm, pop = ours['first'], ours['warm'], ours['population']
  headers = ['implementation', 'first call, with compilation (s)', 'warm (s)',
             'compile (s)', 'setup (s, not counted)']
  rows = [
      ['ours: `research.train.run`', f"{seconds['ours'][0]:.2f}",
       f"{seconds['ours'][1]:.2f}",
       f"{first['compile_s']:.2f} (2nd call: {warm['compile_s']:.2f})",
       f"{first['setup_s']:.2f} (2nd call: {warm['setup_s']:.2f})"],
      *([['ours: `research.train.run` in a new process, from the cache',
          f"{seconds['cached'][0]:.2f}", '—', f"{ours['cached']['compile_s']:.2f}",
          f"{ours['cached']['setup_s']:.2f}"]] if 'cached' in seconds else []),
      [f'ours: {len(RECIPE_SEEDS)} seeds as one vmapped program',
       f"{seconds['population'][0]:.2f}", '—', f"{pop['compile_s']:.2f}",
       f"{pop['setup_s']:.2f}"],
      [f'ours: {len(RECIPE_SEEDS)} seeds as one vmapped program, again '
       '(its programs from the cache)',
       f"{seconds['population_again'][0]:.2f}",
       f"{seconds['population_again'][1]:.2f}",
       f"{ours['population_again']['compile_s']:.2f}",
       f"{ours['population_again']['setup_s']:.2f}"],
      ["the recipe's matmuls alone, at its shapes (no model, no optimizer)",
       '—', f"{seconds['matmuls'][1]:.2f}", '—', '—'],
      [f"the {len(RECIPE_SEEDS)} seeds' matmuls alone, vmapped as in the population",
       '—', f"{seconds['population_matmuls'][1]:.2f}", '—', '—'],
  ]
  if 'torch' in seconds:
    rows.append(['PyTorch eager', f"{seconds['torch'][0]:.2f}",
                 f"{seconds['torch'][1]:.2f}", '—', '—'])
  else:
    rows.append(['PyTorch eager', torch, '—', '—', '—'])
  return markdown_table(headers, rows)


def verdicts(cells, peak, recipe, torch_recipe_result, gpu) -> str:
  """Each target of issue 8 that this run measured: met or not."""
  lines = []

  def check(text, ok):
    lines.append(f"- {text}: {'met' if ok else 'NOT met'}")

  for c in cells:
    if c.get('dtype', 'float32') != 'float32':
      continue  # the targets are for the default, float32 training
    name = f"{cell_name(c)}, batch {c['batch']}"
    if c['batch'] == 128 and isinstance(c['torch_rate'], float):
      ratio = c['ours_rate'] / c['torch_rate']
      check(f'{name}: {ratio:.2f}x PyTorch eager (>= 2.5x)', ratio >= 2.5)
    if c['batch'] == 128 and c['width'] >= 512:
      share = c['flops'] / peak
      check(f'{name}: {100 * share:.0f}% of the measured matmul peak (>= 85%)',
            share >= 0.85)
    first = first_epoch_s(c['ours'])
    check(f'{name}: compile + first epoch {first:.2f} s (<= 3 s)', first <= 3)
    first = first_epoch_s(c['cached'])
    check(f'{name}: compile + first epoch from the persistent cache {first:.2f} s '
          '(<= 3 s)', first <= 3)
    if gpu and c['batch'] == 128 and c['width'] == 1024:
      ms = 1e3 * c['ours_epoch_s']
      check(f'{name}: one epoch in {ms:.1f} ms (<= 20 ms)', ms <= 20)
  if recipe and isinstance(torch_recipe_result, dict):
    seconds = recipe_seconds(recipe, torch_recipe_result)
    (ours_first, ours_warm), (torch_first, torch_warm) = (
        seconds['ours'], seconds['torch'])
    pop = seconds['population'][0]
    matmuls = seconds['matmuls'][1]
    check(f'MNIST-1D recipe warm: {torch_warm / ours_warm:.1f}x PyTorch (>= 6x; '
          f'its matmuls alone take {matmuls:.2f} s here, {torch_warm / matmuls:.1f}x '
          'PyTorch)', torch_warm / ours_warm >= 6)
    check(f'MNIST-1D recipe, first call with compilation: '
          f'{torch_first / ours_first:.1f}x PyTorch (>= 3x)',
          torch_first / ours_first >= 3)
    if 'cached' in seconds:
      cached_first = seconds['cached'][0]
      check(f'MNIST-1D recipe, first call with its programs in the persistent '
            f'cache: {torch_first / cached_first:.1f}x PyTorch (>= 3x)',
            torch_first / cached_first >= 3)
    check(f'MNIST-1D recipe, {len(RECIPE_SEEDS)} seeds as one program with its '
          f'compilation: {pop:.2f} s against one warm PyTorch run '
          f'{torch_warm:.2f} s (faster)', pop < torch_warm)
    again_first, again_warm = seconds['population_again']
    check(f'MNIST-1D recipe, {len(RECIPE_SEEDS)} seeds as one program, its '
          f'programs from the cache: {again_first:.2f} s with loading them, '
          f'{again_warm:.2f} s training (their matmuls alone '
          f"{seconds['population_matmuls'][1]:.2f} s), against one warm "
          f'PyTorch run {torch_warm:.2f} s (faster)', again_first < torch_warm)
  return '\n'.join(lines)


# --------------------------------------------------------------------------


def torch_status(skip: bool) -> str | None:
  """None when the PyTorch column can run, else what its cells say."""
  if skip:
    return SKIPPED
  return None if importlib.util.find_spec('torch') else NOT_INSTALLED


def log(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data-dir', default='',
                      help="the MNIST IDX files ('' -> $RESEARCH_DATA_DIR)")
  parser.add_argument('--widths', type=int, nargs='+', default=[100, 512, 1024])
  parser.add_argument('--batches', type=int, nargs='+', default=[128, 1024])
  parser.add_argument('--epochs', type=int, default=3,
                      help='timed epochs per loop (after an untimed first one)')
  parser.add_argument('--repeats', type=int, default=5,
                      help='timed repetitions of each matmul measurement and '
                      'of the warm PyTorch recipe (the fastest is kept)')
  parser.add_argument('--peak-sizes', type=int, nargs='+', default=[2048, 4096])
  parser.add_argument('--accuracy-batches', type=int, nargs='+', default=[128])
  parser.add_argument('--accuracy-epochs', type=int, default=20,
                      help='give up on the accuracy target after this many')
  parser.add_argument('--mixed-batches', type=int, nargs='*', default=[128],
                      help='batch sizes of the bfloat16 (mixed-precision) rows '
                      '(given with no value: no such rows)')
  parser.add_argument('--skip-torch', action='store_true')
  parser.add_argument('--skip-accuracy', action='store_true')
  parser.add_argument('--skip-recipe', action='store_true')
  parser.add_argument('--output', default='experiments/results/benchmarks.md',
                      help="where to write the report ('' for nowhere)")
  args = parser.parse_args(argv)
  # Each fresh process is a JAX client of its own: on a GPU, none may take
  # 75% of the memory up front (set before any process starts JAX).
  os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
  import jax  # pylint: disable=g-import-not-at-top
  from research.data import load_dataset  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
  device = jax.devices()[0]
  gpu = jax.default_backend() == 'gpu'
  torch = torch_status(args.skip_torch)

  peaks = matmul_peak.matmul_peak(args.peak_sizes, repeats=args.repeats)
  peak = max(peaks.values())
  log('matmul peak: ' + ', '.join(f'{n}: {r / 1e9:,.1f} GFLOP/s'
                                  for n, r in peaks.items()))
  data = load_dataset(experiment_config(
      'mnist_mlp', {'data.dir': args.data_dir}).data)
  cells = []
  for width in args.widths:
    for batch in args.batches:
      cells.append(speed_cell(width, batch, args, data, torch))
      log(f"{model_name(width)} batch {batch}: ours "
          f"{cells[-1]['ours_rate']:,.0f} examples/s")
  for width in args.widths:
    for batch in args.mixed_batches:
      cells.append(speed_cell(width, batch, args, data, FLOAT32_ONLY, 'bfloat16'))
      log(f"{model_name(width, 'bfloat16')} batch {batch}: ours "
          f"{cells[-1]['ours_rate']:,.0f} examples/s")
  accuracy = []
  if not args.skip_accuracy:
    for width in args.widths:
      for batch in args.accuracy_batches:
        accuracy.append(accuracy_cell(width, batch, args, data, torch))
        log(f'{model_name(width)} batch {batch}: time to accuracy done')
    for width in args.widths:
      for batch in args.mixed_batches:
        accuracy.append(accuracy_cell(width, batch, args, data, FLOAT32_ONLY,
                                      'bfloat16'))
  recipe, torch_recipe_result = None, torch
  if not args.skip_recipe:
    # Evaluation and the checkpoint after the last epoch only, as PyTorch's.
    epochs = registry.get('quickstart').config().train.num_epochs
    values = {'train.eval_every_epochs': epochs,
              'train.checkpoint_every_epochs': epochs}
    with tempfile.TemporaryDirectory() as cache, compilation_cache_at(cache):
      recipe = in_fresh_process(recipe_runs, values, RECIPE_SEEDS)
      # A new process, its programs in the cache the first one wrote.
      recipe['cached'] = in_fresh_process(train_run, 'quickstart', values)
    recipe['matmul_s'] = recipe_matmul_seconds(recipe['warm']['steps'],
                                               args.repeats)
    recipe['population_matmul_s'] = recipe_matmul_seconds(
        recipe['warm']['steps'], args.repeats, members=len(RECIPE_SEEDS))
    if torch is None:
      torch_recipe_result = in_fresh_process(torch_recipe, values, args.repeats)
    log('MNIST-1D recipe done')
  total = time.perf_counter() - started

  text = REPORT.format(
      device=_device(device),
      peaks=', '.join(f'{n}x{n}: {r / 1e9:,.1f} GFLOP/s' for n, r in peaks.items()),
      repeats=args.repeats, epochs=args.epochs, load=load,
      timed=f'2-{args.epochs + 1} of {args.epochs + 2}',
      gpu_note=GPU_NOTE if gpu else '',
      threads=_torch_threads(torch),
      speed=speed_table(cells, peak, gpu), startup=startup_table(cells),
      steps=step_table(cells), masks=masks_table(cells),
      accuracy=(accuracy_table(accuracy) if accuracy else
                'Not measured (--skip-accuracy).'),
      accuracy_epochs=args.accuracy_epochs,
      target=TARGET_ACCURACY,
      recipe=(recipe_table(recipe, torch_recipe_result) if recipe else
              'Not measured (--skip-recipe).'),
      verdicts=verdicts(cells, peak, recipe, torch_recipe_result, gpu),
      provenance=provenance(grid.command_line(
          'experiments.benchmarks.training_speed', argv), total,
          seeds=[0]))
  print(text)
  if args.output:
    grid.write(pathlib.Path(args.output), text)


def _torch_threads(status) -> str:
  if status is not None:
    return status
  from experiments.benchmarks import torch_mlp  # pylint: disable=g-import-not-at-top
  return (f'torch {torch_mlp.torch.__version__} on the CPU, '
          f'{torch_mlp.threads()} threads (its default, one per core)')


def _device(device) -> str:
  """The device's kind; for the CPU, its model name and core count."""
  if device.platform != 'cpu':
    return f'{device.platform} ({device.device_kind})'
  model = environment.cpu_model() or 'unknown model'
  return f'cpu ({model}, {os.cpu_count()} cores)'


REPORT = """# Training speed: the codebase's training path, PyTorch eager, a host-fed JAX loop

Device: {device}; load average at the start {load}. Measured
matmul peak (float32, jitted `x @ y`, best of {repeats}): {peaks}; the larger
is "peak" below. PyTorch: {threads}.
{gpu_note}
## MNIST MLPs (ReLU, dropout 0.2, RMSProp)

{speed}

{startup}

{steps}

- *ours*: `research.train.run` of the `mnist_mlp` experiment at that width
  and batch, in a fresh process (nothing compiled yet). Examples per second
  over the median of epochs {timed}, each timed between the loop's
  `epoch_end_hook` calls: the compiled `lax.scan` epoch (on-device shuffle
  and batches), reading its losses, writing the metrics record. Evaluation
  and a checkpoint happen only after the last, untimed epoch.
- *PyTorch*: eager `nn.Sequential`, `torch.optim.RMSprop`, tensors in memory,
  `torch.randperm` and index slicing; the median of {epochs} epochs after an
  untimed one. *host-fed JAX*: flax-examples style, the codebase's model and
  optimizer in a flax `TrainState`, one jitted step per batch, batches
  sliced from NumPy; the same epochs. Every loop drops the last partial
  batch.
- *bfloat16* rows: `model.compute_dtype=bfloat16`, mixed precision: the
  layers compute in bfloat16 while the parameters, the optimizer and the
  loss stay float32 (the host-fed loop builds the same model; PyTorch is
  measured in float32 only). Their % of peak is against the float32 peak;
  their shape peak and masks are timed in bfloat16.
- *GFLOP/s*: the matmul FLOPs of a step (6 B sum(in*out) less the first
  layer's input gradient, which is not computed; elementwise work not
  counted; see experiments/benchmarks/matmul_peak.py) times ours' steps per
  second. *peak at this shape*: those matmuls alone, at the step's shapes,
  in a jitted `lax.scan` of 20 steps.
- *ours step*: the epoch time over its steps. *matmuls alone*: the step's
  matmul FLOPs at the shape peak. *dropout masks alone*: the hidden layers'
  Bernoulli masks drawn (threefry, a key per step) and applied, in a jitted
  `lax.scan` of 20 steps. *rest*: the difference. The parts are timed
  apart; inside the step XLA fuses the masks into neighbouring elementwise
  work, so where they are large (batch 1024) they add up to more than the
  step and the rest comes out negative.
- *setup*: what the loop does before compiling: reading the data, building
  and initializing the model, placing the data (the summary's wall time
  less its `compile_time_s` and training time). *compile*: the summary's
  `compile_time_s` (the epoch's ahead-of-time compilation). *compile + 1st
  epoch*: from the end of setup to the end of the first epoch. *1st epoch
  done, from start*: the first metrics record's `time_s` (setup included).
  Each process starts with an empty persistent compilation cache of its
  own. *from the cache*: a second fresh process of the same run, its
  programs loaded from the cache the first one wrote
  (`research.compilation_cache`: what a relaunch, a resumed run or the
  next trial with the same shapes gets).

### Cheaper dropout masks: what they would save

{masks}

The masks of the two hidden layers of a step, each way of drawing them
timed alone (experiments/benchmarks/dropout_masks.py). *threefry* is what
the model draws (`research.layers.dropout`: a uniform float per unit from
JAX's default threefry bits). *8-bit*: the same threefry bits, a byte per
unit, four units per 32-bit word, the rate rounded to a multiple of 1/256.
*rbg*: JAX's 'rbg' keys (XLA's RngBitGenerator). A saving is the
threefry time less the variant's, as a share of ours' step; a negative one
is a loss. The model keeps threefry: the 8-bit masks would change every
recorded dropout run and round the rates, for the saving shown.

## Time to {target:.0%} MNIST test accuracy

{accuracy}

Both evaluate the test set after each epoch and stop at the first epoch at or
above the target (at most {accuracy_epochs} epochs). Ours: compilation (of
the epoch and of the evaluation), training and evaluation, from the end of
setup; and the same from the start of setup. PyTorch: training and
evaluation, tensors already in memory.

## MNIST-1D: the authors' recipe (6000 steps of Adam, batch 100)

{recipe}

- *ours*: `research.train.run` of the `quickstart` experiment, test
  evaluation after the last epoch only and one checkpoint after it (not
  timed); the first call in a fresh process with an empty persistent
  compilation cache, then a second in the same process, and a third in a
  new process that finds the first's programs in that cache. *first call*: compilation and the 150 epochs of training;
  *warm*: the second call's training alone. Setup (generating MNIST-1D on
  the first call, initializing the model) is left out on both sides, as
  PyTorch's data are given to it as tensors.
- *seeds as one vmapped program*: `research.train.population.train_population`
  (what `research sweep --launcher population` runs), in the same process
  after the two calls; compilation and training. *again*: a second
  population in the same process, which loads its programs from the
  persistent cache the first wrote; its warm column is its training alone.
- *matmuls alone*: the recipe's 6000 steps of matmuls (forward, and the
  backward's kernel and input gradients) at the model's shapes and batch,
  nothing else, in a jitted `lax.scan`, at the rate XLA reaches at those
  small shapes (experiments/benchmarks/matmul_peak.py `step_matmul_rate`).
  The floor of any XLA program of this recipe on this device. *the seeds'
  matmuls alone*: the same for the population, each member with its own
  weights and batches, the products `vmap`ped over the members.
- *PyTorch*: the authors' model and loop, eager, in a fresh process: the
  first call (model construction and 6000 steps), then the fastest of
  {repeats} more.

## Targets of issue 8

{verdicts}

{provenance}
"""

GPU_NOTE = """
On this GPU, the MFU column is the achieved FLOP rate over the matmul peak
measured above in the same run, not the datasheet's. Float32 matmuls run at
JAX's default precision, in the peak as in training (TF32 on recent NVIDIA
GPUs). PyTorch stays on the CPU.
"""


if __name__ == '__main__':
  main()
