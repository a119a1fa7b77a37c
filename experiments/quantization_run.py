"""Post-training quantization of the mnist_mlp model: writes
experiments/results/quantization.md.

    python -m experiments.quantization_run [--data-dir ../shared/data] [--seeds 3]

Reuses (or trains) the mnist_mlp sweep's runs, then runs each one in float32,
bfloat16, float16 and int8 (experiments/quantization.py registers the
experiment): accuracy, agreement with float32, size and inference speed.
"""

import argparse
import dataclasses
import os
import pathlib
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments.grid import Cell, command_line, run_cells, total_wall_time, write
from experiments.mnist_mlp import get_config as mnist_mlp_config
from research import quantized_mlp
from research.tables import markdown_table, mean_std, provenance
from research.tracking import environment
from research.train.restore import load_trained

RESULTS = pathlib.Path(__file__).resolve().parent / 'results'
PERCENTILE = 99.99
CALIBRATION_SIZE = 10_000  # random training images
BATCH_SIZE = 1000  # of the timed inference


@dataclasses.dataclass(frozen=True)
class Variant:
  label: str
  logits: Callable  # jitted (x batch) -> float32 logits
  size_bytes: int


def variants(model, variables, x_calibration: np.ndarray,
             percentile: float = PERCENTILE) -> list[Variant]:
  """Every precision of one trained model, each a jitted predict."""
  float32 = jax.jit(lambda v, x: model.apply(v, x, train=False))
  out = [Variant('float32', lambda x: float32(variables, x),
                 quantized_mlp.model_bytes(variables))]
  for dtype in ('bfloat16', 'float16'):
    cast = quantized_mlp.cast_variables(variables, dtype)
    half = jax.jit(lambda v, x, d=dtype: quantized_mlp.half_precision_logits(model, v, x, d))
    out.append(Variant(dtype, lambda x, f=half, v=cast: f(v, x), quantized_mlp.model_bytes(cast)))
  forward = jax.jit(quantized_mlp.forward)
  for label, calibration, method in (
      ('int8 weights only (float32 activations)', None, 'max'),
      ('int8 weights + activations, max calibration', x_calibration, 'max'),
      (f'int8 weights + activations, {percentile} percentile calibration', x_calibration,
       'percentile')):
    int8 = quantized_mlp.quantize_mlp(model, variables, calibration, method, percentile)
    out.append(Variant(label, lambda x, q=int8: forward(q, x), quantized_mlp.model_bytes(int8)))
  return out


