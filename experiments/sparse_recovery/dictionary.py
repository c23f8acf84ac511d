r"""Supervised (task-driven) dictionary learning: the lasso as the inner problem of a classifier.

Mairal, Bach & Ponce (IEEE TPAMI 34, 791, 2012) learn a dictionary
:math:`D \in \mathbb{R}^{m\times p}` (unit-norm columns, the atoms) *for a task*: each signal
:math:`y \in \mathbb{R}^m` is encoded by the lasso

.. math:: \alpha^*(D, y) = \arg\min_\alpha \tfrac12\|y - D\alpha\|^2 + \lambda\|\alpha\|_1,

and a linear classifier on the code, logits :math:`W^\top\alpha^* + b`, is trained jointly with
:math:`D` on the task loss (softmax cross-entropy plus a small ridge term)

.. math:: \ell(D, W, b) = \frac1N\sum_i \mathrm{CE}\bigl(W^\top\alpha^*(D, y_i) + b,\ c_i\bigr)
          + \tfrac{\nu}{2}\|W\|_F^2 .

The unsupervised baseline learns :math:`D` for reconstruction only (the mean lasso objective) and
fits the classifier afterwards on the fixed codes.

**The gradient through the lasso.** :func:`encode` solves the lasso as the fixed point of the ISTA
map (:func:`proximal.lasso`, i.e. :func:`calib.fixed_point`),

.. math:: \alpha = T(\alpha, D) = \eta_{\lambda/L}(u), \qquad u = \alpha + D^\top(y - D\alpha)/L,

and differentiates it by the implicit function theorem, :math:`(I - \partial_\alpha T)\,\dot\alpha =
\partial_D T\,\dot D`. At a *non-degenerate* solution no :math:`|u_i|` sits on the threshold
(strict complementarity: :math:`|d_i^\top r| < \lambda` off the support :math:`S`, with
:math:`r = y - D\alpha^*`), so the soft threshold is differentiable there with derivative
:math:`P = \mathrm{diag}(1_S)`, and :math:`\partial_\alpha T = P(I - D^\top D/L)`,
:math:`\partial_D T\,\dot D = P\,\dot u`. Off the support the rows of the system read
:math:`\dot\alpha_{S^c} = 0`; on it the identity terms cancel and what is left is

.. math:: D_S^\top D_S\,\dot\alpha_S = L\,\dot u_S
          = \dot D_S^\top r - D_S^\top \dot D_S\,\alpha^*_S, \qquad
          \dot\alpha_S = (D_S^\top D_S)^{-1}\bigl(\dot D_S^\top r
          - D_S^\top\dot D_S\,\alpha^*_S\bigr),

the derivative of the optimality condition :math:`D_S^\top(y - D_S\alpha_S) = \lambda\,
\mathrm{sign}(\alpha_S)` on a fixed support and sign pattern: the classical lasso derivative (its
:math:`y`-Jacobian is :math:`(D_S^\top D_S)^{-1}D_S^\top`), with the step :math:`1/L` cancelled
(the solution does not depend on the step, which is why :func:`proximal.lasso` may hold
:math:`L` constant). So the GMRES solve with :math:`I - \partial_\alpha T` *is* the support
formula without forming :math:`S`; :func:`support_jacobian`, :func:`support_tangent` and its
transpose :func:`support_gradient` (Mairal et al.'s Proposition 1) write it out for the tests. It
needs :math:`D_S^\top D_S` invertible (:math:`D_S` of full column rank, which also makes the lasso
solution unique) and the strict complementarity above: where a coordinate sits exactly on the
threshold the support changes under an arbitrarily small perturbation, :math:`\alpha^*` is only
directionally differentiable, and no formula of this kind holds. The task loss is therefore
differentiable almost everywhere in :math:`D` and continuous (where the lasso solution is unique
it is a continuous, piecewise-smooth function of :math:`D`), which is all stochastic training
needs.
Mairal et al. add an elastic-net term :math:`\tfrac{\lambda_2}2\|\alpha\|^2` to guarantee
uniqueness; here :math:`\lambda_2 = 0` and the lasso is the inner problem, as in the rest of the
package.

The alternative, :func:`encode` with ``method="unrolled"``, backpropagates through ``K`` FISTA
iterations from zero (:func:`proximal.fista`): the exact derivative of an approximation, whose
error falls with ``K`` and whose memory grows with it. For checking, :func:`refined_codes`
returns the lasso solution to round-off (one solve on the identified support) and
:func:`finite_differences` central differences of the task loss evaluated with it.

Shapes: ``D`` is ``(m, p)``, signals ``Y`` ``(batch, m)``, codes ``(batch, p)``, labels
``(batch,)`` integers, ``W`` ``(p, classes)``, ``b`` ``(classes,)``; a parameter set is the dict
``{"D", "W", "b"}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import proximal

METHODS = ("implicit", "unrolled")


# ---------------------------------------------------------------------------------------------
# The dictionary and the codes
# ---------------------------------------------------------------------------------------------


def normalise_columns(D: jax.Array) -> jax.Array:
    r"""Each atom scaled to unit norm, :math:`d_j / \|d_j\|` (the projection applied after every
    step: without it the :math:`\ell_1` penalty is defeated by growing :math:`D` and shrinking
    :math:`\alpha`)."""
    return D / jnp.maximum(jnp.linalg.norm(D, axis=0, keepdims=True), jnp.finfo(D.dtype).tiny)


def init_dictionary(Y, p: int, seed: int) -> jax.Array:
    """``p`` distinct training signals, normalised, as the first atoms: ``(m, p)``."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(Y.shape[0], size=p, replace=False)
    return normalise_columns(jnp.asarray(np.asarray(Y)[picked].T))


