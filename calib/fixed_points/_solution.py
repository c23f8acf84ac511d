"""The object returned by :func:`calib.fixed_point`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._result import RESULTS
from .._solution import SolveOutcome


@jax.tree_util.register_pytree_node_class
class FixedPointSolution(SolveOutcome):
    r"""A fixed point and how it was found; a pytree (under ``vmap`` every field gains a batch axis).

    Attributes:
        z: the fixed point, same pytree as ``z0``; differentiable in ``theta``.
        steps: solver iterations taken.
        max_residual: :math:`\max_i |z_i - F(z)_i|` at ``z``.
        result: a :class:`calib.RESULTS` code (0 = converged).
        ift_residual: unrolled adjoints only: :math:`\|(I - J)\dot z - \partial_\theta F\,\dot\theta\|
            / \|\partial_\theta F\,\dot\theta\|` in the probe direction :math:`\dot\theta = \theta`
            (NaN otherwise).
    """

    _fields = ("z", "steps", "max_residual", "result", "ift_residual")
    _state = "z"

    @staticmethod
    def _describe(code, dtype) -> str:
        return RESULTS.fixed_point_message(code, dtype)

    def __init__(self, z: Any, steps, max_residual, result, ift_residual=None):
        self.z = z
        self.steps = steps
        self.max_residual = max_residual
        self.result = result
        self.ift_residual = (jnp.full_like(jnp.asarray(max_residual), jnp.nan)
                             if ift_residual is None else ift_residual)

    def __repr__(self):
        try:
            return (f"FixedPointSolution(result={np.asarray(self.result)}, steps="
                    f"{np.asarray(self.steps)}, max_residual={np.asarray(self.max_residual)})")
        except Exception:  # under tracing
            return "FixedPointSolution(<traced>)"
