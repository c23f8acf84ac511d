"""Dense direct solves for small systems."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ._base import AbstractLinearSolver
from .._errors import CalibValueError


@dataclasses.dataclass(frozen=True)
class Dense(AbstractLinearSolver):
    """Materialise the matrix (``n`` Hessian-vector products) and factorise it.

    Exact to round-off, :math:`O(n^2)` memory and :math:`O(n^3)` time: for small systems and for
    checking the iterative solvers. The only linear solver that forms the Hessian.

    Attributes:
        method: ``"lu"`` (any non-singular matrix, the default) or ``"cholesky"`` (positive definite,
            twice as fast; an indefinite matrix gives NaN, which the residual check reports).
    """

    method: str = "lu"

    def __post_init__(self):
        super().__post_init__()
        if self.method not in ("lu", "cholesky"):
            raise CalibValueError(f"Dense: method must be 'lu' or 'cholesky', got {self.method!r}")

    @property
    def symmetric_only(self) -> bool:  # LU takes any non-singular matrix
        return self.method == "cholesky"

    def solve(self, matvec, b, preconditioner=None):
        matrix = jax.vmap(matvec, out_axes=1)(jnp.eye(b.shape[0], dtype=b.dtype))
        if self.method == "cholesky":
            x = jsl.cho_solve(jsl.cho_factor(matrix), b)
        else:
            x = jnp.linalg.solve(matrix, b)
        return x, self._report(matvec, b, x, 1)
