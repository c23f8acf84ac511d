"""Exceptions and warnings raised by the calibration machinery.

Every error the package raises on purpose is a :class:`CalibError`. Bad input raises one that is
*also* the built-in exception a Python user expects (``ValueError`` for a bad value, ``TypeError`` for
a bad type …), so ``except ValueError`` keeps working and ``except calib.CalibError`` catches all of
them. Failures inside a compiled computation (``throw=True``) are JAX's runtime errors, whose message
names the reason and the fix.
"""

from __future__ import annotations


class CalibError(Exception):
    """Base class of every error this package raises on purpose."""


class CalibValueError(CalibError, ValueError):
    """An argument has the right type but a value that cannot be used (names it and the fix)."""


class CalibTypeError(CalibError, TypeError):
    """An argument has the wrong type (names it, what was given and what is expected)."""


class CalibKeyError(CalibError, KeyError):
    """A named entry (a parameter, a region, a variable) is missing."""

    def __str__(self):  # KeyError quotes its message; show it as written
        return str(self.args[0]) if self.args else ""


class CalibIndexError(CalibError, IndexError):
    """An index is out of range."""


class NonConvergenceWarning(RuntimeWarning):
    """A solve did not converge and ``throw=False`` asked for a warning instead of an error."""
