"""A population: runs that differ only in traced hyperparameters (seed,
learning rate, weight decay, dropout rates, mixup alpha) trained as one
`vmap`-ed program whose member axis is sharded over every device.

The loop is the one a run trains with (research/train/loop.py, k members):
every member has its own run directory (config, metrics, latest and best
checkpoints, summary), written as a run of its config alone would write it,
so tables, `load_trained`, `research run` and the other launchers cannot tell
the difference, and an interrupted member resumes from its own checkpoint in
a population or alone. A member whose run has already finished (whoever
trained it) is not trained again: its summary comes back marked
`already_finished`.

How close a member is to its run alone: it starts from the same state (the
same `initial_state` of its config: bit-identical) and draws the same
permutations, dropout and augmentation masks (the same keys, folded from its
seed and step). The arithmetic differs only in how XLA lays out the batched
matmuls and reductions of the vmapped program, so the trajectories agree to
float32 rounding at first and can drift apart slowly over many steps, as any
two reorderings of float sums do (tests/test_population.py measures both).
"""

import contextlib
import pathlib
from collections.abc import Sequence

import ml_collections

from research import compilation_cache, distributed, optim
from research import config as config_lib
from research.errors import ConfigError
from research.parallel import Parallel
from research.train.hparams import TRACED
from research.train import runner
from research.train.loop import load_checked_data, train_members
from research.train.member import Member
from research.train.resolve import hash_of, overrides, resolve

# Config keys whose values may differ inside a population.
ARRAY_KEYS = ('seed',) + tuple(TRACED.values())


def group_key(config: ml_collections.ConfigDict) -> str:
  """Configs with equal keys can train as one population: equal once the array
  hyperparameters are blanked, and zero in the same places (a zero strength is
  static: no noise drawn, no decay term)."""
  changed = overrides(config)
  changed.pop('seed', None)
  for key in TRACED.values():  # also where the value is the default's
    changed[key] = 'array' if config_lib.get_value(config, key) else 0
  return hash_of(changed)


def _differing_keys(a: ml_collections.ConfigDict,
                    b: ml_collections.ConfigDict) -> list[str]:
  return sorted(k for k in config_lib.differences(b, a)
                if k.split('.')[0] not in config_lib.PRESENTATION_SECTIONS)


def train_population(configs: Sequence[ml_collections.ConfigDict], *,
                     run_dirs: Sequence[str | pathlib.Path] | None = None,
                     make_logger=None, epoch_end_hook=None) -> list[dict]:
  """Trains `configs` as one vmapped program; returns each member's summary.

  Args:
    configs: configs that differ only in ARRAY_KEYS (and are zero in the same
      places); `parallel.num_devices` of the first picks the devices (0: all).
    run_dirs: each member's run directory (default: its `default_run_dir`).
    make_logger: (config, RunDir) -> Logger for each member that trains
      (default: the runner's W&B logger).
    epoch_end_hook: called as hook(epoch, state) after each epoch is logged,
      with the population's host state (a leading member axis), before the
      epoch's checkpoints (as in `research.train.train`).
  """
  compilation_cache.enable()
  if not configs:
    return []
  configs = [resolve(c) for c in configs]
  first = configs[0]
  if not optim.entry(first.optimizer.name).vmaps:
    raise ConfigError(
        f'optimizer.name: {first.optimizer.name!r} cannot train as a vmapped '
        'population yet (its step stalls there); run its trials one by one '
        '(research sweep --launcher local, or research run)')
  for c in configs[1:]:
    if group_key(c) != group_key(first):
      raise ConfigError(
          'a population trains configs that differ only in '
          f'{", ".join(ARRAY_KEYS)} (and are zero in the same places); these '
          f'also differ in {_differing_keys(first, c)}')
  # Joins the processes of a multi-host population (a no-op for one), before
  # anything asks JAX for its devices: the member axis spans them all.
  distributed.initialize(first.parallel)
  paths = run_dirs or [runner.default_run_dir(c) for c in configs]
  make_logger = make_logger or runner.make_logger
  parallel = Parallel.from_config(first, mode='vmap')

  summaries = [runner.finished_summary(c, p) for c, p in zip(configs, paths)]
  if all(s is not None for s in summaries):
    return summaries
  # The members share their data (only ARRAY_KEYS differ): checked once,
  # before any run directory exists.
  dataset = load_checked_data(first)
  members: list[Member] = []
  with contextlib.ExitStack() as held:
    try:
      for i, (config, path) in enumerate(zip(configs, paths)):
        if summaries[i] is not None:
          continue
        run_dir, summaries[i] = held.enter_context(runner.claim(config, path))
        if summaries[i] is None:
          members.append(Member(config, run_dir, make_logger(config, run_dir),
                                index=len(members)))
      if members:
        trained = iter(train_members(members, parallel, dataset=dataset,
                                     epoch_end_hook=epoch_end_hook))
        summaries = [s if s is not None else next(trained) for s in summaries]
    finally:
      for m in members:
        m.logger.finish()
  return summaries
