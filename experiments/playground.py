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

from experiments import playground_two_wells as two_wells
from research import optim
from research import playground
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
                 f'{playground.settings_text(r.settings) or "-"} | {steps} | {r.values[-1]:.3g} | '
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
  noise_lines = two_wells.section(args.steps, args.seeds, figures)
  md = write_markdown(args.out, sections, argv, time.perf_counter() - started,
                      noise_lines, time.process_time() - cpu_started)
  print(f'wrote {md} and {2 * len(sections) + 2} figures under {figures}')


if __name__ == '__main__':
  main()
