r"""Closed forms for the ``(3, 3)`` cell matrices that every energy evaluation touches.

The staleness guard and the enthalpy need a determinant, an inverse and the smallest singular
value of a 3×3 matrix at each energy evaluation. ``jnp.linalg`` computes them by LU and SVD
routines (library calls with pivoting and workspace), and a relaxation inlines the energy and its
gradient several times (solver loop, line search, adjoint), so these small matrices once cost about
as much compilation time as the rest of the energy together. The formulas below are a few dozen
element-wise operations instead, exact for any non-singular cell.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def det3(a) -> jax.Array:
    r""":math:`\det A` of a ``(3, 3)`` matrix, by the triple product :math:`a_0 \cdot (a_1 \times a_2)`
    of its rows (differentiable, with :math:`\partial \det A / \partial A = \operatorname{cof} A`)."""
    return jnp.dot(a[0], jnp.cross(a[1], a[2]))


def inv3(a) -> jax.Array:
    r""":math:`A^{-1} = \operatorname{adj}(A) / \det A` of a ``(3, 3)`` matrix: the columns of
    :math:`A^{-1}` are the cross products of pairs of rows of :math:`A`, over :math:`\det A`."""
    adjugate = jnp.stack([jnp.cross(a[1], a[2]), jnp.cross(a[2], a[0]), jnp.cross(a[0], a[1])],
                         axis=1)
    return adjugate / det3(a)


def smallest_singular_value3(f) -> jax.Array:
    r""":math:`\sigma_{min}(F)` of a ``(3, 3)`` matrix: the square root of the smallest eigenvalue of
    :math:`C = F^T F`, by the trigonometric solution of its characteristic cubic (O. K. Smith,
    Commun. ACM 4, 168, 1961):

    .. math:: q = \operatorname{tr} C / 3, \quad p = \sqrt{\|C - qI\|_F^2 / 6}, \quad
              \phi = \tfrac13 \arccos\big(\det((C - qI)/p) / 2\big), \quad
              \lambda_{min} = q + 2p\cos(\phi + 2\pi/3).

    A multiple of the identity (``p = 0``, a hydrostatic strain) gives :math:`\lambda = q`.
    Rounding errors are of the order of the machine epsilon times :math:`\|C\|`. Meant for
    checks, not for derivatives (the arccos is not differentiable where eigenvalues coincide).
    """
    c = f.T @ f
    q = jnp.trace(c) / 3.0
    shifted = c - q * jnp.eye(3, dtype=c.dtype)
    p2 = jnp.sum(shifted * shifted) / 6.0
    isotropic = p2 <= (jnp.finfo(c.dtype).eps * q) ** 2
    p = jnp.sqrt(jnp.where(isotropic, 1.0, p2))
    r = jnp.clip(det3(shifted / p) / 2.0, -1.0, 1.0)
    phi = jnp.arccos(r) / 3.0
    smallest = jnp.where(isotropic, q, q + 2.0 * p * jnp.cos(phi + 2.0 * jnp.pi / 3.0))
    return jnp.sqrt(jnp.maximum(smallest, 0.0))
