"""The schedules experiment's report: every schedule's learning rate against
step (from the project's own schedule builder), the final train loss and test
accuracy of each point, and a reading."""

import jax.numpy as jnp
import numpy as np

from experiments.common import add_final_outcome, final_outcomes
from experiments.schedules import (SCHEDULE, SCHEDULE_NAMES, STEP_EPOCHS,
                                   WARMUP_EPOCHS)
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import results as results_lib
from research import tables
from research.config import base_config
from research.metrics import error_interval
from research.optim.schedules import build_schedule

LEVEL = 0.95
_PREFIX = 'optimizer.schedule.'


# --------------------------------------------------------------------------
# The rates, from the project's schedule builder.


def schedule_config(name: str, warmup_epochs: float):
  """The `optimizer.schedule` section of the SCHEDULE option `name` with
  `warmup_epochs`."""
  c = base_config().optimizer.schedule
  for key, value in SCHEDULE.options[name].items():
    c[key.removeprefix(_PREFIX)] = value
  c.warmup_epochs = float(warmup_epochs)
  return c


def recorded_schedule(record: dict):
  """The `optimizer.schedule` section of a trial record's config (JSON
  turned tuples into lists)."""
  c = base_config().optimizer.schedule
  for key, value in _value(record, 'optimizer.schedule').items():
    c[key] = tuple(value) if isinstance(value, list) else value
  return c


def learning_rates(schedule, *, peak: float, steps_per_epoch: int,
                   num_epochs: int) -> np.ndarray:
  """The rate of the `optimizer.schedule` section `schedule` at steps
  0 .. num_epochs * steps_per_epoch - 1."""
  schedule = build_schedule(schedule, peak, steps_per_epoch=steps_per_epoch,
                            num_epochs=num_epochs)
  steps = jnp.arange(num_epochs * steps_per_epoch)
  if not callable(schedule):  # constant without warmup: the float itself
    return np.full(steps.shape, float(schedule))
  # Every schedule is elementwise in the step: one call on all of them,
  # without compiling it.
  return np.asarray(schedule(steps), dtype=np.float64)


def plot_rates(rates: dict[tuple[str, float], np.ndarray], path,
               steps_per_epoch: int) -> None:
  """Rate against step, a panel per warmup length, a color per schedule."""
  names = list(dict.fromkeys(name for name, _ in rates))
  warmups = list(dict.fromkeys(warmup for _, warmup in rates))
  fig, axes = plt.subplots(1, len(warmups), sharey=True, squeeze=False,
                           figsize=(plots.FIGSIZE[0] * len(warmups),
                                    plots.FIGSIZE[1] * 0.8))
  for ax, warmup in zip(axes[0], warmups):
    for name in (n for n in names if (n, warmup) in rates):
      lr = rates[(name, warmup)]
      ax.plot(np.arange(len(lr)), lr, linewidth=1.3, label=name,
              color=plots.style(names.index(name))['color'])
    ax.set_title(f'warmup {warmup:g} epochs' if warmup else 'no warmup')
    ax.set_xlabel(f'step ({steps_per_epoch} steps per epoch)')
    ax.grid(True, alpha=0.3)
  axes[0][0].set_ylabel('learning rate')
  axes[0][-1].legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  plots.save_figure(fig, path)


# --------------------------------------------------------------------------
# The report.


def _value(record: dict, dotted: str):
  node = record['config']
  for part in dotted.split('.'):
    node = node[part]
  return node


def _label(name: str, warmup: float) -> str:
  return name + (f' + warmup {warmup:g}' if warmup else '')


def point_results(records) -> dict[tuple[str, float], dict]:
  """{(schedule, warmup epochs): {'test', 'train_loss', 'left_out',
  'record'}}: the final test accuracies and train losses of each point's
  finished runs, how many runs did not finish, and one of its records, in
  the order of the axes."""
  results = {}
  for r in records:
    if not r.get('config'):
      continue
    key = (_value(r, 'optimizer.schedule.name'),
           float(_value(r, 'optimizer.schedule.warmup_epochs')))
    point = results.setdefault(key, final_outcomes(record=r))
    add_final_outcome(point, r)
  order = {n: i for i, n in enumerate(SCHEDULE_NAMES)}
  return dict(sorted(results.items(),
                     key=lambda kv: (order.get(kv[0][0], len(order)), kv[0])))


def _test_examples(records) -> int | None:
  sizes = [(r.get('data') or {}).get('test') for r in records]
  sizes = [s for s in sizes if s]
  return max(sizes) if sizes else None


def half_width_points(accuracy: float, n_test: int) -> float:
  """Half the width of the 95% interval of one run's test error, in points."""
  low, high = error_interval((1 - accuracy) * n_test, n_test, LEVEL)
  return 100 * (high - low) / 2


