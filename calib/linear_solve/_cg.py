"""Conjugate gradients on a matrix-free symmetric positive-definite operator."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from ._base import AbstractLinearSolver


def _divide(num, den):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


@dataclasses.dataclass(frozen=True)
class CG(AbstractLinearSolver):
    r"""(Preconditioned) conjugate gradients (Hestenes & Stiefel 1952) on Hessian-vector products.

    The default adjoint solver: one Hessian-vector product (about the cost of a gradient) per
    iteration, memory :math:`O(n)`. Requires :math:`A` positive definite on the space it acts on
    (true at a strict minimum; use :class:`MINRES` for indefinite systems). With a preconditioner
    :math:`M \approx A^{-1}` (symmetric positive definite), the iteration count falls with the
    condition number of :math:`MA`; :class:`calib.Implicit` passes the L-BFGS inverse-Hessian
    approximation of the forward solve (Morales & Nocedal, SIAM J. Optim. 10, 1079, 2000).
    """

    def solve(self, matvec, b, preconditioner=None):
        apply_m = preconditioner if preconditioner is not None else (lambda v: v)
        target = (self.tol * jnp.linalg.norm(b)) ** 2
        limit = self.iteration_limit(b.shape[0])

        def cond(c):
            x, r, z, p, rz, rr, k = c
            return (rr > target) & (k < limit)

        def body(c):
            x, r, z, p, rz, rr, k = c
            ap = matvec(p)
            pap = jnp.vdot(p, ap)
            alpha = _divide(rz, pap)
            x = x + alpha * p
            r = r - alpha * ap
            # Non-positive curvature cannot be handled by CG: stop, and let the residual check
            # report the failure.
            rr = jnp.where(pap > 0, jnp.vdot(r, r), 0.0)
            # The preconditioner may be expensive (a sparse back-substitution): skip it once done.
            z = lax.cond((rr > target) & (k + 1 < limit), apply_m, jnp.zeros_like, r)
            rz_new = jnp.vdot(r, z)
            p = z + _divide(rz_new, rz) * p
            return x, r, z, p, rz_new, rr, k + 1

        z0 = apply_m(b)
        init = (jnp.zeros_like(b), b, z0, z0, jnp.vdot(b, z0), jnp.vdot(b, b), jnp.asarray(0))
        x, *_, k = lax.while_loop(cond, body, init)
        return x, self._report(matvec, b, x, k)
