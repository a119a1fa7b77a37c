"""A population: runs that differ only in traced hyperparameters (seed,
learning rate, weight decay, dropout rates, mixup alpha) trained as one
`vmap`-ed program.

Every member keeps its own run directory (config, metrics, summary, latest and
best checkpoints) as if it had been run alone, so tables, `load_trained` and a
later `research run` of the same config (which finds it finished) cannot tell
the difference. Members stop independently: one that early-stops or diverges
is frozen (its state no longer changes; the population's program still
computes it) and keeps its last good state. The population checkpoints its
stacked state in its own directory, so an interrupted population resumes;
member summaries are written when the population ends.
"""

import dataclasses
import hashlib
import pathlib
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from research import compilation_cache
from research import config as config_lib
from research.errors import ConfigError
from research.parallel import Parallel, member, stack
from research.tracking import ProgressBar, RunDir, environment_info
from research.train.checkpointing import Checkpointer
from research.train.early_stopping import Monitor
from research.train.hparams import TRACED
from research.train.interrupt import stop_on_signals
from research.train import runner
from research.train.loop import (REPORTED_SPLITS, build, initial_state,
                                 prediction_reports)
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


def default_population_dir(configs: Sequence[ml_collections.ConfigDict],
                           run_dirs: Sequence[pathlib.Path]) -> pathlib.Path:
  """<output_dir>/<experiment>/population-<hash of its members' directories>."""
  names = '\n'.join(sorted(str(pathlib.Path(d).absolute()) for d in run_dirs))
  digest = hashlib.sha256(names.encode()).hexdigest()[:10]
  c = configs[0]
  return (pathlib.Path(c.tracking.output_dir) / (c.experiment or 'run') /
          f'population-{digest}')


@dataclasses.dataclass
class _Member:
  config: ml_collections.ConfigDict
  run_dir: RunDir
  monitor: Monitor
  status: str = 'running'  # running | done | early_stopped | diverged
  epochs: int = 0
  error: str | None = None

  def to_dict(self) -> dict:
    return {'monitor': self.monitor.to_dict(), 'status': self.status,
            'epochs': self.epochs, 'error': self.error}


def _select(keep, new, old):
  """Per member: `new` where keep, else `old` (keep has the member axis)."""
  def pick(n, o):
    mask = keep.reshape(keep.shape + (1,) * (n.ndim - 1))
    return jnp.where(mask, n, o)
  return jax.tree.map(pick, new, old)


