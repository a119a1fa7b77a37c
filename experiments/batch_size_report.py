"""The batch_size experiment's report: final test accuracy and train loss
against batch size under each learning-rate rule, a figure of them and a
reading."""

import numpy as np

from experiments.batch_size import (BASE_LEARNING_RATE, NUM_EPOCHS,
                                    REFERENCE_BATCH_SIZE, RULE, RULES,
                                    WARMUP_EPOCHS)
from experiments.common import add_final_outcome, final_outcomes
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import tables
from research.metrics import error_interval

LEVEL = 0.95
# (without warmup, with warmup): what warmup alone changes.
WARMUP_PAIRS = (('linear scaling', 'linear scaling + warmup'),)


def _lookup(config: dict, dotted: str):
  node = config
  for part in dotted.split('.'):
    node = node[part]
  return node


def rule_of(config: dict) -> str:
  """The RULE option whose settings `config` (a record's config) has, or a
  description of its own settings."""
  for name, keys in RULE.options.items():
    if all(_lookup(config, k) == v for k, v in keys.items()):
      return name
  return (f'reference {_lookup(config, "optimizer.reference_batch_size")}, warmup '
          f'{_lookup(config, "optimizer.schedule.warmup_epochs"):g}')


def point_results(records) -> dict[str, dict[int, dict]]:
  """{rule: {batch size: {'test', 'train_loss', 'left_out'}}}: the final
  test accuracies and train losses of the finished runs, and how many runs
  did not finish (diverged, failed), rules in RULES order, batches sorted."""
  results: dict[str, dict[int, dict]] = {}
  for r in records:
    if not r.get('config'):
      continue
    point = results.setdefault(rule_of(r['config']), {}).setdefault(
        int(r['config']['train']['batch_size']), final_outcomes())
    add_final_outcome(point, r)
  return {rule: dict(sorted(results[rule].items()))
          for rule in sorted(results, key=lambda n: (RULES.index(n) if n in RULES
                                                      else len(RULES), n))}


def steps_per_epoch(records) -> dict[int, int]:
  """{batch size: steps per epoch}, from the records' training-split size."""
  steps = {}
  for r in records:
    train = (r.get('data') or {}).get('train')
    batch = (r.get('config') or {}).get('train', {}).get('batch_size')
    if train and batch:
      steps[int(batch)] = int(train) // int(batch)
  return dict(sorted(steps.items()))


