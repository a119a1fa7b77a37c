"""`research recipe NAME`: the recipe for a new network, run on an experiment.

  research recipe EXPERIMENT [--set key=value ...] [--steps STEP,...]
      [--output-dir runs] [--results experiments/results/recipe_NAME.md]

Runs, in order, on the experiment's config (with the overrides): the
initial-loss check, overfitting a few batches, the learning-rate range test,
the coarse learning-rate step and a coarse-to-fine search of the learning rate
and weight decay (`research.recipe`), prints each outcome, and writes
them as JSON to OUTPUT_DIR/recipe_NAME/recipe.json (beside the search's runs
and, without --results, the figures) and, with --results, as a markdown
report. The exit code is 1 when a check failed (the initial loss is off, or
the batches were never memorized).
"""

import argparse
import dataclasses
import pathlib
import shlex
import sys
import time
from typing import Any

from launch.recipe_args import DEFAULTS, STEPS
from launch.registry import load_registry
from research import config as config_lib
from research import plots, recipe
from research.recipe import coarse_to_fine, lr_diagnosis, lr_range
from research.tables import markdown_table, provenance
from research.tracking import jsonio
from research.train.resolve import resolve


def _log(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def _command(args) -> str:
  words = ['research', 'recipe', args.experiment]
  for item in args.set:
    words += ['--set', item]
  for key, default in DEFAULTS.items():
    value = getattr(args, key)
    if value != default:
      flag = '--' + key.replace('_', '-')
      words += [flag] if value is True else [flag, str(value)]
  return ' '.join(shlex.quote(w) for w in words)


def _check_arguments(args) -> list[str]:
  """The steps to run; a bad argument raises ValueError before any runs."""
  steps = [s.strip() for s in args.steps.split(',') if s.strip()]
  unknown = [s for s in steps if s not in STEPS]
  if unknown or not steps:
    raise ValueError(f'--steps: unknown step(s) {", ".join(unknown) or "(none)"}'
                     f'; known steps: {", ".join(STEPS)}')
  for key in ('loss_batches', 'overfit_batches', 'overfit_steps', 'rounds',
              'points', 'top_k', 'coarse_steps'):
    if getattr(args, key) < 1:
      raise ValueError(f'--{key.replace("_", "-")}: {getattr(args, key)} '
                       'must be >= 1')
  for key in ('tolerance', 'margin'):
    if not getattr(args, key) > 0:
      raise ValueError(f'--{key}: {getattr(args, key)} must be > 0')
  if args.coarse_steps < 2:
    raise ValueError(f'--coarse-steps: {args.coarse_steps} must be >= 2')
  if not args.coarse_weight_decay >= 0:
    raise ValueError(f'--coarse-weight-decay: {args.coarse_weight_decay} '
                     'must be >= 0')
  coarse_lrs(args)
  weight_decay_range(args)
  for key in ('epoch_fraction', 'fine_epoch_fraction'):
    if not 0 < getattr(args, key) <= 1:
      raise ValueError(f'--{key.replace("_", "-")}: {getattr(args, key)} '
                       'must be in (0, 1]')
  if args.lr_rule not in lr_range.RULES:
    raise ValueError(f'--lr-rule: unknown rule {args.lr_rule!r}; known: '
                     f'{", ".join(lr_range.RULES)}')
  if not 0 < args.lr_min < args.lr_max or args.lr_steps < 2:
    raise ValueError('--lr-min, --lr-max, --lr-steps: need 0 < lr-min < '
                     f'lr-max and at least 2 steps, got {args.lr_min}, '
                     f'{args.lr_max}, {args.lr_steps}')
  return steps


def _floats(text: str, flag: str) -> tuple[float, ...]:
  try:
    return tuple(float(v) for v in text.split(',') if v.strip())
  except ValueError:
    raise ValueError(f'{flag}: {text!r} must be comma-separated numbers'
                     ) from None


def coarse_lrs(args) -> tuple[float, ...]:
  """--coarse-lrs as numbers: positive, at least one."""
  rates = _floats(args.coarse_lrs, '--coarse-lrs')
  if not rates or not all(0 < r < float('inf') for r in rates):
    raise ValueError(f'--coarse-lrs: {args.coarse_lrs!r} must be one or more '
                     'positive numbers')
  return rates


def weight_decay_range(args) -> tuple[float, float] | None:
  """--weight-decay-range as (low, high), or None for 'none'."""
  if args.weight_decay_range.strip().lower() == 'none':
    return None
  bounds = _floats(args.weight_decay_range, '--weight-decay-range')
  if len(bounds) != 2 or not 0 < bounds[0] < bounds[1]:
    raise ValueError(f'--weight-decay-range: {args.weight_decay_range!r} must '
                     "be LOW,HIGH with 0 < LOW < HIGH, or 'none'")
  return bounds


@dataclasses.dataclass
class _Run:
  """What the steps share: the arguments, the config, where files go, and
  the results so far (the search centres on the range test's suggestion)."""
  args: argparse.Namespace
  experiment: Any  # research.registry.Experiment
  config: Any  # ml_collections.ConfigDict
  output: pathlib.Path
  figures: pathlib.Path
  results: dict = dataclasses.field(default_factory=dict)
  failed: list = dataclasses.field(default_factory=list)


def _initial_loss(run: _Run) -> None:
  r = recipe.check_initial_loss(run.config, num_batches=run.args.loss_batches,
                                tolerance=run.args.tolerance, warn=False)
  print(('WARNING: ' if r.flagged else '') + r.message)
  if r.penalty:
    print(f'regularization terms at initialization: {r.penalty:.4g} (not in '
          'the loss above)')
  if r.flagged:
    run.failed.append('initial_loss')
  run.results['initial_loss'] = r


def _overfit(run: _Run) -> None:
  r = recipe.overfit_batches(run.config, num_batches=run.args.overfit_batches,
                             max_steps=run.args.overfit_steps)
  print(('' if r.reached else 'WARNING: ') + r.message)
  plots.loss_curves({'training loss': r.step_losses},
                    run.figures / 'overfit.png', ylabel='training loss',
                    title=f'{run.args.experiment}: {r.num_examples} examples')
  if not r.reached:
    run.failed.append('overfit')
  run.results['overfit'] = r


def _lr_range(run: _Run) -> None:
  a = run.args
  r = recipe.lr_range_test(run.config, lr_min=a.lr_min, lr_max=a.lr_max,
                           num_steps=a.lr_steps, rule=a.lr_rule)
  print(r.message)
  path = recipe.plot_lr_range(r, run.figures / 'lr_range.png',
                              title=f'{a.experiment}: learning-rate range test')
  print(f'figure: {path}')
  run.results['lr_range'] = r


def _coarse_lr(run: _Run) -> None:
  a = run.args
  r = recipe.coarse_lr_step(run.config, learning_rates=coarse_lrs(a),
                            num_steps=a.coarse_steps,
                            weight_decay=a.coarse_weight_decay)
  for t in r.trials:
    print(f'lr {t.learning_rate:.3g}: {t.verdict}: {t.reason}')
  print(r.message)
  plots.loss_curves({f'lr {t.learning_rate:.3g} ({t.verdict})': t.losses
                     for t in r.trials}, run.figures / 'coarse_lr.png',
                    ylabel='training loss',
                    title=f'{a.experiment}: {r.num_steps} iterations per rate')
  run.results['coarse_lr'] = r


def _search_axes(run: _Run) -> dict:
  if run.args.experiment_axes:
    return dict(run.experiment.axes)
  # Around what worked: the coarse step's pick, else the range test's.
  center = (getattr(run.results.get('coarse_lr'), 'best_lr', None)
            or getattr(run.results.get('lr_range'), 'suggested_lr', None))
  return recipe.default_axes(run.config, center=center,
                             weight_decay=weight_decay_range(run.args))


def _coarse_to_fine(run: _Run) -> None:
  a = run.args
  r = recipe.coarse_to_fine_search(
      run.config, _search_axes(run), output_dir=run.output / 'coarse_to_fine',
      rounds=a.rounds, points_per_round=a.points, top_k=a.top_k,
      margin=a.margin, epoch_fraction=a.epoch_fraction,
      fine_epoch_fraction=a.fine_epoch_fraction, seed=run.config.seed,
      log=_log)
  for rd in r.rounds:
    ranges = ', '.join(f'{k} {v}' for k, v in rd.ranges.items())
    print(f'round {rd.index}: {ranges}; best {r.metric} '
          f'{_fmt(rd.best_score)} at {_point(rd.best_point)}')
  print(f'best: {r.metric} {_fmt(r.best_score)} at {_point(r.best_point)} '
        f'(round {r.best_round}); next: {_next_command(run.args, r)}')
  run.results['coarse_to_fine'] = r


_STEP_FUNCTIONS = {'initial_loss': _initial_loss, 'overfit': _overfit,
                   'lr_range': _lr_range, 'coarse_lr': _coarse_lr,
                   'coarse_to_fine': _coarse_to_fine}
_TITLES = {'initial_loss': '1. loss at initialization',
           'overfit': '2. overfitting a few batches',
           'lr_range': '3. learning-rate range test',
           'coarse_lr': '4. coarse learning-rate step',
           'coarse_to_fine': '5. coarse-to-fine search'}


def cmd_recipe(args) -> int:
  """Runs the recipe's steps; returns 0, 1 when a check failed, 2 on a bad
  argument. A bad --set raises ConfigError (the CLI reports it)."""

  try:
    steps = _check_arguments(args)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  started = time.perf_counter()
  experiment = load_registry().get(args.experiment)
  config = resolve(config_lib.apply_overrides(experiment.config(), args.set))
  if 'coarse_to_fine' in steps and args.experiment_axes:
    coarse_to_fine.check_axes(experiment.axes, config)
  name = f'recipe_{args.experiment}'
  output = pathlib.Path(args.output_dir) / name
  figures = (pathlib.Path(args.results).parent / 'figures' / name
             if args.results else output)
  run = _Run(args, experiment, config, output, figures)
  for step in steps:
    print(f'== {_TITLES[step]}', flush=True)
    _STEP_FUNCTIONS[step](run)

  wall_s = time.perf_counter() - started
  command = _command(args)
  record = {'experiment': args.experiment, 'command': command,
            'overrides': list(args.set), 'wall_time_s': wall_s,
            'failed': run.failed,
            **{k: v.to_dict() for k, v in run.results.items()}}
  output.mkdir(parents=True, exist_ok=True)
  jsonio.atomic_write_text(output / 'recipe.json',
                           jsonio.dumps(record, indent=1))
  print(f'record: {output / "recipe.json"} ({wall_s:.0f} s)')
  if args.results:
    path = pathlib.Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report(run, command=command, wall_time_s=wall_s))
    print(f'report: {path}')
  return 1 if run.failed else 0