def train_population(configs: Sequence[ml_collections.ConfigDict], *,
                     run_dirs: Sequence[str | pathlib.Path] | None = None,
                     population_dir: str | pathlib.Path | None = None,
                     make_logger=None, epoch_end_hook=None) -> list[dict]:
  """Trains `configs` as one vmapped program; returns each member's summary.

  Args:
    configs: validated-to-be configs that differ only in ARRAY_KEYS.
    run_dirs: each member's run directory (default: its `default_run_dir`).
    population_dir: where the stacked state is checkpointed (default: see
      `default_population_dir`).
    make_logger: (config, RunDir) -> Logger for each member (default: the
      runner's W&B logger).
    epoch_end_hook: called as hook(epoch, stacked state) after each epoch is
      logged, before its checkpoint (as in `research.train.train`).
  """
  started = time.perf_counter()
  compilation_cache.enable()
  if not configs:
    return []
  configs = [resolve(c) for c in configs]
  first = configs[0]
  for c in configs[1:]:
    if group_key(c) != group_key(first):
      raise ConfigError(
          'a population trains configs that differ only in '
          f'{", ".join(ARRAY_KEYS)} (and are zero in the same places); these '
          f'also differ in {_differing_keys(first, c)}')
  run_dirs = [pathlib.Path(d) for d in
              (run_dirs or [runner.default_run_dir(c) for c in configs])]
  population_dir = pathlib.Path(
      population_dir or default_population_dir(configs, run_dirs))
  make_logger = make_logger or runner.make_logger
  cfg = first.train

  parallel = Parallel('vmap')
  parts = build(first, parallel)
  dataset, batches = parts.dataset, parts.batches
  x_train, y_train, splits = parts.x_train, parts.y_train, parts.splits
  # Each member's own start: its seed's initialization, or `train.init_from`
  # (pruned by `prune`, which the members share), as a run alone would.
  state = stack([initial_state(c, parts) for c in configs])
  train_epoch = parts.train_epoch

  def member_epoch(state_and_active, x, y):
    """One member's epoch; a frozen member (or one whose epoch diverged)
    keeps the state it started with."""
    state, active = state_and_active
    new, metrics = train_epoch(state, x, y)
    ok = (active & jnp.all(jnp.isfinite(metrics['loss']))
          & metrics['params_finite'])
    new = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state)
    return (new, active), metrics

  population_epoch = parallel.compile(member_epoch)
  evaluate = parallel.compile_eval(parts.evaluate)
  predict = parallel.compile_eval(parts.predict)
  select = jax.jit(_select)

  members = [_Member(c, RunDir(d), Monitor(mode=cfg.monitor_mode,
                                           patience=cfg.patience,
                                           min_delta=cfg.min_delta))
             for c, d in zip(configs, run_dirs)]
  for m in members:
    m.run_dir.write_config(m.config.to_dict())
  checkpointer = Checkpointer(population_dir / 'checkpoints',
                              keep=cfg.keep_checkpoints)
  best_state = state
  epoch, elapsed_before = 0, 0.0
  restored = checkpointer.restore_latest((state, best_state))
  if restored is not None:
    (state, best_state), meta = restored
    epoch, elapsed_before = meta['epoch'], meta['elapsed_s']
    for m, saved in zip(members, meta['members']):
      m.monitor = Monitor.from_dict(saved['monitor'])
      m.status, m.epochs, m.error = saved['status'], saved['epochs'], saved['error']
  start_epoch = epoch
  steps = np.asarray(state.step)
  for m, s in zip(members, steps):
    m.run_dir.truncate_metrics(int(s))
  start_steps = steps.copy()
  # Separate buffers: the state is donated to each epoch, the best is kept.
  state = parallel.put_state(state)
  best_state = jax.tree.map(jnp.copy, parallel.put_state(best_state))
  loggers = [make_logger(m.config, m.run_dir) for m in members]

  def active_mask():
    return np.asarray([m.status == 'running' for m in members])

  compile_started = time.perf_counter()
  population_epoch = population_epoch.lower(
      (state, active_mask()), x_train, y_train).compile()
  compile_s = time.perf_counter() - compile_started
  setup_s = compile_started - started

  def meta() -> dict:
    return {'epoch': epoch, 'members': [m.to_dict() for m in members],
            'elapsed_s': elapsed_before + time.perf_counter() - started}

  progress = ProgressBar(cfg.num_epochs * batches, initial_step=epoch * batches,
                         enabled=first.tracking.progress,
                         desc=f'{first.experiment or "train"} x{len(configs)}')
  interrupted = False
  with stop_on_signals() as stop_request:
    try:
      while epoch < cfg.num_epochs and active_mask().any():
        active = active_mask()
        first_step = np.asarray(state.step)
        (state, _), step_metrics = population_epoch((state, active),
                                                    x_train, y_train)
        losses_seen = np.asarray(step_metrics['loss'])  # waits for the epoch
        params_finite = np.asarray(step_metrics['params_finite'])
        epoch += 1
        evaluated = {}
        if epoch % cfg.eval_every_epochs == 0 or epoch == cfg.num_epochs:
          for name, (x, y) in splits.items():
            for key, value in evaluate(state, x, y).items():
              evaluated[f'{name}/{key}'] = np.asarray(value)
        improved = np.zeros(len(members), bool)
        for i, m in enumerate(members):
          if not active[i]:
            continue
          bad = np.flatnonzero(~np.isfinite(losses_seen[i]))
          if bad.size or not params_finite[i]:
            step = int(first_step[i]) + (int(bad[0]) if bad.size
                                        else losses_seen.shape[1] - 1)
            m.status = 'diverged'
            m.error = (f'Run diverged: the training loss or parameters are not '
                       f'finite at step {step} (epoch {epoch}). This member '
                       f'stopped; its state is the one after step '
                       f'{int(first_step[i])}.')
            continue
          m.epochs = epoch
          record = {'epoch': epoch, 'step': int(first_step[i]) + batches}
          for key in ('loss', 'accuracy', 'objective'):
            if key in step_metrics:
              record[f'train/{key}'] = float(np.mean(
                  np.asarray(step_metrics[key][i], np.float64)))
          for key, values in evaluated.items():
            record[key] = float(values[i])
          record['time_s'] = elapsed_before + time.perf_counter() - started
          if cfg.monitor in record:
            improved[i] = m.monitor.update(record[cfg.monitor], epoch,
                                           record['step'])
          m.run_dir.append_metrics(record)
          loggers[i].log_metrics(record, step=record['step'])
          if m.monitor.should_stop:
            m.status = 'early_stopped'
        if improved.any():
          best_state = select(improved, state, best_state)
        progress.update(epoch * batches, epoch, cfg.num_epochs, {})
        if epoch_end_hook is not None:
          epoch_end_hook(epoch, state)
        if (epoch % cfg.checkpoint_every_epochs == 0 or stop_request.requested
            or epoch == cfg.num_epochs or not active_mask().any()):
          checkpointer.save_latest(epoch, (state, best_state), meta())
        if stop_request.requested:
          interrupted = True
          break
    except BaseException:
      for logger in loggers:
        logger.finish()
      raise
    finally:
      progress.close()
      checkpointer.close()

  for m in members:
    if m.status == 'running':
      m.status = 'interrupted' if interrupted else 'done'
  final, predictions = {}, {}
  if not interrupted:
    for name, (x, y) in {'train': parts.train_split, **splits}.items():
      for key, value in evaluate(state, x, y).items():
        final[f'{name}/{key}'] = np.asarray(value)
    # (members, N) predicted classes of each reported split.
    predictions = {name: np.asarray(predict(state, splits[name][0]))
                   for name in REPORTED_SPLITS if name in splits}

  host_state, host_best = jax.device_get((state, best_state))
  wall_s = time.perf_counter() - started
  train_s = max(wall_s - compile_s - setup_s, 1e-9)
  summaries = []
  for i, m in enumerate(members):
    summary = _member_summary(
        m, i, member(host_state, i), member(host_best, i), final,
        checkpoint_keep=cfg.keep_checkpoints,
        elapsed_s=elapsed_before + wall_s)
    trained = int(np.asarray(host_state.step)[i] - start_steps[i])
    summary.update({
        'steps_per_epoch': batches,
        'resumed_from_epoch': start_epoch or None,
        'compile_time_s': compile_s,
        # Of the whole population: its members trained at the same time.
        'steps_per_second': trained / train_s if trained else None,
        'examples_per_second': (trained * parts.examples_per_step / train_s
                                if trained else None),
        'population': {'size': len(members), 'dir': str(population_dir),
                       'member': i},
        'parallel': {'mode': 'vmap', 'devices': 1, 'processes': 1},
        'data': parts.data_summary,
        'environment': environment_info(),
    })
    if 'final' in summary:
      summary['report'] = prediction_reports(
          dataset, {name: p[i] for name, p in predictions.items()})
    m.run_dir.write_summary(summary)
    loggers[i].log_summary(summary)
    loggers[i].finish()
    summaries.append(summary)
  return summaries


