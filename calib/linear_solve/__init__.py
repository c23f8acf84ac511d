"""Linear solvers for the adjoint (implicit-function-theorem) solve."""

from ._base import AbstractLinearSolver, LinearSolveInfo
from ._cg import CG
from ._dense import Dense
from ._minres import MINRES
from ._neumann import NeumannSeries

__all__ = ["AbstractLinearSolver", "CG", "Dense", "LinearSolveInfo", "MINRES", "NeumannSeries"]
