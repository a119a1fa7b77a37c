"""Trains experiments/batchnorm_running.py's three modes, logging growth.

    python -m experiments.batchnorm_running_run [--seeds 3]
    research table batchnorm_running

Each mode trains as one population of seeds (research.train.train_population);
an epoch hook records, per member and hidden layer, the norms of the pre-BN
kernel W and bias b, the largest |running mean| and running variance, and the
BN scale's norm. They go to `bn_growth.json` in each run directory (a second
invocation reuses finished runs), where the table's report
(experiments/batchnorm_running_report.py) reads them.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from experiments import batchnorm_running
from research import config as config_lib
from research import registry
from research.train.population import train_population
from research.train.runner import default_run_dir, finished_summary

GROWTH_FILE = batchnorm_running.GROWTH_FILE
# Per layer: (label, read from (params, batch_stats) of BatchNorm_i / Dense_i).
QUANTITIES = {
    'bias_norm': lambda p, s, i: np.linalg.norm(p[f'Dense_{i}']['bias'], axis=-1),
    'kernel_norm': lambda p, s, i: np.linalg.norm(
        p[f'Dense_{i}']['kernel'].reshape(*p[f'Dense_{i}']['kernel'].shape[:-2], -1), axis=-1),
    'running_mean_max': lambda p, s, i: np.abs(s[f'BatchNorm_{i}']['mean']).max(-1),
    'running_var_max': lambda p, s, i: s[f'BatchNorm_{i}']['var'].max(-1),
    'scale_norm': lambda p, s, i: np.linalg.norm(p[f'BatchNorm_{i}']['scale'], axis=-1),
}


def growth_hook(num_layers: int, log: dict):
  """hook(epoch, state): appends each quantity, per layer, with the
  population's member axis first, to log[quantity][layer]."""
  def hook(epoch, state):
    params, stats = state.params, state.batch_stats
    for name, read in QUANTITIES.items():
      for i in range(num_layers):
        log.setdefault(name, {}).setdefault(i, []).append(
            np.asarray(read(params, stats, i), np.float64))
    log.setdefault('epoch', []).append(epoch)
  return hook


def train_mode(mode: str, seeds, common) -> list[dict]:
  """Trains (or reuses) one mode's seeds; returns their summaries."""
  configs = [config_lib.apply_overrides(
      registry.get('batchnorm_running').config(),
      [*common, f'model.batchnorm_train_stats={mode}', f'seed={s}',
       'tracking.progress=false']) for s in seeds]
  paths = [default_run_dir(c) for c in configs]
  fresh = [i for i, (c, p) in enumerate(zip(configs, paths))
           if finished_summary(c, p) is None]
  log = {}
  num_layers = len(configs[0].model.hidden)
  summaries = train_population(configs, run_dirs=paths,
                               epoch_end_hook=growth_hook(num_layers, log))
  for member, i in enumerate(fresh):  # members are the runs that trained
    growth = {'epoch': log.get('epoch', [])}
    for name in QUANTITIES:
      growth[name] = [[float(a[member]) for a in log[name][layer]]
                      for layer in range(num_layers)]
    (pathlib.Path(paths[i]) / GROWTH_FILE).write_text(json.dumps(growth))
  return summaries


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--output-dir', default='runs')
  args = parser.parse_args(argv)
  for mode in batchnorm_running.TRAIN_STATS:
    for s in train_mode(mode, range(args.seeds),
                        [f'tracking.output_dir={args.output_dir}']):
      print(f"{mode} seed {s['seed']}: {s['status']}, test accuracy "
            f"{s.get('final', {}).get('test/accuracy', float('nan')):.4f}")
  print('now: research table batchnorm_running'
        + (f' --output-dir {args.output_dir}' if args.output_dir != 'runs' else ''))
  return 0


if __name__ == '__main__':
  sys.exit(main())
