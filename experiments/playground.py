"""The 2-D optimizer playground: every optimizer's path on three classic surfaces,
and minibatch noise and momentum on a double well made of data.

    python -m experiments.playground [--out experiments/results] [--steps N] [--seeds S]

Writes `figures/playground_<surface>.png` (contours and paths),
`figures/playground_<surface>_values.png` (f against step) and
`playground.md` under `--out`. Not a registered experiment: it trains no
network. The classic surfaces are deterministic (fixed settings from
`research.playground.DEFAULT_SETTINGS`); on the double well
(`research.playground_noise`) every method runs from a grid of starts for
S seeds of minibatch draws. Under a minute on the 2-core CPU.
"""

import argparse
import dataclasses
import datetime
import os
import pathlib
import platform
import sys
import time
from collections.abc import Sequence

import jax
import numpy as np

from research import optim
from research import playground
from research import playground_noise as noise
from research import plots
from research.errors import ConfigError

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / 'results'
COMMAND = 'python -m experiments.playground'


@dataclasses.dataclass(frozen=True)
class Run:
  """One optimizer's path on one surface."""
  name: str
  settings: dict
  path: np.ndarray  # (steps + 1, 2)
  values: np.ndarray  # (steps + 1,)
  shown: int  # leading rows drawn (see playground.shown_length)


def _warn(message: str) -> None:
  print(f'warning: {message}', file=sys.stderr)


def selected_optimizers(surface: str) -> dict[str, dict]:
  """Settings of the registered optimizers that have some, in settings order.

  Warns about a registered optimizer with no settings (so a new one is noticed)
  and about settings whose optimizer is not registered (yet).
  """
  settings = playground.DEFAULT_SETTINGS[surface]
  registered = optim.names()
  for name in registered:
    if name not in settings:
      _warn(f'{surface}: optimizer {name!r} has no settings in '
            'research.playground.DEFAULT_SETTINGS; skipped')
  for name in settings:
    if name not in registered:
      _warn(f'{surface}: optimizer {name!r} is not registered; skipped')
  return {n: s for n, s in settings.items() if n in registered}


def run_surface(surface: playground.Surface, num_steps: int) -> list[Run]:
  """The path of every selected optimizer on `surface`, in settings order."""
  runs = []
  for name, settings in selected_optimizers(surface.name).items():
    try:
      tx = optim.get(name, **settings)
    except ConfigError as e:  # the entry's hyperparameters changed: say so, go on
      _warn(f'{surface.name}: {name} rejects {settings}: {e}; skipped')
      continue
    path = np.asarray(playground.trajectory(tx, surface.fn, surface.start, num_steps))
    values = np.asarray(playground.values(surface.fn, path))
    runs.append(Run(name, settings, path, values, playground.shown_length(surface, path)))
  return runs


def _fmt_settings(settings: dict) -> str:
  return ', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}'
                   for k, v in settings.items() if k != 'learning_rate')


def _table(surface: playground.Surface, runs: list[Run]) -> list[str]:
  tol = f'{playground.CONVERGED:g}'
  if surface.minimum is None:
    lines = ['| optimizer | learning rate | other settings | steps | final f '
             f'| left the window at step | within {tol} of the saddle point at step |',
             '|---|---|---|---|---|---|---|']
  else:
    lines = ['| optimizer | learning rate | other settings | steps | final f '
             f'| distance to minimum | within {tol} of the minimum at step |',
             '|---|---|---|---|---|---|---|']
  for r in runs:
    steps = len(r.path) - 1
    if surface.minimum is None:
      last = 'never' if r.shown == len(r.path) else str(r.shown - 1)
      reached = playground.steps_to(r.path[:r.shown], surface.saddle_point)
    else:
      last = f'{np.linalg.norm(r.path[-1] - np.asarray(surface.minimum)):.3g}'
      reached = playground.steps_to(r.path, surface.minimum)
    lines.append(f'| {r.name} | {r.settings["learning_rate"]:g} | '
                 f'{_fmt_settings(r.settings) or "-"} | {steps} | {r.values[-1]:.3g} | '
                 f'{last} | {"never" if reached is None else reached} |')
  return lines


def _hardware() -> str:
  device = jax.devices()[0]
  kind = 'CPU' if device.platform == 'cpu' else f'{device.device_kind} ({device.platform})'
  return f'{kind}, {os.cpu_count()} CPU cores, {platform.machine()}; jax {jax.__version__}'


def _unregistered() -> list[str]:
  """Optimizers with settings that are not registered (yet)."""
  names = set(optim.names())
  return sorted({n for s in playground.DEFAULT_SETTINGS.values() for n in s} - names)


