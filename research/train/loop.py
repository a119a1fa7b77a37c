"""The training loop, readable top to bottom: data on the device, one compiled
`lax.scan` per epoch, evaluation, checkpoints, early stopping, a summary; for
one run or for a population of runs trained as one program (k >= 1 members,
research/train/member.py)."""

import concurrent.futures
import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from research import (augment, distillation, distributed, losses, metrics,
                      models, pruning)
from research.data import Dataset, load_dataset
from research.errors import ConfigError, DivergedError
from research.optim import build_optimizer
from research.parallel import Parallel, fetch, member, stack
from research.penalties import penalty_fn
from research.tracking import Logger, ProgressBar, RunDir, environment_info
from research.runs import FINISHED
from research.train.hparams import initial_hparams
from research.train.epoch import (make_evaluate, make_predict, make_train_epoch,
                                  steps_per_epoch)
from research.train.interrupt import stop_on_signals
from research.train.member import Member
from research.train.restore import load_trained
from research.train.teachers import teacher_targets
from research.train.state import TrainState, create_train_state
from research.train.steps import (make_eval_step, make_predict_step,
                                  make_train_step)

EpochHook = Callable[[int, TrainState], None]
# The splits whose final predictions get a classification report in the
# summary (one pass over each at the end of a finished run).
REPORTED_SPLITS = ('test', 'dev')


def check_against_data(config: ml_collections.ConfigDict,
                       dataset: Dataset) -> None:
  """The checks that need the data's shapes and size (the config was checked
  before it loaded), still before anything compiles."""
  augment.check_augment_images(config.augment, dataset.x_train.shape[1:])
  n = len(dataset.x_train)
  if config.train.batching != 'full' and config.train.batch_size > n:
    raise ConfigError(
        f'train.batch_size: {config.train.batch_size} is larger than the '
        f'training split ({n} examples of {dataset.name})')


def build_augment(config: ml_collections.ConfigDict, dataset: Dataset):
  """The config's augmentation without mixup (the train step mixes up with
  the traced `mixup_alpha` of the state), or None."""
  cfg = ml_collections.ConfigDict(config.augment.to_dict())
  cfg.mixup_alpha = 0.0
  pca = (augment.channel_pca(dataset.x_train) if cfg.pca_lighting else None)
  return augment.make_augment(cfg, num_classes=dataset.num_classes,
                              image_shape=dataset.x_train.shape[1:], pca=pca)


@dataclasses.dataclass(frozen=True)
class Parts:
  """What a run trains with, built from its config for one parallel mode;
  the step functions are not compiled yet (`Parallel.compile` does that)."""
  dataset: Dataset
  model: models.MLP
  tx: Any  # the optimizer chain at the config's values: for `init`
  batches: int  # steps per epoch
  examples_per_step: int
  x_train: jax.Array  # placed by `parallel.put_data`
  y_train: Any  # int labels, or `DistillTargets` when a teacher is set
  splits: dict  # 'test' (and 'dev', 'train_dev' when held out) -> placed (x, y)
  train_epoch: Callable  # (state, x, y) -> (state, per-step metrics)
  evaluate: Callable  # (state, x, y) -> {'loss', 'accuracy'}
  predict: Callable  # (state, x) -> (N,) int32 classes, as `evaluate` sees them

  @property
  def train_split(self) -> tuple:
    """The placed training split as evaluation sees it: int labels, also when
    the student trains on a teacher's `DistillTargets`."""
    y = self.y_train
    if isinstance(y, distillation.DistillTargets):
      y = y.labels
    return self.x_train, y

  @property
  def data_summary(self) -> dict:
    d = self.dataset
    return {'source': d.source, 'train': len(d.x_train),
            'train_dev': len(d.x_train_dev), 'dev': len(d.x_dev),
            'test': len(d.x_test)}


def load_checked_data(config: ml_collections.ConfigDict) -> Dataset:
  """The run's data, checked against the config: what a launcher calls
  before it creates the run directory, so bad data leaves nothing behind."""
  dataset = load_dataset(config.data)
  check_against_data(config, dataset)
  return dataset


