"""An epoch on the device: a permutation of the resident dataset, then one
`lax.scan` of train steps over its batches. The host is not in the loop."""

import jax
import jax.numpy as jnp

from research.train.state import SHUFFLE_STREAM, TrainState, step_key


def epoch_batch_indices(key: jax.Array, num_examples: int, batch_size: int,
                        shuffle: bool) -> jax.Array:
  """(steps_per_epoch, batch_size) example indices; a last partial batch is
  dropped so every step has the same shape. Without shuffling the batches are
  taken in order, as in the MNIST-1D notebooks."""
  steps = num_examples // batch_size
  order = (jax.random.permutation(key, num_examples) if shuffle
           else jnp.arange(num_examples))
  return order[:steps * batch_size].reshape(steps, batch_size)


def steps_per_epoch(num_examples: int, batch_size: int, batching: str) -> int:
  return num_examples // batch_size if batching == 'epoch' else 1


def make_train_epoch(train_step, *, num_examples: int, batch_size: int,
                     shuffle: bool, batching: str = 'epoch',
                     axis_name: str | None = None, num_devices: int = 1):
  """Returns `train_epoch(state, x, y) -> (state, per-step metrics)`.

  batching 'epoch': a pass over the data in minibatches; the permutation's key
  comes from the key of the epoch's first step, so an epoch's batches depend
  only on the seed and the step it starts at. 'full': one step on the whole
  split (no copy of it). 'fixed': one step on its first `batch_size` examples.

  Under `pmap` (`axis_name` set), every device draws the same permutation and
  trains on its own contiguous slice of each batch (batching 'epoch' only):
  together, the devices see exactly the single-device batches.
  """
  if axis_name is not None and batching != 'epoch':
    raise ValueError(f"batching {batching!r} under pmap: only 'epoch' splits")
  local_batch = batch_size // num_devices

  def run_steps(state: TrainState, x: jax.Array, y: jax.Array):
    if batching == 'full':
      state, metrics = train_step(state, (x, y))
      return state, jax.tree.map(lambda m: m[None], metrics)
    if batching == 'fixed':
      state, metrics = train_step(
          state, (x[:batch_size], jax.tree.map(lambda a: a[:batch_size], y)))
      return state, jax.tree.map(lambda m: m[None], metrics)
    key = jax.random.fold_in(step_key(state.rng, state.step), SHUFFLE_STREAM)
    indices = epoch_batch_indices(key, num_examples, batch_size, shuffle)

    def body(state, batch_indices):
      if axis_name is not None:
        batch_indices = jax.lax.dynamic_slice_in_dim(
            batch_indices, jax.lax.axis_index(axis_name) * local_batch,
            local_batch)
      # y may be a pytree of per-example arrays (distillation's targets).
      return train_step(state, (x[batch_indices],
                                jax.tree.map(lambda a: a[batch_indices], y)))

    return jax.lax.scan(body, state, indices)

  def train_epoch(state: TrainState, x: jax.Array, y: jax.Array):
    state, metrics = run_steps(state, x, y)
    # Checked here, on the device: a NaN could reach the parameters in the
    # epoch's last step without showing in any loss of this epoch.
    metrics['params_finite'] = jnp.all(jnp.asarray(
        [jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(state.params)]))
    return state, metrics

  return train_epoch


def _chunked(a: jax.Array, batch_size: int) -> jax.Array:
  """(chunks, batch_size, ...): `a` zero-padded to whole chunks."""
  chunks = -(-a.shape[0] // batch_size)
  pad = chunks * batch_size - a.shape[0]
  a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
  return a.reshape((chunks, batch_size) + a.shape[1:])


def make_evaluate(eval_step, *, batch_size: int):
  """Returns `evaluate(state, x, y) -> {'loss', 'accuracy'}` over a whole split,
  in chunks of `batch_size` (the last one padded and masked)."""

  def evaluate(state: TrainState, x: jax.Array, y: jax.Array):
    mask = jnp.ones((x.shape[0],), jnp.bool_)  # padding rows become False

    def body(totals, chunk):
      out = eval_step(state, *chunk)
      return jax.tree.map(jnp.add, totals, out), None

    zero = {'loss_sum': jnp.zeros(()), 'correct': jnp.zeros(()),
            'count': jnp.zeros(())}
    chunks = tuple(_chunked(a, batch_size) for a in (x, y, mask))
    totals, _ = jax.lax.scan(body, zero, chunks)
    return {'loss': totals['loss_sum'] / totals['count'],
            'accuracy': totals['correct'] / totals['count']}

  return evaluate


def make_predict(predict_step, *, batch_size: int):
  """Returns `predict(state, x) -> (N,) int32 predicted classes`, in the same
  padded chunks as `make_evaluate` (so BatchNorm with batch statistics sees
  the same chunks), the padding rows dropped."""

  def predict(state: TrainState, x: jax.Array):
    _, predictions = jax.lax.scan(
        lambda carry, chunk: (carry, predict_step(state, chunk)), None,
        _chunked(x, batch_size))
    return predictions.reshape(-1)[:x.shape[0]]

  return predict