def write_markdown(out: pathlib.Path, sections: list[tuple[playground.Surface, list[Run]]],
                   argv: Sequence[str], wall_s: float,
                   noise_section: Sequence[str] = (), cpu_s: float | None = None
                   ) -> pathlib.Path:
  """`playground.md`: the command, each figure and a table per surface, then
  the double well's section (`noise_section`, its lines)."""
  command = ' '.join([COMMAND, *argv])
  date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
  lines = [
      '# Optimizer playground: paths on 2-D surfaces', '',
      f'Generated by `{command}` on {date}; wall time {wall_s:.1f} s'
      # CPU time too: on shared cores the wall time says more about the load.
      + (f', CPU time {cpu_s:.1f} s' if cpu_s is not None else '')
      + f' (compilation included) on {_hardware()}.', '',
      'Settings are the fixed, hand-tuned numbers of '
      '`research.playground.DEFAULT_SETTINGS`, chosen by eye after a sweep of the '
      'final value over a log grid of learning rates (1e-4 to 10): each is stable, '
      'usually near the best final value, and moved off it where the best value hides '
      'the behaviour the figure shows (why each one is in the comments there). '
      'Hyperparameters not listed take the optimizer\'s defaults. '
      'Registered optimizers with no settings, and settings of optimizers not '
      'registered, are skipped with a warning.', '',
  ]
  if _unregistered():
    lines += [f'Not registered when this was generated, so not shown: '
              f'{", ".join(_unregistered())}.', '']
  for surface, runs in sections:
    doc = (surface.fn.__doc__ or '').strip().splitlines()[0]
    lines += [f'## {surface.name}', '', f'{doc} Start {surface.start}.', '',
              f'![{surface.name}](figures/playground_{surface.name}.png) '
              f'![{surface.name} values](figures/playground_{surface.name}_values.png)', '']
    if surface.minimum is None:
      lines += ['Unbounded below: paths and values are drawn until they leave the window.', '']
    lines += _table(surface, runs) + ['']
  lines += list(noise_section)
  path = out / 'playground.md'
  path.write_text('\n'.join(lines).rstrip() + '\n')
  return path


def _value_axis(surface: playground.Surface) -> dict:
  """Log scale where f >= 0; else linear, limited to f's range on the window
  (one step past the window, f can already be -1e38)."""
  if surface.minimum is not None:
    return {'logy': True}
  z = playground.grid_values(surface, 101)[2]
  pad = 0.05 * (z.max() - z.min())
  return {'logy': False, 'ylim': (float(z.min() - pad), float(z.max() + pad))}


# The double well: a start in its worse basin whose paths the figure shows,
# and the methods drawn (all of them would hide each other).
SAMPLE_START = (1.4, 1.9)
SAMPLE_METHODS = ('gd', 'sgd_b16', 'sgd_b1', 'momentum', 'momentum_slow')


@dataclasses.dataclass(frozen=True)
class NoiseRun:
  """One method's paths on the double well from every start, for every seed."""
  name: str
  paths: np.ndarray  # (seeds, starts, steps + 1, 2); one "seed" when full batch
  final_loss: np.ndarray  # (seeds, starts): the full-batch loss at the end
  counts: noise.BasinCounts


