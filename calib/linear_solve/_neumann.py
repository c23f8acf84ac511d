"""A truncated Neumann series as an (approximate) linear solver."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
from jax import lax

from .._spectrum import lanczos_extremes
from ..solvers._base import check_positive, normalise_scalars
from ._base import LinearSolveInfo


@dataclasses.dataclass(frozen=True)
class NeumannSeries:
    r""":math:`A^{-1} b \approx \alpha \sum_{k<K} (I - \alpha A)^k b`.

    Converges for :math:`0 < \alpha < 2/\lambda_{max}`, with error
    :math:`\|(I-\alpha A)^K\|` (so like :math:`(1 - \alpha\lambda_{min})^K`). It is exactly the
    derivative obtained by backpropagating through ``K`` gradient-descent steps with step
    :math:`\alpha` started at the solution. It is an approximation by design: there is no tolerance,
    and the residual is reported for information.

    Attributes:
        terms: ``K``.
        step: :math:`\alpha`; ``None`` takes :math:`1/\lambda_{max}` from 30 Lanczos steps.
    """

    terms: int
    step: float | None = None

    traced_options: ClassVar[tuple[str, ...]] = ("step",)
    symmetric_only: ClassVar[bool] = False  # a polynomial in A: any A whose series converges

    def __post_init__(self):
        normalise_scalars(self)
        check_positive("NeumannSeries", "terms", self.terms, integer=True)
        check_positive("NeumannSeries", "step", self.step, allow_none=True)

    def solve(self, matvec, b, preconditioner=None):
        if self.step is None:
            _, largest = lanczos_extremes(matvec, b.shape[0], b.dtype, iterations=30)
            step = lax.stop_gradient(1.0 / largest)
        else:
            step = self.step

        def body(_, c):
            total, term = c
            return total + term, term - step * matvec(term)

        total, _ = lax.fori_loop(0, self.terms, body, (jnp.zeros_like(b), b))
        x = step * total
        b_norm = jnp.linalg.norm(b)
        residual = jnp.linalg.norm(b - matvec(x)) / jnp.where(b_norm > 0, b_norm, 1.0)
        return x, LinearSolveInfo(residual, jnp.asarray(self.terms), jnp.asarray(True))
