"""The universal_approximation experiment's table: fits of one hidden layer
of sigmoids to the target for each width, their errors, figures and a reading
of them; then the explicit construction beside them
(universal_construction_report.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import universal_construction_report as construction
from experiments.universal_approximation import DOMAIN, NUM_TEST, TARGET
from research import plots  # first: it selects matplotlib's headless backend
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,g-bad-import-order
from research import optim
from research import tables
from research.models import MLP

WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128)
NUM_SEEDS = 3
NUM_TRAIN = 256
ADAM_STEPS = 10_000
ADAM_LEARNING_RATE = 1e-2
LBFGS_STEPS = 1_000
FIGURE_WIDTHS = (1, 2, 4, 8, 128)


def target(x):
  return jnp.sin(3 * jnp.pi * x) + x


def fit(width: int, *, num_seeds: int = NUM_SEEDS, adam_steps: int = ADAM_STEPS,
        adam_learning_rate: float = ADAM_LEARNING_RATE, lbfgs_steps: int = LBFGS_STEPS,
        num_train: int = NUM_TRAIN, num_test: int = NUM_TEST) -> dict[str, np.ndarray]:
  """Fits one hidden layer of `width` sigmoids for seeds 0..num_seeds-1.

  Returns 'num_train' and numpy arrays: 'x' (num_test,), 'prediction'
  (seeds, num_test), 'rms' and 'max' (seeds,): the errors on the test grid,
  and 'train_mse' (seeds,).
  """
  model = MLP(num_classes=1, hidden=(width,), activation='sigmoid', initializer='pytorch')
  x_train = jnp.linspace(*DOMAIN, num_train)[:, None]
  x_test = jnp.linspace(*DOMAIN, num_test)[:, None]
  y_train, y_test = target(x_train), target(x_test)

  def loss(params):
    return jnp.mean((model.apply({'params': params}, x_train) - y_train) ** 2)

  def minimize(tx, params, num_steps):
    """`num_steps` full-batch updates; `value`, `grad` and `value_fn` are
    passed to every update (L-BFGS searches along its direction with them)."""
    def step(carry, _):
      params, state = carry
      value, grad = jax.value_and_grad(loss)(params)
      updates, state = tx.update(grad, state, params, value=value, grad=grad,
                                 value_fn=loss)
      return (optax.apply_updates(params, updates), state), None
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), length=num_steps)
    return params

  def one_seed(seed):
    params = model.init(jax.random.key(seed), x_train[:1])['params']
    if adam_steps:
      params = minimize(optim.adam(adam_learning_rate), params, adam_steps)
    if lbfgs_steps:
      params = minimize(optim.lbfgs(), params, lbfgs_steps)
    prediction = model.apply({'params': params}, x_test)[:, 0]
    error = prediction - y_test[:, 0]
    return (prediction, jnp.sqrt(jnp.mean(error ** 2)), jnp.max(jnp.abs(error)),
            loss(params))

  prediction, rms, largest, train_mse = jax.jit(jax.vmap(one_seed))(jnp.arange(num_seeds))
  return {'num_train': num_train, 'x': np.asarray(x_test[:, 0]),
          'prediction': np.asarray(prediction),
          'rms': np.asarray(rms), 'max': np.asarray(largest),
          'train_mse': np.asarray(train_mse)}


def plot_fits(fits: dict[int, dict], widths, path) -> None:
  """The target and the best seed's fit of each of `widths`."""
  some = next(iter(fits.values()))
  fig, ax = plt.subplots(figsize=(plots.FIGSIZE[0] * 1.4, plots.FIGSIZE[1] * 0.8))
  ax.plot(some['x'], np.asarray(target(some['x'])), color='black', linewidth=2.5,
          alpha=0.35, label=f'target {TARGET}')
  for i, w in enumerate(w for w in widths if w in fits):
    best = int(np.argmin(fits[w]['rms']))
    ax.plot(some['x'], fits[w]['prediction'][best], color=plots.style(i)['color'],
            linewidth=1.2, label=f'width {w} (RMS error {fits[w]["rms"][best]:.2g})')
  ax.set_xlabel('x')
  ax.set_ylabel('f(x)')
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  plots.save_figure(fig, path)


