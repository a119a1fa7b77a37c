"""research/universal_construction.py against the closed-form sums in NumPy
and against its error bound."""

import numpy as np
import pytest
import scipy.special

from research import universal_construction as uc
from research.errors import ConfigError


def sigmoid(z):
  return scipy.special.expit(z)


def random_sines(rng, terms=3):
  """A random sum of sines and its Lipschitz constant sum |a_k w_k|."""
  amp, freq, phase = rng.normal(size=terms), rng.uniform(0.5, 6, terms), rng.uniform(0, 6, terms)
  f = lambda x: np.sum(amp * np.sin(np.multiply.outer(x, freq) + phase), axis=-1)
  return f, float(np.sum(np.abs(amp * freq)))


@pytest.mark.parametrize('seed', range(3))
def test_params_evaluate_to_the_closed_form_sums(seed):
  rng = np.random.default_rng(seed)
  f, _ = random_sines(rng)
  a = rng.uniform(-3, 0)
  b = a + rng.uniform(0.5, 4)
  n = int(rng.integers(2, 40))
  s = rng.uniform(0.5, 50) * n / (b - a)
  x = rng.uniform(a - 0.3, b + 0.3, 500)
  edges = np.linspace(a, b, n + 1)
  h = f((edges[:-1] + edges[1:]) / 2)
  step = lambda at: sigmoid(s * np.subtract.outer(x, at))  # (points, units)
  boxcars = np.sum(h * (step(edges[:-1]) - step(edges[1:])), axis=1)
  steps = h[0] + step(edges[1:-1]) @ np.diff(h)
  for form, expected in (('boxcars', boxcars), ('steps', steps)):
    params = uc.construct(f, a, b, n, s, form=form)
    assert params['Dense_0']['kernel'].shape == (1, uc.width(n, form))
    np.testing.assert_allclose(uc.apply(params, x), expected, atol=2e-5 * (1 + np.abs(h).max()))
  # The two differ only by the outer sigmoids that 'steps' leaves out.
  np.testing.assert_allclose(
      boxcars, steps - h[0] * (1 - sigmoid(s * (x - a))) - h[-1] * sigmoid(s * (x - b)),
      atol=1e-12)


def test_tail_constant_is_the_largest_v_sigmoid_minus_v():
  v = np.linspace(0, 10, 1_000_001)
  assert np.max(v * sigmoid(-v)) == pytest.approx(uc.TAIL_CONSTANT, abs=1e-10)
  assert uc.TAIL_CONSTANT == pytest.approx(scipy.special.lambertw(np.exp(-1)).real, abs=1e-14)


def max_error(f, a, b, n, s, points_per_cell=20):
  x = np.linspace(a, b, n * points_per_cell + 1)
  return float(np.max(np.abs(np.asarray(uc.apply(uc.construct(f, a, b, n, s), x)) - f(x))))


@pytest.mark.parametrize('seed', range(3))
def test_max_error_is_within_the_bound_and_falls_like_one_over_n(seed):
  rng = np.random.default_rng(seed)
  f, lipschitz = random_sines(rng)
  kink = rng.uniform(-0.5, 0.5)  # plus a corner: Lipschitz, not smooth
  g = lambda x: f(x) + np.abs(x - kink)
  a, b = -1.0, 1.5
  errors = []
  for n in (16, 32, 64, 128):
    s = 64 * n / (b - a)  # 64 per cell width: the steps are sharp
    errors.append(max_error(g, a, b, n, s))
    bound = uc.error_bound(lipschitz + 1, a, b, n, s)
    assert errors[-1] <= bound
    # At this steepness the blur adds under 2% to L (b - a) / (2n).
    assert bound < 1.02 * (lipschitz + 1) * (b - a) / (2 * n)
  ratios = np.array(errors[:-1]) / np.array(errors[1:])
  assert np.all((ratios > 1.6) & (ratios < 2.5)), ratios  # about 2 per doubling


def test_linear_function_meets_half_a_cell():
  # For f(x) = x the steepest error is the piecewise-constant one, D / 2 just
  # beside each edge: n * error -> (b - a) / 2.
  for n in (8, 64, 256):
    s = 1000 * n / 2.0
    assert n * max_error(lambda x: x, -1.0, 1.0, n, s, points_per_cell=200) == \
        pytest.approx(1.0, rel=0.02)