def build(config: ml_collections.ConfigDict, parallel: Parallel, *,
          dataset: Dataset | None = None) -> Parts:
  """Data (`dataset`, if it was loaded and checked already), model,
  optimizer, and the epoch and evaluation functions of `config` under
  `parallel` (one run, or a population under 'vmap')."""
  cfg = config.train
  teachers = distillation.teacher_dirs(config.distill.teacher)
  if dataset is None:
    dataset = load_checked_data(config)
  parallel.check_batch_size(cfg.batch_size)
  model = models.build_model(config.model, dataset.num_classes)
  loss_fn = losses.get(config.loss.name)
  batches = steps_per_epoch(len(dataset.x_train), cfg.batch_size, cfg.batching)
  examples_per_step = (len(dataset.x_train) if cfg.batching == 'full'
                       else cfg.batch_size)

  # A distilled student trains on the teacher's softened targets (and the
  # hard labels); evaluation keeps the int labels and the plain loss. So does
  # label smoothing, as usual: it changes the training targets only, and the
  # evaluation loss stays comparable across runs.
  train_targets = dataset.y_train
  train_loss_fn = losses.training_loss(config.loss)
  if teachers:
    train_targets = teacher_targets(
        teachers, dataset, config.distill.temperature)
    train_loss_fn = distillation.make_loss(config.distill.temperature,
                                           config.distill.alpha)
  x_train, y_train = parallel.put_data((dataset.x_train, train_targets))
  splits = {'test': parallel.put_data((dataset.x_test, dataset.y_test))}
  if len(dataset.x_dev):
    splits['dev'] = parallel.put_data((dataset.x_dev, dataset.y_dev))
  if len(dataset.x_train_dev):
    splits['train_dev'] = parallel.put_data(
        (dataset.x_train_dev, dataset.y_train_dev))

  # The optimizer as a function of the state's traced hyperparameters.
  def optimizer_for(hparams):
    return build_optimizer(config, steps_per_epoch=batches, hparams=hparams)

  # Under pmap, BatchNorm averages its statistics over the devices.
  train_step = make_train_step(
      model.clone(bn_axis_name=parallel.axis_name), optimizer_for,
      train_loss_fn, penalty=penalty_fn(config.regularization),
      augment=build_augment(config, dataset), num_classes=dataset.num_classes,
      axis_name=parallel.axis_name)
  train_epoch = make_train_epoch(
      parallel.wrap_step(train_step), num_examples=len(dataset.x_train),
      batch_size=cfg.batch_size, shuffle=cfg.shuffle, batching=cfg.batching,
      axis_name=parallel.axis_name, num_devices=parallel.num_devices)
  views = (None if config.augment.tta == 'none'
           else augment.tta_views(config.augment.tta, dataset.x_train.shape[1:]))
  bn_batch_statistics = cfg.bn_eval == 'batch'
  eval_step = make_eval_step(model, loss_fn, views=views,
                             bn_batch_statistics=bn_batch_statistics)
  predict_step = make_predict_step(model, views=views,
                                   bn_batch_statistics=bn_batch_statistics)
  return Parts(dataset=dataset, model=model,
               tx=build_optimizer(config, steps_per_epoch=batches),
               batches=batches, examples_per_step=examples_per_step,
               x_train=x_train, y_train=y_train, splits=splits,
               train_epoch=train_epoch,
               evaluate=make_evaluate(eval_step, batch_size=cfg.eval_batch_size),
               predict=make_predict(predict_step,
                                    batch_size=cfg.eval_batch_size))


def initial_state(config: ml_collections.ConfigDict, parts: Parts) -> TrainState:
  """The state a run starts from: the seed's initialization, or the trained
  params and batch_stats of the run `train.init_from` names (a fresh optimizer,
  step 0, this config's seed for the randomness to come); with
  `prune.sparsity` > 0, pruned by magnitude (keeping the source's pruned
  weights pruned) before the optimizer is initialized. Only a run that prunes
  holds masks: one with sparsity 0 fine-tunes every weight of its source."""
  state = create_train_state(config.seed, parts.model, parts.tx,
                             parts.dataset.x_train[:1],
                             hparams=initial_hparams(config))
  if not (config.train.init_from or config.prune.sparsity):
    return state
  previous = None
  if config.train.init_from:  # checked by `build`
    source = load_trained(config.train.init_from, dataset=parts.dataset).state
    state = state.replace(params=source.params, batch_stats=source.batch_stats)
    previous = source.masks
  if config.prune.sparsity:
    try:
      masks = pruning.magnitude_masks(state.params, config.prune.sparsity,
                                      config.prune.scope, previous=previous)
    except ValueError as e:
      raise ConfigError(f'prune.sparsity: {e}') from e
    state = state.replace(params=pruning.apply_masks(state.params, masks),
                          masks=masks)
  state = state.replace(opt_state=parts.tx.init(state.params))
  return jax.tree.map(jnp.copy, state)  # own buffers: the loop donates them


