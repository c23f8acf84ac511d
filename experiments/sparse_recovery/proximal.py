r"""Proximal operators, ISTA and FISTA for the lasso, and the lasso as a differentiable fixed point.

The lasso :math:`\min_x \tfrac12\|y - Ax\|^2 + \lambda\|x\|_1` (``A``: ``(m, n)``, ``y``:
``(batch, m)``, ``x``: ``(batch, n)``) is solved by the proximal-gradient iteration (ISTA; Daubechies,
Defrise & De Mol, CPAM 57, 2004)

.. math:: x_{k+1} = \eta_{\lambda/L}\bigl(x_k + \tfrac1L A^\top (y - A x_k)\bigr),

with :math:`L = \|A\|_2^2` and the soft threshold :math:`\eta_\tau(u) = \mathrm{sign}(u)\max(|u|-\tau,
0)`; its error falls as :math:`O(1/k)` in objective. FISTA (Beck & Teboulle, SIAM J. Imaging Sci.
2, 2009) adds the momentum :math:`z_k = x_k + \tfrac{t_{k-1}-1}{t_k}(x_k - x_{k-1})`, a skip
connection between layers, for :math:`O(1/k^2)`.

The solution is a fixed point of the ISTA map, :math:`x^* = T(x^*, A, y)`, so :func:`lasso` solves it
with :func:`calib.fixed_point` and differentiates it by the implicit function theorem: on the
support :math:`S` the Jacobian of :math:`T` is :math:`\mathrm{diag}(1_S)(I - A^\top A/L)`, and
:math:`(I - \partial T/\partial x)^{-1}` exists when :math:`A_S` has full column rank, which gives
the classical lasso derivative :math:`\partial x_S/\partial y = (A_S^\top A_S)^{-1} A_S^\top`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def soft_threshold(u: jax.Array, tau) -> jax.Array:
    r""":math:`\eta_\tau(u) = \mathrm{sign}(u)\,\max(|u| - \tau, 0)`, elementwise (``tau`` broadcasts)."""
    return jnp.sign(u) * jnp.maximum(jnp.abs(u) - tau, 0.0)


def group_soft_threshold(u: jax.Array, tau, group_size: int) -> jax.Array:
    r"""Block soft threshold, the prox of :math:`\tau\sum_g \|u_g\|_2` over consecutive groups.

    :math:`\eta_\tau(u)_g = u_g \max(1 - \tau/\|u_g\|_2, 0)`. ``u``: ``(..., n)`` with ``n`` a
    multiple of ``group_size``; ``tau`` a scalar or ``(n // group_size,)`` per group.
    """
    n = u.shape[-1]
    if n % group_size:
        raise ValueError(f"group_soft_threshold: the signal length {n} is not a multiple of "
                         f"group_size={group_size}")
    blocks = u.reshape(*u.shape[:-1], n // group_size, group_size)
    squares = jnp.sum(blocks**2, axis=-1, keepdims=True)
    # Where a whole group is zero the square root is taken of 1 instead (its derivative at 0 is
    # infinite, and inf * 0 would poison the gradient with NaN); the group is zero either way.
    safe = jnp.sqrt(jnp.where(squares > 0, squares, 1.0))
    scale = jnp.maximum(1.0 - jnp.asarray(tau)[..., None] / safe, 0.0)
    return (blocks * scale).reshape(u.shape)


def lipschitz(A: jax.Array) -> jax.Array:
    r""":math:`L = \|A\|_2^2`, the Lipschitz constant of :math:`\nabla \tfrac12\|y - Ax\|^2`."""
    return jnp.linalg.norm(A, 2) ** 2


def ista_map(x, A, y, lam, L, prox=soft_threshold):
    r"""One ISTA step :math:`T(x) = \mathrm{prox}_{\lambda/L}(x + A^\top(y - Ax)/L)`, batched."""
    return prox(x + (y - x @ A.T) @ A / L, lam / L)


def _keep(record):
    return (lambda x: x) if record is None else record


def ista(A, y, lam, iterations: int, *, prox=soft_threshold, x0=None, record=None):
    """``iterations`` ISTA steps from ``x0`` (zeros); every iterate, ``(iterations + 1, batch, n)``,
    or ``record(x)`` of every iterate (e.g. its error: long runs need not keep the iterates)."""
    L = lipschitz(A)
    x0 = jnp.zeros((y.shape[0], A.shape[1]), y.dtype) if x0 is None else x0
    record = _keep(record)

    def layer(x, _):
        x = ista_map(x, A, y, lam, L, prox)
        return x, record(x)

    _, xs = jax.lax.scan(layer, x0, None, length=iterations)
    return jnp.concatenate([record(x0)[None], xs])


def fista(A, y, lam, iterations: int, *, prox=soft_threshold, x0=None, record=None):
    """``iterations`` FISTA steps from ``x0`` (zeros); every iterate, ``(iterations + 1, batch, n)``,
    or ``record(x)`` of every iterate."""
    L = lipschitz(A)
    x0 = jnp.zeros((y.shape[0], A.shape[1]), y.dtype) if x0 is None else x0
    record = _keep(record)

    def layer(carry, _):
        x, x_previous, t = carry
        t_next = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t**2))
        z = x + ((t - 1.0) / t_next) * (x - x_previous)
        x_next = ista_map(z, A, y, lam, L, prox)
        return (x_next, x, t_next), record(x_next)

    t0 = jnp.ones((), y.dtype)
    _, xs = jax.lax.scan(layer, (x0, x0, t0), None, length=iterations)
    return jnp.concatenate([record(x0)[None], xs])


def lasso_objective(x, A, y, lam):
    r""":math:`\tfrac12\|y - Ax\|^2 + \lambda\|x\|_1` per signal, ``(batch,)``."""
    return 0.5 * jnp.sum((y - x @ A.T) ** 2, axis=-1) + lam * jnp.sum(jnp.abs(x), axis=-1)


def lasso(A, y, lam, *, x0=None, solver=None, adjoint=None, throw=True):
    r"""The lasso solution :math:`x^*(A, y, \lambda)`, ``(batch, n)``, differentiable in all three.

    Solved as the fixed point of the ISTA map with :func:`calib.fixed_point` (Anderson
    acceleration by default, to ``max |x - T(x)| <= 1e-10``); its derivative is the implicit one
    (one GMRES solve with :math:`I - \partial T/\partial x` per tangent or cotangent) unless
    ``adjoint`` says otherwise, e.g. ``calib.Unrolled(steps=K)``. ``throw=True`` (default) makes a
    solve that did not converge an error rather than a silent answer.
    """
    import calib

    solver = calib.Anderson(memory=8, tol=1e-10, max_steps=20_000) if solver is None else solver
    x0 = jnp.zeros((y.shape[0], A.shape[1]), y.dtype) if x0 is None else x0
    L = jax.lax.stop_gradient(lipschitz(A))

    def T(x, params, y):
        A, lam = params
        return ista_map(x, A, y, lam, L)

    solution = calib.fixed_point(T, x0, (A, lam), y, solver=solver, adjoint=adjoint, throw=throw)
    return solution.z
