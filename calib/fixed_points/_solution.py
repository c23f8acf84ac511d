"""The object returned by :func:`calib.fixed_point`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._result import RESULTS


@jax.tree_util.register_pytree_node_class
class FixedPointSolution:
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

    def __init__(self, z: Any, steps, max_residual, result, ift_residual=None):
        self.z = z
        self.steps = steps
        self.max_residual = max_residual
        self.result = result
        self.ift_residual = (jnp.full_like(jnp.asarray(max_residual), jnp.nan)
                             if ift_residual is None else ift_residual)

    def tree_flatten(self):
        return tuple(getattr(self, f) for f in self._fields), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)

    @property
    def converged(self):
        """Boolean array: :math:`\\max_i |z_i - F(z)_i| \\le tol` was met."""
        return jnp.asarray(self.result) == RESULTS.successful

    def message(self) -> str:
        """The result in words (call outside ``jit``)."""
        codes = np.ravel(np.asarray(self.result))
        dtype = jax.tree.leaves(self.z)[0].dtype if jax.tree.leaves(self.z) else None
        return "; ".join(sorted({RESULTS.fixed_point_message(c, dtype) for c in codes}))

    def __repr__(self):
        try:
            return (f"FixedPointSolution(result={np.asarray(self.result)}, steps="
                    f"{np.asarray(self.steps)}, max_residual={np.asarray(self.max_residual)})")
        except Exception:  # under tracing
            return "FixedPointSolution(<traced>)"
