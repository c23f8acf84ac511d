"""Which inner solves a computation made, and whether each one converged.

A calibration model may call :func:`calib.equilibrium` directly, or call a property function (a
lattice constant, a settlement) that relaxes a structure and returns a plain number. The outer fit
must still know, for every model evaluation, whether *every* inner solve converged and, when one did
not, which one. :func:`calib.equilibrium` therefore reports each solve to every open
:func:`monitor_solves` block:

- called with concrete values, it records the result directly;
- traced (under ``jit``, ``grad``, ``vmap``, ``jacfwd``), it emits one host callback carrying the
  result code, the steps and the largest force. Under ``vmap`` JAX calls it once per batch member,
  so a failing member is seen (as an event of its own).

Each call site is registered once, when it is traced, with a label naming the property function (if
any) and the user's line that led to it, so a failure can be reported as "``lattice_constant`` called
at model.py:12 did not converge (maximum steps reached) at D=0.3, alpha=1.4".

The callbacks are always emitted when a solve is traced (they cost a few microseconds and do nothing
when no block is open), because a user's ``jit`` may have traced the model before the fit opened its
block: a callback added only under an open block would be missing from that cached program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading

import jax
import numpy as np

from ._result import RESULTS

_lock = threading.Lock()
_sites: list["SolveSite"] = []
_site_index: dict[tuple, int] = {}
_open: list["SolveMonitor"] = []

_CALIB = os.path.dirname(os.path.abspath(__file__)) + os.sep
_PHYSICS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "physics") + os.sep
_SKIP = tuple(os.path.dirname(module.__file__) + os.sep for module in (jax, contextlib))


@dataclasses.dataclass(frozen=True)
class SolveSite:
    """Where an inner solve is made.

    Attributes:
        index: registry index (stable for the process).
        function: the ``physics`` function that made the solve (e.g.
            ``physics.atomistic.lattice_constant``), or ``"calib.equilibrium"`` for a direct call.
        filename, line: the first frame outside ``calib``/``physics``/JAX: the user's line.
        adjoint: the class name of the adjoint the solve was traced with.
        overridden: whether that adjoint came from an open ``calib._overrides`` block (a fit's
            ``adjoint=`` option). A solve traced under another choice and cached by a user's
            ``jit`` keeps it, and the fit can then tell.
    """

    index: int
    function: str
    filename: str
    line: int
    adjoint: str = "Implicit"
    overridden: bool = False

    @property
    def label(self) -> str:
        return f"{self.function} called at {os.path.basename(self.filename)}:{self.line}"


@dataclasses.dataclass(frozen=True)
class SolveEvent:
    """One (possibly batched) inner solve, as it ran.

    Attributes:
        site: where it was made.
        result: :class:`calib.RESULTS` code(s); an array over the batch under ``vmap``.
        steps: solver steps (same shape).
        max_force: largest force component at the returned state (same shape).
    """

    site: SolveSite
    result: np.ndarray
    steps: np.ndarray
    max_force: np.ndarray

    @property
    def converged(self) -> bool:
        return bool(np.all(self.result == RESULTS.successful))

    def describe(self) -> str:
        codes = sorted({int(c) for c in np.ravel(self.result) if c != RESULTS.successful})
        failed = int(np.sum(self.result != RESULTS.successful))
        batch = f" ({failed} of {self.result.size} batch members)" if self.result.size > 1 else ""
        reasons = "; ".join(RESULTS.message(c) for c in codes) if codes else "converged"
        return (f"{self.site.label}{batch}: {reasons} (steps {int(np.max(self.steps))}, max force "
                f"{float(np.nanmax(self.max_force)):.3g})")


class SolveMonitor:
    """The inner solves seen while a :func:`monitor_solves` block is open.

    Attributes:
        events: every :class:`SolveEvent` since the block opened or since :meth:`clear`.
        quiet: while open, failed solves and adjoint solves do not warn (the caller reports them).
    """

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.events: list[SolveEvent] = []

    def clear(self) -> None:
        self.events = []

    def collect(self) -> list[SolveEvent]:
        """Wait for pending callbacks; return the events since the last ``collect``/``clear``."""
        jax.effects_barrier()
        with _lock:
            events, self.events = self.events, []
        return events

    def failures(self) -> list[SolveEvent]:
        return [event for event in self.events if not event.converged]


@contextlib.contextmanager
def monitor_solves(quiet: bool = True):
    """Record every inner solve made while the block is open.

    Example::

        with monitor_solves() as monitor:
            value = jax.jit(model)(theta)
            events = monitor.collect()
        failed = [e for e in events if not e.converged]
    """
    monitor = SolveMonitor(quiet)
    _open.append(monitor)
    try:
        yield monitor
    finally:
        try:
            jax.effects_barrier()
        finally:
            _open.remove(monitor)


def quiet() -> bool:
    """True while a block that reports failures itself is open (solves then do not warn).

    Public as ``calib.reporting_quietly``: code outside ``calib`` that warns about failed solves
    (the ``physics`` property functions) checks it, so a running fit, which rejects and reports such
    points itself, is not flooded with warnings."""
    return any(monitor.quiet for monitor in _open)


def register_site(adjoint: str = "Implicit", overridden: bool = False) -> int:
    """Register the solve being made now (call from :func:`calib.equilibrium`); return its index."""
    function = "calib.equilibrium"
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(_CALIB) or filename.startswith(_SKIP) or "equinox" in filename \
                or filename.startswith("<"):
            frame = frame.f_back
            continue
        if filename.startswith(_PHYSICS):
            # The outermost physics function is the property the user asked for.
            function = f"{_public_module(frame.f_globals.get('__name__', 'physics'))}.{frame.f_code.co_name}"
            frame = frame.f_back
            continue
        break
    filename, line = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("<unknown>", 0)
    key = (function, filename, line, adjoint, overridden)
    with _lock:
        if key not in _site_index:
            _site_index[key] = len(_sites)
            _sites.append(SolveSite(len(_sites), function, filename, line, adjoint, overridden))
        return _site_index[key]


def _public_module(module: str) -> str:
    """``physics.atomistic._properties`` -> ``physics.atomistic`` (the name users import)."""
    parts = [part for part in module.split(".") if not part.startswith("_")]
    return ".".join(parts) or module


def record(index: int, result, steps, max_force) -> None:
    """Host side: hand one solve to every open monitor."""
    if not _open:
        return
    event = SolveEvent(_sites[index], np.asarray(result), np.asarray(steps), np.asarray(max_force))
    with _lock:
        for monitor in _open:
            monitor.events.append(event)


def report(solution, adjoint: str = "Implicit", overridden: bool = False) -> None:
    """Report a solve made now: directly when concrete, else through a host callback."""
    index = register_site(adjoint, overridden)
    # A fixed point's largest residual |z - F(z)| stands where an equilibrium's force does.
    largest = getattr(solution, "max_residual", None)
    fields = (solution.result, solution.steps,
              solution.max_force if largest is None else largest)
    if any(isinstance(leaf, jax.core.Tracer) for leaf in fields):
        jax.debug.callback(lambda *values: record(index, *values), *fields)
    else:
        record(index, *fields)
