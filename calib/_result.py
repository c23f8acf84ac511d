"""Result codes of an equilibrium (or fixed-point) solve.

Codes are small integers so that they travel through ``jit``/``vmap`` as arrays; ``RESULTS.message``
turns one into words. Each code has one cause, and its message says what is wrong and what to do:
a message never blames the start or the parameters for a failure of the linear algebra, nor asks
for float64 when the solve already ran in float64.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


class RESULTS:
    """Outcome of an inner solve (``Solution.result``)."""

    successful = 0
    """max |force| <= tol."""
    max_steps_reached = 1
    """The step limit was hit before the force tolerance."""
    nonfinite = 2
    """The energy or the force became NaN/inf (a bad start, or an unphysical parameter)."""
    stagnated = 3
    """The solver could not lower the energy any further (line search or trust region collapsed)."""
    saddle_point = 4
    """Converged, but the Hessian has a negative eigenvalue: a saddle, not a minimum."""
    linear_solve_failed = 5
    """A linear solve inside the solver (a sparse factorisation, an inner Krylov solve) failed."""
    singular = 6
    """The Hessian is singular at the state reached: the energy has a flat direction, so the
    minimiser is not unique (e.g. a body with no supports)."""
    unstable_spectrum = 7
    """The Hessian's spectrum at the solution could not be computed (NaN/inf Ritz values)."""

    _messages = {
        0: "converged (max |force| <= tol)",
        1: "did not converge: the step limit was reached before max |force| <= tol; "
        "raise the solver's max_steps or loosen tol",
        2: "did not converge: the energy or force became NaN/inf; check the start x0 and "
        "the parameters theta (e.g. overlapping atoms, negative stiffness)",
        3: "did not converge: the solver stagnated (no step lowers the energy); the force "
        "tolerance may be below the floating-point noise of the energy: loosen tol{float64_hint}",
        4: "converged to a saddle point: the Hessian has a negative eigenvalue, so the state is not a "
        "minimum and the implicit gradient describes an unstable equilibrium; perturb x0",
        5: "did not converge: the sparse linear solve failed (the factorisation or the inner "
        "iterative solve of the tangent broke down, even with a diagonal shift); the tangent may be "
        "singular or badly scaled: check the supports and parameters, or try another method",
        6: "did not converge: the Hessian (tangent stiffness) is singular, so the equilibrium is not "
        "unique: the energy is flat along some direction (e.g. a body without supports, free rigid "
        "motions); add supports/constraints or pass the zero modes as a nullspace",
        7: "the Hessian's spectrum at the solution is not finite (NaN/inf eigenvalue estimates), so "
        "the stability of the equilibrium is unknown; check the energy's second derivatives there",
    }

    # The same codes for calib.fixed_point, in its terms (the residual z - F(z) for the force).
    _fixed_point_messages = {
        0: "converged (max |z - F(z)| <= tol)",
        1: "did not converge: the step limit was reached before max |z - F(z)| <= tol; raise the "
        "solver's max_steps, or use calib.Anderson or calib.NewtonKrylov (a map that contracts "
        "slowly needs many plain iterations)",
        2: "did not converge: the iterates or F(z) became NaN/inf; the map may not contract from z0 "
        "(spectral radius of dF/dz >= 1): damp the iteration (damping < 1) or use "
        "calib.NewtonKrylov, and check z0 and theta",
        3: "did not converge: no step reduces |z - F(z)| any further (the Newton direction is not "
        "a descent direction, or tol is below the floating-point noise of F); loosen "
        "tol{float64_hint}",
    }

    @classmethod
    def fixed_point_message(cls, code: int, dtype=None) -> str:
        """The result of a :func:`calib.fixed_point` solve in words."""
        text = cls._fixed_point_messages.get(int(code))
        if text is None:
            return cls.message(code, dtype)
        low_precision = dtype is None or np.finfo(np.dtype(dtype)).bits < 64
        return text.replace("{float64_hint}", " or use float64" if low_precision else "")

    @classmethod
    def codes(cls) -> tuple[int, ...]:
        """Every code, in order."""
        return tuple(sorted(cls._messages))

    @classmethod
    def message(cls, code: int, dtype=None) -> str:
        """The result in words; ``dtype`` (of the state) tailors the advice on precision."""
        text = cls._messages.get(int(code), f"unknown result code {int(code)}")
        low_precision = dtype is None or np.finfo(np.dtype(dtype)).bits < 64
        return text.replace("{float64_hint}", " or use float64" if low_precision else "")


def classify(value, grad, tol, stalled):
    """Result code from the final energy ``value``, force ``-grad`` and the solver's ``stalled`` flag."""
    finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
    converged = jnp.max(jnp.abs(grad), initial=0.0) <= tol
    return jnp.where(
        ~finite,
        RESULTS.nonfinite,
        jnp.where(
            converged,
            RESULTS.successful,
            jnp.where(stalled, RESULTS.stagnated, RESULTS.max_steps_reached),
        ),
    ).astype(jnp.int32)