def test_too_shallow_steepness_underfits_smoothly():
  f = lambda x: np.sin(3 * np.pi * x) + x
  lipschitz, n = 3 * np.pi + 1, 32
  x = np.linspace(-1, 1, 2001)
  sharp = np.asarray(uc.apply(uc.construct(f, -1, 1, n, 64 * n / 2), x))
  shallow = np.asarray(uc.apply(uc.construct(f, -1, 1, n, 0.1 * n / 2), x))
  assert uc.error_bound(lipschitz, -1, 1, n, 0.1 * n / 2) == np.inf
  # The shallow sum misses by far more than the steep one's L D / 2 ...
  assert np.max(np.abs(shallow - f(x))) > 3 * lipschitz / n
  assert np.max(np.abs(sharp - f(x))) <= lipschitz / n
  # ... because it is smooth: it flattens the peaks and has no steps.
  assert np.ptp(shallow) < 0.7 * np.ptp(f(x))
  assert np.max(np.abs(np.diff(shallow))) < 0.3 * np.max(np.abs(np.diff(sharp)))


def test_width_and_cells_invert_each_other():
  for form in uc.FORMS:
    for n in (2, 5, 64):
      assert uc.cells(uc.width(n, form), form) == n
  with pytest.raises(ConfigError, match='units: 3 must be even'):
    uc.cells(3, 'boxcars')


@pytest.mark.parametrize('args, message', [
    ((0.0, 1.0, 1, 5.0, 'steps'), 'n: 1 must be an integer >= 2'),
    ((0.0, 1.0, 0, 5.0, 'boxcars'), 'n: 0 must be an integer >= 1'),
    ((0.0, 1.0, 2.5, 5.0, 'steps'), 'n: 2.5 must be an integer'),
    ((1.0, 1.0, 4, 5.0, 'steps'), 'a, b: .* a < b'),
    ((0.0, 1.0, 4, 0.0, 'steps'), 'steepness: 0.0 must be finite and > 0'),
    ((0.0, 1.0, 4, float('nan'), 'steps'), 'steepness: nan'),
    ((0.0, 1.0, 4, 5.0, 'bumps'), "form: 'bumps' is unknown; known: steps, boxcars"),
])
def test_bad_arguments_raise_config_error(args, message):
  with pytest.raises(ConfigError, match=message):
    uc.construct(np.sin, *args[:4], form=args[4])


# --------------------------------------------------------------------------
# The universal_approximation table's construction section.


def test_construction_section(tmp_path):
  from experiments import universal_construction_report as report  # pylint: disable=g-import-not-at-top
  widths, steepnesses = (4, 8, 16, 32), (1, report.SHARP)
  built = report.construct_widths(widths, steepnesses, num_test=201, log=lambda line: None)
  x = np.linspace(-1, 1, 201)
  f = np.sin(3 * np.pi * x) + x
  for j, w in enumerate(widths):
    for i, k in enumerate(steepnesses):
      n = w + 1
      y = np.asarray(uc.apply(uc.construct(report.target64, -1, 1, n, k * n / 2), x))
      assert built['max'][i, j] == pytest.approx(np.abs(y - f).max(), rel=1e-6)
      assert built['rms'][i, j] == pytest.approx(np.sqrt(np.mean((y - f) ** 2)), rel=1e-6)
  assert np.all(built['max'][1] <= built['bound'][1])
  assert abs(built['boxcar_end_at']) == 1.0  # the boxcars miss most at an end
  # Stand-in "trained" fits: one seed, errors a tenth of the construction's.
  fits = {w: {'x': x, 'prediction': f[None] + 0.01, 'rms': built['rms'][1, j:j + 1] / 10,
              'max': built['max'][1, j:j + 1] / 10, 'train_mse': np.zeros(1)}
          for j, w in enumerate(widths[:3])}
  text = report.sections(built, fits, tmp_path, 'universal_approximation')
  row = (f'| 8 | 9 | {report.LIPSCHITZ / 9:.3g} | {built["bound"][1, 1]:.3g} | '
         f'{built["max"][1, 1]:.3g} | {built["rms"][1, 1]:.3g} | ')
  assert row in text
  assert '| 32 | 33 |' in text and text.count('| — | — |') == 1  # untrained width
  claims = [line for line in text.splitlines() if line.startswith('| Cybenko') or
            line.startswith('| The construction needs') or line.startswith('| Training finds')]
  assert [c.rsplit('|', 2)[1].strip() for c in claims] == ['yes', 'yes', 'yes']
  assert (tmp_path / 'construction.png').stat().st_size > 0
  assert (tmp_path / 'construction_errors.png').stat().st_size > 0
