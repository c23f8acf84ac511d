"""Fixed points :math:`z = F(z, \\theta)` of general maps, differentiable: :func:`calib.fixed_point`
with its solvers (damped iteration, Anderson acceleration, Newton–Krylov)."""

from ._solution import FixedPointSolution
from ._solve import fixed_point
from ._solvers import (AbstractFixedPointSolver, Anderson, FixedPointIteration, NewtonKrylov,
                       residual)

__all__ = ["AbstractFixedPointSolver", "Anderson", "FixedPointIteration", "FixedPointSolution",
           "NewtonKrylov", "fixed_point", "residual"]
