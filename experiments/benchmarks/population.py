"""k sequential runs against one k-member vmapped population, same trials.

  python -m experiments.benchmarks.population [--ks 8 32] [--epochs 10]

The trials are the quickstart recipe (MNIST-1D, the authors' residual MLP
40-100-100-10, Adam, batch 100, 40 steps an epoch) cut to `--epochs` epochs,
with seeds 0..k-1 and learning rates cycling over 3e-3, 1e-2, 3e-2: a
seeds x learning-rate sweep. Both sides go through the codebase's real paths
(`research.train.run` for each sequential run, `train_population` for the
population): run directories, metrics, checkpoints and evaluation included,
W&B off. Fresh directories each time, so nothing is skipped as finished.

Reported per k: end-to-end wall time (data, compilation, training,
evaluation, checkpoints), the training-only rate (compilation and setup left
out) in member-steps per second, their ratios, and the largest difference in
final test accuracy between a member and its sequential run (they compute the
same thing; vmapped matmuls round differently).
"""

import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np

from experiments import grid
from research import config as config_lib
from research import registry
from research.tables import markdown_table, provenance

LEARNING_RATES = (3e-3, 1e-2, 3e-2)


def trial_configs(k: int, epochs: int, output_dir: str):
  base = registry.get('quickstart').config()
  return [config_lib.apply_overrides(base, [
      f'seed={i}', f'optimizer.learning_rate={LEARNING_RATES[i % 3]!r}',
      f'train.num_epochs={epochs}', 'train.checkpoint_every_epochs=5',
      'tracking.wandb=disabled', 'tracking.progress=false',
      f'tracking.output_dir={output_dir}']) for i in range(k)]


def _train_seconds(summaries) -> float:
  """Training time without compilation and setup, from the summaries."""
  return sum(s['steps'] / s['steps_per_second'] for s in summaries)


def measure(k: int, epochs: int) -> dict:
  from research.train import run  # pylint: disable=g-import-not-at-top
  from research.train.population import train_population  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    started = time.perf_counter()
    sequential = [run(c) for c in trial_configs(k, epochs, f'{tmp}/sequential')]
    sequential_s = time.perf_counter() - started
    started = time.perf_counter()
    population = train_population(
        [config_lib.merge(c, {'parallel.mode': 'vmap'})
         for c in trial_configs(k, epochs, f'{tmp}/population')])
    population_s = time.perf_counter() - started
  member_steps = sum(s['steps'] for s in sequential)
  population_train_s = population[0]['steps'] / population[0]['steps_per_second']
  accuracy_gap = max(abs(a['final']['test/accuracy'] - b['final']['test/accuracy'])
                     for a, b in zip(sequential, population))
  return {
      'k': k, 'member_steps': member_steps,
      'sequential_s': sequential_s, 'population_s': population_s,
      'sequential_train_s': _train_seconds(sequential),
      'population_train_s': population_train_s,
      'sequential_compile_s': sum(s['compile_time_s'] for s in sequential),
      'population_compile_s': population[0]['compile_time_s'],
      'accuracy_gap': accuracy_gap,
      'mean_test_accuracy': float(np.mean([s['final']['test/accuracy']
                                           for s in population])),
  }


def table(rows) -> str:
  headers = ['k', 'member steps', 'sequential wall (s)', 'population wall (s)',
             'end-to-end speedup', 'sequential train steps/s',
             'population train steps/s', 'training speedup',
             'compile s (seq. total / pop.)', 'max Δ test acc']
  body = []
  for r in rows:
    seq_rate = r['member_steps'] / r['sequential_train_s']
    pop_rate = r['member_steps'] / r['population_train_s']
    body.append([
        r['k'], r['member_steps'], f"{r['sequential_s']:.1f}",
        f"{r['population_s']:.1f}",
        f"**{r['sequential_s'] / r['population_s']:.1f}x**",
        f'{seq_rate:,.0f}', f'{pop_rate:,.0f}', f'{pop_rate / seq_rate:.1f}x',
        f"{r['sequential_compile_s']:.1f} / {r['population_compile_s']:.1f}",
        f"{100 * r['accuracy_gap']:.2f} pt"])
  return markdown_table(headers, body)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--ks', type=int, nargs='+', default=[8, 32])
  parser.add_argument('--epochs', type=int, default=10)
  parser.add_argument('--output',
                      default='experiments/results/population_benchmark.md')
  args = parser.parse_args(argv)
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  started = time.perf_counter()
  rows = []
  for k in args.ks:
    rows.append(measure(k, args.epochs))
    print(f'k={k}: sequential {rows[-1]["sequential_s"]:.1f} s, population '
          f'{rows[-1]["population_s"]:.1f} s', file=sys.stderr, flush=True)
  total = time.perf_counter() - started
  text = REPORT.format(
      epochs=args.epochs, steps=args.epochs * 40, device=device.device_kind,
      platform=device.platform, table=table(rows),
      provenance=provenance(grid.command_line(
          'experiments.benchmarks.population', argv), total,
          seeds=range(max(args.ks))),
      gpu_note=('' if device.platform == 'gpu' else GPU_NOTE))
  print(text)
  if args.output:
    grid.write(pathlib.Path(args.output), text)


REPORT = """# k sequential runs vs one k-member vmapped population

Trials: the quickstart recipe (MNIST-1D, residual MLP 40-100-100-10, Adam,
batch 100) for {epochs} epochs ({steps} steps) each; member i has seed i and
learning rate 3e-3, 1e-2, 3e-2 cycling: a seeds x learning-rate sweep. Each
sequential run goes through `research.train.run`, the population through
`research.train.population.train_population` (what `research sweep
--launcher population` calls), both with run directories, per-epoch
evaluation and checkpoints every 5 epochs; W&B off. Device: {platform}
({device}).

{table}

- *end-to-end*: wall time of all k runs (data, compilation, training,
  evaluation, checkpoints) against the population's.
- *train steps/s*: member-steps per second of training alone (compilation and
  setup left out; evaluation and checkpoints between epochs included).
- *max Δ test acc*: the largest difference in final test accuracy between
  a member and its own sequential run. They compute the same mathematics, but
  XLA orders a member's reductions differently when they are batched with
  the others': the two start equal to float rounding, and this recipe (Adam,
  batches in a fixed order, no regularization) amplifies such differences
  within a few hundred steps. `python -m launch.compare_launchers` measures
  that epoch by epoch (experiments/results/launchers.md).
{gpu_note}
{provenance}
"""

GPU_NOTE = """
No GPU was lent to the session that produced this table; the same command on a
GPU machine adds its row (the device is printed above the table).
"""


if __name__ == '__main__':
  import experiments  # pylint: disable=g-import-not-at-top,unused-import  (registers them)
  main()
