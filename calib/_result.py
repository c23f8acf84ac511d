"""Result codes of an equilibrium solve.

Codes are small integers so that they travel through ``jit``/``vmap`` as arrays; ``RESULTS.message``
turns one into words.
"""

from __future__ import annotations

import jax.numpy as jnp


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

    _messages = {
        0: "converged (max |force| <= tol)",
        1: "did not converge: the step limit was reached before max |force| <= tol; "
        "raise the solver's max_steps or loosen tol",
        2: "did not converge: the energy or force became NaN/inf; check the start x0 and "
        "the parameters theta (e.g. overlapping atoms, negative stiffness)",
        3: "did not converge: the solver stagnated (no step lowers the energy); the force "
        "tolerance may be below the floating-point noise of the energy: loosen tol or use float64",
        4: "converged to a saddle point: the Hessian has a negative eigenvalue, so the state is not a "
        "minimum and the implicit gradient describes an unstable equilibrium; perturb x0",
    }

    @classmethod
    def message(cls, code: int) -> str:
        return cls._messages.get(int(code), f"unknown result code {int(code)}")


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