def lasso_solver(tol: float = 1e-10):
    """The forward solver of the codes: Anderson on the ISTA map, to ``max|a - T(a)| <= tol``."""
    import calib

    return calib.Anderson(memory=8, tol=tol, max_steps=20_000)


@jax.jit
def _solve(D, Y, lam, x0):
    return proximal.lasso(D, Y, lam, x0=x0, solver=lasso_solver())


def solve_codes(D, Y, lam, x0=None) -> jax.Array:
    """The lasso codes ``(batch, p)`` for evaluation, the unsupervised loop and finite
    differences, to ``max|a - T(a)| <= 1e-10``, warm-started from ``x0``: one compiled program per
    shape, whatever ``lam`` (traced) and whoever calls. No derivative is taken through it."""
    x0 = np.zeros((Y.shape[0], D.shape[1]), Y.dtype) if x0 is None else x0
    return _solve(D, Y, lam, x0)


def encode(D, Y, lam, *, method: str = "implicit", steps: int = 100, tol: float = 1e-10,
           x0=None) -> jax.Array:
    r"""Lasso codes of the signals ``Y`` ``(batch, m)``: ``(batch, p)``, differentiable in ``D``.

    ``method="implicit"``: the fixed point of the ISTA map solved to ``tol`` by Anderson
    (:func:`proximal.lasso`), its derivative by the implicit function theorem
    (``calib.Implicit()``: one GMRES solve with :math:`I - \partial T/\partial\alpha`), warm-started
    from ``x0`` if given (the derivative does not depend on it). ``method="unrolled"``: ``steps``
    FISTA iterations from zero, differentiated by backpropagation through all of them.
    """
    import calib

    if method == "implicit":
        return proximal.lasso(D, Y, lam, x0=x0, solver=lasso_solver(tol), adjoint=calib.Implicit())
    if method == "unrolled":
        return proximal.fista(D, Y, lam, steps)[-1]
    raise ValueError(f"encode: method must be one of {METHODS}, got {method!r}")


def support_system(D, X):
    r"""The matrix :math:`M = P D^\top D P + (I - P)`, :math:`P = \mathrm{diag}(1_S)`, of each
    code's support: ``(batch, p, p)``. Its inverse restricted to :math:`S` is
    :math:`(D_S^\top D_S)^{-1}`, and it is the identity off :math:`S`, so one batched solve handles
    supports of every size."""
    on = (X != 0).astype(D.dtype)
    gram = D.T @ D
    off = jnp.eye(D.shape[1]) * (1.0 - on)[:, :, None]
    return on[:, :, None] * gram[None] * on[:, None, :] + off


