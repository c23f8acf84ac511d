"""Inner solvers: minimise an energy over the state until the force vanishes."""

from ._base import AbstractSolver
from ._fire import FIRE
from ._gradient_descent import GradientDescent
from ._lbfgs import LBFGS
from ._newton_cg import NewtonCG
from ._sparse_newton import SparseNewton

__all__ = ["AbstractSolver", "FIRE", "GradientDescent", "LBFGS", "NewtonCG", "SparseNewton"]
