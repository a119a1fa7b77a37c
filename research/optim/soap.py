"""SOAP (Vyas et al., 2024): Adam in the eigenbasis of Shampoo's preconditioner.

"SOAP: Improving and Stabilizing Shampoo using Adam", arXiv:2409.11321; the
reference implementation is github.com/nikhilvyas/SOAP (PyTorch). Each weight
matrix is rotated into the eigenbases of Shampoo's two Kronecker factors, Adam
runs there, and the update is rotated back; the bases are refreshed every few
steps. Every other parameter (biases, BatchNorm scale and bias) gets Adam.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim.adam import scale_by_adam
from research.optim.registry import learning_rates, register
from research.search import Discrete


class ScaleBySoapState(NamedTuple):
  count: jax.Array  # int32 scalar: gradients seen; Adam's step is count - 1
  mu: optax.Updates  # M: moving average of the gradients, in the weights' own basis
  nu: optax.Updates  # V: moving average of the rotated squared gradients
  left: optax.Updates  # L (rows x rows): moving average of G G^T
  right: optax.Updates  # R (cols x cols): moving average of G^T G
  q_left: optax.Updates  # Q_L: eigenbasis of L, columns by decreasing eigenvalue
  q_right: optax.Updates  # Q_R: eigenbasis of R


def _precision(dtype):
  # The preconditioner and its eigenbases in at least float32: eigh and QR
  # take no bfloat16, and rotations in bfloat16 would not stay orthogonal.
  return jnp.promote_types(dtype, jnp.float32)


def run_if(predicate: jax.Array, fn, operand):
  """`fn(operand)` where `predicate` holds, else `operand` (same structure).

  A while loop of at most one iteration rather than `lax.cond`: under `vmap`
  a cond on a batched predicate becomes a select that runs both branches at
  every step (an eigh or a QR of every member's 784 x 784 factor, every
  step), while a batched while loop runs its body only when some member's
  predicate holds, and then keeps each member's own result. A population's
  members share their step count, so the refreshes run on the same steps.
  """
  def keep_going(carry):
    return carry[0]

  def body(carry):
    return jnp.zeros_like(carry[0]), fn(carry[1])

  return jax.lax.while_loop(keep_going, body, (predicate, operand))[1]


def one_matrix_at_a_time(fn):
  """`fn` of one matrix, mapped over a leading axis one matrix at a time when
  vmapped, instead of as one batched LAPACK call.

  Why: on the CPU, jaxlib's batched eigh and QR kernels split the batch over
  XLA's intra-op thread pool and wait for the parts from a thread of that
  same pool. Two such calls running at once (L's and R's, or two layers')
  on a 2-thread pool each hold a thread while their parts wait for one: a
  deadlock (gdb: every thread waiting, one in `jax::ParallelBatchMap` of
  `lapack_ssyevd_ffi`). A vmapped SOAP population hung so. One matrix per
  call does not split, and costs the same LAPACK work.
  """
  mapped = jax.custom_batching.custom_vmap(fn)

  @mapped.def_vmap
  def _(axis_size, in_batched, matrix):
    del axis_size
    if not in_batched[0]:
      return fn(matrix), False
    return jax.lax.map(mapped, matrix), True

  return mapped


@one_matrix_at_a_time
def eigenbasis(matrix: jax.Array) -> jax.Array:
  """The eigenvectors of a symmetric matrix, by decreasing eigenvalue (eigh)."""
  _, vectors = jnp.linalg.eigh(matrix)
  return vectors[:, ::-1]


@one_matrix_at_a_time
def orthogonal_factor(matrix: jax.Array) -> jax.Array:
  """Q of the QR decomposition."""
  return jnp.linalg.qr(matrix)[0]


def power_iteration_update(matrix: jax.Array, basis: jax.Array, nu: jax.Array,
                           axis: int) -> tuple[jax.Array, jax.Array]:
  r"""The paper's cheap refresh of an eigenbasis: one power step and a QR.

  The columns of `basis` are put in decreasing order of their estimated
  eigenvalues :math:`\mathrm{diag}(Q^T P Q)`, the `axis` of `nu` with them
  (it holds Adam's second moment in those coordinates), then
  :math:`Q \leftarrow \mathrm{QR}(P Q)`'s orthogonal factor (the reference
  implementation's `get_orthogonal_matrix_QR`).
  """
  estimates = jnp.diag(basis.T @ matrix @ basis)
  order = jnp.argsort(-estimates)
  basis = basis[:, order]
  nu = jnp.take(nu, order, axis=axis)
  basis = orthogonal_factor(matrix @ basis)
  return basis, nu


def _check_matrices(tree):
  shapes = [x.shape for x in jax.tree.leaves(tree) if x.ndim != 2]
  if shapes:
    raise ValueError('scale_by_soap_matrices takes 2-D leaves only, got shapes '
                     f'{shapes}; use scale_by_soap, which sends the others to Adam')


def scale_by_soap_matrices(b1: jax.typing.ArrayLike = 0.95,
                           b2: jax.typing.ArrayLike = 0.95,
                           eps: jax.typing.ArrayLike = 1e-8,
                           precondition_frequency: int = 10,
                           max_precond_dim: int = 10000,
                           ) -> optax.GradientTransformation:
  r"""SOAP's update of weight matrices; every leaf must be 2-D (see `scale_by_soap`).

  For a gradient :math:`G` (m x n), with Adam's step :math:`t` = the
  gradients seen so far, less the first:

  .. math::
    G' = Q_L^T G Q_R, \quad
    M_t = \beta_1 M_{t-1} + (1-\beta_1) G, \quad
    V_t = \beta_2 V_{t-1} + (1-\beta_2) G' \odot G', \\
    N' = \frac{Q_L^T M_t Q_R / (1-\beta_1^t)}
              {\sqrt{V_t / (1-\beta_2^t)} + \epsilon}, \quad
    u_t = Q_L N' Q_R^T, \\
    L \leftarrow \beta_2 L + (1-\beta_2) G G^T, \quad
    R \leftarrow \beta_2 R + (1-\beta_2) G^T G,

  and after every `precondition_frequency`-th step :math:`Q_L, Q_R` are
  refreshed from the new :math:`L, R` by `power_iteration_update` (the
  paper's QR step; :math:`V` is permuted with the columns). :math:`M` lives
  in the weights' own basis and is rotated into the current one each step
  (the paper's Algorithm 3; the reference keeps it rotated and re-rotates it
  at each refresh, the same thing). The bases are updated after the step, so
  a gradient never sets the basis it is rotated by.

  As in the reference implementation, the first gradient only starts
  :math:`L, R` and sets the first bases by a full eigendecomposition (`eigh`,
  decreasing eigenvalues); the update of that step is zero and Adam's step
  count starts at the second gradient. Where the eigenvalues of the first
  :math:`L` (rank <= n) are degenerate, eigh's choice of basis in that
  eigenspace is arbitrary, as in the reference.

  Differences from the reference (nikhilvyas/SOAP, `soap.py`), at its
  defaults otherwise: Adam's bias correction is Adam's own (above; the
  reference divides by :math:`\sqrt{V_t} + \epsilon` and multiplies the step
  by :math:`\sqrt{1-\beta_2^t}/(1-\beta_1^t)`, i.e. uses
  :math:`\epsilon \sqrt{1-\beta_2^t}`), so with identity bases this is
  exactly Adam; Shampoo's decay is :math:`\beta_2` (the reference's
  `shampoo_beta=-1` default); no gradient normalization, and no weight
  decay (the run's chain adds decoupled decay).

  Cost: eigh (first step) and the QR refresh (every `precondition_frequency`
  steps) run only on those steps, also in a vmapped population (`run_if`),
  one matrix per LAPACK call (`one_matrix_at_a_time`). Every step rotates
  the gradient and the momentum into and out of the bases: four products
  with each n x n basis, which for a 784-input layer at batch 100 is many
  times the layer's forward and backward pass. `max_precond_dim` (the
  reference's) leaves larger sides unrotated (one-sided SOAP).

  Args:
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay, and that of :math:`L, R`.
    eps: added to Adam's root.
    precondition_frequency: steps between refreshes of the bases.
    max_precond_dim: a side longer than this keeps the identity as its basis
      (no factor, no eigh or QR, no rotation: the reference's option, whose
      default this is); with both sides longer, the leaf gets Adam.

  Returns:
    A transform whose output is to be scaled by the learning rate.
  """

  def init_fn(params):
    _check_matrices(params)

    def per_side(make, side):
      # None where the side is not preconditioned: no factor, no basis.
      return jax.tree.map(
          lambda p: make(p.shape[side], _precision(p.dtype))
          if p.shape[side] <= max_precond_dim else None, params)

    square = lambda n, dtype: jnp.zeros((n, n), dtype)
    identity = lambda n, dtype: jnp.eye(n, dtype=dtype)
    return ScaleBySoapState(
        count=jnp.zeros([], jnp.int32),
        mu=optax.tree.zeros_like(params),
        nu=optax.tree.zeros_like(params),
        left=per_side(square, 0), right=per_side(square, 1),
        q_left=per_side(identity, 0), q_right=per_side(identity, 1))

  def leaf_update(g, m, v, left, right, q_left, q_right, count):
    precision = _precision(g.dtype)
    gp = g.astype(precision)
    rows, cols = left is not None, right is not None  # the sides rotated
    if rows:
      left = (b2 * left + (1 - b2) * (gp @ gp.T)).astype(precision)
    if cols:
      right = (b2 * right + (1 - b2) * (gp.T @ gp)).astype(precision)
    first = count == 0

    def into(x):  # Q_L^T x Q_R
      x = q_left.T @ x if rows else x
      return x @ q_right if cols else x

    def back(x):  # Q_L x Q_R^T
      x = q_left @ x if rows else x
      return x @ q_right.T if cols else x

    # The first step only sets the bases: the eigenvectors of L and R.
    q_left, q_right = run_if(
        first, lambda _: (eigenbasis(left).astype(precision) if rows else None,
                          eigenbasis(right).astype(precision) if cols else None),
        (q_left, q_right))
    t = jnp.maximum(count, 1)  # Adam's step (the first step's is discarded)
    rotated = into(gp)
    m_new = (b1 * m + (1 - b1) * g).astype(m.dtype)
    v_new = (b2 * v + (1 - b2) * rotated * rotated).astype(v.dtype)
    m_hat = into(m_new.astype(precision)) / (1 - b1 ** t).astype(precision)
    v_hat = v_new.astype(precision) / (1 - b2 ** t).astype(precision)
    update = back(m_hat / (jnp.sqrt(v_hat) + eps))
    update = jnp.where(first, jnp.zeros_like(g), update.astype(g.dtype))
    m = jnp.where(first, m, m_new)
    v = jnp.where(first, v, v_new)

    def refresh(carry):
      nu, q_l, q_r = carry
      if rows:
        q_l, nu = power_iteration_update(left, q_l, nu, 0)
        q_l = q_l.astype(precision)
      if cols:
        q_r, nu = power_iteration_update(right, q_r, nu, 1)
        q_r = q_r.astype(precision)
      return nu, q_l, q_r

    if rows or cols:
      v, q_left, q_right = run_if(
          jnp.logical_and(~first, count % precondition_frequency == 0), refresh,
          (v, q_left, q_right))
    return update, m, v, left, right, q_left, q_right

  def update_fn(updates, state, params=None):
    del params
    _check_matrices(updates)
    leaves, treedef = jax.tree.flatten(updates)
    parts = [treedef.flatten_up_to(x) for x in state[1:]]
    results = [leaf_update(*args, state.count) for args in zip(leaves, *parts)]
    fields = [treedef.unflatten(column) for column in zip(*results)] if results else [
        treedef.unflatten([]) for _ in range(7)]
    updates, mu, nu, left, right, q_left, q_right = fields
    return updates, ScaleBySoapState(
        count=optax.safe_increment(state.count), mu=mu, nu=nu, left=left,
        right=right, q_left=q_left, q_right=q_right)

  return optax.GradientTransformation(init_fn, update_fn)


def soap_labels(params) -> optax.Params:
  """'soap' at 2-D leaves (Dense kernels), 'adam' at all others.

  The rule is on the rank of a leaf, so it holds for one model's params (as
  inside the population's `vmap`), like `masks.weights_mask`.
  """
  return jax.tree.map(lambda x: 'soap' if x.ndim == 2 else 'adam', params)


def scale_by_soap(b1: jax.typing.ArrayLike = 0.95,
                  b2: jax.typing.ArrayLike = 0.95,
                  eps: jax.typing.ArrayLike = 1e-8,
                  precondition_frequency: int = 10,
                  max_precond_dim: int = 10000) -> optax.GradientTransformation:
  """`scale_by_soap_matrices` on 2-D leaves, `scale_by_adam(b1, b2, eps)` on
  the others (the reference's default, `precondition_1d=False`, which leaves
  1-D parameters unrotated; the reference also skips their first step,
  which this does not). The split is `soap_labels`, through `optax.partition`.
  """
  return optax.partition(
      {'soap': scale_by_soap_matrices(b1, b2, eps, precondition_frequency,
                                      max_precond_dim),
       'adam': scale_by_adam(b1, b2, eps)},
      soap_labels)


def soap(learning_rate: optax.ScalarOrSchedule,
         b1: jax.typing.ArrayLike = 0.95,
         b2: jax.typing.ArrayLike = 0.95,
         eps: jax.typing.ArrayLike = 1e-8,
         precondition_frequency: int = 10,
         max_precond_dim: int = 10000) -> optax.GradientTransformationExtraArgs:
  r"""SOAP: :math:`W \mathrel{-}= \eta_t Q_L N' Q_R^T`, Adam in Shampoo's eigenbasis.

  See `scale_by_soap_matrices`. The defaults are the reference
  implementation's (betas (0.95, 0.95), eps 1e-8, precondition_frequency 10);
  its default learning rate is 3e-3 and its weight decay 0.01.

  Args:
    learning_rate: :math:`\eta_t`.
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay, and Shampoo's (of :math:`L, R`).
    eps: added to Adam's root.
    precondition_frequency: steps between refreshes of the eigenbases.
    max_precond_dim: sides longer than this are not rotated (one-sided SOAP).
  """
  return optax.chain(scale_by_soap(b1, b2, eps, precondition_frequency,
                                   max_precond_dim),
                     optax.scale_by_learning_rate(learning_rate))


register('soap', soap,
         summary='Adam in the eigenbasis of Shampoo\'s preconditioner '
                 '(Vyas et al.), refreshed every precondition_frequency steps',
         ranges={'b1': '[0, 1)', 'b2': '[0, 1)', 'eps': '(0, inf)',
                 'precondition_frequency': '[1, inf)',
                 'max_precond_dim': '[0, inf)'},
         # One-sided on wider sides: rotating a 784-input layer's side costs
         # many times its forward and backward pass (see
         # scale_by_soap_matrices); the MNIST-1D nets are rotated whole.
         tuning={**learning_rates(1e-5, 0.1),
                 'optimizer.hparams.max_precond_dim': Discrete((256,))})
