"""Muon (Jordan et al., 2024): momentum orthogonalized by Newton-Schulz.

Muon updates a weight matrix by the orthogonalized (Nesterov) momentum of its
gradients; every other parameter (biases, BatchNorm scale and bias) is left to
Adam. The split is by rank: 2-D leaves are matrices.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.adam import scale_by_adam, scale_by_nadam
from research.optim.registry import learning_rates, register

# The quintic's coefficients (a, b, c): f(x) = a x + b x^3 + c x^5, chosen by
# Jordan to maximize the slope at 0 while keeping 5 steps in a band around 1.
NS_COEFFS = (3.4445, -4.7750, 2.0315)


def newton_schulz(x: jax.Array, ns_steps: int = 5,
                  coeffs: tuple[float, float, float] = NS_COEFFS,
                  eps: jax.typing.ArrayLike = 1e-8) -> jax.Array:
  r"""Approximately orthogonalizes the matrix `x`: :math:`U S V^T \to U S' V^T`.

  .. math::
    X_0 = G / (\|G\|_F + \epsilon), \quad
    A_k = X_k X_k^T, \quad
    X_{k+1} = a X_k + (b A_k + c A_k^2) X_k

  Each step applies :math:`f(s) = a s + b s^3 + c s^5` to the singular values
  (in :math:`(0, 1]` after the normalization, as :math:`\|G\|_2 \le \|G\|_F`).
  With Jordan's coefficients five steps do not converge to 1 but bring every
  singular value that is not tiny into a band around it, about [0.7, 1.2].
  A matrix with more rows than columns is transposed first so that
  :math:`A_k` is the smaller Gram matrix (:math:`f(X^T) = f(X)^T`).

  Computed in at least float32; the result has the dtype of `x`.
  """
  if x.ndim != 2:
    raise ValueError(f'newton_schulz takes a matrix, got shape {x.shape}')
  dtype = x.dtype
  x = x.astype(jnp.promote_types(dtype, jnp.float32))
  transposed = x.shape[0] > x.shape[1]
  if transposed:
    x = x.T
  x = x / (jnp.linalg.norm(x, ord='fro') + eps)
  a, b, c = (jnp.asarray(k, x.dtype) for k in coeffs)
  for _ in range(ns_steps):
    gram = x @ x.T
    x = a * x + (b * gram + c * gram @ gram) @ x
  if transposed:
    x = x.T
  return x.astype(dtype)


def shape_scale(shape: tuple[int, ...]) -> float:
  r""":math:`\sqrt{\max(1, n_{out} / n_{in})}` for a flax kernel (in, out).

  Jordan's width scaling, as `optax.contrib.muon` applies it: an orthogonal
  (in, out) matrix has RMS :math:`1/\sqrt{\max(in, out)}`; the factor keeps the
  update's RMS-to-RMS operator norm at 1 for layers that widen.
  """
  fan_in, fan_out = shape
  return max(1.0, fan_out / fan_in) ** 0.5


class ScaleByMuonState(NamedTuple):
  count: jax.Array  # int32 scalar: the steps taken, for the bias correction
  mu: optax.Updates  # m: moving average of the gradients


def scale_by_orthogonalized_momentum(
    beta: jax.typing.ArrayLike = 0.95,
    ns_steps: int = 5,
    nesterov: bool = True,
    eps: jax.typing.ArrayLike = 1e-8,
    ns_coeffs: tuple[float, float, float] = NS_COEFFS,
) -> optax.GradientTransformation:
  r"""Muon's update of weight matrices; every leaf must be 2-D (see `scale_by_muon`).

  .. math::
    m_t = \beta m_{t-1} + (1-\beta) g_t, \quad
    \hat m_t = \frac{\beta m_t}{1 - \beta^{t+1}}
             + \frac{(1-\beta) g_t}{1 - \beta^t}
      \ \text{(Nesterov; else } \hat m_t = m_t / (1 - \beta^t)), \\
    u_t = \sqrt{\max(1, n_{out} / n_{in})} \; \mathrm{NS}_5(\hat m_t)

  with :math:`\mathrm{NS}_5` the quintic Newton-Schulz iteration
  (`newton_schulz`). This is `optax.contrib.scale_by_muon` followed by
  `optax.contrib.scale_by_shape` at their defaults (Frobenius normalization,
  not adaptive, width scaling).

  Args:
    beta: :math:`\beta`, the decay of the momentum.
    ns_steps: Newton-Schulz steps.
    nesterov: use the Nesterov look-ahead.
    eps: added to the Frobenius norm before dividing by it.
    ns_coeffs: the quintic's coefficients.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init_fn(params):
    _check_matrices(params)
    return ScaleByMuonState(count=jnp.zeros([], jnp.int32),
                            mu=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    _check_matrices(updates)
    # Cast back so bfloat16 state stays bfloat16 under float32 hyperparameters.
    mu = jax.tree.map(lambda g, m: ((1 - beta) * g + beta * m).astype(m.dtype),
                      updates, state.mu)
    count = optax.safe_increment(state.count)
    if nesterov:
      # Nadam's look-ahead: next step's momentum debiased with t + 1, blended
      # with the current gradient debiased with t.
      mu_hat = jax.tree.map(
          lambda m, g: beta * m + (1 - beta) * g,
          optax.tree.bias_correction(mu, beta, optax.safe_increment(count)),
          optax.tree.bias_correction(updates, beta, count))
    else:
      mu_hat = optax.tree.bias_correction(mu, beta, count)
    updates = jax.tree.map(
        lambda m, g: (shape_scale(m.shape)
                      * newton_schulz(m, ns_steps, ns_coeffs, eps)).astype(g.dtype),
        mu_hat, updates)
    return updates, ScaleByMuonState(count=count, mu=mu)

  return optax.GradientTransformation(init_fn, update_fn)


def _check_matrices(tree):
  shapes = [x.shape for x in jax.tree.leaves(tree) if x.ndim != 2]
  if shapes:
    raise ValueError('scale_by_orthogonalized_momentum takes 2-D leaves only, '
                     f'got shapes {shapes}; use scale_by_muon, which sends '
                     'the others to Adam')


def muon_labels(params) -> optax.Params:
  """'muon' at 2-D leaves (Dense kernels), 'adam' at all others (biases,
  BatchNorm scale and bias, scalars): `optax.contrib.muon`'s default rule.

  The rule is on the rank of a leaf, so it holds for one model's params (as
  inside the population's `vmap`), like `masks.weights_mask`.
  """
  return jax.tree.map(lambda x: 'muon' if x.ndim == 2 else 'adam', params)


def scale_by_muon(beta: jax.typing.ArrayLike = 0.95,
                  ns_steps: int = 5,
                  nesterov: bool = True,
                  adam_b1: jax.typing.ArrayLike = 0.9,
                  adam_b2: jax.typing.ArrayLike = 0.999,
                  eps: jax.typing.ArrayLike = 1e-8,
                  ns_coeffs: tuple[float, float, float] = NS_COEFFS,
                  ) -> optax.GradientTransformation:
  """`scale_by_orthogonalized_momentum` on 2-D leaves, Adam on the others.

  The others get `scale_by_nadam(adam_b1, adam_b2, eps)` when `nesterov`
  (as `optax.contrib.muon` passes `nesterov` on to its Adam), else
  `scale_by_adam`. The split is `muon_labels`, through `optax.partition`.
  """
  adam = scale_by_nadam if nesterov else scale_by_adam
  return optax.partition(
      {'muon': scale_by_orthogonalized_momentum(beta, ns_steps, nesterov, eps,
                                                ns_coeffs),
       'adam': adam(adam_b1, adam_b2, eps)},
      muon_labels)


def muon(learning_rate: optax.ScalarOrSchedule,
         beta: jax.typing.ArrayLike = 0.95,
         ns_steps: int = 5,
         nesterov: bool = True,
         adam_b1: jax.typing.ArrayLike = 0.9,
         adam_b2: jax.typing.ArrayLike = 0.999,
         eps: jax.typing.ArrayLike = 1e-8) -> optax.GradientTransformationExtraArgs:
  r"""Muon: :math:`W \mathrel{-}= \eta_t \sqrt{\max(1, n_{out}/n_{in})}\,
  \mathrm{NS}_5(\hat m_t)` on weight matrices, Adam (Nadam) on the rest.

  The definition is `optax.contrib.muon` at its defaults (one learning rate
  for both parts, no weight decay: the run's chain adds decoupled decay on
  the weights). Where it differs from Jordan's post and reference code
  (github.com/KellerJordan/Muon):

  - Momentum: Jordan uses :math:`m_t = \beta m_{t-1} + (1-\beta) g_t` and the
    look-ahead :math:`\beta m_t + (1-\beta) g_t` without bias correction;
    here (as in Optax) both terms are debiased, Nadam-style. Newton-Schulz
    removes the overall scale, so only the mix of :math:`m_t` and
    :math:`g_t` in the first steps differs; it tends to Jordan's as
    :math:`\beta^t \to 0`.
  - Jordan adds 1e-7 to the Frobenius norm and iterates in bfloat16; here
    `eps` (1e-8) and at least float32.
  - Jordan recommends AdamW, with its own (smaller) learning rate, for the
    first and last layers' weights as well as for biases and gains; here (as
    in Optax) every 2-D kernel, first and last layers included, gets Muon, and
    Adam shares Muon's learning rate.
  - The width scale :math:`\sqrt{\max(1, n_{out}/n_{in})}` is Jordan's
    `max(1, rows/cols)**0.5` for PyTorch's (out, in) weights, read for flax's
    (in, out) kernels.

  Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024,
  https://kellerjordan.github.io/posts/muon/.

  Args:
    learning_rate: :math:`\eta_t`, for both parts.
    beta: the momentum's decay.
    ns_steps: Newton-Schulz steps.
    nesterov: Nesterov look-ahead, in Muon and in its Adam (then Nadam).
    adam_b1: the Adam part's first-moment decay.
    adam_b2: the Adam part's second-moment decay.
    eps: added to the Frobenius norm before Newton-Schulz, and Adam's eps.
  """
  return optax.chain(scale_by_muon(beta, ns_steps, nesterov, adam_b1, adam_b2, eps),
                     optax.scale_by_learning_rate(learning_rate))


register('muon', muon,
         summary='Newton-Schulz orthogonalized Nesterov momentum on weight '
                 'matrices, Adam on the rest (Jordan et al.), as optax.contrib.muon',
         ranges={'beta': '[0, 1)', 'ns_steps': '[0, inf)', 'adam_b1': '[0, 1)',
                 'adam_b2': '[0, 1)', 'eps': '(0, inf)'},
         tuning=learning_rates(1e-4, 0.1))
