"""Adjoints: how derivatives flow through :func:`calib.equilibrium`."""

from ._base import AbstractAdjoint, SolveStats
from ._implicit import Implicit, Neumann
from ._unrolled import Checkpointed, Truncated, Unrolled

__all__ = ["AbstractAdjoint", "Checkpointed", "Implicit", "Neumann", "SolveStats", "Truncated",
           "Unrolled"]