# --------------------------------------------------------------------------
# The markdown report


def _fmt(value, spec: str = '.4g') -> str:
  return 'n/a' if value is None else format(value, spec)


def _point(point: dict) -> str:
  return ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                  for k, v in point.items())


def _next_command(args, result) -> str:
  """`research run` at the search's best point."""
  sets = [*args.set, *_point(result.best_point).split()]
  return ' '.join(['research run', args.experiment,
                   *(f'--set {shlex.quote(s)}' for s in sets)])


def _sentence(text: str) -> str:
  text = text.rstrip('.')
  return text[:1].upper() + text[1:] + '.'


def _initial_loss_section(r, figures: str) -> list[str]:
  del figures  # no figure
  table = [[f'{r.loss_name} {r.loss:.4g}', _fmt(r.expected),
            _fmt(r.relative_error, '.1%'), f'{r.tolerance:.0%}',
            f'{r.accuracy:.1%}', f'{r.penalty:.4g}',
            'flagged' if r.flagged else 'ok']]
  agrees = 'does not agree' if r.flagged else 'agrees'
  return ['## 1. Loss at initialization', '',
          '*Lecture:* at initialization, with regularization off, the loss is '
          "what chance predicts (log C for a softmax over C classes). "
          f'*Measured:* {r.loss:.4g} against {_fmt(r.expected)}; this '
          f'{agrees}.', '', markdown_table(
      ['loss', 'expected', 'relative error', 'tolerance', 'accuracy',
       'regularization terms', 'verdict'], table), '',
          f'Mean over {len(r.batch_losses)} batches of the training split, '
          'without dropout; regularization terms are not part of it. '
          + _sentence(r.message)]


