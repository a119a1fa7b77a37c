"""Learning curves and generalization gaps: the moving average and the files."""

import matplotlib.image
import numpy as np
import pytest

from research import plots


def convolved(values, window):
  """The trailing mean by a NumPy convolution: the sum of the last `window`
  values over how many there are so far."""
  n = len(values)
  sums = np.convolve(values, np.ones(window))[:n]
  return sums / np.minimum(np.arange(1, n + 1), window)


@pytest.mark.parametrize('n, window', [(1, 1), (7, 1), (20, 5), (9, 3), (4, 10),
                                       (50, 50)])
def test_moving_average_is_a_trailing_convolution(n, window):
  values = np.random.default_rng(n * 100 + window).normal(size=n)
  np.testing.assert_allclose(plots.moving_average(values, window),
                             convolved(values, window), rtol=1e-12, atol=1e-12)


def test_moving_average_skips_nans_and_checks_its_window():
  values = np.array([1.0, np.nan, 3.0, 5.0, np.nan, np.nan])
  # Trailing windows of 2: [1], [1, nan], [nan, 3], [3, 5], [5, nan], [nan, nan].
  np.testing.assert_allclose(plots.moving_average(values, 2),
                             [1.0, 1.0, 3.0, 4.0, 5.0, np.nan])
  for window in (0, -1, 2.5, True):
    with pytest.raises(ValueError, match='window'):
      plots.moving_average(values, window)
  with pytest.raises(ValueError, match='1-D'):
    plots.moving_average(np.ones((2, 2)), 2)


def _curve(rng, epochs, start, end):
  x = np.arange(1, epochs + 1, dtype=float)
  return x, np.linspace(start, end, epochs) + 0.02 * rng.normal(size=epochs)


def test_learning_curves_and_gap_figures_are_written(tmp_path):
  rng = np.random.default_rng(0)
  curves, gaps = {}, {}
  for i in range(3):
    epochs = 12 - 3 * i  # series of different lengths
    curves[f'lr={i}'] = {
        'train/loss': _curve(rng, epochs, 2.3, 0.1),
        'dev/loss': _curve(rng, epochs, 2.3, 0.3),
        'train/accuracy': _curve(rng, epochs, 0.1, 0.99),
        'dev/accuracy': _curve(rng, epochs, 0.1, 0.9),
    }
    gaps[f'lr={i}'] = _curve(rng, epochs, 0.0, 9.0)
  curves['empty'] = {'train/loss': (np.array([]), np.array([]))}

  plots.learning_curves(curves, tmp_path / 'a' / 'curves.png', window=3,
                        title='t')
  plots.generalization_gap(gaps, tmp_path / 'gap.png', window=3)
  for name in ('a/curves.png', 'gap.png'):
    image = matplotlib.image.imread(tmp_path / name)
    assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert image[..., :3].std() > 0  # something was drawn


def test_best_point_is_the_highest_finite_value():
  epochs = np.arange(1, 6)
  assert plots.best_point(epochs, [0.1, np.nan, 0.7, 0.5, np.inf]) == (3.0, 0.7)
  assert plots.best_point(epochs[:0], []) is None
  assert plots.best_point(epochs[:2], [np.nan, np.nan]) is None


def test_many_points_get_one_small_panel_each(tmp_path):
  """Ten points: a grid of panels (2 rows of 5, each an accuracy panel over
  a loss panel), not one crowded panel."""
  rng = np.random.default_rng(1)
  curves = {f'p{i}': {'train/loss': _curve(rng, 20, 2.3, 0.1),
                      'test/loss': _curve(rng, 20, 2.3, 1.0),
                      'train/accuracy': _curve(rng, 20, 0.1, 0.99),
                      'test/accuracy': _curve(rng, 20, 0.1, 0.5 + 0.02 * i)}
            for i in range(10)}
  drawn = []
  real_save = plots.save_figure

  def keep(fig, path):
    drawn.append(fig)
    real_save(fig, path)

  plots.save_figure = keep
  try:
    plots.learning_curves(curves, tmp_path / 'c.png', window=3, title='t')
  finally:
    plots.save_figure = real_save
  [fig] = drawn
  visible = [ax for ax in fig.axes if ax.get_visible()]
  assert len(visible) == 20
  assert 'best: p9' in fig._suptitle.get_text()
