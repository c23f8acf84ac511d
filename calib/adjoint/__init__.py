"""Adjoints: how derivatives flow through :func:`calib.equilibrium` and :func:`calib.fixed_point`."""

from ._base import AbstractAdjoint, SolveStats
from ._fixed_point import Phantom
from ._implicit import Implicit, Neumann
from ._unrolled import Checkpointed, Truncated, Unrolled

__all__ = ["AbstractAdjoint", "Checkpointed", "Implicit", "Neumann", "Phantom", "SolveStats", "Truncated",
           "Unrolled"]