def refined_codes(D, Y, X, lam) -> jax.Array:
    r"""The exact lasso solution on the support and signs of ``X`` (codes from a solve):
    :math:`\alpha_S = (D_S^\top D_S)^{-1}(D_S^\top y - \lambda\,\mathrm{sign}\,\alpha_S)`, zero
    elsewhere, ``(batch, p)``.

    The optimality condition is linear once the support and signs are known, so this one solve
    removes the forward solver's tolerance (1e-10) and leaves round-off: what central finite
    differences need, since they divide the error of each loss evaluation by the step. It is the
    lasso solution only if the support was identified, which :func:`kkt_margins` checks.
    """
    X = jax.lax.stop_gradient(X)
    on = (X != 0).astype(D.dtype)
    rhs = on * (Y @ D - lam * jnp.sign(X))
    return jnp.linalg.solve(support_system(D, X), rhs[..., None])[..., 0]


@jax.jit
def kkt_margins(D, Y, X, lam):
    r"""How far the codes are from a support change: ``(on, off, sign_error)``, the smallest
    :math:`|\alpha_i|` on the support and the smallest :math:`\lambda - |d_i^\top r|` off it, over
    the batch, and the largest :math:`|d_i^\top r - \lambda\,\mathrm{sign}\,\alpha_i|` on it
    (zero at the exact solution). Both margins positive: ``X`` is the (non-degenerate) lasso
    solution; a perturbation of ``D`` that moves the correlations and the codes by less than these
    keeps the support."""
    residual = Y - X @ D.T
    correlation = jnp.abs(residual @ D)
    on = X != 0
    on_margin = jnp.min(jnp.where(on, jnp.abs(X), jnp.inf))
    off_margin = jnp.min(jnp.where(on, jnp.inf, lam - correlation))
    # On the support the correlation equals lambda exactly; its deviation is the solve's error.
    sign_error = jnp.max(jnp.where(on, jnp.abs(residual @ D - lam * jnp.sign(X)), 0.0))
    return on_margin, off_margin, sign_error


@jax.jit
def support_jacobian(D, x) -> jax.Array:
    r"""The closed-form Jacobian :math:`\partial\alpha^*/\partial y` of one code ``x`` ``(p,)``
    (of any signal it solves the lasso for): :math:`(D_S^\top D_S)^{-1} D_S^\top` in the rows of
    the support, zero elsewhere; ``(p, m)``."""
    on = (x != 0).astype(D.dtype)
    return jnp.linalg.solve(support_system(D, x[None])[0], on[:, None] * D.T)


@jax.jit
def support_tangent(D, y, x, dD) -> jax.Array:
    r"""The closed-form tangent of one code under :math:`D \to D + t\,\dot D`:
    :math:`\dot\alpha_S = (D_S^\top D_S)^{-1}(\dot D_S^\top r - D_S^\top \dot D\,\alpha)`, zero off
    :math:`S`, with :math:`r = y - D\alpha`; ``(p,)``."""
    on = (x != 0).astype(D.dtype)
    r = y - D @ x
    rhs = on * (dD.T @ r - D.T @ (dD @ x))
    return jnp.linalg.solve(support_system(D, x[None])[0], rhs)


@jax.jit
def support_gradient(D, Y, X, code_grad) -> jax.Array:
    r"""The closed-form gradient in ``D`` of a loss of the codes (Mairal et al. 2012, Prop. 1):
    with :math:`g_i = \partial\ell/\partial\alpha_i` (``code_grad``, ``(batch, p)``) and
    :math:`\beta_{i,S} = (D_S^\top D_S)^{-1} g_{i,S}`, zero off :math:`S`,

    .. math:: \nabla_D\ell = \sum_i (y_i - D\alpha_i)\beta_i^\top - D\beta_i\alpha_i^\top,

    the transpose of :func:`support_tangent` summed over the batch; ``(m, p)``."""
    on = (X != 0).astype(D.dtype)
    beta = jnp.linalg.solve(support_system(D, X), (on * code_grad)[..., None])[..., 0]
    residual = Y - X @ D.T
    return residual.T @ beta - D @ (beta.T @ X)


# ---------------------------------------------------------------------------------------------
# The classifier and the task loss
# ---------------------------------------------------------------------------------------------


def cross_entropy(logits, labels) -> jax.Array:
    """Mean softmax cross-entropy of ``logits`` ``(batch, classes)`` against integer ``labels``."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def classifier_loss(W, b, codes, labels, ridge) -> jax.Array:
    r""":math:`\mathrm{CE}(\alpha W + b, c) + \tfrac{\nu}2\|W\|_F^2`, ``codes`` ``(batch, p)``."""
    return cross_entropy(codes @ W + b, labels) + 0.5 * ridge * jnp.sum(W**2)


def accuracy(W, b, codes, labels) -> jax.Array:
    """Fraction of ``labels`` that the classifier's largest logit gets right."""
    return jnp.mean(jnp.argmax(codes @ W + b, axis=1) == labels)


