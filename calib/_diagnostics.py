"""What the backward pass reports: adjoint-solve records and non-convergence warnings.

A reverse-mode pass cannot return extra outputs, so the adjoint linear solve reports through a host
callback into every open :func:`record_adjoints` context (and warns or raises when it failed).
Callbacks run when the compiled computation reaches them, possibly on another thread and after the
Python call that launched it has returned; :func:`record_adjoints` therefore waits for every
pending callback when its block ends, and warnings name the user's line that made the solve (found
when the solve is traced) rather than a line inside JAX.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import warnings

import jax
import numpy as np

from . import _monitor
from ._errors import NonConvergenceWarning
from ._result import RESULTS

_open_logs: list[list] = []

# Frames in these packages (and the standard library: contextlib, functools) are never "the user's
# line".
_INTERNAL = tuple(os.path.dirname(module.__file__) + os.sep for module in (jax, contextlib))
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_OWN = (os.path.join(_PACKAGE_ROOT, "calib") + os.sep, os.path.join(_PACKAGE_ROOT, "physics") + os.sep)


def _internal(filename: str) -> bool:
    return (filename.startswith(_INTERNAL) or filename.startswith(_OWN) or "equinox" in filename
            or filename.startswith("<"))


def call_site() -> tuple[str, int, str]:
    """``(filename, line, module)`` of the innermost frame outside JAX, equinox and this package:
    the line that asked for the solve (evaluated at trace time)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _internal(os.path.abspath(filename)):
            return filename, frame.f_lineno, frame.f_globals.get("__name__", "__main__")
        frame = frame.f_back
    return "<unknown>", 0, "__main__"


def _warn(message: str, site) -> None:
    if _monitor.quiet():  # a calibration is running and reports failed solves itself
        return
    filename, line, module = site if site is not None else ("<unknown>", 0, "__main__")
    warnings.warn_explicit(message, NonConvergenceWarning, filename, line, module=module)


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
        negative_curvature: the solve met a direction ``p`` with ``p.Hp <= 0`` (CG's curvature
            test, free): the Hessian is not positive definite, so the equilibrium is a saddle or a
            degenerate minimum and the implicit gradient is not that of a stable minimum.
    """

    solver: str
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    forward_result: np.ndarray
    negative_curvature: np.ndarray = dataclasses.field(default_factory=lambda: np.asarray(False))

    @property
    def exact(self) -> bool:
        """True when the equilibrium and the adjoint solve converged, at a positive-definite Hessian."""
        return bool(np.all(self.converged) and np.all(self.forward_result == RESULTS.successful)
                    and not np.any(self.negative_curvature))


@contextlib.contextmanager
def record_adjoints():
    """Collect an :class:`AdjointRecord` for each adjoint solve run inside the ``with`` block.

    The records are complete when the block ends (pending callbacks are waited for).

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
        try:
            jax.effects_barrier()
        finally:
            _open_logs.remove(log)


def report_adjoint(solver_name: str, warn: bool, residual, iterations, converged, forward_result,
                   negative_curvature=False, site=None):
    """Host side of the adjoint callback."""
    record = AdjointRecord(solver_name, np.asarray(residual), np.asarray(iterations),
                           np.asarray(converged), np.asarray(forward_result),
                           np.asarray(negative_curvature))
    for log in _open_logs:
        log.append(record)
    if not warn:
        return
    if np.any(record.negative_curvature):
        _warn(f"adjoint linear solve ({solver_name}) met negative curvature (p.Hp <= 0): the Hessian "
              "at the equilibrium is not positive definite, so the state is a saddle point (or a "
              "degenerate minimum) and the implicit gradient is that of an unstable equilibrium; "
              "perturb x0, or pass the energy's zero modes as Implicit(nullspace=...)", site)
    elif not np.all(record.converged):
        _warn(f"adjoint linear solve ({solver_name}) did not converge: relative residual "
              f"{np.max(record.residual):.3e} after {np.max(record.iterations)} iterations; the "
              "gradient is inexact. Raise the linear solver's max_steps, loosen its tol, or use "
              "MINRES/Dense if the Hessian is indefinite.", site)
    if np.any(record.forward_result != RESULTS.successful):
        code = int(np.max(record.forward_result))
        _warn(f"gradient taken at an equilibrium solve that did not succeed ({RESULTS.message(code)}); "
              "the implicit gradient is not exact there.", site)


def warn_forward(result, dtype=None, site=None, kind="equilibrium"):
    """Host side: warn about a failed equilibrium (or ``kind="fixed_point"``) solve (used when
    ``throw=False``)."""
    result = np.asarray(result)
    message = RESULTS.fixed_point_message if kind == "fixed_point" else RESULTS.message
    if np.any(result != RESULTS.successful):
        codes = sorted({int(c) for c in np.ravel(result) if c != RESULTS.successful})
        failed = int(np.sum(result != RESULTS.successful))
        batch = f" ({failed} of {result.size} batch members)" if result.size > 1 else ""
        _warn(f"{kind.replace('_', ' ')} solve{batch}: " + "; ".join(message(c, dtype) for c in codes),
              site)


def ift_residual_message(mode: str, tolerance: float, residual) -> str:
    return (f"{mode} derivative: its IFT residual ||H dx + d(grad E)/dtheta dtheta|| / "
            f"||d(grad E)/dtheta dtheta|| is {np.nanmax(residual):.2e} (above {tolerance:g}) in the "
            "probe direction dtheta = theta, so the unrolled gradient is that far from the exact "
            "one. Run more steps, use a solver whose derivative iterates converge (GradientDescent, "
            "FIRE), or use calib.Implicit.")


def report_ift_residual(mode: str, tolerance: float, residual, site=None):
    """Host side: warn when an unrolled derivative is far from the implicit-function theorem."""
    residual = np.asarray(residual)
    if np.any(residual > tolerance):
        _warn(ift_residual_message(mode, tolerance, residual), site)
