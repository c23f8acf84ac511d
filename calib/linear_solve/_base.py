r"""Interface of the linear solvers used by the implicit adjoint.

A linear solver solves :math:`A x = b` for an operator ``A`` given only as ``matvec`` (a
Hessian-vector product, symmetric; or, for a fixed point, a product with :math:`I - \partial F/\partial z`,
which is not: ``symmetric_only`` says which a method needs), and returns the solution with an honest report: the *true* relative
residual :math:`\|b - Ax\| / \|b\|` (recomputed, not the recurrence's estimate), the iteration count
and whether the tolerance was met.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from .._options import default_linear_tolerance
from ..solvers._base import check_positive, normalise_scalars

MatVec = Callable[[jax.Array], jax.Array]


class LinearSolveInfo(NamedTuple):
    residual: jax.Array  # relative residual ||b - A x|| / ||b|| (0 when b = 0)
    iterations: jax.Array
    converged: jax.Array
    # A direction with p.Ap <= 0 was met (CG only): A is not positive definite.
    negative_curvature: jax.Array | bool = False


@dataclasses.dataclass(frozen=True)
class AbstractLinearSolver:
    r"""Attributes:
        tol: relative residual to reach, :math:`\|b - Ax\| \le tol\,\|b\|`; ``None`` (default):
            by the precision of ``b``, 1e-10 in float64 and 1e-5 in float32. A traced option.
        max_steps: iteration limit (``None``: ``10 n`` for a system of size ``n``).
    """

    tol: float | None = None
    max_steps: int | None = None

    traced_options: ClassVar[tuple[str, ...]] = ("tol",)

    # Whether the method needs a symmetric operator (CG, MINRES); the fixed-point adjoint, whose
    # operator I - dF/dz is not symmetric, refuses those.
    symmetric_only: ClassVar[bool] = True

    def __post_init__(self):
        normalise_scalars(self)
        name = type(self).__name__
        check_positive(name, "tol", self.tol, allow_none=True)
        check_positive(name, "max_steps", self.max_steps, integer=True, allow_none=True)

    @classmethod
    def with_traced(cls, **fields):
        """An instance whose numeric fields may be tracers (validated where the user set them)."""
        solver = cls()
        for name, value in fields.items():
            object.__setattr__(solver, name, value)
        return solver

    def tolerance(self, dtype) -> jax.Array:
        """``tol``, or the default for ``dtype`` when ``tol`` is ``None``."""
        return jnp.asarray(default_linear_tolerance(dtype) if self.tol is None else self.tol, dtype)

    def iteration_limit(self, n: int) -> int:
        return 10 * n if self.max_steps is None else self.max_steps

    def solve(self, matvec: MatVec, b: jax.Array, preconditioner: MatVec | None = None
              ) -> tuple[jax.Array, LinearSolveInfo]:  # pragma: no cover - interface
        """Solve ``matvec(x) = b``; ``preconditioner`` approximates the inverse (used by CG only)."""
        raise NotImplementedError

    def _report(self, matvec: MatVec, b, x, iterations, negative_curvature=False) -> LinearSolveInfo:
        b_norm = jnp.linalg.norm(b)
        # A zero solution (e.g. the zero right-hand side of an unused adjoint) needs no product.
        r = jax.lax.cond(jnp.any(x != 0), lambda y: b - matvec(y), lambda y: b, x)
        residual = jnp.linalg.norm(r) / jnp.where(b_norm > 0, b_norm, 1.0)
        converged = (residual <= self.tolerance(b.dtype)) & ~jnp.asarray(negative_curvature)
        return LinearSolveInfo(residual, jnp.asarray(iterations), converged,
                               jnp.asarray(negative_curvature))