def reading(results: dict[tuple[str, float], dict], n_test: int | None) -> list[str]:
  """Sentences read off the numbers: best and worst point and whether their
  gap is above test-set noise, the training losses against the constant
  rate's, and what warmup changes."""
  means = {k: float(np.mean(v['test'])) for k, v in results.items() if v['test']}
  if not means:
    return ['No run finished: nothing to read.']
  best, worst = max(means, key=means.get), min(means, key=means.get)
  gap = 100 * (means[best] - means[worst])
  lines = [f'Highest mean test accuracy: {_label(*best)} ({100 * means[best]:.1f}%); '
           f'lowest: {_label(*worst)} ({100 * means[worst]:.1f}%), '
           f'{gap:.1f} points apart.']
  # Two accuracies differ beyond test-set noise when their 95% intervals
  # do not overlap: by more than the two half-widths together.
  noise = 2 * half_width_points(means[best], n_test) if n_test else None
  if noise is not None:
    verdict = 'beyond' if gap > noise else 'within'
    lines.append(f'One run\'s test accuracy on {n_test} examples is known to about '
                 f'±{noise / 2:.1f} points (95% interval), so that gap is {verdict} '
                 f'test-set noise (two intervals stop overlapping {noise:.1f} points apart).')
  losses = {k: float(np.mean(v['train_loss'])) for k, v in results.items()
            if v['train_loss']}
  for warmup in WARMUP_EPOCHS:
    base = losses.get(('constant', warmup))
    others = {k: v for k, v in losses.items() if k[1] == warmup and k[0] != 'constant'}
    if base is None or not others:
      continue
    lower = sorted((v, k[0]) for k, v in others.items() if v < base)
    higher = sorted(k[0] for k, v in others.items() if v >= base)
    text = (f'{"With" if warmup else "Without"} warmup, the constant rate ends at a '
            f'training loss of {base:.3g}')
    if lower:
      text += '; ' + ', '.join(f'{n} {v:.3g} ({base / v:.2g}x lower)' for v, n in lower)
    if higher:
      text += f'; not below it: {", ".join(higher)}'
    lines.append(text + '.')
  deltas = {name: 100 * (means[(name, w)] - means[(name, 0.0)])
            for name in SCHEDULE_NAMES for w in WARMUP_EPOCHS[1:]
            if (name, w) in means and (name, 0.0) in means}
  if deltas:
    text = (f'Warmup changes the mean test accuracy by '
            f'{", ".join(f"{d:+.1f} ({n})" for n, d in deltas.items())} points')
    if noise is not None:
      beyond = [n for n, d in deltas.items() if abs(d) > noise]
      text += (f'; beyond test-set noise only for {", ".join(beyond)}' if beyond
               else '; every change is within test-set noise')
    lines.append(text + '.')
  return lines


def report(inputs: tables.TableInputs) -> str:
  finished = [r for r in inputs.records if r.get('status') in results_lib.FINISHED
              and r.get('epochs') and r.get('steps')]
  if not finished:
    return '## Schedules\n\nNo finished run: no figure and no reading.'
  some = finished[0]
  steps_per_epoch = int(some['steps']) // int(some['epochs'])
  num_epochs = int(_value(some, 'train.num_epochs'))
  peak = float(_value(some, 'optimizer.learning_rate'))
  results = point_results(inputs.records)

  def rates_of(schedule) -> np.ndarray:
    return learning_rates(schedule, peak=peak, steps_per_epoch=steps_per_epoch,
                          num_epochs=num_epochs)

  # Each point's rates from its own record (what it trained with), then the
  # points of the axes that no record has yet.
  rates = {key: rates_of(recorded_schedule(r['record'])) for key, r in results.items()}
  for name in SCHEDULE_NAMES:
    for warmup in WARMUP_EPOCHS:
      if (name, warmup) not in rates:
        rates[(name, warmup)] = rates_of(schedule_config(name, warmup))
  order = {n: i for i, n in enumerate(SCHEDULE_NAMES)}
  rates = dict(sorted(rates.items(), key=lambda kv: (order.get(kv[0][0], len(order)),
                                                     kv[0])))
  rows = []
  for (name, warmup), r in results.items():
    end = rates[(name, warmup)][-1] / peak
    rows.append((name, f'{warmup:g}', len(r['test']) or '—',
                 tables.mean_std(r['train_loss'], scale=1.0, digits=4),
                 tables.mean_std(r['test']), f'{end:.3g}', r['left_out'] or ''))
  table = tables.markdown_table(
      ['schedule', 'warmup epochs', 'runs', 'final train loss', 'test acc. %',
       'last lr / peak', 'not finished'], rows, align='lrrrrrr')
  plot_rates(rates, inputs.figures_dir / 'learning_rates.png', steps_per_epoch)
  name = inputs.experiment
  sgdr = schedule_config('sgdr', 0.0)
  return f"""## Learning rate against step

Every schedule of `research/optim/schedules.py` at peak rate {peak:g} over
{num_epochs} epochs of {steps_per_epoch} steps, computed by the project's
`build_schedule` from each point's recorded `optimizer.schedule`; on the right
with linear warmup from 0 over {WARMUP_EPOCHS[-1]:g} epochs. 'step' divides the rate by
10 at epochs {', '.join(f'{e:g}' for e in STEP_EPOCHS)}; 'sgdr' restarts after a first period of
{sgdr.sgdr_period_epochs:g} epochs, each next one {sgdr.sgdr_period_mult:g} times longer (counted from the end
of warmup).

![learning rates](figures/{name}/learning_rates.png)

## Final training loss and test accuracy per schedule

Means ± std over seeds of the model at the end of training (evaluation mode);
"last lr / peak" is the rate of the final step over the peak, from the figure.

{table}

## Reading

{chr(10).join('- ' + line for line in reading(results, _test_examples(finished)))}"""
