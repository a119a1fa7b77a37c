"""The report of `research table batchnorm_running`: the growth that
experiments/batchnorm_running_run.py logged, per mode, as tables, a figure and
the lecture's claim against it."""

import json
import pathlib

import numpy as np

from experiments.batchnorm_running import EPOCHS, GROWTH_FILE, TRAIN_STATS
from research import plots, results
from research.tables import markdown_table

FIGURE = 'growth.png'
QUANTITIES = ('bias_norm', 'kernel_norm', 'running_mean_max', 'running_var_max',
              'scale_norm')


def _runs(records, mode: str) -> list[dict]:
  """The mode's finished runs with their growth log and per-epoch training
  loss; runs without a log (not trained by the _run command) are left out."""
  runs = []
  for r in results.finished_holding(
      records, results.format_overrides({'model.batchnorm_train_stats': mode})):
    path = pathlib.Path(r.get('record_dir') or r['run_dir']) / GROWTH_FILE
    if not path.is_file():
      continue
    metrics = results.trial_metrics(r)
    runs.append({**r, 'growth': json.loads(path.read_text()),
                 'loss': {m['epoch']: m['train/loss'] for m in metrics
                          if 'train/loss' in m},
                 'last_epoch': max((m['epoch'] for m in metrics if 'epoch' in m),
                                   default=0)})
  return runs


def _mean_at(runs, name: str, layer: int, index: int) -> float:
  return float(np.mean([r['growth'][name][layer][index] for r in runs]))


def _status(runs) -> str:
  diverged = [f"seed {r['seed']} at epoch {r['last_epoch'] + 1}" for r in runs
              if r['status'] == 'diverged']
  return 'diverged: ' + ', '.join(diverged) if diverged else 'none'


def growth_rows(by_mode: dict[str, list[dict]], layer: int, marks) -> list[list[str]]:
  rows = []
  for mode, runs in by_mode.items():
    epochs = runs[0]['growth']['epoch']
    for e in marks:
      i = epochs.index(e)
      rows.append([mode, str(e),
                   *(f'{_mean_at(runs, q, layer, i):.3g}' for q in QUANTITIES),
                   f"{np.mean([r['loss'][e] for r in runs if e in r['loss']]):.3f}"])
  return rows


def summary_rows(by_mode: dict[str, list[dict]]) -> list[list[str]]:
  rows = []
  for mode, runs in by_mode.items():
    final = [r['final'] for r in runs if 'final' in r]
    acc = [f['test/accuracy'] for f in final]
    train_acc = [f['train/accuracy'] for f in final]
    var = [r['growth']['running_var_max'][-1] for r in runs]
    best = [r['best'] for r in runs if r.get('best')]
    rows.append([mode, _status(runs),
                 f'{100 * np.mean(train_acc):.1f} ± {100 * np.std(train_acc):.1f}',
                 f'{100 * np.mean(acc):.1f} ± {100 * np.std(acc):.1f}',
                 f"{100 * np.mean([b['test/accuracy'] for b in best]):.1f} (epochs "
                 f"{', '.join(str(b['epoch']) for b in best)})",
                 f"{np.mean([g[-1] / g[0] for r in runs for g in [r['growth']['kernel_norm'][-1]]]):.1f}",
                 f"{np.mean([v[-1] for v in var]):.3g}"])
  return rows


def figure(by_mode: dict[str, list[dict]], path: pathlib.Path) -> None:
  plt = plots.plt  # pyplot with plots' headless backend
  panels = [('bias_norm', '‖b‖ of the pre-BN bias'),
            ('kernel_norm', '‖W‖ of the pre-BN kernel'),
            ('running_var_max', 'largest running variance'),
            ('loss', 'training loss (epoch mean)')]
  fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
  for ax, (name, title) in zip(axes.flat, panels):
    for j, (mode, runs) in enumerate(by_mode.items()):
      color = plots.style(j)['color']
      for k, r in enumerate(runs):
        epochs = r['growth']['epoch']
        if name == 'loss':
          y = [r['loss'].get(e, np.nan) for e in epochs]
          series = [('', y)]
        else:
          series = [(f' layer {layer + 1}', r['growth'][name][layer])
                    for layer in range(len(r['growth'][name]))]
        for s, (suffix, y) in enumerate(series):
          ax.plot(epochs, y, color=color, linewidth=1.0,
                  linestyle=('-', '--')[s % 2],
                  label=f'{mode}{suffix}' if k == 0 else None)
    ax.set_yscale('log')
    ax.set_title(title, fontsize=10)
    ax.set_xlabel('epoch')
    ax.grid(True, alpha=0.3)
  axes[0][0].legend(fontsize=7)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=plots.DPI, bbox_inches='tight')
  plt.close(fig)


