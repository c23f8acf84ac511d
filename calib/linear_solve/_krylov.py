r"""Krylov solvers for non-symmetric operators: GMRES and BiCGStab (through lineax).

The implicit adjoint of a fixed point :math:`z^* = F(z^*, \theta)` solves with
:math:`A = I - \partial F/\partial z`, which is not symmetric (a deep equilibrium layer, a proximal
iteration), so CG and MINRES do not apply. The iterations are lineax's (Rader, Lyons & Kidger,
2023); lineax is used rather than ``jax.scipy.sparse.linalg``, whose ``gmres`` and ``bicgstab``
return neither an iteration count nor a convergence flag. As for every linear solver here, the
report's residual is the *true* relative residual :math:`\|b - Ax\|/\|b\|`, recomputed with one
more product, not the recurrence's estimate.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._base import AbstractLinearSolver


def _lineax_solve(method, matvec, b):
    import lineax as lx

    operator = lx.FunctionLinearOperator(matvec, jax.ShapeDtypeStruct(b.shape, b.dtype))
    solution = lx.linear_solve(operator, b, method, throw=False)
    return solution.value, solution.stats["num_steps"]


@dataclasses.dataclass(frozen=True)
class GMRES(AbstractLinearSolver):
    r"""Restarted GMRES (Saad & Schultz, SIAM J. Sci. Stat. Comput. 7, 856, 1986).

    Minimises :math:`\|b - Ax\|` over a Krylov space of dimension ``restart``, then restarts from
    the answer. Works for any non-singular :math:`A`; costs one product per iteration and
    :math:`O(\text{restart}\; n)` memory. The default linear solver of the fixed-point adjoint.

    Attributes:
        restart: Krylov dimension before a restart (default 20).
    """

    restart: int = 20

    symmetric_only = False

    def __post_init__(self):
        super().__post_init__()
        from ..solvers._base import check_positive

        check_positive("GMRES", "restart", self.restart, integer=True)

    def solve(self, matvec, b, preconditioner=None):
        import lineax as lx

        limit = self.iteration_limit(b.shape[0])
        method = lx.GMRES(rtol=self.tolerance(b.dtype), atol=jnp.zeros((), b.dtype),
                          max_steps=limit, restart=min(self.restart, b.shape[0]))
        x, steps = _lineax_solve(method, matvec, b)
        return x, self._report(matvec, b, x, steps)


@dataclasses.dataclass(frozen=True)
class BiCGStab(AbstractLinearSolver):
    r"""BiCGStab (van der Vorst, SIAM J. Sci. Stat. Comput. 13, 631, 1992).

    Two products per iteration and :math:`O(n)` memory, for any non-singular :math:`A`; its
    residual need not fall monotonically, and it can break down where GMRES does not (the report
    then says it did not converge).
    """

    symmetric_only = False

    def solve(self, matvec, b, preconditioner=None):
        import lineax as lx

        limit = self.iteration_limit(b.shape[0])
        method = lx.BiCGStab(rtol=self.tolerance(b.dtype), atol=jnp.zeros((), b.dtype),
                             max_steps=limit)
        x, steps = _lineax_solve(method, matvec, b)
        return x, self._report(matvec, b, x, steps)