def prediction_report(y_true, y_pred, class_names) -> dict:
  """The classification report of one split's predictions as JSON values:
  accuracy, the 95% interval of the error rate, macro and weighted
  precision / recall / F1, per-class lists, and the confusion matrix (rows =
  true class)."""
  report = metrics.classification_report(y_true, y_pred, len(class_names))
  total = int(report['confusion'].sum())
  errors = total - int(np.trace(report['confusion']))
  low, high = metrics.error_interval(errors, total, level=0.95)
  averaged = ('precision', 'recall', 'f1')
  per_class = report['per_class']
  return {
      'accuracy': report['accuracy'], 'examples': total, 'errors': errors,
      'error_interval': {'level': 0.95, 'low': low, 'high': high},
      'macro': {k: report['macro'][k] for k in averaged},
      'weighted': {k: report['weighted'][k] for k in averaged},
      'per_class': {'class_names': list(class_names),
                    **{k: per_class[k].tolist()
                       for k in (*averaged, 'support')}},
      'confusion': report['confusion'].tolist(),
  }


def prediction_reports(dataset: Dataset, predictions: dict) -> dict:
  """{split: prediction_report} from {split: predicted classes}."""
  return {name: prediction_report(getattr(dataset, f'y_{name}'),
                                  np.asarray(predicted), dataset.class_names)
          for name, predicted in predictions.items()}


def _host_mean(values) -> float:
  return float(np.mean(np.asarray(values, dtype=np.float64)))


def _divergence_problem(metrics, first_step: int, limit: float) -> str | None:
  """Names the first step whose loss is not finite or above `limit` (the
  member's `loss_limit`), or says the resulting parameters are not finite;
  the same test as the compiled epoch's (`_frozen_unless_active`)."""
  step_losses = np.asarray(metrics['loss'], np.float32)
  bad = np.flatnonzero(~np.isfinite(step_losses))
  if bad.size:
    return (f'the training loss is {step_losses[bad[0]]} at step '
            f'{first_step + int(bad[0])}')
  if not bool(metrics['params_finite']):
    return (f'the parameters are not finite after step '
            f'{first_step + len(step_losses) - 1}')
  bound = _loss_bound(np.float32(limit), step_losses, np)
  high = np.flatnonzero(step_losses > bound)
  if high.size:
    return (f'the training loss is {step_losses[high[0]]:.4g} at step '
            f'{first_step + int(high[0])}, above {bound:.4g} (train.'
            "divergence_factor times the run's first loss, at least 1)")
  return None


def _loss_bound(limit, step_losses, xp):
  """`limit`, or while the run's first loss is unknown (NaN) the limit its
  first step's loss gives (`Member.loss_limit` holds the factor in `limit`'s
  sign: -factor)."""
  return xp.where(limit < 0, -limit * xp.maximum(step_losses[0], 1.0), limit)


def _agreed(stop_requested: bool) -> bool:
  """Whether any process was asked to stop: a process that left the loop
  alone would leave the others waiting in the next step's collectives."""
  if jax.process_count() == 1:
    return stop_requested
  return bool(multihost_utils.process_allgather(np.int32(stop_requested)).any())


def _run_all(saves: Sequence[Callable[[], None]]) -> None:
  """Runs the round's checkpoint saves (each member's own orbax managers),
  on threads when there are several: a save is mostly orbax's Python and
  file system work, and threads halve a population's time in it. One at a
  time across processes, whose saves must meet in the same order."""
  if len(saves) < 2 or jax.process_count() > 1:
    for save in saves:
      save()
    return
  with concurrent.futures.ThreadPoolExecutor(min(8, len(saves))) as pool:
    for done in [pool.submit(save) for save in saves]:
      done.result()


