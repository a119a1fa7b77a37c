"""The tables and figure of `research table optimal_learning_rate`."""

import jax
import jax.numpy as jnp
import numpy as np

from experiments import quickstart
from research import learning_rate_1d as lr1d
from research import losses, plots
from research.data import load_dataset
from research.models import build_model
from research.tables import TableInputs, markdown_table

CURVATURE = 4.0  # the quadratic's E'': eta_opt = 0.25
RATIOS = (0.5, 1.0, 1.5, 1.9, 2.0, 2.1, 3.0)  # eta / eta_opt
STEPS = 20
SEEDS = (0, 1, 2)
GRID = np.linspace(0.0, 3.0, 601)  # eta / eta_opt along the gradient
GD_RATIOS = (0.5, 1.0, 1.9, 2.5, 4.0)
FIGURE = 'loss_along_gradient.png'


def _verdict(ratio: float) -> str:
  factor = 1.0 - ratio
  if abs(factor) > 1:
    return 'diverges'
  if abs(factor) == 1:
    return 'oscillates forever'
  if factor == 0:
    return 'the minimum in one step'
  return 'converges' + (', oscillating' if factor < 0 else '')


def quadratic_table() -> str:
  rows = []
  for ratio in RATIOS:
    eta = ratio / CURVATURE
    w = lr1d.quadratic_gd(CURVATURE, eta, 1.0, STEPS)
    rows.append([f'{ratio:g}', f'{eta:g}', f'{1 - ratio:+g}',
                 f'{abs(w[-1]):.3g}', _verdict(ratio)])
  return markdown_table(['eta / eta_opt', 'eta', 'factor 1 - eta E\'\'',
                         f'|w_{STEPS}| from w_0 = 1', 'measured'], rows, 'rrrrl')


def network_problem(seed: int):
  """The quickstart MLP at initialization and its full-batch training loss."""
  config = quickstart.get_config()
  data = load_dataset(config.data)
  model = build_model(config.model, data.num_classes)
  x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
  params = model.init(jax.random.PRNGKey(seed), x[:1], train=False)['params']
  loss = lambda p: jnp.mean(losses.cross_entropy(model.apply({'params': p}, x), y))
  return loss, params


def gradient_descent(loss, params, eta: float, steps: int) -> np.ndarray:
  def step(p, _):
    value, g = jax.value_and_grad(loss)(p)
    return jax.tree.map(lambda a, b: a - eta * b, p, g), value
  final, values = jax.lax.scan(step, params, length=steps)
  return np.append(np.asarray(values), float(loss(final)))


def report(inputs: TableInputs) -> str:
  inputs.figures_dir.mkdir(parents=True, exist_ok=True)
  rows, gd_rows, curves = [], [], {}
  for seed in SEEDS:
    loss, params = network_problem(seed)
    opt = lr1d.optimal_rate_along_gradient(loss, params)
    eta_opt = opt['eta_opt']
    along = lr1d.loss_along(loss, params, GRID * eta_opt)
    argmin = GRID[int(np.argmin(along))]
    back = lr1d.crossing(GRID, along, along[0])
    rows.append([seed, f'{opt["loss"]:.4f}', f'{opt["grad_norm"]:.3g}',
                 f'{opt["curvature"]:.3g}', f'{eta_opt:.3g}', f'{argmin:.2f}',
                 '—' if back is None else f'{back:.2f}'])
    curves[f'seed {seed}'] = (GRID, along / along[0])
    for ratio in GD_RATIOS:
      values = gradient_descent(loss, params, ratio * eta_opt, STEPS)
      gd_rows.append([seed, f'{ratio:g}', f'{values[0]:.4f}', f'{values[1]:.4f}',
                      f'{values[-1]:.4g}',
                      'diverged (NaN)' if not np.isfinite(values[-1]) else
                      'lower' if values[-1] < values[0] else 'higher'])
  plots.curves_against(curves, inputs.figures_dir / FIGURE,
                       xlabel='eta / eta_opt (eta_opt = 1 / E\'\'_u)',
                       ylabel='E(p - eta g) / E(p)', vlines=(1.0, 2.0))
  inputs.log(f'wrote {inputs.figures_dir / FIGURE}')
  return f"""## A quadratic: E(w) = {CURVATURE:g} w^2 / 2, eta_opt = 1 / E'' = {1 / CURVATURE:g}

Each step multiplies w by 1 - eta E''. {STEPS} steps from w_0 = 1:

{quadratic_table()}

## Along the gradient of an MLP (MNIST-1D, the quickstart's 40-100-100-10 residual MLP at initialization)

The full training split (4,000 examples) as one batch. E''_u = u^T H u along
u = g / ||g|| (a Hessian-vector product); eta_opt = 1 / E''_u. Then the real
loss along the line, E(p - eta g), on a grid of eta / eta_opt in [0, 3]
(step 0.005): where its minimum is, and where it climbs back to E(p). For a
quadratic they are 1 and 2.

| seed | E(p) | \\|g\\| | E''_u | eta_opt | measured minimum at eta / eta_opt | back to E(p) at eta / eta_opt |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join('| ' + ' | '.join(map(str, r)) + ' |' for r in rows)}

![the loss along the gradient](figures/{inputs.experiment}/{FIGURE})

## Full-batch gradient descent at multiples of the initial eta_opt

{STEPS} steps at a fixed eta = ratio x eta_opt (eta_opt measured at
initialization; the curvature changes as the weights move).

{markdown_table(['seed', 'eta / eta_opt', 'E at step 0', 'E at step 1', f'E at step {STEPS}', f'E at step {STEPS} vs step 0'], gd_rows, 'rrrrrl')}
"""