def plot_errors(fits: dict[int, dict], path) -> None:
  """RMS and max error against width, log-log: each seed faint, the median solid."""
  widths = sorted(fits)
  fig, ax = plt.subplots(figsize=(plots.FIGSIZE[0] * 1.2, plots.FIGSIZE[1] * 0.8))
  for i, key in enumerate(('rms', 'max')):
    s = plots.style(i)
    errors = np.stack([fits[w][key] for w in widths])  # (widths, seeds)
    for seed in range(errors.shape[1]):
      ax.scatter(widths, errors[:, seed], color=s['color'], s=10, alpha=0.35)
    ax.plot(widths, np.median(errors, axis=1), color=s['color'], marker=s['marker'],
            linewidth=1.5, label=f'{"RMS" if key == "rms" else "max"} error, median of seeds')
  ax.set_xscale('log', base=2)
  ax.set_xticks(widths, [str(w) for w in widths])
  ax.set_xticks([], minor=True)
  ax.set_yscale('log')
  ax.set_xlabel('hidden units')
  ax.set_ylabel('error on the test grid')
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize=8)
  plots.save_figure(fig, path)


def reading(fits: dict[int, dict]) -> list[str]:
  """Where the error stops falling with width, from the medians over seeds."""
  widths = sorted(fits)
  median = {w: float(np.median(fits[w]['rms'])) for w in widths}
  train = {w: float(np.sqrt(np.median(fits[w]['train_mse']))) for w in widths}
  best = min(median, key=median.get)
  lines = [f'The median RMS error falls from {median[widths[0]]:.3g} at width '
           f'{widths[0]} to {median[best]:.3g} at width {best}; there the training '
           f'points are fitted to an RMS of {train[best]:.3g}, so the test grid '
           'between them is fitted about as well as the points themselves.']
  later = [w for w in widths if w > best]
  if later:
    lines.append(
        f'Wider layers do not fit better (median RMS '
        f'{", ".join(f"{median[w]:.2g} at width {w}" for w in later)}): the weights '
        'that the theorem promises exist, since a wider layer can copy a narrower '
        'one and zero the rest, but this budget of optimizer steps does not find '
        'them. The optimizer, not the width, is the limit there.')
  return lines


def fit_widths(widths=WIDTHS, log=print, **settings) -> dict[int, dict]:
  """{width: fit(width, **settings)} in order."""
  fits = {}
  for w in widths:
    fits[w] = fit(w, **settings)
    log(f'width {w}: RMS error by seed {np.round(fits[w]["rms"], 4)}')
  return fits


def sections(fits: dict[int, dict], figures_dir, name: str, *,
             adam_steps: int = ADAM_STEPS, lbfgs_steps: int = LBFGS_STEPS) -> str:
  """The table, figures and reading of `fits` (from `fit_widths`)."""
  rows = [(w, 3 * w + 1, f'{np.median(f["rms"]):.3g}',
           f'{f["rms"].min():.3g} – {f["rms"].max():.3g}',
           f'{np.median(f["max"]):.3g}', f'{f["max"].min():.3g} – {f["max"].max():.3g}',
           f'{np.median(f["train_mse"]):.2g}')
          for w, f in sorted(fits.items())]
  table = tables.markdown_table(
      ['hidden units', 'parameters', 'RMS error (median)', 'RMS error (range)',
       'max error (median)', 'max error (range)', 'train MSE (median)'], rows)
  plot_fits(fits, FIGURE_WIDTHS, figures_dir / 'fits.png')
  plot_errors(fits, figures_dir / 'errors.png')
  some = next(iter(fits.values()))
  num_seeds, num_test = some['rms'].shape[0], some['x'].shape[0]
  return f"""## Error against width

Target {TARGET}; {some['num_train']} training points, errors on {num_test:,} evenly spaced
test points; {num_seeds} seeds per width (median and range over seeds);
{adam_steps:,} Adam steps (lr {ADAM_LEARNING_RATE:g}) then {lbfgs_steps:,} L-BFGS steps,
full batch, float32.

{table}

![error against width](figures/{name}/errors.png)

## Fits

The best seed of a few widths over the target.

![fits](figures/{name}/fits.png)

## Reading

{chr(10).join('- ' + line for line in reading(fits))}"""


def report(inputs: tables.TableInputs) -> str:
  fits = fit_widths(WIDTHS, log=inputs.log)
  built = construction.construct_widths(log=inputs.log)
  return (sections(fits, inputs.figures_dir, inputs.experiment) + '\n\n'
          + construction.sections(built, fits, inputs.figures_dir, inputs.experiment))