def _member_summary(m: _Member, index: int, state, best_state, final: dict,
                    *, checkpoint_keep: int, elapsed_s: float) -> dict:
  """Writes the member's checkpoints; returns its summary without the
  population-wide fields."""
  c = m.config
  meta = {'epoch': m.epochs, 'monitor': m.monitor.to_dict(),
          'elapsed_s': elapsed_s}
  checkpointer = Checkpointer(m.run_dir.checkpoint_dir, keep=checkpoint_keep)
  try:
    checkpointer.save_latest(int(state.step), state, meta)
    if m.monitor.best_epoch is not None:
      checkpointer.save_best(int(m.monitor.best_step), best_state, meta)
  finally:
    checkpointer.close()
  summary = {
      'status': m.status, 'experiment': c.experiment, 'seed': c.seed,
      'run_dir': str(m.run_dir.path), 'epochs': m.epochs,
      'steps': int(state.step),
      'num_params': int(sum(np.size(p) for p in jax.tree.leaves(state.params))),
      'wall_time_s': elapsed_s,
  }
  if m.error:
    summary['error'] = m.error
  if final and m.status in ('done', 'early_stopped'):
    summary['final'] = {k: float(v[index]) for k, v in final.items()}
  if m.monitor.best_epoch is not None:
    best = next((r for r in m.run_dir.read_metrics()
                 if r['epoch'] == m.monitor.best_epoch), {})
    summary['best'] = {'monitor': c.train.monitor, **best}
  return summary
