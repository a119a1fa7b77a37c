"""The lectures' worked examples, checked on our MLP: the forward pass of a
3-3-2 sigmoid network by hand, backpropagation's deltas (the output layer's
(O - T) O (1 - O) times the unit's input I, and the hidden layer's), and a
finite-difference check of the whole network's gradient in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import losses
from research.models import MLP

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))  # 4 examples, 3 inputs
W1, B1 = RNG.normal(size=(3, 3)), RNG.normal(size=3)
W2, B2 = RNG.normal(size=(3, 2)), RNG.normal(size=2)
T = RNG.uniform(size=(4, 2))  # targets in (0, 1), as the sigmoid outputs


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def _params(dtype=jnp.float32):
  return {'Dense_0': {'kernel': jnp.asarray(W1, dtype), 'bias': jnp.asarray(B1, dtype)},
          'Dense_1': {'kernel': jnp.asarray(W2, dtype), 'bias': jnp.asarray(B2, dtype)}}


NET = MLP(num_classes=2, hidden=(3,), activation='sigmoid')
NET64 = MLP(num_classes=2, hidden=(3,), activation='sigmoid', compute_dtype='float64')


def _outputs(params, x, net=NET):
  """The lecture's network: sigmoid outputs on top of our MLP's logits."""
  return jax.nn.sigmoid(net.apply({'params': params}, x))


def test_3_3_2_forward_pass_by_hand():
  hidden = _sigmoid(X @ W1 + B1)  # I: what the output layer takes in
  expected = _sigmoid(hidden @ W2 + B2)
  got = _outputs(_params(), jnp.asarray(X, jnp.float32))
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_backprop_deltas_are_the_lectures():
  # E = 1/2 sum (O - T)^2. Output layer: dE/dw_jk = I_j (O_k - T_k) O_k (1 - O_k).
  # Hidden layer: delta_j = I_j (1 - I_j) sum_k w_jk delta_k, dE/dw_ij = x_i delta_j.
  hidden = _sigmoid(X @ W1 + B1)
  out = _sigmoid(hidden @ W2 + B2)
  delta_out = (out - T) * out * (1 - out)
  delta_hidden = hidden * (1 - hidden) * (delta_out @ W2.T)
  expected = {'Dense_1': {'kernel': hidden.T @ delta_out, 'bias': delta_out.sum(0)},
              'Dense_0': {'kernel': X.T @ delta_hidden, 'bias': delta_hidden.sum(0)}}

  def error(params):
    return 0.5 * jnp.sum((_outputs(params, jnp.asarray(X), NET64) - T) ** 2)

  with jax.enable_x64(True):
    grads = jax.jit(jax.grad(error))(_params(jnp.float64))  # compiled: see below
  jax.tree.map(lambda g, e: np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12),
               grads, expected)


@pytest.mark.parametrize('model', [
    dict(hidden=(7, 5), activation='tanh'),
    dict(hidden=(6, 6, 6), activation='softplus', residual=True),
    dict(hidden=(5, 4), activation='elu', batchnorm='before'),
])
def test_finite_differences_agree_with_the_gradient_of_the_whole_mlp(model):
  # Central differences along random directions, in float64: the error is
  # O(h^2) ~ 1e-10 relative, far below any mistake in a backward pass.
  net = MLP(num_classes=4, compute_dtype='float64', **model)
  with jax.enable_x64(True):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(16, 10)))
    labels = jnp.asarray(rng.integers(0, 4, size=16))
    variables = net.init(jax.random.PRNGKey(0), x, train=False)
    variables = jax.tree.map(lambda a: a.astype(jnp.float64), variables)
    params, rest = variables['params'], {k: v for k, v in variables.items()
                                         if k != 'params'}

    def loss(p):
      logits = net.apply({'params': p, **rest}, x, train=True,
                         mutable=list(rest))[0] if rest else net.apply(
                             {'params': p}, x, train=True)
      return jnp.mean(losses.cross_entropy(logits, labels))

    # Compiled: run op by op, each op of each shape compiles on its first use.
    loss = jax.jit(loss)
    grads = jax.jit(jax.grad(loss))(params)
    h = 1e-5
    for seed in range(5):
      keys = jax.random.split(jax.random.PRNGKey(seed), len(jax.tree.leaves(params)))
      direction = jax.tree.unflatten(
          jax.tree.structure(params),
          [jax.random.normal(k, p.shape, jnp.float64)
           for k, p in zip(keys, jax.tree.leaves(params))])
      step = lambda s: jax.tree.map(lambda p, d: p + s * h * d, params, direction)
      numeric = (loss(step(1.0)) - loss(step(-1.0))) / (2 * h)
      analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads),
                                                     jax.tree.leaves(direction)))
      assert abs(numeric - analytic) <= 1e-7 * max(1.0, abs(analytic)), (
          seed, float(numeric), float(analytic))
