r"""Robust losses :math:`\rho(s)` of a squared weighted residual :math:`s = r^2`.

The objective is :math:`\sum_i C^2 \rho(r_i^2 / C^2)` with the scale :math:`C` (``loss_scale``, in
units of σ): residuals well inside :math:`C` count as in least squares, outliers less. The
definitions are scipy's (``scipy.optimize.least_squares``), so ``trf`` can use them natively.

- ``linear``: :math:`\rho(s) = s` (χ², the default).
- ``huber``: :math:`s` for :math:`s \le 1`, :math:`2\sqrt s - 1` beyond.
- ``soft_l1``: :math:`2(\sqrt{1+s} - 1)`.
- ``cauchy``: :math:`\ln(1+s)`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._errors import CalibValueError

LOSSES = ("linear", "huber", "soft_l1", "cauchy")


def check_loss(loss: str, scale) -> tuple[str, float]:
    if loss not in LOSSES:
        raise CalibValueError(f"loss {loss!r} is not known; choose one of {', '.join(LOSSES)}")
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise CalibValueError(f"loss_scale must be a finite number > 0 (in units of sigma), got {scale!r}")
    return loss, scale


def rho(loss: str, s):
    """:math:`\\rho(s)` (JAX)."""
    if loss == "linear":
        return s
    if loss == "huber":
        return jnp.where(s <= 1.0, s, 2.0 * jnp.sqrt(jnp.maximum(s, 1.0)) - 1.0)
    if loss == "soft_l1":
        return 2.0 * (jnp.sqrt(1.0 + s) - 1.0)
    return jnp.log1p(s)


def robust_sum(loss: str, scale: float, residuals):
    r""":math:`\sum_i C^2\rho(r_i^2/C^2)`."""
    return scale ** 2 * jnp.sum(rho(loss, residuals ** 2 / scale ** 2))


def scipy_loss(loss: str, n_data: int):
    """A callable loss for ``scipy.optimize.least_squares``: robust on the first ``n_data`` residuals,
    plain squares on the rest (the prior terms stay Gaussian).

    scipy passes ``s = f**2 / C**2`` and expects ``(rho, rho', rho'')`` of shape ``(3, m)``."""

    def function(s):
        out = np.empty((3, s.size))
        out[0], out[1], out[2] = s, 1.0, 0.0
        d = s[:n_data]
        if loss == "huber":
            big = d > 1.0
            root = np.sqrt(np.where(big, d, 1.0))
            out[0, :n_data] = np.where(big, 2.0 * root - 1.0, d)
            out[1, :n_data] = np.where(big, 1.0 / root, 1.0)
            out[2, :n_data] = np.where(big, -0.5 / root ** 3, 0.0)
        elif loss == "soft_l1":
            t = 1.0 + d
            out[0, :n_data] = 2.0 * (np.sqrt(t) - 1.0)
            out[1, :n_data] = 1.0 / np.sqrt(t)
            out[2, :n_data] = -0.5 * t ** -1.5
        elif loss == "cauchy":
            t = 1.0 + d
            out[0, :n_data] = np.log1p(d)
            out[1, :n_data] = 1.0 / t
            out[2, :n_data] = -1.0 / t ** 2
        return out

    return function
