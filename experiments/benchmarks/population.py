"""k sequential runs against one k-member vmapped population, same trials.

  python -m experiments.benchmarks.population [--ks 8 32 128] [--epochs 10]
      [--mnist-ks 8] [--mnist-epochs 1] [--data-dir ../shared/data]

Two recipes, each cut short: quickstart (MNIST-1D, the authors' residual MLP
40-100-100-10, Adam, batch 100, 40 steps an epoch) for `--epochs` epochs, and
mnist_mlp (MNIST, 784-512-512-10, RMSProp, batch 128, 468 steps an epoch) for
`--mnist-epochs`. Member i has seed i and a learning rate cycling over three
values around the recipe's: a seeds x learning-rate sweep. Both sides go
through the codebase's real paths (`research.train.run` for each sequential
run, `train_population` for the population, which shards its members over
every device): run directories, metrics, checkpoints and evaluation included,
W&B off. Fresh directories each time, so nothing is skipped as finished.

Reported per row: end-to-end wall time (data, compilation, training,
evaluation, checkpoints), the training-only rate (compilation and setup left
out) in member-steps per second, their ratios (both sides measured in the
same process, one after the other), the largest difference in final test
accuracy between a member and its sequential run, and on a GPU the model
FLOP utilization (6 x batch x weights per member-step over the device's
peak).
"""

import argparse
import pathlib
import sys
import tempfile
import time


from experiments import grid
from research import config as config_lib
from research import registry
from research.tables import markdown_table, provenance

# Multiples of each recipe's learning rate: 1/3x, 1x, 3x.
LR_FACTORS = (1 / 3, 1.0, 3.0)
# Dense peak FLOP/s by device kind, for MFU: float32 matmuls run as TF32 on
# these GPUs under JAX's default precision.
PEAK_FLOPS = {'NVIDIA H200': 494e12, 'NVIDIA H100 80GB HBM3': 494e12,
              'NVIDIA A100-SXM4-80GB': 156e12, 'NVIDIA A100-SXM4-40GB': 156e12}


def trial_configs(recipe: str, k: int, epochs: int, output_dir: str,
                  data_dir: str = ''):
  base = registry.get(recipe).config()
  lr = base.optimizer.learning_rate
  extra = [f'data.dir={data_dir}'] if data_dir else []
  return [config_lib.apply_overrides(base, [
      *extra, f'seed={i}',
      f'optimizer.learning_rate={lr * LR_FACTORS[i % 3]!r}',
      f'train.num_epochs={epochs}',
      f'train.checkpoint_every_epochs={min(5, epochs)}',
      'tracking.wandb=disabled', 'tracking.progress=false',
      f'tracking.output_dir={output_dir}']) for i in range(k)]


def _train_seconds(summaries) -> float:
  """Training time without compilation and setup, from the summaries."""
  return sum(s['steps'] / s['steps_per_second'] for s in summaries)


def _flops_per_member_step(summary: dict, config) -> float:
  """6 x batch x weights (forward 2, backward 4 multiply-adds per weight)."""
  return 6.0 * config.train.batch_size * summary['num_params']


def measure(recipe: str, k: int, epochs: int, data_dir: str = '') -> dict:
  from research.train import run  # pylint: disable=g-import-not-at-top
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    started = time.perf_counter()
    sequential = [run(c) for c in trial_configs(
        recipe, k, epochs, f'{tmp}/sequential', data_dir)]
    sequential_s = time.perf_counter() - started
    started = time.perf_counter()
    configs = trial_configs(recipe, k, epochs, f'{tmp}/population', data_dir)
    population = train_population(configs)
    population_s = time.perf_counter() - started
  member_steps = sum(s['steps'] for s in sequential)
  population_train_s = population[0]['steps'] / population[0]['steps_per_second']
  accuracy_gap = max(abs(a['final']['test/accuracy'] - b['final']['test/accuracy'])
                     for a, b in zip(sequential, population))
  return {
      'recipe': recipe, 'k': k, 'epochs': epochs, 'member_steps': member_steps,
      'devices': population[0]['parallel']['devices'],
      'sequential_s': sequential_s, 'population_s': population_s,
      'sequential_train_s': _train_seconds(sequential),
      'population_train_s': population_train_s,
      'sequential_compile_s': sum(s['compile_time_s'] for s in sequential),
      'population_compile_s': population[0]['compile_time_s'],
      'flops_per_member_step': _flops_per_member_step(population[0], configs[0]),
      'accuracy_gap': accuracy_gap,
  }