def _overfit_section(r, figures: str) -> list[str]:
  batches = f'{r.num_batches} batch' + ('es' if r.num_batches > 1 else '')
  table = [[f'{r.num_examples} ({batches})', r.max_steps,
            f'{r.learning_rate:.3g}', _fmt(r.steps_to_fit, 'd'),
            f'{r.final_loss:.4g}', f'{r.final_accuracy:.1%}']]
  agrees = ('agrees' if r.reached else 'does not agree: the network could not '
            'memorize them')
  return ['## 2. Overfitting a few batches', '',
          '*Lecture:* with regularization off, the network must overfit a '
          'small training set of 5-10 batches to ~100% training accuracy and '
          f'near-zero loss. *Measured:* {batches}, {r.num_examples} examples: '
          f'{_fmt(r.steps_to_fit, "d")} steps to 100% accuracy, loss '
          f'{r.final_loss:.3g}; this {agrees}.', '', markdown_table(
      ['examples', 'steps at most', 'learning rate', 'steps to 100%',
       'final loss', 'final accuracy'], table), '',
          'Regularization, dropout, augmentation and early stopping off. '
          + _sentence(r.message), '', f'![overfit]({figures}/overfit.png)']


def _lr_range_section(r, figures: str) -> list[str]:
  stopped = ('no' if r.stopped_at is None else
             f'step {r.stopped_at} (lr {r.learning_rates[r.stopped_at]:.3g})')
  table = [[f'{r.lr_min:.3g} to {r.lr_max:.3g}', r.num_steps, stopped,
            _fmt(r.minimum_lr, '.3g'), _fmt(r.steepest_lr, '.3g'),
            f'**{_fmt(r.suggested_lr, ".3g")}** ({r.rule})']]
  return ['## 3. Learning-rate range test', '', markdown_table(
      ['range', 'steps', 'stopped', 'lowest loss at', 'steepest descent at',
       'suggested'], table), '',
          'Smith (2017): the learning rate grows geometrically, one value per '
          'training step; the loss is smoothed by a bias-corrected moving '
          f'average (beta {r.beta:g}) and the test stops when that exceeds '
          f'{r.divergence_factor:g}x its minimum. ' + _sentence(r.message), '',
          f'![learning-rate range test]({figures}/lr_range.png)']


