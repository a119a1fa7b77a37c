"""The device's measured matrix-multiply peak, and the FLOPs of an MLP step.

FLOPs of one train step (`train_step_flops`): a Dense layer in -> out on a
batch of B costs 2*B*in*out in its forward matmul (x W) and as much in each of
its two backward matmuls, the kernel's gradient (x^T g) and the input's
(g W^T). Nothing asks for the gradient of the data, so JAX skips the first
layer's input gradient: a step costs 6*B*sum(in*out) - 2*B*in_0*out_0. The
common "6 x parameters x examples" count (`input_gradient=True`) includes it
(17% more than executed for 784-1024-1024-10, 25% for 784-512-512-10;
this module reports the executed count). Left out, as small next to the
matmuls: biases, ReLU, dropout masks, the softmax cross-entropy, the
optimizer's update (each O(B * width) or O(parameters)) and the gather of
the batch; a dot product of n terms counts as 2n FLOPs (it is 2n - 1).

The peak (`matmul_peak`) is the best of a few timed runs of a jitted float32
`x @ y` on large square matrices, after a warm-up (its compilation), waiting
for the result each time, at JAX's default precision as in training (on
recent NVIDIA GPUs, float32 matmuls then run as TF32). `step_matmul_rate` is the same for the matmuls of
a train step at its own (small) shapes: what the step could reach if it were
nothing but its matmuls.
"""

import math
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Layers = Sequence[tuple[int, int]]  # (fan_in, fan_out) of each Dense layer


def dense_layers(input_dim: int, hidden: Sequence[int],
                 num_classes: int) -> list[tuple[int, int]]:
  """(in, out) of each Dense layer of an MLP, the output layer included."""
  widths = [input_dim, *hidden, num_classes]
  return list(zip(widths[:-1], widths[1:]))


def train_step_flops(layers: Layers, batch_size: int, *,
                     input_gradient: bool = False) -> int:
  """Matmul FLOPs of one train step (forward and backward) on a batch.

  Args:
    layers: (in, out) of each Dense layer, first to last.
    batch_size: examples in the step.
    input_gradient: also count the first layer's input gradient, which JAX
      does not compute (the "6 * parameters * examples" convention).
  """
  total = 0
  for i, (fan_in, fan_out) in enumerate(layers):
    products = 3 if (i > 0 or input_gradient) else 2
    total += products * 2 * batch_size * fan_in * fan_out
  return total


def _random(rng: np.random.Generator, shape, dtype) -> jax.Array:
  # NumPy draws: no compilation of a random-number program per shape.
  return jnp.asarray(rng.standard_normal(shape, np.float32), dtype)


def time_best(fn: Callable, *args, repeats: int) -> float:
  """Seconds of the fastest of `repeats` calls, after one untimed call (the
  compilation); each call waits for its result."""
  jax.block_until_ready(fn(*args))
  best = math.inf
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - start)
  return best


def matmul_peak(sizes: Sequence[int] = (2048, 4096), *, repeats: int = 5,
                dtype=jnp.float32) -> dict[int, float]:
  """FLOP/s of a jitted `x @ y` on n x n matrices, for each n in `sizes`."""
  matmul = jax.jit(jnp.matmul)
  rng = np.random.default_rng(0)
  rates = {}
  for n in sizes:
    x, y = (_random(rng, (n, n), dtype) for _ in range(2))
    rates[n] = 2 * n**3 / time_best(matmul, x, y, repeats=repeats)
  return rates


def step_matmul_rate(layers: Layers, batch_size: int, *, steps: int = 20,
                     repeats: int = 5, dtype=jnp.float32,
                     members: int = 0) -> float:
  """FLOP/s of the matmuls of `steps` train steps at these shapes alone.

  One jitted `lax.scan` over the steps, as the training epoch is; each step
  has its own random activations x and output gradients g (nothing is loop
  invariant, so nothing is hoisted), and computes per layer x W, x^T g and,
  but for the first layer, g W^T. Each product is summed into the carry so
  that XLA keeps it; the sums are counted as time, not as FLOPs. With
  `members` > 0, a population's step: every member has its own weights and
  data, and the products are `vmap`ped over them, as in
  `research.train.population` (the FLOPs of all members count).
  """
  rng = np.random.default_rng(0)
  lead = (members,) if members else ()
  weights, activations, gradients = [], [], []
  for fan_in, fan_out in layers:
    weights.append(_random(rng, lead + (fan_in, fan_out), dtype))
    activations.append(_random(rng, (steps,) + lead + (batch_size, fan_in), dtype))
    gradients.append(_random(rng, (steps,) + lead + (batch_size, fan_out), dtype))

  def products(weights, step):
    total = jnp.zeros((), dtype)
    for i, (w, (x, g)) in enumerate(zip(weights, step)):
      total += jnp.sum(x @ w) + jnp.sum(x.T @ g)
      if i > 0:
        total += jnp.sum(g @ w.T)
    return total

  step_products = jax.vmap(products) if members else products

  @jax.jit
  def run(weights, xs_and_gs):
    def body(total, step):
      return total + jnp.sum(step_products(weights, step)), None
    return jax.lax.scan(body, jnp.zeros((), dtype), xs_and_gs)[0]

  seconds = time_best(run, weights, list(zip(activations, gradients)),
                      repeats=repeats)
  return (max(members, 1) * steps * train_step_flops(layers, batch_size)
          / seconds)
