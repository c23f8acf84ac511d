"""Exceptions and warnings raised by the calibration machinery."""

from __future__ import annotations


class CalibError(Exception):
    """Base class of every error this package raises on purpose."""


class NonConvergenceWarning(RuntimeWarning):
    """A solve did not converge and ``throw=False`` asked for a warning instead of an error."""
