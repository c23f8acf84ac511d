r"""Maps between a parameter's physical value :math:`\theta` and the unconstrained coordinate
:math:`z` an optimiser moves.

Each transform is elementwise, smooth and monotone, so the Jacobian of the physical values with
respect to ``z`` is diagonal (:meth:`Transform.derivative`), which turns a residual Jacobian in ``z``
into one in physical units for the uncertainty analysis.

- ``identity``: :math:`\theta = s z` with the scale :math:`s = |\theta_0|` (or 1), so every ``z``
  starts at ±1 or 0 and the optimiser sees parameters of comparable size whatever their units.
- ``log``: :math:`\theta = a + e^z` for :math:`\theta > a` (``a`` the lower bound, 0 by default): a
  positive parameter spanning decades; its steps are relative.
- ``upper-log``: :math:`\theta = b - e^z`, only an upper bound.
- ``bounded``: :math:`\theta = a + (b-a)\,\sigma(z)` with the logistic :math:`\sigma`, both bounds.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from .._errors import CalibValueError

TRANSFORMS = ("identity", "log", "upper-log", "bounded")


@dataclasses.dataclass(frozen=True)
class Transform:
    """``kind`` (one of :data:`TRANSFORMS`), the bounds ``(lower, upper)`` and the identity scale."""

    kind: str
    lower: float = -np.inf
    upper: float = np.inf
    scale: float = 1.0

    def to_physical(self, z):
        if self.kind == "identity":
            return self.scale * z
        if self.kind == "log":
            return (0.0 if not np.isfinite(self.lower) else self.lower) + jnp.exp(z)
        if self.kind == "upper-log":
            return self.upper - jnp.exp(z)
        return self.lower + (self.upper - self.lower) * _logistic(z)

    def derivative(self, z):
        r""":math:`d\theta/dz` at ``z`` (elementwise)."""
        if self.kind == "identity":
            return self.scale * jnp.ones_like(z)
        if self.kind in ("log", "upper-log"):
            return jnp.exp(z) * (1.0 if self.kind == "log" else -1.0)
        s = _logistic(z)
        return (self.upper - self.lower) * s * (1.0 - s)

    def to_unconstrained(self, theta, *, name: str) -> np.ndarray:
        """``z`` of a physical value (numpy); a value outside the open range is an error naming it."""
        theta = np.asarray(theta, dtype=float)
        if self.kind == "identity":
            return theta / self.scale
        if self.kind == "log":
            lower = 0.0 if not np.isfinite(self.lower) else self.lower
            _check_open(theta > lower, theta, name, f"above {lower:g} (its log transform)")
            return np.log(theta - lower)
        if self.kind == "upper-log":
            _check_open(theta < self.upper, theta, name, f"below {self.upper:g} (its transform)")
            return np.log(self.upper - theta)
        _check_open((theta > self.lower) & (theta < self.upper), theta, name,
                    f"strictly inside its bounds ({self.lower:g}, {self.upper:g}) for the bounded "
                    "transform; move it off the bound, or use transform='identity' with an "
                    "optimiser that handles bounds (trf, lbfgsb)")
        u = (theta - self.lower) / (self.upper - self.lower)
        return np.log(u) - np.log1p(-u)

    @property
    def enforces_bounds(self) -> bool:
        return self.kind != "identity"


def _logistic(z):
    return 0.5 * (jnp.tanh(0.5 * z) + 1.0)  # overflow-free logistic


def _check_open(ok, theta, name, requirement):
    if not np.all(ok):
        bad = np.ravel(theta)[~np.ravel(ok)][0]
        raise CalibValueError(f"parameter {name!r}: value {bad:g} must be {requirement}")


def choose(kind: str | None, lower: float, upper: float, value, *, name: str,
           bounds_native: bool) -> Transform:
    """The transform of a parameter.

    ``kind=None`` chooses: the identity when the optimiser enforces bounds itself
    (``bounds_native``) or there are none; otherwise ``log`` (lower bound only), ``upper-log`` (upper
    only) or ``bounded`` (both), so an optimiser without bounds cannot leave the admissible range.
    """
    value = np.asarray(value, dtype=float)
    scale = float(np.max(np.abs(value))) if value.size and np.max(np.abs(value)) > 0 else 1.0
    has_lower, has_upper = np.isfinite(lower), np.isfinite(upper)
    if kind is None:
        if bounds_native or not (has_lower or has_upper):
            kind = "identity"
        elif has_lower and has_upper:
            kind = "bounded"
        else:
            kind = "log" if has_lower else "upper-log"
    if kind not in TRANSFORMS:
        raise CalibValueError(f"parameter {name!r}: unknown transform {kind!r}; choose one of "
                              f"{', '.join(TRANSFORMS)} (or leave it unset to choose from the bounds)")
    if kind == "bounded" and not (has_lower and has_upper):
        raise CalibValueError(f"parameter {name!r}: the bounded transform needs both bounds, got "
                              f"({lower:g}, {upper:g}); give bounds=(lower, upper) or use 'log'")
    if kind == "log" and has_upper:
        raise CalibValueError(f"parameter {name!r}: the log transform cannot keep the upper bound "
                              f"{upper:g}; use transform='bounded'")
    if kind == "upper-log" and not has_upper:
        raise CalibValueError(f"parameter {name!r}: transform 'upper-log' needs an upper bound")
    if kind == "upper-log" and has_lower:
        raise CalibValueError(f"parameter {name!r}: transform 'upper-log' cannot keep the lower "
                              f"bound {lower:g}; use transform='bounded'")
    return Transform(kind, float(lower), float(upper), scale)
