"""AlgoPerf's scoring (research/optimizer_scoring.py) against hand-worked
cases and a direct numerical integration of the performance profile."""

import math

import numpy as np
import pytest

from research import optimizer_scoring as scoring

INF = math.inf


def test_time_to_target_is_the_first_time_the_target_is_reached():
  times, values = [10, 20, 30, 40], [0.5, 0.7, 0.65, 0.9]
  assert scoring.time_to_target(times, values, 0.7) == 20
  assert scoring.time_to_target(times, values, 0.95) == INF
  # A loss target is reached from above; a NaN never reaches anything.
  assert scoring.time_to_target(times, [3.0, float('nan'), 0.2, 0.1], 0.25,
                                mode='min') == 30
  assert scoring.time_to_target([], [], 0.5) == INF
  with pytest.raises(ValueError, match="mode: 'up'"):
    scoring.time_to_target(times, values, 0.7, mode='up')


def test_a_study_is_its_fastest_trial_and_the_median_counts_failures():
  assert scoring.study_time([30, INF, 12]) == 12
  assert scoring.study_time([INF, INF]) == INF
  assert scoring.median_time([12, 15, INF]) == 15
  assert scoring.median_time([12, INF, INF]) == INF  # most studies failed
  assert scoring.median_time([10, 20]) == 15


def test_ratios_profile_and_score_by_hand():
  times = {'a': {'w1': 10, 'w2': 40, 'w3': INF},
           'b': {'w1': 20, 'w2': 20, 'w3': 30},
           'c': {'w1': INF, 'w2': INF, 'w3': INF}}
  ratios = scoring.performance_ratios(times)
  assert ratios == {'a': {'w1': 1, 'w2': 2, 'w3': INF},
                    'b': {'w1': 2, 'w2': 1, 'w3': 1},
                    'c': {'w1': INF, 'w2': INF, 'w3': INF}}
  taus = np.array([1.0, 1.5, 2.0, 4.0])
  np.testing.assert_array_equal(scoring.performance_profile(ratios['a'], taus),
                                [1 / 3, 1 / 3, 2 / 3, 2 / 3])
  # Area of rho over [1, 4] / 3: a has w1 all along (3) and w2 from 2 (2).
  assert scoring.benchmark_score(ratios['a']) == pytest.approx((3 + 2) / 9)
  assert scoring.benchmark_score(ratios['b']) == pytest.approx((2 + 3 + 3) / 9)
  assert scoring.benchmark_score(ratios['c']) == 0
  # A workload no one reaches counts against everyone.
  assert scoring.performance_ratios({'a': {'w': INF}}) == {'a': {'w': INF}}


def test_score_is_the_integral_of_the_profile():
  rng = np.random.default_rng(0)
  for _ in range(20):
    ratios = {f'w{i}': r for i, r in enumerate(
        np.where(rng.random(7) < 0.2, INF, 1 + rng.exponential(1.5, 7)))}
    taus = np.linspace(1, scoring.R_MAX, 300_001)
    rho = scoring.performance_profile(ratios, taus)
    area = np.sum((rho[1:] + rho[:-1]) / 2 * np.diff(taus))
    assert scoring.benchmark_score(ratios) == pytest.approx(
        area / (scoring.R_MAX - 1), abs=1e-4)
