"""Linear solvers for the adjoint (implicit-function-theorem) solve: symmetric (CG, MINRES) for
equilibria, non-symmetric (GMRES, BiCGStab) for fixed points, dense and Neumann for both."""

from ._base import AbstractLinearSolver, LinearSolveInfo
from ._cg import CG
from ._dense import Dense
from ._krylov import BiCGStab, GMRES
from ._minres import MINRES
from ._neumann import NeumannSeries

__all__ = ["AbstractLinearSolver", "BiCGStab", "CG", "Dense", "GMRES", "LinearSolveInfo", "MINRES", "NeumannSeries"]
