"""The train state: one pytree holding everything a run needs to continue."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn


@dataclasses.dataclass(frozen=True)
class TrainState:
  """`step`, `params`, `batch_stats` (BatchNorm's running statistics, {} when
  the model has none), `opt_state`, `rng`, `hparams` and `masks`. Pure data: the
  model and the optimizer are passed to the step functions, so the state
  checkpoints, `vmap`s and `pmap`s as it is."""
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array
  # Regularization strengths as data (see research/train/hparams.py).
  hparams: Any = dataclasses.field(default_factory=dict)
  # Pruning masks, a pytree like params of 0/1 (research/pruning.py), or {}
  # when not pruning: the train step holds the masked weights at zero.
  masks: Any = dataclasses.field(default_factory=dict)

  def replace(self, **changes) -> 'TrainState':
    return dataclasses.replace(self, **changes)


_FIELDS = tuple(f.name for f in dataclasses.fields(TrainState))


def _flatten_with_keys(state: TrainState):
  # Empty masks are left out of the tree: a state that does not prune has the
  # tree, hence the checkpoints, it had before `masks` existed, so checkpoints
  # written then still restore (orbax compares trees key by key).
  names = tuple(n for n in _FIELDS if n != 'masks' or state.masks)
  return [(jax.tree_util.GetAttrKey(n), getattr(state, n)) for n in names], names


def _unflatten(names, children) -> TrainState:
  return TrainState(**dict(zip(names, children)))


def _flatten(state: TrainState):
  keyed, names = _flatten_with_keys(state)
  return [child for _, child in keyed], names


jax.tree_util.register_pytree_with_keys(
    TrainState, _flatten_with_keys, _unflatten, flatten_func=_flatten)


def step_key(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The key of one step: a run is reproducible from its seed and resumable
  from any step, because nothing else feeds the randomness."""
  return jax.random.fold_in(rng, step)


# Streams split off each step's key, so dropout masks and the epoch's shuffle
# never share random bits.
MODEL_STREAM = 0
SHUFFLE_STREAM = 1
AUGMENT_STREAM = 2


def create_train_state(seed: int, model: nn.Module,
                       tx: optax.GradientTransformation,
                       example_input: jax.Array,
                       hparams: dict | None = None) -> TrainState:
  """Initializes parameters from `seed` on an example batch of inputs."""
  init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
  variables = model.init({'params': init_key}, example_input, train=False)
  params = variables['params']
  state = TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats=variables.get('batch_stats', {}),
      opt_state=tx.init(params),
      rng=train_key,
      hparams=dict(hparams or {}),
  )
  # The loop donates the state to each epoch's call, and XLA refuses to donate
  # one buffer twice: an `init` may legitimately share one zeros array between
  # two leaves (L-BFGS's s and y histories), so give every leaf its own buffer.
  return jax.tree.map(jnp.copy, state)
