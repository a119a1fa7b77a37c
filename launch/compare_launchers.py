"""The same sweep through the local and the population launcher, per trial.

  python -m launch.compare_launchers [--experiment quickstart] [--seeds 3]
      [--set KEY=VALUE ...] [--output experiments/results/launchers.md]

Runs the experiment's grid x seeds with `launch.local` (one process per
trial) and with `launch.population` (the trials as one vmapped program), in
separate output directories (finished trials are reused on a re-run), then
compares each trial's two runs epoch by epoch: the largest relative
difference in training loss over the first epochs, the first epoch where the
two trajectories separate by more than 1%, and the final test accuracies.

The two launchers compute the same mathematics with differently ordered
float reductions (XLA batches a member's sums with the others'), so each
trial's two runs start equal to float rounding; how long they stay equal
depends on how chaotic the training is.
"""

import argparse
import json
import pathlib
import shlex
import sys
import time

import numpy as np

from launch import local, population, sweep
from research.tables import markdown_table, mean_std, provenance

SEPARATION = 0.01  # relative difference in training loss


def _rows(run_dir) -> list[dict]:
  path = pathlib.Path(run_dir) / 'metrics.jsonl'
  return [json.loads(l) for l in path.read_text().splitlines() if l]


def compare(a: dict, b: dict, early_epochs: int) -> dict:
  """Trajectory agreement of two records of the same trial."""
  rows_a, rows_b = _rows(a['run_dir']), _rows(b['run_dir'])
  loss_a = np.asarray([r['train/loss'] for r in rows_a])
  loss_b = np.asarray([r['train/loss'] for r in rows_b])
  relative = np.abs(loss_a - loss_b) / np.maximum(np.abs(loss_a), 1e-12)
  separated = np.flatnonzero(relative > SEPARATION)
  return {
      'early': float(np.max(relative[:early_epochs])),
      'separates_at': int(separated[0]) + 1 if separated.size else None,
      'epochs': len(loss_a),
      'test_a': a['final']['test/accuracy'], 'test_b': b['final']['test/accuracy'],
  }


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--experiment', default='quickstart')
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE')
  parser.add_argument('--early-epochs', type=int, default=10)
  parser.add_argument('--output-dir', default='runs/compare_launchers')
  parser.add_argument('--output', default='experiments/results/launchers.md')
  args = parser.parse_args(argv)
  started = time.perf_counter()
  trials = sweep.expand(args.experiment, seeds=tuple(range(args.seeds)),
                        overrides=tuple(args.set))
  log = lambda line: print(line, file=sys.stderr, flush=True)
  extra = ('tracking.wandb=disabled',)
  timings = {}
  t = time.perf_counter()
  local_records = local.launch(trials, output_dir=f'{args.output_dir}/local',
                               extra=extra, log=log)
  timings['local'] = time.perf_counter() - t
  t = time.perf_counter()
  population_records = population.launch(
      trials, output_dir=f'{args.output_dir}/population', extra=extra, log=log)
  timings['population'] = time.perf_counter() - t

  body, gaps, by_point = [], [], {}
  for trial, a, b in zip(trials, local_records, population_records):
    point = ' '.join(trial.overrides) or '(base config)'
    for launcher, record in (('local', a), ('population', b)):
      by_point.setdefault(point, {}).setdefault(launcher, []).append(
          record['final']['test/accuracy'])
    c = compare(a, b, args.early_epochs)
    gaps.append(abs(c['test_a'] - c['test_b']))
    body.append([
        trial.label, f"{c['early']:.1e}",
        c['separates_at'] if c['separates_at'] else f"never (of {c['epochs']})",
        f"{100 * c['test_a']:.1f}", f"{100 * c['test_b']:.1f}",
        f"{100 * gaps[-1]:.1f}"])
  headers = ['trial', f'max rel. Δ train loss, epochs 1-{args.early_epochs}',
             f'first epoch with rel. Δ > {SEPARATION:.0%}',
             'test acc. local (%)', 'test acc. population (%)', 'Δ (pt)']
  command = shlex.join(['python', '-m', 'launch.compare_launchers',
                        *(argv if argv is not None else sys.argv[1:])])
  skipped = sum(bool(r.get('skipped')) for r in local_records + population_records)
  text = '\n'.join([
      f'# The local and the population launcher, trial by trial: `{args.experiment}`',
      '',
      f'{len(trials)} trials ({args.experiment} grid x {args.seeds} seeds'
      + (f', {" ".join(args.set)}' if args.set else '') + '). Launcher wall '
      f"time: local {timings['local']:.0f} s (2 processes at a time), "
      f"population {timings['population']:.0f} s"
      + (f' ({skipped} runs reused from an earlier invocation: times are of '
         'what was left)' if skipped else '') + '.',
      '',
      markdown_table(headers, body),
      '',
      f'Mean |Δ test accuracy| {100 * np.mean(gaps):.2f} pt, largest '
      f'{100 * np.max(gaps):.2f} pt. Over seeds (mean ± std of test accuracy, %):',
      '',
      markdown_table(['point', 'local', 'population'], [
          [point, mean_std(v['local']), mean_std(v['population'])]
          for point, v in by_point.items()]),
      '',
      provenance(command, time.perf_counter() - started,
                 seeds=range(args.seeds)),
      ''])
  print(text)
  if args.output:
    path = pathlib.Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f'wrote {path}', file=sys.stderr)


if __name__ == '__main__':
  main()