@jax.jit
def scores(W, b, codes, labels, ridge):
    """``(objective, cross-entropy, accuracy, mean active atoms)`` of a classifier on codes (the
    objective adds the ridge term)."""
    ce = cross_entropy(codes @ W + b, labels)
    return (ce + 0.5 * ridge * jnp.sum(W**2), ce, accuracy(W, b, codes, labels),
            jnp.mean(jnp.sum(codes != 0, axis=1)))


def task_loss(params, Y, labels, lam, ridge, *, method: str = "implicit", steps: int = 100,
              tol: float = 1e-10, x0=None):
    r"""The task loss :math:`\ell(D, W, b)` on a batch and the codes: ``(scalar, (batch, p))``.

    ``params``: ``{"D": (m, p), "W": (p, classes), "b": (classes,)}``; the gradient in ``D`` flows
    through the codes by ``method`` (see :func:`encode`); ``x0`` warm-starts the implicit solve.
    """
    codes = encode(params["D"], Y, lam, method=method, steps=steps, tol=tol, x0=x0)
    return classifier_loss(params["W"], params["b"], codes, labels, ridge), codes


def task_gradient(lam, ridge, *, method: str = "implicit", steps: int = 100, tol: float = 1e-10):
    r"""``f(params, Y, labels, x0) -> ((loss, codes), grads)``: the value and gradient in
    ``(D, W, b)`` of :func:`task_loss` (codes by ``method``; ``x0`` ``(batch, p)`` warm-starts the
    implicit lasso and is ignored by the unrolled one, which starts from zero), to be jitted."""

    def loss(params, Y, labels, x0):
        x0 = x0 if method == "implicit" else None
        return task_loss(params, Y, labels, lam, ridge, method=method, steps=steps, tol=tol,
                         x0=x0)

    return jax.value_and_grad(loss, has_aux=True)


@jax.jit
def _refined_loss(params, Y, labels, codes, lam, ridge):
    codes = refined_codes(params["D"], Y, codes, lam)
    return classifier_loss(params["W"], params["b"], codes, labels, ridge)


def refined_task_loss(params, Y, labels, lam, ridge) -> jax.Array:
    """The task loss with the codes solved (:func:`solve_codes`) and then refined to round-off on
    their support (:func:`refined_codes`); no derivative, for finite differences."""
    codes = solve_codes(params["D"], Y, lam)
    return _refined_loss(params, Y, labels, codes, lam, ridge)


def finite_differences(loss, params, directions, h: float) -> np.ndarray:
    r"""Central differences :math:`(\ell(\theta + hv) - \ell(\theta - hv)) / 2h` of ``loss`` (a
    function of the parameter dict) along each direction of ``directions`` (a list of dicts shaped
    like ``params``): ``(len(directions),)``. Truncation error :math:`O(h^2)`; the error of each
    evaluation is divided by :math:`2h`, hence :func:`refined_task_loss`."""
    params = jax.tree.map(np.asarray, params)
    values = []
    for v in directions:
        v = jax.tree.map(np.asarray, v)
        # Shifted in NumPy: the loss sees fresh arrays of the same shapes, nothing recompiles.
        plus = jax.tree.map(lambda p, d: jnp.asarray(p + h * d), params, v)
        minus = jax.tree.map(lambda p, d: jnp.asarray(p - h * d), params, v)
        values.append((float(loss(plus)) - float(loss(minus))) / (2.0 * h))
    return np.asarray(values)


def directional(grad, directions) -> np.ndarray:
    r""":math:`\langle g, v\rangle` for each direction: ``(len(directions),)``."""
    flat = np.concatenate([np.ravel(g) for g in jax.tree.leaves(grad)])
    return np.asarray([flat @ np.concatenate([np.ravel(d) for d in jax.tree.leaves(v)])
                       for v in directions])


# ---------------------------------------------------------------------------------------------
# Training: the unsupervised baseline, the classifier on fixed codes, the task-driven dictionary
# ---------------------------------------------------------------------------------------------


