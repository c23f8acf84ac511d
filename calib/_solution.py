"""The object returned by :func:`calib.equilibrium`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._result import RESULTS


class SolveOutcome:
    """What :class:`Solution` and :class:`calib.FixedPointSolution` share: a pytree of the fields
    named in ``_fields`` (the constructor takes them in that order), a result code, and its words.
    Subclasses name their state field (``_state``) and how a code reads (``_describe``)."""

    _fields: tuple[str, ...] = ()
    _state = "x"

    @staticmethod
    def _describe(code, dtype) -> str:
        return RESULTS.message(code, dtype)

    def tree_flatten(self):
        return tuple(getattr(self, f) for f in self._fields), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)

    @property
    def converged(self):
        """Boolean array: the tolerance was met (and, for an equilibrium checked for stability,
        the state is a minimum)."""
        return jnp.asarray(self.result) == RESULTS.successful

    def message(self) -> str:
        """The result in words (call outside ``jit``)."""
        codes = np.ravel(np.asarray(self.result))
        leaves = jax.tree.leaves(getattr(self, self._state))
        dtype = leaves[0].dtype if leaves else None
        return "; ".join(sorted({self._describe(c, dtype) for c in codes}))


@jax.tree_util.register_pytree_node_class
class Solution(SolveOutcome):
    """An equilibrium and how it was found. A pytree, so it passes through ``jit`` and ``vmap``
    (under ``vmap`` every field gains a batch axis).

    Attributes:
        x: the state at equilibrium, same pytree as ``x0``; differentiable in ``theta``.
        energy: :math:`E(x^*, \\theta)`, differentiable in ``theta``; with :class:`calib.Implicit`
            by the envelope theorem (:math:`\\partial_\\theta E` at the minimum, no adjoint solve; second
            derivatives still include the relaxation of ``x``).
        steps: solver steps taken.
        max_force: :math:`\\max_i |\\partial E/\\partial x_i|` at ``x``.
        result: a :class:`calib.RESULTS` code (0 = converged).
        min_eigenvalue: Lanczos estimate of the smallest Hessian eigenvalue at ``x`` (known zero
            modes excluded), NaN unless ``check_stability=True``.
        max_eigenvalue: the matching largest eigenvalue estimate (NaN unless checked).
        ift_residual: unrolled adjoints only: how far their derivative is from satisfying the
            implicit function theorem, :math:`\\|H\\dot x + \\partial_\\theta\\nabla E\\,\\dot\\theta\\| /
            \\|\\partial_\\theta\\nabla E\\,\\dot\\theta\\|` in the probe direction
            :math:`\\dot\\theta = \\theta` (NaN for :class:`calib.Implicit`, whose derivative solves it
            to the linear solver's tolerance, and with ``check=False``).
    """

    def __init__(self, x: Any, energy, steps, max_force, result, min_eigenvalue, max_eigenvalue,
                 ift_residual=None):
        self.x = x
        self.energy = energy
        self.steps = steps
        self.max_force = max_force
        self.result = result
        self.min_eigenvalue = min_eigenvalue
        self.max_eigenvalue = max_eigenvalue
        self.ift_residual = (jnp.full_like(jnp.asarray(max_force), jnp.nan) if ift_residual is None
                             else ift_residual)

    _fields = ("x", "energy", "steps", "max_force", "result", "min_eigenvalue", "max_eigenvalue",
               "ift_residual")

    def __repr__(self):
        try:
            return (f"Solution(result={np.asarray(self.result)}, steps={np.asarray(self.steps)}, "
                    f"max_force={np.asarray(self.max_force)}, energy={np.asarray(self.energy)})")
        except Exception:  # under tracing
            return "Solution(<traced>)"
