"""The double well's section of `python -m experiments.playground`: every
method of `research.playground_noise.METHODS` from a grid of starts, the
lecture's claims on minibatch noise and momentum beside what was measured,
the table and the two figures."""

import dataclasses
import pathlib

import numpy as np

from research import optim
from research import playground
from research import playground_noise as noise
from research import plots


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
        f'{playground.settings_text(hparams) or "-"} | {batch_size or "full"} | {len(r.paths)} | '
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


def section(num_steps: int | None, num_seeds: int, figures: pathlib.Path) -> list[str]:
  """Runs every method on the double well (`num_steps`, default
  `noise.NUM_STEPS`), draws its figures under `figures` and returns its lines
  of `playground.md`."""
  surface = noise.two_wells()
  starts = noise.start_grid(surface, noise.GRID)
  num_steps = num_steps or noise.NUM_STEPS
  start_basins, runs = run_noise(surface, starts, num_steps, num_seeds)
  noise_figures(surface, starts, runs, figures)
  return noise_section(surface, start_basins, runs, num_steps)