def run_noise(surface: noise.ExampleSurface, starts: np.ndarray, num_steps: int,
              num_seeds: int) -> tuple[np.ndarray, list[NoiseRun]]:
  """Every method of `noise.METHODS` from every start: (start basins, runs)."""
  paths = {}
  for name, (optimizer, hparams, batch_size) in noise.METHODS.items():
    batches = None if batch_size is None else noise.draw_batches(
        surface.num_examples, (num_seeds, len(starts), num_steps), batch_size, seed=0)
    paths[name] = np.asarray(noise.minibatch_paths(
        optim.get(optimizer, **hparams), surface, starts, num_steps, batches))
  # One classification (one compiled descent) for the starts and every end.
  ends = [p[:, :, -1] for p in paths.values()]
  labels = noise.basins(surface, np.concatenate([starts] + [e.reshape(-1, 2) for e in ends]))
  start_basins, offset, runs = labels[:len(starts)], len(starts), []
  for (name, p), end in zip(paths.items(), ends):
    end_basins = labels[offset:offset + end.size // 2].reshape(end.shape[:2])
    offset += end.size // 2
    runs.append(NoiseRun(name, p, np.asarray(surface.mean_loss(np.moveaxis(end, -1, 0))),
                         noise.basin_counts(start_basins, end_basins)))
  return start_basins, runs


def _pct(values: np.ndarray) -> str:
  """Mean (± std over seeds, where there are several) as a percentage."""
  text = f'{100 * np.mean(values):.0f}%'
  return text + f' ± {100 * np.std(values):.0f}' if len(values) > 1 else text


def _noise_verdicts(runs: dict[str, NoiseRun]) -> list[str]:
  """Each part of the lecture's claim beside what was measured, and whether they agree."""
  esc = {n: float(np.mean(r.counts.escaped)) for n, r in runs.items()}
  lost = {n: float(np.mean(r.counts.lost)) for n, r in runs.items()}
  stays = esc['gd'] == 0 and lost['gd'] == 0
  batches = ['sgd_b16', 'sgd_b4', 'sgd_b1']
  monotone = all(esc[a] <= esc[b] for a, b in zip(batches, batches[1:]))
  noisy = monotone and esc['sgd_b1'] > esc['gd']
  inertia = esc['momentum_slow'] > esc['gd']
  verdict = lambda ok: 'agrees' if ok else 'does not agree'
  return [
      '- *Full-batch gradient descent stays in the basin it starts in*: it left its '
      f'starting basin from {100 * esc["gd"]:.0f}% of the worse-basin starts and '
      f'{100 * lost["gd"]:.0f}% of the global-basin starts: {verdict(stays)}.',
      '- *Minibatch noise can carry the iterate out of a poor local minimum, more so '
      'for smaller batches*: escaped from the worse basin at batch 16 / 4 / 1: '
      f'{100 * esc["sgd_b16"]:.0f}% / {100 * esc["sgd_b4"]:.0f}% / '
      f'{100 * esc["sgd_b1"]:.0f}% (full batch {100 * esc["gd"]:.0f}%): '
      f'{verdict(noisy)}. Leaving the global basin is rarer (its barrier is higher): '
      f'{100 * lost["sgd_b16"]:.0f}% / {100 * lost["sgd_b4"]:.0f}% / '
      f'{100 * lost["sgd_b1"]:.0f}%.',
      '- *Momentum can carry the iterate across small bumps*: full-batch momentum at '
      f'the same rate escaped from {100 * esc["momentum"]:.0f}% of the worse-basin '
      f'starts, and at a tenth of the rate (the same steady step as gradient '
      f'descent, so inertia alone) {100 * esc["momentum_slow"]:.0f}%: '
      f'{verdict(inertia)}. But inertia does not choose the deeper well: it also '
      f'carried {100 * lost["momentum"]:.0f}% (same rate) and '
      f'{100 * lost["momentum_slow"]:.0f}% (a tenth) of the global-basin starts '
      'into the worse one. With minibatches at the same rate (batch 16) momentum '
      f'escaped from {100 * esc["momentum_b16"]:.0f}% and lost '
      f'{100 * lost["momentum_b16"]:.0f}%: its noise is that of a 10x larger rate.',
  ]


def noise_section(surface: noise.ExampleSurface, start_basins: np.ndarray,
                  runs: list[NoiseRun], num_steps: int) -> list[str]:
  """The double well's part of `playground.md`: data, claim, verdicts, table."""
  minima, saddle = surface.minima(), surface.saddle_points()
  f = lambda p: float(surface.mean_loss(np.asarray(p, np.float32)))
  seeds = max(len(r.paths) for r in runs)
  lines = [
      '## two_wells: minibatch noise and momentum in a double well', '',
      f'The mean of {surface.num_examples} per-example losses '
      'l_i(x, y) = ((x - u_i)^2 - 1)^2 + t_i x + kappa (y - v_i - beta x^2 - gamma x)^2 '
      f'(kappa {surface.kappa:g}, beta {surface.beta:g}, gamma {surface.gamma:g}; '
      f'u_i, t_i, v_i drawn once with std {np.std(surface.u):.2f}, {np.std(surface.t):.2f}, '
      f'{np.std(surface.v):.2f} and mean tilt {np.mean(surface.t):.2f}; '
      '`research.playground_noise.two_wells`), so a minibatch gradient is the mean '
      'over a real subsample of examples. Global minimum '
      f'({minima[0, 0]:.2f}, {minima[0, 1]:.2f}), loss {f(minima[0]):.3f}; worse local '
      f'minimum ({minima[1, 0]:.2f}, {minima[1, 1]:.2f}), loss {f(minima[1]):.3f}; the '
      f'barrier between them at ({saddle[0, 0]:.2f}, {saddle[0, 1]:.2f}), loss '
      f'{f(saddle[0]):.3f}: {f(saddle[0]) - f(minima[1]):.2f} above the worse '
      f'minimum and {f(saddle[0]) - f(minima[0]):.2f} above the global one.', '',
      f'Every method ran {num_steps} steps from each of {len(start_basins)} starts '
      f'(a {noise.GRID} x {noise.GRID} grid over the window; '
      f'{100 * np.mean(start_basins == 0):.0f}% of them in the global basin), '
      f'with {seeds} seeds of minibatch draws (i.i.d. examples, with replacement; '
      'the full-batch methods are deterministic, one run). A point\'s *basin* is '
      'where full-batch gradient descent from it settles (2000 steps at rate 0.01). '
      'Percentages are mean ± std over seeds; the final loss is the full-batch loss '
      'at the last step, averaged over starts and seeds.', '',
      '**Lecture claim**: full-batch gradient descent stays in the basin it starts '
      'in; the noise of minibatch gradients, and momentum, can carry the iterate out '
      'of a poor local minimum and across small bumps. **Measured:**', '',
      *_noise_verdicts({r.name: r for r in runs}), '',
      '![two_wells](figures/playground_two_wells.png) '
      '![two_wells values](figures/playground_two_wells_values.png)', '',
      f'Left: paths (seed 0) from {SAMPLE_START}, in the worse basin. Right: the '
      'full-batch loss along the paths, mean over starts and seeds.', '',
      '| method | optimizer | learning rate | other settings | batch | seeds | steps '
      '| ends in the global basin | worse-basin starts that escaped '
      '| global-basin starts that left | mean final loss |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for r in runs:
    optimizer, hparams, batch_size = noise.METHODS[r.name]
    lines.append(
        f'| {r.name} | {optimizer} | {hparams["learning_rate"]:g} | '
        f'{_fmt_settings(hparams) or "-"} | {batch_size or "full"} | {len(r.paths)} | '
        f'{num_steps} | {_pct(r.counts.in_global)} | {_pct(r.counts.escaped)} | '
        f'{_pct(r.counts.lost)} | {np.mean(r.final_loss):.3f} |')
  return lines + ['']


def noise_figures(surface: noise.ExampleSurface, starts: np.ndarray,
                  runs: list[NoiseRun], figures: pathlib.Path) -> None:
  """Contours with the sample start's paths; mean full-batch loss against step."""
  j = int(np.argmin(np.linalg.norm(starts - np.asarray(SAMPLE_START), axis=1)))
  by_name = {r.name: r for r in runs}
  shown = {n: by_name[n].paths[0, j] for n in SAMPLE_METHODS}
  shown['worse local minimum'] = surface.minima()[1:2]
  plots.contour_with_trajectories(
      surface.surface('two_wells', tuple(float(c) for c in starts[j]), 0), shown,
      figures / 'playground_two_wells.png')
  curves = {r.name: np.asarray(surface.mean_loss(np.moveaxis(r.paths, -1, 0))).mean(axis=(0, 1))
            for r in runs}
  plots.loss_curves(curves, figures / 'playground_two_wells_values.png',
                    ylabel='full-batch loss (mean over starts and seeds)',
                    title='two_wells')


def main(argv: Sequence[str] | None = None) -> None:
  argv = sys.argv[1:] if argv is None else list(argv)
  parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
  parser.add_argument('--out', type=pathlib.Path, default=DEFAULT_OUT,
                      help='results directory (figures/ and playground.md go here)')
  parser.add_argument('--steps', type=int, default=None,
                      help='steps on every surface (default: each surface\'s num_steps)')
  parser.add_argument('--seeds', type=int, default=3,
                      help='seeds of minibatch draws on the double well')
  args = parser.parse_args(argv)
  if args.seeds < 1:
    raise ConfigError(f'--seeds: {args.seeds} must be >= 1')

  started, cpu_started = time.perf_counter(), time.process_time()
  figures = args.out / 'figures'
  sections = []
  for surface in playground.SURFACES.values():
    runs = run_surface(surface, args.steps or surface.num_steps)
    sections.append((surface, runs))
    plots.contour_with_trajectories(
        surface, {r.name: r.path for r in runs}, figures / f'playground_{surface.name}.png')
    plots.loss_curves(
        {r.name: r.values[:r.shown] for r in runs},
        figures / f'playground_{surface.name}_values.png', ylabel='f(x, y)',
        title=surface.name, **_value_axis(surface))
  surface = noise.two_wells()
  starts = noise.start_grid(surface, noise.GRID)
  num_steps = args.steps or noise.NUM_STEPS
  start_basins, noise_runs = run_noise(surface, starts, num_steps, args.seeds)
  noise_figures(surface, starts, noise_runs, figures)
  md = write_markdown(args.out, sections, argv, time.perf_counter() - started,
                      noise_section(surface, start_basins, noise_runs, num_steps),
                      time.process_time() - cpu_started)
  print(f'wrote {md} and {2 * len(sections) + 2} figures under {figures}')


if __name__ == '__main__':
  main()
