"""Per-layer statistics of an MLP at initialization, on one batch.

For every hidden layer and the output layer: the mean and std of the
pre-activation (what enters the activation) and of the activation (what
leaves it), the fraction of units that pass (almost) no gradient, the norm of
the loss's gradient with respect to the layer's kernel and its ratio to the
kernel's own norm, and a sample of the activation values for histograms.
Vanishing gradients show as a first-layer gradient norm far below the last
layer's; exploding ones as the reverse; saturation and dead units show why.

The network is seen as training sees it on its first step, without the noise
of the regularizers: BatchNorm normalizes with the batch's statistics; dropout,
DropConnect and stochastic depth are off. The loss is the mean softmax
cross-entropy, whatever `config.loss` says: the diagnostic is the same for
every run. The output layer has no activation of its own: its activation
values are the logits.

`layer_statistics(config, x, y, seed)` is what experiments call; `statistics`
is its pure core, compiled once per architecture.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from research.models import build_model

# Values kept per layer for histograms: enough for a smooth one, few enough
# that twelve configs' worth stays small.
DEFAULT_SAMPLE_SIZE = 4000


@dataclasses.dataclass(frozen=True)
class Inactivity:
  """Where an activation passes (almost) no gradient.

  `per_unit` False: the fraction of (example, unit) values where `condition`
  holds (saturation, a property of each value). True: the fraction of units
  where it holds on every example of the batch (a dead unit, which no example
  can revive on this batch).
  """
  label: str  # 'saturated' or 'dead'
  per_unit: bool
  condition: Callable[[jax.Array, jax.Array], jax.Array]  # (pre, act) -> bool
  rule: str  # the condition in words, for tables


# Sigmoid and tanh as the lectures define saturation; the others where their
# derivative is below 0.01 (softplus' = sigmoid(pre) < 0.01 <=> act < ~0.01;
# elu' = act + 1 < 0.01) or where a unit is flat on the whole batch.
INACTIVITY: dict[str, Inactivity] = {
    'sigmoid': Inactivity('saturated', False,
                          lambda pre, a: (a < 0.01) | (a > 0.99),
                          'sigmoid < 0.01 or > 0.99'),
    'tanh': Inactivity('saturated', False, lambda pre, a: jnp.abs(a) > 0.99,
                       '|tanh| > 0.99'),
    'relu': Inactivity('dead', True, lambda pre, a: a == 0,
                       'output 0 on the whole batch'),
    'leaky_relu': Inactivity('dead', True, lambda pre, a: pre <= 0,
                             'on the 0.01 slope on the whole batch'),
    'elu': Inactivity('saturated', False, lambda pre, a: a < -0.99,
                      'elu < -0.99 (derivative < 0.01)'),
    'softplus': Inactivity('saturated', False, lambda pre, a: a < 0.01,
                           'softplus < 0.01 (derivative < 0.01)'),
    # Its derivative is 0 everywhere: every value is saturated.
    'binary_step': Inactivity('saturated', False,
                              lambda pre, a: jnp.ones_like(a, dtype=bool),
                              'derivative 0 everywhere'),
}


def inactivity_of(activation: str, maxout_pieces: int = 1) -> Inactivity | None:
  """How `activation` saturates or dies; None for linear and maxout (never)."""
  if maxout_pieces > 1:
    return None
  return INACTIVITY.get(activation)


def init_variables(model: nn.Module, seed: int, x: jax.Array) -> dict:
  """The variables a run of seed `seed` starts from: the keys of
  research.train.state.create_train_state, so statistics describe the
  network that trial actually trained. Eager, like training's: each random
  draw compiles once per shape, and a grid of configs shares the shapes."""
  init_key, _ = jax.random.split(jax.random.PRNGKey(seed))
  return model.init({'params': init_key}, x, train=False)


def forward_and_gradients(model: nn.Module, variables: dict, x: jax.Array,
                          y: jax.Array) -> tuple[jax.Array, dict, dict, dict]:
  """One forward and backward pass as training's first step sees it.

  Returns:
    loss (mean softmax cross-entropy), logits, the model's sown
    intermediates ({name: value}) and the gradient of the loss with respect
    to the parameters.
  """
  train = model.batchnorm != 'none'
  mutable = ['intermediates'] + (['batch_stats'] if train else [])
  # Static zeros switch every regularizer off without drawing an rng.
  off = {'dropout_rate': 0.0, 'input_dropout_rate': 0.0,
         'dropconnect_rate': 0.0, 'stochastic_depth_rate': 0.0}

  def loss_fn(params):
    logits, updates = model.apply({**variables, 'params': params}, x,
                                  train=train, mutable=mutable, **off)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    # sow keeps a tuple of the values sown under each name: one here.
    values = {k: v[0] for k, v in updates['intermediates'].items()}
    return loss, (logits, values)

  (loss, (logits, values)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(variables['params'])
  return loss, logits, values, grads


def inactive_fraction(rule: Inactivity | None, pre: jax.Array,
                       act: jax.Array) -> jax.Array:
  """The fraction of values (or of units, for a per-unit rule) that `rule`
  finds inactive in a layer's (N, width) pre-activation and activation; NaN
  without a rule."""
  if rule is None:
    return jnp.array(jnp.nan)
  hit = rule.condition(pre, act)
  if rule.per_unit:
    return jnp.mean(jnp.all(hit, axis=0))
  return jnp.mean(hit)


def _sample(values: jax.Array, size: int) -> jax.Array:
  """All values if there are at most `size`, else `size` of them at
  positions fixed by NumPy when tracing (the same for every config of this
  shape; no random-number program to compile)."""
  flat = values.reshape(-1)
  if flat.size <= size:
    return flat
  positions = np.random.default_rng(0).choice(flat.size, size, replace=False)
  return flat[np.sort(positions)]


def _norm(x: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.sum(jnp.square(x)))


def statistics(model: nn.Module, variables: dict, x: jax.Array, y: jax.Array,
               sample_size: int = DEFAULT_SAMPLE_SIZE) -> list[dict[str, Any]]:
  """Per-layer statistics as arrays (jit-able for a fixed `model`); the
  hidden layers in order, then the output layer. Keys as `layer_statistics`."""
  _, logits, values, grads = forward_and_gradients(model, variables, x, y)
  rule = inactivity_of(model.activation, model.maxout_pieces)
  num_hidden = len(model.hidden)
  layers = []
  for i in range(num_hidden + 1):
    if i < num_hidden:
      pre, act = values[f'pre_activation_{i}'], values[f'activation_{i}']
      out, inactive = values[f'output_{i}'], inactive_fraction(rule, pre, act)
    else:
      pre = act = out = logits
      inactive = jnp.array(jnp.nan)
    kernel = variables['params'][f'Dense_{i}']['kernel']
    grad_norm = _norm(grads[f'Dense_{i}']['kernel'])
    weight_norm = _norm(kernel)
    layers.append({
        'pre_activation_mean': jnp.mean(pre),
        'pre_activation_std': jnp.std(pre),
        'activation_mean': jnp.mean(act),
        'activation_std': jnp.std(act),
        'output_std': jnp.std(out),
        'inactive_fraction': inactive,
        'grad_norm': grad_norm,
        'weight_norm': weight_norm,
        'grad_to_weight': grad_norm / weight_norm,
        'activation_sample': _sample(act, sample_size),
    })
  return layers


@functools.lru_cache(maxsize=64)
def _compiled(model: nn.Module, sample_size: int):
  """`statistics` compiled once per (hashable) model."""
  return jax.jit(functools.partial(statistics, model, sample_size=sample_size))


def layer_statistics(config: ml_collections.ConfigDict, x, y, seed: int, *,
                     num_classes: int | None = None,
                     sample_size: int = DEFAULT_SAMPLE_SIZE) -> list[dict]:
  """Statistics of `config`'s model at the initialization of seed `seed`.

  Args:
    config: a run config (its `model` section is used).
    x: a batch of inputs (N, ...), normalized as training sees them.
    y: their integer labels (N,).
    seed: the run seed whose initialization to describe.
    num_classes: output units; None means the labels' largest id + 1.
    sample_size: activation values kept per layer for histograms.

  Returns:
    One dict per layer, the hidden layers in order then the output layer:
    'layer' (0-based), 'name' ('hidden 1'... or 'output'), 'width',
    'pre_activation_mean' / '_std', 'activation_mean' / '_std' (the logits for
    the output layer), 'output_std' (the layer's output: the residual sum in a
    residual layer), 'inactive_fraction' (NaN where the activation cannot
    saturate or die), 'inactive_label' ('saturated', 'dead' or ''),
    'grad_norm' (Frobenius norm of dL/dW), 'weight_norm', 'grad_to_weight',
    all floats, and 'activation_sample' (a NumPy array).
  """
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
  if num_classes is None:
    num_classes = int(jnp.max(y)) + 1
  model = build_model(config.model, num_classes)
  variables = init_variables(model, seed, x)
  # The initializer is used by `init`, never by `apply`: models that differ
  # only in it share one compiled program.
  shared = model.clone(initializer='lecun_normal', init_std=None)
  layers = jax.device_get(_compiled(shared, sample_size)(variables, x, y))
  rule = inactivity_of(model.activation, model.maxout_pieces)
  widths = [*model.hidden, num_classes]
  result = []
  for i, layer in enumerate(layers):
    hidden = i < len(model.hidden)
    result.append({
        'layer': i,
        'name': f'hidden {i + 1}' if hidden else 'output',
        'width': int(widths[i]),
        'inactive_label': rule.label if (rule and hidden) else '',
        **{k: (np.asarray(v) if k == 'activation_sample' else float(v))
           for k, v in layer.items()},
    })
  return result
