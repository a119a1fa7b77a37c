"""A host-fed JAX training loop in the style of the flax examples.

The model and optimizer are the codebase's own (`research.models.build_model`,
`research.optim.build_optimizer`, `research.losses`), in a flax
`TrainState`. The data stay in NumPy on the host: each epoch draws a
permutation with NumPy, and every batch is a NumPy fancy-index slice of the
training arrays, passed to one `jax.jit`-compiled train step (one call per
batch, dispatched asynchronously, as in flax's examples/mnist). This is what
the device-resident `lax.scan` epoch of `research.train` replaces.

Models with BatchNorm are not supported here (the step keeps no batch
statistics); the benchmark's MLPs have none.
"""

import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax.training import train_state

from research import losses, models
from research.optim import build_optimizer


def create_state(config: ml_collections.ConfigDict, num_classes: int,
                 example: np.ndarray, steps_per_epoch: int) -> train_state.TrainState:
  """The config's model, initialized from `config.seed`, and its optimizer."""
  if config.model.batchnorm != 'none':
    raise ValueError('model.batchnorm: the host loop keeps no batch '
                     f'statistics; got {config.model.batchnorm!r}')
  model = models.build_model(config.model, num_classes)
  params = model.init(jax.random.key(config.seed), example)['params']
  tx = build_optimizer(config, steps_per_epoch=steps_per_epoch)
  return train_state.TrainState.create(apply_fn=model.apply, params=params,
                                       tx=tx)


def make_train_step(loss_name: str, seed: int):
  """`train_step(state, x, y) -> (state, loss)`, jitted; the dropout key of a
  step is its step number folded into the seed's key."""
  loss_fn = losses.get(loss_name)
  base_key = jax.random.key(seed)

  @jax.jit
  def train_step(state: train_state.TrainState, x, y):
    dropout_key = jax.random.fold_in(base_key, state.step)

    def loss_of(params):
      logits = state.apply_fn({'params': params}, x, train=True,
                              rngs={'dropout': dropout_key})
      return jnp.mean(loss_fn(logits, y))

    loss, grads = jax.value_and_grad(loss_of)(state.params)
    return state.apply_gradients(grads=grads), loss

  return train_step


def train_epoch(train_step, state, x: np.ndarray, y: np.ndarray,
                batch_size: int, rng: np.random.Generator):
  """One pass over (x, y) in whole batches of a host-side permutation;
  returns (state, mean loss), the loss read once at the end."""
  steps = len(x) // batch_size
  order = rng.permutation(len(x))[:steps * batch_size]
  batch_losses = []
  for batch in order.reshape(steps, batch_size):
    state, loss = train_step(state, x[batch], y[batch])
    batch_losses.append(loss)
  return state, float(np.mean(jax.device_get(batch_losses)))


def epoch_seconds(config: ml_collections.ConfigDict, x: np.ndarray,
                  y: np.ndarray, num_classes: int, *, epochs: int) -> dict:
  """Trains `epochs + 1` epochs of `config` on (x, y): {'first_epoch_s' (it
  includes the step's compilation), 'compile_s' (the first step alone), 'epoch_s'
  (each later epoch's wall time), 'losses' (each epoch's mean loss)}."""
  batch_size = config.train.batch_size
  state = create_state(config, num_classes, x[:1], len(x) // batch_size)
  train_step = make_train_step(config.loss.name, config.seed)
  rng = np.random.default_rng(config.seed)

  start = time.perf_counter()
  # Compiled ahead of the first call, which then reuses it (so the first
  # epoch's time includes the compilation once).
  train_step.lower(state, x[:batch_size], y[:batch_size]).compile()
  compile_s = time.perf_counter() - start
  state, loss = train_epoch(train_step, state, x, y, batch_size, rng)
  first_epoch_s = time.perf_counter() - start
  seconds, epoch_losses = [], [loss]
  for _ in range(epochs):
    start = time.perf_counter()
    state, loss = train_epoch(train_step, state, x, y, batch_size, rng)
    seconds.append(time.perf_counter() - start)
    epoch_losses.append(loss)
  return {'first_epoch_s': first_epoch_s, 'compile_s': compile_s,
          'epoch_s': seconds, 'losses': epoch_losses}