@jax.jit
def _select(keep: jax.Array, new, old):
  """`new` where `keep`, else `old`: per member (`keep` has the member axis,
  or pmap's device axis, in front), or the whole state (a scalar `keep`)."""
  def pick(n, o):
    return jnp.where(keep.reshape(keep.shape + (1,) * (n.ndim - keep.ndim)),
                     n, o)
  return jax.tree.map(pick, new, old)


def _frozen_unless_active(train_epoch: Callable) -> Callable:
  """The epoch of a member that may stand still: one not active (stopped, or
  padding a population), or whose epoch diverged (a loss not finite or above
  its `limit`, or parameters not finite), keeps the state it began the epoch
  with, its last good state; the others train on."""

  def epoch(carry, x, y):
    state, active, limit = carry
    new, metrics = train_epoch(state, x, y)
    loss = metrics['loss']
    ok = (active & jnp.all(jnp.isfinite(loss)) & metrics['params_finite']
          & jnp.all(loss <= _loss_bound(limit, loss, jnp)))
    new = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state)
    return (new, active, limit), {**metrics, 'kept': ok}

  return epoch


def train_members(members: Sequence[Member], parallel: Parallel, *,
                  dataset: Dataset | None = None,
                  epoch_end_hook: EpochHook | None = None) -> list[dict]:
  """Trains (or resumes) `members` together; returns their summaries. A
  failure (an error, a full disk) leaves each member a `failed` summary that
  says what happened (a run started again resumes from its checkpoint)."""
  try:
    return _train_members(members, parallel, dataset, epoch_end_hook)
  except Exception as e:
    for m in members:
      m.fail(e)
    raise


