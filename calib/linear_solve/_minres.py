"""MINRES for symmetric, possibly indefinite, operators."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from ._base import AbstractLinearSolver


@dataclasses.dataclass(frozen=True)
class MINRES(AbstractLinearSolver):
    r"""MINRES (Paige & Saunders, SIAM J. Numer. Anal. 12, 617, 1975).

    Minimises :math:`\|b - Ax\|` over the Krylov space with a three-term Lanczos recurrence and
    Givens rotations. Works for symmetric *indefinite* :math:`A` (e.g. the Hessian at a saddle, or a
    constrained system), at about the cost of CG per iteration.
    """

    def solve(self, matvec, b, preconditioner=None):
        dtype = b.dtype
        tiny = jnp.finfo(dtype).tiny
        beta1 = jnp.linalg.norm(b)
        zeros = jnp.zeros_like(b)
        limit = self.iteration_limit(b.shape[0])

        # Carry: x, r1, r2, y, w, w2, beta, oldb, dbar, epsln, phibar, cs, sn, k
        def cond(c):
            phibar, beta, k = c[10], c[6], c[13]
            return (phibar > self.tolerance(dtype) * beta1) & (k < limit) & (beta > tiny)

        def body(c):
            x, r1, r2, y, w, w2, beta, oldb, dbar, epsln, phibar, cs, sn, k = c
            v = y / beta
            y = matvec(v)
            y = jnp.where(k >= 1, y - (beta / jnp.where(oldb > 0, oldb, 1.0)) * r1, y)
            alfa = jnp.vdot(v, y)
            y = y - (alfa / beta) * r2
            r1, r2 = r2, y
            oldb, beta = beta, jnp.linalg.norm(y)
            oldeps = epsln
            delta = cs * dbar + sn * alfa
            gbar = sn * dbar - cs * alfa
            epsln = sn * beta
            dbar = -cs * beta
            gamma = jnp.maximum(jnp.sqrt(gbar**2 + beta**2), tiny)
            cs, sn = gbar / gamma, beta / gamma
            phi = cs * phibar
            phibar = sn * phibar
            w1, w2 = w2, w
            w = (v - oldeps * w1 - delta * w2) / gamma
            x = x + phi * w
            return x, r1, r2, y, w, w2, beta, oldb, dbar, epsln, phibar, cs, sn, k + 1

        one, zero = jnp.asarray(1.0, dtype), jnp.asarray(0.0, dtype)
        init = (zeros, b, b, b, zeros, zeros, beta1, zero, zero, zero, beta1, -one, zero,
                jnp.asarray(0))
        out = lax.while_loop(cond, body, init)
        x, k = out[0], out[13]
        return x, self._report(matvec, b, x, k)
