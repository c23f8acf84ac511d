"""Conjugate gradients on a matrix-free symmetric positive-definite operator."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from .._errors import CalibValueError
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

    A direction with :math:`p\cdot Ap \le 0` stops the iteration and is reported
    (``negative_curvature``): at an equilibrium it means the Hessian is not positive definite, a
    saddle point, found at no extra cost.

    Attributes:
        refresh: every ``refresh`` iterations the recurrence residual is replaced by the true one,
            :math:`r = b - Ax` (one more product), which keeps round-off from stalling the
            iteration in low precision. ``None`` (default): every 10 iterations in float32 and
            lower precision, never in float64; ``0``: never.
    """

    refresh: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.refresh is not None and (isinstance(self.refresh, bool) or not isinstance(
                self.refresh, int) or self.refresh < 0):
            raise CalibValueError(f"CG: refresh must be None or a non-negative int, got "
                                  f"{self.refresh!r}")

    def _refresh_every(self, dtype) -> int:
        if self.refresh is not None:
            return self.refresh
        return 10 if jnp.finfo(dtype).bits < 64 else 0

    def solve(self, matvec, b, preconditioner=None):
        apply_m = preconditioner if preconditioner is not None else (lambda v: v)
        target = (self.tolerance(b.dtype) * jnp.linalg.norm(b)) ** 2
        limit = self.iteration_limit(b.shape[0])
        every = self._refresh_every(b.dtype)

        def cond(c):
            x, r, z, p, rz, rr, k, negative = c
            return (rr > target) & (k < limit) & ~negative

        def body(c):
            x, r, z, p, rz, rr, k, _ = c
            ap = matvec(p)
            pap = jnp.vdot(p, ap)
            # Non-positive curvature: CG cannot go on; stop and report it (a saddle at x*).
            negative = ~(pap > 0) & (rr > 0)
            alpha = _divide(rz, pap)
            alpha = jnp.where(negative, 0.0, alpha)
            x = x + alpha * p
            r = r - alpha * ap
            if every:
                r = lax.cond((k + 1) % every == 0, lambda: b - matvec(x), lambda: r)
            rr = jnp.where(negative, 0.0, jnp.vdot(r, r))
            # The preconditioner may be expensive (a sparse back-substitution): skip it once done.
            z = lax.cond((rr > target) & (k + 1 < limit), apply_m, jnp.zeros_like, r)
            rz_new = jnp.vdot(r, z)
            p = z + _divide(rz_new, rz) * p
            return x, r, z, p, rz_new, rr, k + 1, negative

        z0 = apply_m(b)
        init = (jnp.zeros_like(b), b, z0, z0, jnp.vdot(b, z0), jnp.vdot(b, b), jnp.asarray(0),
                jnp.asarray(False))
        x, *_, k, negative = lax.while_loop(cond, body, init)
        return x, self._report(matvec, b, x, k, negative)