def time_passes(all_variants: list[Variant], batches: list[jax.Array],
                repeats: int) -> dict[str, float]:
  """Median seconds of one pass over `batches` per variant, after a warm-up
  pass; the repeats are interleaved across variants so that a slower moment
  of the machine does not fall on one variant only."""
  for variant in all_variants:
    jax.block_until_ready([variant.logits(b) for b in batches])
  times = {v.label: [] for v in all_variants}
  for _ in range(repeats):
    for variant in all_variants:
      start = time.perf_counter()
      jax.block_until_ready([variant.logits(b) for b in batches])
      times[variant.label].append(time.perf_counter() - start)
  return {label: float(np.median(t)) for label, t in times.items()}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data-dir', default='')
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--repeats', type=int, default=21, help='timed passes per variant')
  parser.add_argument('--epochs', type=int, default=0,
                      help='override the recipe\'s epochs (a quick check: new runs)')
  parser.add_argument('--calibration-size', type=int, default=CALIBRATION_SIZE)
  parser.add_argument('--percentile', type=float, default=PERCENTILE)
  parser.add_argument('--output-dir', default='runs')
  parser.add_argument('--results-dir', default=str(RESULTS))
  args = parser.parse_args(argv)
  started = time.perf_counter()
  # The mnist_mlp sweep's overrides, so its recorded runs are found finished.
  common = [f'data.dir={args.data_dir}'] if args.data_dir else []
  if args.epochs:
    common.append(f'train.num_epochs={args.epochs}')
  results = run_cells('mnist_mlp', [Cell('mnist_mlp')], range(args.seeds),
                      common=[*common, 'tracking.wandb=disabled'], output_dir=args.output_dir)
  runs = [(seed, s) for seed, s in zip(range(args.seeds), results['mnist_mlp']) if s]
  dataset, labels = None, None
  per_seed = {}  # seed -> {label: (accuracy, agreement, bytes, seconds)}
  for seed, summary in runs:
    trained = load_trained(summary['run_dir'], dataset=dataset)
    dataset = trained.dataset
    labels = dataset.y_test
    variables = {'params': trained.state.params, 'batch_stats': trained.state.batch_stats}
    chosen = np.random.default_rng(seed).choice(len(dataset.x_train), args.calibration_size,
                                                replace=False)
    all_variants = variants(trained.model, variables, dataset.x_train[np.sort(chosen)],
                            args.percentile)
    batches = [jnp.asarray(dataset.x_test[i:i + BATCH_SIZE])
               for i in range(0, len(dataset.x_test), BATCH_SIZE)]
    predictions = {v.label: quantized_mlp.predict_logits(v.logits, dataset.x_test,
                                                         BATCH_SIZE).argmax(-1)
                   for v in all_variants}
    seconds = time_passes(all_variants, batches, args.repeats)
    reference = predictions['float32']
    per_seed[seed] = {v.label: (float(np.mean(predictions[v.label] == labels)),
                               quantized_mlp.agreement(predictions[v.label], reference),
                               v.size_bytes, seconds[v.label]) for v in all_variants}
    print(f'  seed {seed}: ' + ', '.join(f'{k}: {a:.4f} ({s * 1e3:.0f} ms)'
                                        for k, (a, _, _, s) in per_seed[seed].items()),
          file=sys.stderr)
  rows = table_rows(per_seed, len(labels))
  reused = sum(bool(s.get('already_finished')) for _, s in runs)
  command = command_line('experiments.quantization_run', argv)
  wall = time.perf_counter() - started
  text = f"""# Post-training quantization of the mnist_mlp model

The Keras `mnist_mlp` model (784-512-512-10 ReLU, dropout 0.2, RMSProp 1e-3, batch
128, {args.epochs or mnist_mlp_config().train.num_epochs} epochs, Glorot-uniform, pixels / 255; `research sweep mnist_mlp`'s
{len(runs)} runs, seeds {', '.join(str(seed) for seed, _ in runs)}), trained in float32 and then run on the
10,000 MNIST test images in other precisions, without retraining:

- **bfloat16 / float16**: parameters and inputs cast to the dtype, the flax
  model applied computing in it, logits cast to float32.
- **int8 weights only**: each kernel stored as int8 with one symmetric float32
  scale per output channel (max |w| / 127); activations stay float32 and the
  kernel is dequantized in the product.
- **int8 weights + activations**: also each Dense layer's input quantized to int8
  with one symmetric per-tensor scale, calibrated on {args.calibration_size:,} random training
  images from the float model's own activations: max |a| / 127, or the
  {args.percentile} percentile of |a| / 127 (values above it saturate at ±127). The
  products are int8 × int8 accumulated in int32
  (`lax.dot_general(..., preferred_element_type=int32)`), rescaled by input
  scale × channel scale, plus the float32 bias; the logits are float32.

Columns: test accuracy (mean ± std over the seeds); agreement, the fraction of
test images on which the variant predicts the float32 model's class (mean ±
std); the stored size of the model (kernels, biases, and for int8 the float32
channel and input scales) and its ratio to float32; inference throughput, test
examples per second (mean ± std over the seeds) of a jitted predict over
the 10,000 test images in batches of {BATCH_SIZE} (already on the device), each
seed's figure the median of {args.repeats} passes after a warm-up pass, the
variants' passes interleaved; and its ratio to float32's (ratio of the means).
Every row was measured in the same process on the same machine: {device_description()}.

{markdown_table(['variant', 'test acc. %', 'agreement with float32 %', 'size (bytes)',
                 'size / float32', f'examples / s ({jax.default_backend()})', 'speed / float32'], rows,
                align='lrrrrrr')}

{gpu_note()}

What it shows: {lowest_agreement(per_seed, len(labels))} The size ratios follow from the bytes a
value (2 for bfloat16 / float16; 1 for an int8 weight, plus 4 bytes a channel
for its scale and bias). The speed column is a property of this CPU and of XLA's
CPU kernels for each dtype, not of the arithmetic alone; on accelerators with
int8 / half-precision matrix units the ratios differ.

Published comparison: Krishnamoorthi (2018, "Quantizing deep convolutional
networks for efficient inference: a whitepaper", arXiv:1806.08342) reports
that post-training per-channel int8 weights with per-tensor int8 activations
stay within about 2% of float accuracy across ImageNet CNNs; that is a
different task and model (no published number for this MLP on MNIST), quoted
for the size of the expected loss, not as a matching row.

{provenance(command, wall, [seed for seed, _ in runs],
            time_note=f'this command; {reused} of its {len(runs)} runs were found '
                      f'finished and reused; training them took '
                      f'{total_wall_time(results) / 60:.1f} min')}
"""
  write(pathlib.Path(args.results_dir) / 'quantization.md', text)
  return 0


def device_description() -> str:
  """What the speed column ran on: the CPU's model name, or the device kind."""
  device = jax.devices()[0]
  if device.platform != 'cpu':
    return f'one {device.device_kind} ({device.platform})'
  model = environment.cpu_model() or 'model unknown'
  return f'{os.cpu_count()} CPU cores ({model}), JAX on the CPU'


def gpu_note() -> str:
  if jax.default_backend() == 'gpu':
    return 'The speed column above was measured on the GPU.'
  return ('GPU throughput: not measured. No GPU was lent to the session that wrote '
          'this experiment; the speed column is the CPU\'s only.')


def lowest_agreement(per_seed: dict[int, dict], num_test: int) -> str:
  """The variant that departs most from float32's predictions, in words."""
  worst = min((run[label][1], label, seed) for seed, run in per_seed.items()
              for label in run)
  return (f'the lowest agreement with float32 over every variant and seed is '
          f'{100 * worst[0]:.2f}% ({worst[1]}, seed {worst[2]}), i.e. '
          f'{round((1 - worst[0]) * num_test)} of the {num_test:,} test images change class.')


def table_rows(per_seed: dict[int, dict], num_test: int) -> list[tuple]:
  """One row per variant: means over seeds, ratios to float32's."""
  runs = list(per_seed.values())
  float32_bytes = runs[0]['float32'][2]
  float32_speed = np.mean([num_test / run['float32'][3] for run in runs])
  rows = []
  for label in runs[0]:
    accuracies, agreements, sizes, seconds = zip(*(run[label] for run in runs))
    speeds = [num_test / s for s in seconds]
    rows.append((label, mean_std(accuracies), mean_std(agreements), f'{sizes[0]:,}',
                 f'{sizes[0] / float32_bytes:.3f}', mean_std(speeds, scale=1.0, digits=0),
                 f'{np.mean(speeds) / float32_speed:.2f}'))
  return rows


if __name__ == '__main__':
  sys.exit(main())
