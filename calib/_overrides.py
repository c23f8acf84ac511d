"""An adjoint chosen for every inner solve of a computation (the ``adjoint=`` option of a fit).

A calibration compares implicit and unrolled gradients by one argument, even when the model's inner
solves are made deep inside property functions that pick their own adjoint: while
:func:`override_adjoint` is open (it must be open when the model is *traced*), every
:func:`calib.equilibrium` call uses the given adjoint. A known null space that the call's own adjoint
declared (rigid translations of a periodic crystal) is kept when the override declares none.
"""

from __future__ import annotations

import contextlib
import dataclasses

_stack: list = []


@contextlib.contextmanager
def override_adjoint(adjoint):
    _stack.append(adjoint)
    try:
        yield
    finally:
        _stack.pop()


def active() -> bool:
    """True while an override is open (and not ``None``)."""
    return bool(_stack) and _stack[-1] is not None


def current():
    """The adjoint every solve traced now will use instead of its own, or ``None``.

    Public as ``calib.active_adjoint_override``: code that caches its own compiled solves across
    calls (the ``physics`` property functions) keys that cache on it."""
    return _stack[-1] if _stack else None


def resolve(adjoint):
    """The adjoint a solve uses: the innermost override if any, else its own."""
    if not _stack or _stack[-1] is None:
        return adjoint
    override = _stack[-1]
    own_nullspace = getattr(adjoint, "nullspace", None)
    if own_nullspace is not None and hasattr(override, "nullspace") and override.nullspace is None:
        override = dataclasses.replace(override, nullspace=own_nullspace)
    return override
