r"""What the host sparse solves did: counts and seconds, collected while a ``with`` block is open.

The factorisations run inside host callbacks of a compiled JAX program, so they cannot return
diagnostics of their own beyond a status code. Instead, every host call reports to the
:class:`SparseStatistics` objects of the :func:`statistics` blocks that are open at that moment::

    with calib.sparse.statistics() as stats:
        jax.block_until_ready(jax.grad(loss)(theta))
    print(stats.factorisations, stats.cache_hits, stats.factor_seconds, stats.krylov_iterations)

JAX dispatches asynchronously: block on the results inside the block, or the host work may happen
after it has closed and go uncounted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

_open: list["SparseStatistics"] = []
_lock = threading.Lock()

# Failure messages kept per block: enough to see what went wrong, bounded for long runs.
MAX_MESSAGES = 20


@dataclasses.dataclass
class SparseStatistics:
    """Counts and host seconds of the sparse tangent solves run inside a :func:`statistics` block.

    Attributes:
        host_calls: host callbacks (a ``vmap``-ed batch is one call of ``members`` solves).
        members: right-hand sides the host calls received (batch members included; members that had
            already finished are counted in ``skipped`` and cost no solve).
        skipped: members skipped because their solve had already finished.
        factorisations: factorisations (or AMG set-ups) computed, shifted ones included.
        shifted_factorisations: those of a diagonally shifted matrix ``H + tau diag|H|``.
        cache_hits, cache_misses: look-ups of :data:`calib.sparse.FACTOR_CACHE` (by the digest of
            the matrix values). A miss is followed by a factorisation.
        factor_seconds: host seconds spent factorising (or building AMG hierarchies).
        host_seconds: host seconds spent in the sparse solves in all (factorisations included).
        krylov_iterations: AMG-preconditioned CG iterations (0 for direct solves).
        krylov_unconverged: AMG-CG solves that stopped at their iteration limit before the
            relative residual ``linear_rtol`` (scipy's ``cg`` returned ``info > 0``).
        singular: solves whose unshifted matrix was numerically singular (answered, if at all,
            with a shifted matrix).
        failures: solves that failed outright (every factorisation attempt broke down or gave a
            non-finite answer); their answer is NaN and the solver reports
            ``RESULTS.linear_solve_failed``.
        messages: the first :data:`MAX_MESSAGES` failure and singularity messages, in order.
    """

    host_calls: int = 0
    members: int = 0
    skipped: int = 0
    factorisations: int = 0
    shifted_factorisations: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    factor_seconds: float = 0.0
    host_seconds: float = 0.0
    krylov_iterations: int = 0
    krylov_unconverged: int = 0
    singular: int = 0
    failures: int = 0
    messages: list = dataclasses.field(default_factory=list)

    @property
    def solve_seconds(self) -> float:
        """Host seconds outside factorisations: back-substitutions, Krylov iterations, checks."""
        return self.host_seconds - self.factor_seconds


@contextlib.contextmanager
def statistics():
    """Collect a :class:`SparseStatistics` of the host sparse solves run inside the block.

    Blocks may nest; each one counts everything that ran while it was open.
    """
    stats = SparseStatistics()
    with _lock:
        _open.append(stats)
    try:
        yield stats
    finally:
        with _lock:
            _open.remove(stats)


def record(message: str | None = None, **increments) -> None:
    """Add ``increments`` (field name -> amount) to every open block; append ``message``."""
    with _lock:
        for stats in _open:
            for name, amount in increments.items():
                setattr(stats, name, getattr(stats, name) + amount)
            if message is not None and len(stats.messages) < MAX_MESSAGES:
                stats.messages.append(message)


def recording() -> bool:
    """Whether any block is open (so that callers can skip building messages)."""
    return bool(_open)