def _train_members(members: Sequence[Member], parallel: Parallel,
                   dataset: Dataset | None,
                   epoch_end_hook: EpochHook | None) -> list[dict]:
  """Trains (or resumes) `members` together; returns their summaries.

  The one training loop: a run is one member (`parallel` in 'jit', 'sharded'
  or 'pmap'); a population is k members under 'vmap', whose configs differ
  only in what the state holds as data (research/train/population.py). Each
  round trains every running member one epoch, in one compiled call; then
  each member is on its own: divergence, its record, early stopping, its
  latest and best checkpoints, and at the end its summary, in its own run
  directory. A member that diverges or stops is frozen while the others go
  on. `epoch_end_hook(epoch, state)` sees the host state after each round is
  logged (a population's with its member axis), before its checkpoints.
  """
  started = time.perf_counter()
  config = members[0].config
  cfg = config.train
  # Multi-host: process 0 writes run directories; all take part in orbax.
  primary = distributed.is_primary()
  k = len(members)
  if k > 1 and not parallel.population:
    raise ValueError(f'{k} members need a population (parallel mode vmap)')

  parts = build(config, parallel, dataset=dataset)
  dataset, batches = parts.dataset, parts.batches
  x_train, y_train, splits = parts.x_train, parts.y_train, parts.splits
  states = [m.resume(initial_state(m.config, parts)) for m in members]
  num_params = int(sum(np.size(p) for p in jax.tree.leaves(states[0].params)))
  size = parallel.padded_size(k) if parallel.population else 1
  state = parallel.put_state(stack(states, size) if parallel.population
                             else states[0])
  del states  # placed (donated to the first epoch under 'jit')

  def mask(chosen):
    """Placed flags, per member (padding False), of the members `chosen`."""
    flags = np.asarray([m in chosen for m in members] + [False] * (size - k))
    return parallel.put_state(flags if parallel.population else flags[0])

  def active():
    return mask([m for m in members if m.running])

  def limits():
    """Each member's `loss_limit`, placed like `mask`'s flags."""
    values = np.asarray([m.loss_limit() for m in members] + [np.inf] * (size - k),
                        np.float32)
    return parallel.put_state(values if parallel.population else values[0])

  def per_member(outputs):
    """Host arrays with a leading member axis (a run's of length 1), of
    outputs that are `local` (or a population's)."""
    if parallel.population:
      return jax.tree.map(lambda a: np.asarray(a)[:k], fetch(outputs))
    return jax.tree.map(lambda a: np.asarray(a)[None], jax.device_get(outputs))

  evaluate_placed = parallel.compile_eval(parts.evaluate)
  predict_placed = parallel.compile_eval(parts.predict)

  def evaluate(split) -> dict:
    x, y = parallel.local(split)
    return per_member(evaluate_placed(parallel.local(state), x, y))

  def predict(split) -> np.ndarray:
    x, _ = parallel.local(split)
    return per_member(predict_placed(parallel.local(state), x))

  # Each member's best state so far waits on the device (`best`, laid out as
  # the state) until its next latest checkpoint, which writes both: a
  # population's members improve most epochs, and an orbax save each would
  # cost more than their epoch. A latest checkpoint is thus never newer than
  # the best one of the same monitor.
  best, unsaved_best = None, set()
  fetched = {}  # 'state' / 'best' on the host, fetched once a round if needed

  def on_host(name: str):
    if name not in fetched:
      tree = parallel.host_state(state if name == 'state' else best)
      if parallel.population:
        tree = jax.tree.map(lambda a: a[:k], tree)
      fetched[name] = tree
    return fetched[name]

  def member_state(m: Member, name: str = 'state'):
    return member(on_host(name), m.index) if parallel.population else on_host(name)

  compile_started = time.perf_counter()
  train_epoch = parallel.compile(_frozen_unless_active(parts.train_epoch))
  train_epoch = train_epoch.lower((state, active(), limits()), x_train,
                                  y_train).compile()
  compile_s = time.perf_counter() - compile_started
  setup_s = compile_started - started

  def elapsed() -> float:
    return time.perf_counter() - started

  epochs_s = 0.0  # in the compiled epochs alone: no evaluation, no saving

  progress = ProgressBar(
      cfg.num_epochs * batches, initial_step=min(m.step for m in members),
      enabled=config.tracking.progress and primary,
      desc=(config.experiment or 'train') + (f' x{k}' if k > 1 else ''))
  with stop_on_signals() as stop_request:
    try:
      while any(m.running for m in members):
        training = [m for m in members if m.running]
        epoch_started = time.perf_counter()
        (state, _, _), step_metrics = train_epoch(
            (state, active(), limits()), x_train, y_train)
        fetched.clear()
        # Reading the losses waits for the epoch: nothing runs ahead of its
        # divergence check (and sharded CPU loops need the wait anyway).
        step_metrics = per_member(parallel.local(step_metrics))
        epochs_s += time.perf_counter() - epoch_started
        for m in training:
          of_m = member(step_metrics, m.index)
          if m.first_loss is None:
            m.first_loss = float(of_m['loss'][0])
          if not of_m['kept']:  # the compiled epoch's verdict; ours says why
            m.diverge(_divergence_problem(of_m, m.step, m.loss_limit())
                      or 'the training loss went above its limit')
          else:
            m.epoch, m.step = m.epoch + 1, m.step + batches
        advanced = [m for m in training if m.running]

        evaluated = {}
        if any(m.needs_evaluation() for m in advanced):
          for name, split in splits.items():
            for key, values in evaluate(split).items():
              evaluated[f'{name}/{key}'] = values
        improved = []
        for m in advanced:
          record = {'epoch': m.epoch, 'step': m.step}
          for key in ('loss', 'accuracy', 'objective'):
            if key in step_metrics:
              record[f'train/{key}'] = _host_mean(step_metrics[key][m.index])
          if m.needs_evaluation():
            for key, values in evaluated.items():
              record[key] = float(values[m.index])
          record['time_s'] = m.elapsed_before + elapsed()
          if m.log(record):
            improved.append(m)
        _show(progress, members, record if k == 1 and advanced else None)

        if improved:  # before the next epoch takes (donates) the state
          best = _select(mask(improved), state,
                         state if best is None else best)
          unsaved_best.update(improved)

        if epoch_end_hook is not None:
          epoch_end_hook(max(m.epoch for m in members), on_host('state'))
        stop_requested = _agreed(stop_request.requested)
        # A diverged member keeps its last good state (its updates were
        # masked) as its latest checkpoint, and the best it had found.
        saving = [m for m in training if m.wants_checkpoint(stop_requested)]
        # Every best save ends before a latest one starts: a latest
        # checkpoint always goes with the best its monitor names.
        _run_all([functools.partial(m.checkpointer.save_best,
                                    m.monitor.best_step,
                                    member_state(m, 'best'), m.meta(elapsed()))
                  for m in saving if m in unsaved_best])
        _run_all([functools.partial(m.checkpointer.save_latest, m.step,
                                    member_state(m), m.meta(elapsed()))
                  for m in saving
                  if m.step not in m.checkpointer.latest_steps()])
        unsaved_best.difference_update(saving)
        for m in saving:
          if m.status == 'diverged':
            m.explain_divergence()
        if stop_requested:
          break
    finally:
      progress.close()
      for m in members:
        m.checkpointer.close()

  for m in members:
    if m.running:
      m.status = 'interrupted'
  final, predictions = {}, {}
  if any(m.status in FINISHED for m in members):
    # Final metrics in evaluation mode, the training split included.
    for name, split in {'train': parts.train_split, **splits}.items():
      for key, values in evaluate(split).items():
        final[f'{name}/{key}'] = values
    predictions = {name: predict(splits[name])
                   for name in REPORTED_SPLITS if name in splits}

  wall_s = elapsed()
  train_s = max(wall_s - compile_s - setup_s, 1e-9)
  summaries = []
  for m in members:
    trained = m.step - m.start_step
    summary = {
        'status': m.status, 'experiment': m.config.experiment,
        'seed': m.config.seed, 'run_dir': str(m.run_dir.path),
        'epochs': m.epoch, 'steps': m.step, 'steps_per_epoch': batches,
        'resumed_from_epoch': m.start_epoch or None, 'num_params': num_params,
        'parallel': {'mode': parallel.mode, 'devices': parallel.num_devices,
                     'processes': jax.process_count()},
        'wall_time_s': m.elapsed_before + wall_s, 'compile_time_s': compile_s,
        # A population's members trained at the same time: each its own rate.
        'steps_per_second': trained / train_s if trained else None,
        # The compiled epochs' time per step, of the whole population: what
        # the optimizer and model cost, without evaluation, logging, saving.
        'epoch_time_per_step_s': epochs_s / trained if trained else None,
        'examples_per_second': (trained * parts.examples_per_step / train_s
                                if trained else None),
        'data': parts.data_summary,
        'environment': environment_info(),
        'stopped_by': stop_request.signal_name,
    }
    if parallel.population:
      summary['population'] = {'size': k, 'member': m.index,
                               'padded_size': size}
    if m.error:
      summary['error'] = m.error
    if m.status in FINISHED:
      summary['final'] = {key: float(v[m.index]) for key, v in final.items()}
      summary['report'] = prediction_reports(
          dataset, {name: p[m.index] for name, p in predictions.items()})
    best = m.best_record()
    if best:
      summary['best'] = best
    summaries.append(m.finish(summary))
  return summaries