def plot_against_batch(results: dict[str, dict[int, dict]], path) -> None:
  """Final test accuracy (left) and train loss (right) against batch size,
  a line per rule: the mean over seeds, bars one std (ddof 1, as the table)."""
  fig, axes = plt.subplots(1, 2, figsize=(plots.FIGSIZE[0] * 2, plots.FIGSIZE[1] * 0.8))
  for i, (rule, by_batch) in enumerate(results.items()):
    s = plots.style(i)
    for ax, key, scale in ((axes[0], 'test', 100.0), (axes[1], 'train_loss', 1.0)):
      batches = [b for b, r in by_batch.items() if r[key]]
      means = [scale * np.mean(by_batch[b][key]) for b in batches]
      stds = [scale * np.std(by_batch[b][key], ddof=1) if len(by_batch[b][key]) > 1
              else 0.0 for b in batches]
      ax.errorbar(batches, means, yerr=stds, color=s['color'], marker=s['marker'],
                  markersize=4, capsize=3, linewidth=1.3, label=rule)
  batches = sorted({b for by_batch in results.values() for b in by_batch})
  for ax, ylabel in zip(axes, ('final test accuracy (%)', 'final train loss')):
    ax.set_xscale('log', base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.minorticks_off()
    ax.set_xlabel('batch size')
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
  axes[1].set_yscale('log')
  axes[1].legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(fig)


def _cell(r: dict | None) -> str:
  if r is None:
    return '—'
  text = tables.mean_std(r['test'])
  return text + (f' ({r["left_out"]} not finished)' if r['left_out'] else '')


def largest_within_noise(by_batch: dict[int, dict], n_test: int) -> int | None:
  """The largest batch size up to which every mean test accuracy stays within
  test-set noise of the smallest batch's (95% intervals overlap)."""
  batches = sorted(b for b, r in by_batch.items())
  if not batches or not by_batch[batches[0]]['test']:
    return None
  reference = float(np.mean(by_batch[batches[0]]['test']))
  low, high = error_interval((1 - reference) * n_test, n_test, LEVEL)
  noise = high - low  # two half-widths: where two intervals stop overlapping
  largest = batches[0]
  for b in batches[1:]:
    test = by_batch[b]['test']
    if by_batch[b]['left_out'] or not test or reference - np.mean(test) > noise:
      break
    largest = b
  return largest


def reading(results: dict[str, dict[int, dict]], n_test: int | None) -> list[str]:
  lines = []
  for rule, by_batch in results.items():
    if n_test:
      largest = largest_within_noise(by_batch, n_test)
      if largest is not None:
        lines.append(f'{rule}: within test-set noise of the smallest batch\'s '
                     f'accuracy up to batch {largest}.')
    diverged = [b for b, r in by_batch.items() if r['left_out']]
    if diverged:
      lines.append(f'{rule}: runs that did not finish (diverged or failed) at '
                   f'batch {", ".join(map(str, diverged))}.')
  largest_batch = max((b for by in results.values() for b in by), default=None)
  at_largest = {rule: float(np.mean(by[largest_batch]['test']))
                for rule, by in results.items()
                if largest_batch in by and by[largest_batch]['test']}
  if at_largest:
    best = max(at_largest, key=at_largest.get)
    lines.append(f'At batch {largest_batch}: ' + ', '.join(
        f'{rule} {100 * a:.1f}%' for rule, a in at_largest.items())
                 + f'; best: {best}.')
  for plain, warm in WARMUP_PAIRS:
    both = [b for b in results.get(plain, {}) if results[plain][b]['test']
            and results.get(warm, {}).get(b, {}).get('test')]
    if both:
      deltas = [100 * (np.mean(results[warm][b]['test']) - np.mean(results[plain][b]['test']))
                for b in both]
      lines.append(f'Warmup with {plain}: {np.mean(deltas):+.1f} points '
                   f'on average over batch sizes (from {min(deltas):+.1f} to {max(deltas):+.1f}).')
  return lines or ['No run finished: nothing to read.']


def report(inputs: tables.TableInputs) -> str:
  results = point_results(inputs.records)
  steps = steps_per_epoch(inputs.records)
  batches = sorted({b for by in results.values() for b in by} | set(steps))
  configs = [r['config'] for r in inputs.records if r.get('config')]
  lr = float(configs[0]['optimizer']['learning_rate']) if configs else BASE_LEARNING_RATE
  epochs = int(configs[0]['train']['num_epochs']) if configs else NUM_EPOCHS
  rows = []
  for b in batches:
    per_epoch = steps.get(b)
    rows.append((b, per_epoch or '—', per_epoch * epochs if per_epoch else '—',
                 f'{lr:g}', f'{lr * b / REFERENCE_BATCH_SIZE:g}',
                 f'{lr * REFERENCE_BATCH_SIZE / b:.3g}',
                 *(_cell(results.get(rule, {}).get(b)) for rule in RULES)))
  table = tables.markdown_table(
      ['batch', 'steps / epoch', 'steps', 'fixed rate', 'rate x N', 'rate / N', *RULES],
      rows, align='r' * (6 + len(RULES)))
  plot_against_batch(results, inputs.figures_dir / 'accuracy_against_batch.png')
  n_test = max([(r.get('data') or {}).get('test') or 0 for r in inputs.records],
               default=0) or None
  return f"""## Test accuracy and train loss against batch size

{epochs} epochs whatever the batch size: the number of steps falls as the
batch grows. With N = batch / {REFERENCE_BATCH_SIZE}, 'rate x N' is the linear scaling
rule's lr * N (Goyal et al.) and 'rate / N' the slides' lr / N; warmup raises
the rate linearly from 0 over the first {WARMUP_EPOCHS:g} epochs. The last {len(RULES)} columns
are the final test accuracy (%) under each rule, mean ± std over seeds; at batch
{REFERENCE_BATCH_SIZE} 'fixed lr' and 'linear scaling' are the same run (the same rate).

{table}

![accuracy against batch size](figures/{inputs.experiment}/accuracy_against_batch.png)

## Reading

{chr(10).join('- ' + line for line in reading(results, n_test))}

## The two rules contradict each other only in their loss

The lecture slides say "batch x N -> learning rate / N"; Goyal et al. (and
this code's 'linear scaling') say "x N". The slides' rule holds for a loss
SUMMED over the batch: its gradient is N times a mean's, so dividing the rate
by N keeps each step the size it was, which is this table's 'fixed lr' row in
a mean-loss code. The code's loss is a mean over the batch (as in Goyal et
al.): its gradient's expected size does not depend on the batch, and one step
on N times the batch stands in for N small steps only at N times the rate.
Applied to a mean loss, the slides' rule shrinks the step N-fold while the
step count also falls N-fold: the 'lr / N (the slides)' column."""
