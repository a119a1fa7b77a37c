"""Per-example classification losses, looked up by name.

Each loss maps `(outputs (N, C), labels)` to per-example losses (N,).
`labels` are int class ids (N,) or soft / one-hot targets (N, C), e.g. from
mixup; hinge takes hard labels only. Multi-output losses average over the C
units, as Keras does.

Label smoothing (Szegedy et al. 2016; config `loss.label_smoothing` = a) is an
option of the training loss (`training_loss`): its targets become
(1 - a) one_hot + a / C, and soft targets (mixup's) are smoothed the same way,
(1 - a) y + a / C. Evaluation keeps the plain loss of `get`.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from research.errors import ConfigError

Loss = Callable[[jax.Array, jax.Array], jax.Array]


def _is_soft(outputs: jax.Array, labels: jax.Array) -> bool:
  return labels.ndim == outputs.ndim


def _targets(outputs: jax.Array, labels: jax.Array) -> jax.Array:
  """Soft targets (N, C): hard labels become one-hot."""
  if _is_soft(outputs, labels):
    return labels.astype(outputs.dtype)
  return jax.nn.one_hot(labels, outputs.shape[-1], dtype=outputs.dtype)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Softmax cross-entropy, stable via log_softmax."""
  if _is_soft(logits, labels):
    return optax.softmax_cross_entropy(logits, labels)
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Sigmoid cross-entropy per output unit, averaged over the units."""
  return optax.sigmoid_binary_cross_entropy(
      logits, _targets(logits, labels)).mean(axis=-1)


def mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean squared error against one-hot (or soft) targets."""
  return jnp.mean(jnp.square(outputs - _targets(outputs, labels)), axis=-1)


def mae(outputs: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean absolute error against one-hot (or soft) targets."""
  return jnp.mean(jnp.abs(outputs - _targets(outputs, labels)), axis=-1)


def hinge(scores: jax.Array, labels: jax.Array) -> jax.Array:
  """Multiclass (Weston-Watkins) hinge: sum_{j != y} max(0, s_j - s_y + 1)."""
  if _is_soft(scores, labels):
    raise ValueError(
        'hinge loss takes hard (integer) labels only, got soft labels of '
        f'shape {labels.shape}; mixup and label smoothing need another loss')
  correct = jnp.take_along_axis(scores, labels[..., None], axis=-1)
  margins = jnp.maximum(0.0, scores - correct + 1.0)
  # The j == y term is exactly max(0, 1) = 1; drop it.
  margins = jnp.where(
      jax.nn.one_hot(labels, scores.shape[-1], dtype=bool), 0.0, margins)
  return margins.sum(axis=-1)


def smooth_labels(targets: jax.Array, alpha: float | jax.Array) -> jax.Array:
  """(1 - alpha) targets + alpha / C for soft or one-hot targets (N, C)."""
  return (1.0 - alpha) * targets + alpha / targets.shape[-1]


def smoothed(loss_fn: Loss, alpha: float) -> Loss:
  """`loss_fn` against targets smoothed by `alpha` (0 returns `loss_fn`)."""
  if not alpha:
    return loss_fn

  def loss(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    return loss_fn(outputs, smooth_labels(_targets(outputs, labels), alpha))
  return loss


_LOSSES: dict[str, Loss] = {
    'binary_cross_entropy': binary_cross_entropy,
    'cross_entropy': cross_entropy,
    'hinge': hinge,
    'mae': mae,
    'mse': mse,
}

NAMES: tuple[str, ...] = tuple(sorted(_LOSSES))


def get(name: str) -> Loss:
  """Returns the loss called `name` (config key `loss.name`)."""
  try:
    return _LOSSES[name]
  except (KeyError, TypeError):
    raise ConfigError(
        f'loss.name: unknown loss {name!r}; known: {", ".join(NAMES)}'
    ) from None


def training_loss(loss_config: ml_collections.ConfigDict) -> Loss:
  """The loss a run trains with: `loss.name`, with `loss.label_smoothing`."""
  return smoothed(get(loss_config.name),
                  float(loss_config.get('label_smoothing', 0.0)))


def validate_loss_config(loss_config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError, naming the key, for a bad `loss` config section."""
  try:
    name = loss_config['name']
  except KeyError:
    raise ConfigError('loss.name: missing from the loss config') from None
  get(name)
  alpha = loss_config.get('label_smoothing', 0.0)
  if (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
      or not 0 <= alpha < 1):
    raise ConfigError(f'loss.label_smoothing: {alpha!r} must be in [0, 1)')
  if alpha and name == 'hinge':
    raise ConfigError('loss.label_smoothing: the hinge loss takes hard labels '
                      'only; smoothing needs another loss')