def _show(progress: ProgressBar, members: Sequence[Member],
          record: dict | None) -> None:
  """A run's bar shows its record; a population's how many members still
  run and the best monitored value among them."""
  step = max(m.step for m in members)
  epoch = max(m.epoch for m in members)
  num_epochs = members[0].config.train.num_epochs
  if record is not None:
    progress.update(step, epoch, num_epochs, record)
    return
  bests = [m.monitor.best for m in members if m.monitor.best is not None]
  pick = max if members[0].monitor.mode == 'max' else min
  progress.update(step, epoch, num_epochs, {}, members={
      'running': sum(m.running for m in members), 'total': len(members),
      'monitor': members[0].config.train.monitor,
      'best': pick(bests) if bests else None})


def check_single_run(config: ml_collections.ConfigDict) -> None:
  """A run trains alone: 'vmap' is a population's mode."""
  if config.parallel.mode == 'vmap':
    raise ConfigError("parallel.mode: 'vmap' trains a population of runs; "
                      'launch it with `research sweep --launcher population`')


def train(config: ml_collections.ConfigDict, run_dir: RunDir, logger: Logger,
          *, dataset: Dataset | None = None,
          epoch_end_hook: EpochHook | None = None) -> dict:
  """Trains (or resumes) the run of `config` in `run_dir`; returns its summary.

  Raises DivergedError when the loss becomes NaN or Inf; the summary written
  then says so, and the latest checkpoint is the last good state.
  """
  check_single_run(config)
  parallel = Parallel.from_config(config)
  [summary] = train_members([Member(config, run_dir, logger)], parallel,
                            dataset=dataset, epoch_end_hook=epoch_end_hook)
  if summary['status'] == 'diverged':
    raise DivergedError(summary['error'])
  return summary
