"""Conjugate gradients on a matrix-free symmetric positive-definite operator."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from ._base import AbstractLinearSolver


@dataclasses.dataclass(frozen=True)
class CG(AbstractLinearSolver):
    r"""Conjugate gradients (Hestenes & Stiefel 1952) on Hessian-vector products.

    The default adjoint solver: one Hessian-vector product (about the cost of two gradients) per
    iteration, memory :math:`O(n)`. Requires :math:`A` positive definite on the space it acts on
    (true at a strict minimum; use :class:`MINRES` for indefinite systems).
    """

    def solve(self, matvec, b):
        b_norm = jnp.linalg.norm(b)
        target = (self.tol * b_norm) ** 2

        def cond(c):
            x, r, p, rr, k = c
            return (rr > target) & (k < self.iteration_limit(b.shape[0]))

        def body(c):
            x, r, p, rr, k = c
            ap = matvec(p)
            pap = jnp.vdot(p, ap)
            alpha = jnp.where(pap != 0, rr / jnp.where(pap != 0, pap, 1.0), 0.0)
            x = x + alpha * p
            r = r - alpha * ap
            rr_new = jnp.vdot(r, r)
            p = r + (rr_new / jnp.where(rr > 0, rr, 1.0)) * p
            # A non-positive curvature direction cannot be handled by CG: stop and let the
            # residual check report it.
            rr_new = jnp.where(pap > 0, rr_new, 0.0)
            return x, r, p, rr_new, k + 1

        x0 = jnp.zeros_like(b)
        x, _, _, _, k = lax.while_loop(cond, body, (x0, b, b, jnp.vdot(b, b), jnp.asarray(0)))
        return x, self._report(matvec, b, x, k)