def table(rows, peak_flops: float | None) -> str:
  headers = ['recipe', 'k', 'epochs', 'member steps', 'devices',
             'sequential wall (s)', 'population wall (s)', 'end-to-end speedup',
             'sequential member-steps/s', 'population member-steps/s',
             'training speedup', 'model GFLOP/s (seq. / pop.)',
             'compile s (seq. total / pop.)', 'max Δ test acc', 'MFU']
  body = []
  for r in rows:
    seq_rate = r['member_steps'] / r['sequential_train_s']
    pop_rate = r['member_steps'] / r['population_train_s']
    mfu = (f"{100 * pop_rate * r['flops_per_member_step'] / peak_flops:.1f}%"
           if peak_flops else '—')
    body.append([
        r['recipe'], r['k'], r['epochs'], r['member_steps'], r['devices'],
        f"{r['sequential_s']:.1f}", f"{r['population_s']:.1f}",
        f"**{r['sequential_s'] / r['population_s']:.1f}x**",
        f'{seq_rate:,.0f}', f'{pop_rate:,.0f}', f'{pop_rate / seq_rate:.1f}x',
        f"{seq_rate * r['flops_per_member_step'] / 1e9:.1f} / "
        f"{pop_rate * r['flops_per_member_step'] / 1e9:.1f}",
        f"{r['sequential_compile_s']:.1f} / {r['population_compile_s']:.1f}",
        f"{100 * r['accuracy_gap']:.2f} pt", mfu])
  return markdown_table(headers, body)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--ks', type=int, nargs='*', default=[8, 32, 128],
                      help='quickstart population sizes')
  parser.add_argument('--epochs', type=int, default=10)
  parser.add_argument('--mnist-ks', type=int, nargs='*', default=[8],
                      help='mnist_mlp population sizes (needs --data-dir)')
  parser.add_argument('--mnist-epochs', type=int, default=1)
  parser.add_argument('--data-dir', default='../shared/data')
  parser.add_argument('--output',
                      default='experiments/results/population_benchmark.md')
  args = parser.parse_args(argv)
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  started = time.perf_counter()
  plan = ([('quickstart', k, args.epochs, '') for k in args.ks] +
          [('mnist_mlp', k, args.mnist_epochs, args.data_dir)
           for k in args.mnist_ks])
  rows = []
  for recipe, k, epochs, data_dir in plan:
    rows.append(measure(recipe, k, epochs, data_dir))
    print(f'{recipe} k={k}: sequential {rows[-1]["sequential_s"]:.1f} s, '
          f'population {rows[-1]["population_s"]:.1f} s', file=sys.stderr,
          flush=True)
  total = time.perf_counter() - started
  peak = PEAK_FLOPS.get(device.device_kind) if device.platform == 'gpu' else None
  text = REPORT.format(
      device=device.device_kind, platform=device.platform,
      num_devices=jax.device_count(), table=table(rows, peak),
      provenance=provenance(grid.command_line(
          'experiments.benchmarks.population', argv), total,
          seeds=range(max(k for _, k, _, _ in plan))),
      gpu_note=('' if device.platform == 'gpu' else GPU_NOTE))
  print(text)
  if args.output:
    grid.write(pathlib.Path(args.output), text)


REPORT = """# k sequential runs vs one k-member vmapped population

Trials: quickstart (MNIST-1D, residual MLP 40-100-100-10, Adam, batch 100,
40 steps an epoch) and mnist_mlp (MNIST, 784-512-512-10, RMSProp, batch 128,
468 steps an epoch), cut to the epochs in the table; member i has seed i and
the recipe's learning rate times 1/3, 1, 3 cycling: a seeds x learning-rate
sweep. Each sequential run goes through `research.train.run`, the population
through `research.train.population.train_population` (what `research sweep
--launcher population` calls; its members sharded over the {num_devices}
device(s)), both with run directories, per-epoch evaluation and checkpoints
every 5 epochs; W&B off. Device: {platform} ({device}).

{table}

- *end-to-end*: wall time of all k runs (data, compilation, training,
  evaluation, checkpoints) against the population's.
- *member-steps/s*: training alone (compilation and setup left out;
  evaluation and checkpoints between epochs included).
- *max Δ test acc*: the largest difference in final test accuracy between
  a member and its own sequential run. They start from the same bits and
  draw the same batches and masks, but XLA orders a member's reductions
  differently when they are batched with the others': the two agree to float
  rounding at first, and these recipes (Adam or RMSProp, no regularization)
  can amplify such differences over hundreds of steps.
- *model GFLOP/s*: 6 x batch x parameters per member-step, times the
  training rate: how much of the device's arithmetic each side uses. A small
  network alone leaves most of it idle between its small matmuls; a
  population fills it, up to the device's throughput (on 2 CPU cores that
  ceiling, not the device count, bounds the ratio).
- *MFU*: the model FLOP/s over the device's dense TF32 peak; on a GPU only.
{gpu_note}
{provenance}
"""

GPU_NOTE = """
No GPU was lent to the session that produced this table; the same command on a
GPU machine gives its rows with MFU (the device is printed above the table).
"""


if __name__ == '__main__':
  import experiments  # pylint: disable=g-import-not-at-top,unused-import  (registers them)
  main()