@jax.jit
def update_atoms(D, X, Y) -> jax.Array:
    r"""One sweep of block-coordinate descent on the atoms for fixed codes (Mairal, Bach, Ponce &
    Sapiro, JMLR 11, 2010, Algorithm 2), on the unit sphere.

    With :math:`A = X^\top X` and :math:`B = Y^\top X`, the reconstruction
    :math:`\tfrac12\|Y - XD^\top\|_F^2` restricted to atom :math:`j` of unit norm is minimised by
    :math:`d_j \propto b_j - D a_j + A_{jj} d_j` (the quadratic term is constant on the sphere), so
    each update lowers the objective; an unused atom (:math:`A_{jj} = 0`) is kept as it is.
    """
    A, B = X.T @ X, Y.T @ X

    def atom(j, D):
        c = B[:, j] - D @ A[:, j] + A[j, j] * D[:, j]
        norm = jnp.linalg.norm(c)
        used = (A[j, j] > 0) & (norm > 0)
        return D.at[:, j].set(jnp.where(used, c / jnp.where(used, norm, 1.0), D[:, j]))

    return jax.lax.fori_loop(0, D.shape[1], atom, D)


@jax.jit
def _mean_objective(X, D, Y, lam):
    return jnp.mean(proximal.lasso_objective(X, D, Y, lam))


def unsupervised_dictionary(Y, D0, lam, iterations: int):
    r"""Dictionary learning for reconstruction: :math:`\min_D \frac1N\sum_i \min_\alpha
    \tfrac12\|y_i - D\alpha\|^2 + \lambda\|\alpha\|_1`, by alternating the lasso codes of all
    signals (warm-started from the previous ones) and a sweep of :func:`update_atoms`. Each half
    lowers the objective. Returns ``(D, codes, objective per iteration)`` (the objective after
    each atom sweep, with that iteration's codes: an upper bound of the objective at that
    ``D``).
    """
    Y = jnp.asarray(Y)
    D, X = D0, jnp.zeros((Y.shape[0], D0.shape[1]), Y.dtype)
    history = []
    for _ in range(iterations):
        X = solve_codes(D, Y, lam, x0=X)
        D = update_atoms(D, X, Y)
        history.append(float(_mean_objective(X, D, Y, lam)))
    return D, solve_codes(D, Y, lam, x0=X), np.asarray(history)


@jax.jit
def _classifier_value_and_grad(flat, codes, labels, ridge):
    p, classes = codes.shape[1], flat.shape[0] // (codes.shape[1] + 1)
    return jax.value_and_grad(lambda f: classifier_loss(
        f[:p * classes].reshape(p, classes), f[p * classes:], codes, labels, ridge))(flat)


def fit_classifier(codes, labels, classes: int, ridge: float, *, tol: float = 1e-8, W0=None,
                   b0=None):
    r"""The classifier on fixed codes: :math:`\min_{W,b} \mathrm{CE} + \tfrac{\nu}{2}\|W\|^2`
    (convex; strictly in :math:`W`), by L-BFGS (SciPy) on the jitted value and gradient, to
    ``max |gradient| <= tol``. ``codes`` ``(N, p)`` (or raw signals); returns ``(W, b)``.

    The optimum for fixed codes is what the unsupervised baseline reports, and what task-driven
    training starts from: its loss falls below the baseline's only by changing ``D``.
    """
    from scipy.optimize import minimize

    codes, labels = jnp.asarray(codes), jnp.asarray(labels)
    p = codes.shape[1]
    W0 = np.zeros((p, classes)) if W0 is None else np.asarray(W0)
    b0 = np.zeros(classes) if b0 is None else np.asarray(b0)
    ridge = jnp.asarray(ridge, codes.dtype)

    def value_and_grad(flat):
        value, grad = _classifier_value_and_grad(jnp.asarray(flat), codes, labels, ridge)
        return float(value), np.asarray(grad, dtype=float)

    result = minimize(value_and_grad, np.concatenate([W0.ravel(), b0]), jac=True,
                      method="L-BFGS-B",
                      options={"gtol": tol, "ftol": 0.0, "maxiter": 5000, "maxcor": 20})
    flat = jnp.asarray(result.x, codes.dtype)
    return flat[:p * classes].reshape(p, classes), flat[p * classes:]


def projected_update(optimiser):
    r"""A jitted optimiser update of ``D``, ``W``, ``b`` jointly followed by the projection of the
    atoms back to unit norm: ``update(params, state, grads) -> (params, state)``."""
    import optax

    @jax.jit
    def update(params, state, grads):
        updates, state = optimiser.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        return {**params, "D": normalise_columns(params["D"])}, state

    return update
