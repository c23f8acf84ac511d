"""What the backward pass reports: adjoint-solve records and non-convergence warnings.

A reverse-mode pass cannot return extra outputs, so the adjoint linear solve reports through a host
callback into every open :func:`record_adjoints` context (and warns or raises when it failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import numpy as np

from ._errors import NonConvergenceWarning
from ._result import RESULTS

_open_logs: list[list] = []


@dataclasses.dataclass(frozen=True)
class AdjointRecord:
    """One adjoint (tangent or cotangent) linear solve.

    Attributes:
        solver: name of the linear solver.
        residual: true relative residual ``||b - H v|| / ||b||``. Under ``vmap``/``jacfwd`` each
            batch member (each tangent) gives a record of its own.
        iterations: iterations (Hessian-vector products) used.
        converged: the residual met the solver's tolerance.
        forward_result: result code of the equilibrium solve the gradient is taken at (the force
            test only: a saddle found by ``check_stability`` is reported in ``Solution.result``).
    """

    solver: str
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    forward_result: np.ndarray

    @property
    def exact(self) -> bool:
        """True when both the equilibrium and the adjoint solve converged."""
        return bool(np.all(self.converged) and np.all(self.forward_result == RESULTS.successful))


@contextlib.contextmanager
def record_adjoints():
    """Collect an :class:`AdjointRecord` for each adjoint solve run inside the ``with`` block.

    Example::

        with calib.record_adjoints() as log:
            g = jax.grad(loss)(theta)
        print(log[-1].residual, log[-1].iterations)
    """
    log: list[AdjointRecord] = []
    _open_logs.append(log)
    try:
        yield log
    finally:
        _open_logs.remove(log)


def report_adjoint(solver_name: str, warn: bool, residual, iterations, converged, forward_result):
    """Host side of the adjoint callback."""
    record = AdjointRecord(solver_name, np.asarray(residual), np.asarray(iterations),
                           np.asarray(converged), np.asarray(forward_result))
    for log in _open_logs:
        log.append(record)
    if not warn:
        return
    if not np.all(record.converged):
        warnings.warn(
            f"adjoint linear solve ({solver_name}) did not converge: relative residual "
            f"{np.max(record.residual):.3e} after {np.max(record.iterations)} iterations; the gradient "
            "is inexact. Raise the linear solver's max_steps, loosen its tol, or use MINRES/Dense "
            "if the Hessian is indefinite.", NonConvergenceWarning, stacklevel=2)
    if np.any(record.forward_result != RESULTS.successful):
        code = int(np.max(record.forward_result))
        warnings.warn(
            f"gradient taken at an equilibrium solve that did not succeed ({RESULTS.message(code)}); "
            "the implicit gradient is not exact there.", NonConvergenceWarning, stacklevel=2)


def warn_forward(result):
    """Host side: warn about a failed equilibrium solve (used when ``throw=False``)."""
    result = np.asarray(result)
    if np.any(result != RESULTS.successful):
        codes = sorted({int(c) for c in np.ravel(result) if c != RESULTS.successful})
        warnings.warn("equilibrium solve: " + "; ".join(RESULTS.message(c) for c in codes),
                      NonConvergenceWarning, stacklevel=2)