def verdicts(by_mode: dict[str, list[dict]]) -> dict[str, str]:
  """Measured answers to the claim, from the runs (last hidden layer)."""
  def end(mode, name):
    return float(np.mean([r['growth'][name][-1][-1] for r in by_mode[mode]]))

  def late(mode, name):  # 3/4 into the run: is it still growing at the end?
    return float(np.mean([r['growth'][name][-1][3 * len(r['growth'][name][-1]) // 4]
                          for r in by_mode[mode]]))

  out = {}
  for mode in ('batch_no_grad', 'running'):
    b_grows = end(mode, 'bias_norm') > 1.0 > 1e3 * end('batch', 'bias_norm')
    var_ratio = end(mode, 'running_var_max') / end('batch', 'running_var_max')
    still = end(mode, 'running_var_max') / late(mode, 'running_var_max')
    batch_still = end('batch', 'running_var_max') / late('batch', 'running_var_max')
    diverged = sum(r['status'] == 'diverged' for r in by_mode[mode])
    out[mode] = (
        f"‖b‖ {end('batch', 'bias_norm'):.2g} with 'batch' (zero gradient) vs "
        f"{end(mode, 'bias_norm'):.3g} here ({'grows' if b_grows else 'does not grow'}); "
        f"largest running variance {var_ratio:.1f}x the 'batch' runs', "
        f"x{still:.2f} over the last quarter of training "
        f"({'still growing' if still > 1.5 else 'levelling off'}; 'batch': "
        f"x{batch_still:.2f}); "
        f"{diverged} of {len(by_mode[mode])} runs diverged (NaN / loss limit)")
    out[f'{mode} grows'] = b_grows and var_ratio > 10
    out[f'{mode} diverged'] = diverged
  accuracy = {m: np.mean([r['final']['test/accuracy'] for r in runs if 'final' in r])
              for m, runs in by_mode.items()}
  grows = [m for m in ('batch_no_grad', 'running') if out[f'{m} grows']]
  blown = [m for m in ('batch_no_grad', 'running') if out[f'{m} diverged']]
  if grows and blown:
    out['overall'] = ('**Agrees**: the parameters the gradient cannot see grow, and '
                      f'runs blow up ({", ".join(blown)}).')
  elif grows:
    out['overall'] = (
        '**Agrees in part**: with the statistics hidden from the gradient, b grows '
        'from 0 while ordinary BN keeps it at 0 up to rounding (its gradient is 0), and W and the '
        'running statistics grow far beyond ordinary BN\'s ('
        + ', '.join(grows) + '); but no run blew up numerically (NaN or the loss '
        'limit) within the epochs run. Test accuracy (evaluation mode): '
        + ', '.join(f'{m} {100 * acc:.1f}%' for m, acc in accuracy.items()) + '.')
  else:
    out['overall'] = ('**Does not agree**: no mode grew more than ordinary BN '
                      '(criterion: ‖b‖ > 1 and the largest running variance > 10x '
                      'ordinary BN\'s).')
  return out




ARGUMENT = """The lecture (after Ioffe & Szegedy 2015, §2): normalizing with statistics that the
gradient step does not see, such as running averages used during training, can make the
model explode. The paper's argument: with x = u + b and x̂ = x − E[x], a gradient that
treats E[x] as a constant moves b by Δb = −η ∂ℓ/∂x̂; the next E[x] absorbs Δb, so the
output and the loss do not change, and the next step moves b again: b grows without bound
while the loss stays where it was. The same holds for the scale: with the variance held
constant the gradient has a component along W that the normalization then undoes.
Differentiating through the batch mean and variance (ordinary BN) removes exactly those
components: b's gradient is 0 and W's is orthogonal to W."""

WHY = """Why the two modes differ. Under `batch_no_grad` the forward pass still subtracts this
batch's own mean, so b cancels exactly and the loss cannot see it, while its gradient,
(γ/σ)·∂ℓ/∂β, is not 0: b drifts with β's gradient for as long as training runs, and W's
gradient has a radial part that the division by σ undoes, so ‖W‖ and with it the
statistics keep growing. The running averages that evaluation uses trail statistics that
grow this fast, so evaluation can be far from what training saw. Under `running` the
normalization is a fixed affine map within a step, so the loss does see b and W; the
growth it cannot see is only the averages' lag, which can stop once the training set is
fitted."""


def report(inputs) -> str:
  by_mode = {m: _runs(inputs.records, m) for m in TRAIN_STATS}
  if not all(by_mode.values()):
    missing = [m for m, runs in by_mode.items() if not runs]
    return ('## No growth logs\n\nNo finished run with a growth log for '
            f'{", ".join(missing)}: train with `python -m '
            'experiments.batchnorm_running_run` (a plain sweep does not log it).')
  inputs.figures_dir.mkdir(parents=True, exist_ok=True)
  figure(by_mode, inputs.figures_dir / FIGURE)
  inputs.log(f'wrote {inputs.figures_dir / FIGURE}')
  epochs = by_mode['batch'][0]['growth']['epoch']
  step = max(1, len(epochs) // 4)
  marks = sorted({epochs[0], *epochs[step - 1::step], epochs[-1]})
  said = verdicts(by_mode)
  seeds = sorted({r['seed'] for runs in by_mode.values() for r in runs})
  config = by_mode['batch'][0].get('config') or {}
  lr = (config.get('optimizer') or {}).get('learning_rate', '?')
  setup = (
      f'MNIST-1D, a 2 x 100 ReLU MLP with BatchNorm before each ReLU and the Dense bias '
      f'b kept in front of it (`model.bias_before_bn=True`), plain SGD at lr {lr}, '
      f'batch 100, {len(epochs)} epochs (the config: {EPOCHS}), seeds '
      f'{", ".join(map(str, seeds))} per mode (`model.batchnorm_train_stats`), trained '
      'by `python -m experiments.batchnorm_running_run --seeds 3`, which logs the growth '
      'per epoch:\n\n'
      '- `batch`: the batch mean and variance, differentiated through (ordinary BN);\n'
      '- `batch_no_grad`: the same numbers under `stop_gradient` (the paper\'s '
      'counter-example);\n'
      '- `running`: the running averages (after this batch\'s update), constants to '
      'the gradient.\n\n'
      'Every mode updates the running averages the same way and evaluates with them: '
      'the accuracies are in evaluation mode; the training loss is the epoch\'s mean in '
      'training mode (what the steps saw).')
  headers = ['‖b‖', '‖W‖', 'max abs(running mean)', 'max running var', '‖BN scale‖']
  return '\n\n'.join([
      '## The claim', ARGUMENT,
      '## Setup', setup,
      '## Outcome per mode',
      'Accuracy mean ± std over seeds (ddof 0) at the end; the test accuracy at each '
      'run\'s best dev-accuracy epoch (mean) says whether the run got worse as it went on.',
      markdown_table(['mode', 'diverged runs', 'train acc. %', 'test acc. %',
                      'test acc. % at the best dev epoch',
                      '‖W‖ of layer 2: last / first epoch',
                      'largest running variance of layer 2 at the end'],
                     summary_rows(by_mode), align='llrrrrr'),
      '## Growth by epoch (hidden layer 2, mean over seeds)',
      '‖b‖ and ‖W‖ are the pre-BN Dense bias and kernel (Frobenius) norms; the '
      'running statistics are the largest over the layer\'s 100 units.',
      markdown_table(['mode', 'epoch', *headers, 'train loss'],
                     growth_rows(by_mode, 1, marks), align='lrrrrrrr'),
      f'![growth of the pre-BN parameters and running statistics]'
      f'(figures/{inputs.experiment}/{FIGURE})',
      f'Layer 1 (dashed in the figure) behaves alike; its numbers are in each run\'s '
      f'`{GROWTH_FILE}`.',
      '## Against the lecture\'s claim',
      f"- `batch_no_grad`: {said['batch_no_grad']}.\n- `running`: {said['running']}.",
      said['overall'],
      WHY,
  ])