def _coarse_lr_section(r, figures: str) -> list[str]:
  rows = []
  for t in r.trials:
    lr = f'{t.learning_rate:.3g}'
    rows.append([f'**{lr}**' if t.learning_rate == r.best_lr else lr,
                 f'{t.losses[0]:.4g}', _fmt(t.start), _fmt(t.end),
                 _fmt(t.relative_drop, '.0%'), t.verdict, t.reason])
  verdicts = {t.verdict for t in r.trials}
  found = ('the loss fell fastest at lr ' + f'{r.best_lr:.3g}' if r.best_lr
           else 'every rate was too large')
  agrees = ('agrees: the rates span too small to fine or too large'
            if r.best_lr and len(verdicts) > 1 else
            'only partly agrees: the rates do not span the range')
  return ['## 4. Coarse learning-rate step', '',
          '*Lecture:* with all the training data and a small weight decay, '
          'try learning rates 1e-1, 1e-2, 1e-3, 1e-4 for ~100 iterations and '
          'take the one that makes the loss go down fastest; a loss that '
          'barely moves means the rate is too small, one that explodes or is '
          f'NaN that it is too large. *Measured:* {found} ({r.num_steps} '
          f'iterations, weight decay {r.weight_decay:g}); the diagnosis '
          f'{agrees}.', '', markdown_table(
              ['learning rate', 'first loss', 'start', 'end',
               'relative drop', 'verdict', 'why'], rows), '',
          'Every rate starts from the same initialization and sees the same '
          'batches of the whole training split (one vmapped program); start, '
          'end: the mean loss of the first and of the last tenth of the '
          'steps; relative drop: (start - end) / start. The verdict, from each rate\'s loss history: '
          + lr_diagnosis.thresholds_text() + '. The pick: the lowest end '
          'among the rates not too large (all start from the same loss). ' + _sentence(r.message), '',
          f'![coarse learning-rate step]({figures}/coarse_lr.png)']


