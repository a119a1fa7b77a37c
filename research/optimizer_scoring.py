"""AlgoPerf's scoring of optimizers (Dahl et al. 2023, external tuning):
time to target, performance profiles and the benchmark score.

For each workload w and optimizer o, a study is a tuning budget of trials;
a trial's time to target is the first time its validation metric reaches
the workload's target (infinite if it never does). Then:

  t_{o,w} = median over studies of (min over the study's trials of the time)
  r_{o,w} = t_{o,w} / min_o t_{o,w}          (the performance ratio, >= 1)
  rho_o(tau) = (1 / |W|) #{w : r_{o,w} <= tau}   (the performance profile)
  score_o = (1 / (r_max - 1)) integral_1^{r_max} rho_o(tau) dtau

AlgoPerf sets r_{o,w} to infinity where the median time is infinite (fewer
than half the studies reached the target) and takes r_max = 4. A score of 1
means the fastest on every workload; 0, never within r_max of the fastest.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

R_MAX = 4.0


def time_to_target(times: Sequence[float], values: Sequence[float],
                   target: float, mode: str = 'max') -> float:
  """The first of `times` whose value reaches `target` ('max': >=, 'min':
  <=); inf if none does. A NaN value never reaches it."""
  if mode not in ('max', 'min'):
    raise ValueError(f"mode: {mode!r} must be 'max' or 'min'")
  for t, v in zip(times, values):
    if v is None or not math.isfinite(v):
      continue
    if (v >= target) if mode == 'max' else (v <= target):
      return float(t)
  return math.inf


def study_time(trial_times: Sequence[float]) -> float:
  """A study's time: its fastest trial's (inf if none reached the target)."""
  return min(trial_times, default=math.inf)


def median_time(study_times: Sequence[float]) -> float:
  """The median over studies; inf when half or more never reached the
  target (the median of an even count is the mean of the middle two)."""
  return float(np.median(np.asarray(study_times, dtype=np.float64)))


def performance_ratios(times: Mapping[str, Mapping[str, float]]
                       ) -> dict[str, dict[str, float]]:
  """{optimizer: {workload: t}} -> {optimizer: {workload: r}}; r = inf where
  t is, or where no optimizer reached the workload's target."""
  workloads = sorted({w for per in times.values() for w in per})
  best = {w: min((per.get(w, math.inf) for per in times.values()),
                 default=math.inf) for w in workloads}
  return {o: {w: (per.get(w, math.inf) / best[w]
                  if math.isfinite(best[w]) and math.isfinite(per.get(w, math.inf))
                  else math.inf) for w in workloads}
          for o, per in times.items()}


def performance_profile(ratios: Mapping[str, float], taus: np.ndarray
                        ) -> np.ndarray:
  """rho(tau) for each of `taus`: the fraction of workloads with r <= tau."""
  r = np.asarray(list(ratios.values()), dtype=np.float64)
  return np.mean(r[None, :] <= np.asarray(taus)[:, None], axis=1)


def benchmark_score(ratios: Mapping[str, float], r_max: float = R_MAX) -> float:
  """(1 / (r_max - 1)) * integral of rho over [1, r_max], exactly: rho is a
  step function, so the area is the sum over workloads of
  (r_max - min(r, r_max)) / (r_max - 1), divided by their count."""
  r = np.asarray(list(ratios.values()), dtype=np.float64)
  if not len(r):
    return 0.0
  within = np.clip(r, 1.0, r_max)
  return float(np.mean((r_max - within) / (r_max - 1.0)))
