"""The pure train and eval steps: `train_step(state, batch) -> (state, metrics)`."""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from research.augment import mixup, tta_predict
from research.distillation import DistillTargets
from research.optim.evaluation import evaluation_params
from research.pruning import apply_masks
from research.train.hparams import model_rates
from research.train.state import (AUGMENT_STREAM, MODEL_STREAM, TrainState,
                                  step_key)

LossFn = Callable[[jax.Array, jax.Array], jax.Array]  # per-example losses
PenaltyFn = Callable[[Any], jax.Array]  # params -> scalar added to the loss
AugmentFn = Callable[[jax.Array, Any], Any]  # (key, (x, y)) -> (x, y)
Optimizer = optax.GradientTransformationExtraArgs
OptimizerFn = Callable[[dict], Optimizer]  # state.hparams -> optimizer


def hard_labels(labels) -> jax.Array:
  """Class ids from int labels, soft (N, C) targets or `DistillTargets`."""
  if isinstance(labels, DistillTargets):
    return labels.labels
  return labels if labels.ndim == 1 else jnp.argmax(labels, axis=-1)


def make_train_step(model: nn.Module, tx: Optimizer | OptimizerFn,
                    loss_fn: LossFn, penalty: PenaltyFn | None = None,
                    augment: AugmentFn | None = None,
                    num_classes: int | None = None,
                    axis_name: str | None = None):
  """Returns `train_step(state, (x, y)) -> (state, metrics)`.

  The batch is first augmented on the device (`augment`, then mixup when
  `state.hparams` has a `mixup_alpha`, which needs `num_classes`). The
  optimizer minimizes the mean loss plus `penalty(params)`; the metrics report
  the data loss ('loss') and, with a penalty, the sum ('objective'). Dropout
  and its relatives read their rates from `state.hparams`; `tx` may be a
  function of `state.hparams` (see `research.optim.optimizer_for`), so the
  learning rate and weight decay are data too.

  Under `pmap`, `axis_name` names the device axis: the gradient, the loss seen
  by a line search and the metrics are averaged over it (BatchNorm averages
  its statistics itself when the model has the same `bn_axis_name`), and the
  step key is folded with the device index so devices draw different masks.
  """
  tx_for = tx if callable(tx) else (lambda _: tx)

  def global_mean(value):
    return value if axis_name is None else jax.lax.pmean(value, axis_name)

  def train_step(state: TrainState, batch):
    key = step_key(state.rng, state.step)
    if axis_name is not None:
      key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
    dropout_key = jax.random.fold_in(key, MODEL_STREAM)
    augment_key = jax.random.fold_in(key, AUGMENT_STREAM)
    if augment is not None:
      batch = augment(jax.random.fold_in(augment_key, 0), batch)
    if 'mixup_alpha' in state.hparams:
      batch = mixup(jax.random.fold_in(augment_key, 1), batch,
                    state.hparams['mixup_alpha'], num_classes)
    x, y = batch
    rates = model_rates(state.hparams)

    def loss_and_updates(params):
      logits, updates = model.apply(
          {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
          rngs={'dropout': dropout_key}, mutable=['batch_stats'], **rates)
      data_loss = jnp.mean(loss_fn(logits, y))
      objective = data_loss + penalty(params) if penalty else data_loss
      return objective, (data_loss, logits, updates)

    (objective, (loss, logits, model_updates)), grads = jax.value_and_grad(
        loss_and_updates, has_aux=True)(state.params)
    grads, objective, loss = global_mean((grads, objective, loss))
    # Pruned weights get no gradient, and are zeroed again after the update:
    # no optimizer state (momentum, weight decay, constraints) revives them.
    grads = apply_masks(grads, state.masks)

    # The same batch, dropout masks and BatchNorm mode: a line search that
    # calls value_fn sees the function whose gradient it was given.
    def value_fn(params):
      return global_mean(loss_and_updates(params)[0])

    updates, opt_state = tx_for(state.hparams).update(
        grads, state.opt_state, state.params, value=objective, grad=grads,
        value_fn=value_fn)
    new_state = state.replace(
        step=state.step + 1,
        params=apply_masks(optax.apply_updates(state.params, updates),
                           state.masks),
        batch_stats=model_updates.get('batch_stats', state.batch_stats),
        opt_state=opt_state,
    )
    accuracy = global_mean(jnp.mean(jnp.argmax(logits, -1) == hard_labels(y)))
    metrics = {'loss': loss, 'accuracy': accuracy}
    if penalty:
      metrics['objective'] = objective
    return new_state, metrics

  return train_step


def make_logits_fn(model: nn.Module, *, bn_batch_statistics: bool = False):
  """Returns `logits_fn(state, x)` in evaluation mode: BatchNorm with its
  running statistics, or with `bn_batch_statistics` those of `x` itself; no
  noise (dropout and its relatives off). The parameters are those the
  optimizer keeps to evaluate where it keeps any (a parameter EMA,
  Schedule-Free's average x), else the state's own."""

  def logits_fn(state: TrainState, x):
    variables = {'params': evaluation_params(state.opt_state, state.params),
                 'batch_stats': state.batch_stats}
    # No masks drawn, but each rate the state's own (a population member's):
    # vanilla dropout and stochastic depth scale by it at test.
    rates = model_rates(state.hparams)
    if bn_batch_statistics:
      logits, _ = model.apply(variables, x, train=True, sample_masks=False,
                              mutable=['batch_stats'], **rates)
      return logits
    return model.apply(variables, x, train=False, **rates)

  return logits_fn


def make_test_time_logits(model: nn.Module, *,
                          views: Sequence[Callable] | None = None,
                          bn_batch_statistics: bool = False):
  """Returns `logits(state, x)` as evaluation sees them: the model's, or with
  test-time `views` the log of the views' averaged predicted distribution."""
  logits_fn = make_logits_fn(model, bn_batch_statistics=bn_batch_statistics)
  if views is None:
    return logits_fn

  def averaged(state: TrainState, x):
    probabilities = tta_predict(lambda v: logits_fn(state, v), x, views)
    return jnp.log(jnp.maximum(probabilities, jnp.finfo(jnp.float32).tiny))

  return averaged


def make_eval_step(model: nn.Module, loss_fn: LossFn, *,
                   views: Sequence[Callable] | None = None,
                   bn_batch_statistics: bool = False):
  """Returns `eval_step(state, x, y, mask) -> {'loss_sum', 'correct', 'count'}`.

  Sums rather than means, so chunks of a split add up exactly; `mask` marks the
  real rows of a padded last chunk. BatchNorm uses its running statistics, or
  with `bn_batch_statistics` those of each evaluated chunk (no noise: dropout
  and its relatives off). With test-time `views`, the predicted distributions
  of the views are averaged, and the loss is the negative log-likelihood of
  that average.
  """
  logits_fn = make_test_time_logits(model, views=views,
                                    bn_batch_statistics=bn_batch_statistics)

  def eval_step(state: TrainState, x, y, mask):
    mask = mask.astype(jnp.float32)
    logits = logits_fn(state, x)
    if views is None:
      losses = loss_fn(logits, y)
    else:
      losses = -jnp.take_along_axis(logits, hard_labels(y)[:, None], -1)[:, 0]
    correct = (jnp.argmax(logits, -1) == hard_labels(y)).astype(jnp.float32)
    return {'loss_sum': jnp.sum(losses * mask),
            'correct': jnp.sum(correct * mask),
            'count': jnp.sum(mask)}

  return eval_step


def make_predict_step(model: nn.Module, *,
                      views: Sequence[Callable] | None = None,
                      bn_batch_statistics: bool = False):
  """Returns `predict_step(state, x) -> int32 class ids`, the argmax of the
  same logits as `make_eval_step`'s (so its accuracy is evaluation's)."""
  logits_fn = make_test_time_logits(model, views=views,
                                    bn_batch_statistics=bn_batch_statistics)

  def predict_step(state: TrainState, x):
    return jnp.argmax(logits_fn(state, x), -1).astype(jnp.int32)

  return predict_step