def _coarse_to_fine_section(r, figures: str) -> list[str]:
  del figures  # no figure
  better = 'higher' if r.mode == 'max' else 'lower'
  first, last = r.rounds[0], r.rounds[-1]
  keys = list(first.ranges)
  ok = sum(v == 'ok' for rd in r.rounds for v in rd.verdicts)
  total = sum(len(rd.verdicts) for rd in r.rounds)
  lines = ['## 5. Coarse-to-fine search', '',
           '*Lecture:* search the learning rate and the weight decay together, '
           'sampled at random in log space; coarse rounds of a few epochs, '
           'then finer rounds, narrowed around the best, that train longer. '
           f'*Measured:* {", ".join(f"`{k}`" for k in keys)}; round 1 '
           f'{first.epochs} epoch(s) a point, the later rounds '
           f'{last.epochs}; best {r.metric} {_fmt(r.best_score)} at '
           f'{_point(r.best_point)} (round {r.best_round}); {ok} of {total} '
           "points' per-epoch training loss diagnosed 'ok'.", '',
           f'Random search, each round one vmapped population, ranked by '
           f'`{r.metric}` ({better} is better); each next round narrows the '
           'axes to the span of the best points. The best point is taken from '
           'the rounds of the longest budget. Verdict: the coarse step\'s '
           "diagnosis applied to a point's training loss per epoch.", '',
           markdown_table(
               ['round', 'range', 'epochs', 'points', f'best {r.metric}', 'at',
                'wall time'],
               [[rd.index, '; '.join(f'`{k}` {v}' for k, v in rd.ranges.items()),
                 rd.epochs, len(rd.points), _fmt(rd.best_score),
                 _point(rd.best_point), f'{rd.wall_time_s:.0f} s']
                for rd in r.rounds])]
  for rd in r.rounds:
    rows = [[rank + 1, *(_fmt(rd.points[i][k]) for k in keys),
             'diverged' if rd.scores[i] is None else _fmt(rd.scores[i]),
             rd.verdicts[i]]
            for rank, i in enumerate(rd.order)]
    lines += ['', f'Round {rd.index} ({rd.epochs} epochs):', '',
              markdown_table(['rank', *keys, r.metric, 'verdict'], rows)]
  lines += ['', f'Best: {_point(r.best_point)}, {r.metric} '
            f'{_fmt(r.best_score)} (round {r.best_round}).']
  return lines


_SECTIONS = {'initial_loss': _initial_loss_section,
             'overfit': _overfit_section, 'lr_range': _lr_range_section,
             'coarse_lr': _coarse_lr_section,
             'coarse_to_fine': _coarse_to_fine_section}


def report(run: _Run, *, command: str, wall_time_s: float) -> str:
  """The recipe's outcome as markdown, figures linked relative to it."""
  figures = f'figures/recipe_{run.args.experiment}'
  lines = [f'# The recipe on {run.args.experiment}', '',
           f'{_sentence(run.experiment.description)} The checks of the recipe '
           "for a new network, in order, on the experiment's config with the "
           'overrides of the command below (`research.recipe`).']
  for step, result in run.results.items():
    lines += ['', *_SECTIONS[step](result, figures)]
  if 'coarse_to_fine' in run.results:
    lines += ['', 'Next: `' + _next_command(
        run.args, run.results['coarse_to_fine']) + '`']
  lines += ['', '## Provenance', '',
            provenance(command, wall_time_s, seeds=[run.config.seed]), '']
  return '\n'.join(lines)
