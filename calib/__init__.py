"""calib: differentiable equilibria and bilevel calibration of physical models, on JAX.

The inner level, :func:`equilibrium`, minimises an energy ``E(x, theta)`` over the state ``x``
(:func:`fixed_point` solves ``z = F(z, theta)`` for a general map); its result is differentiable in ``theta`` by the implicit function theorem (:class:`Implicit`) or by
unrolled baselines (:class:`Unrolled`, :class:`Truncated`, :class:`Checkpointed`, :class:`Neumann`).
The outer level, :func:`fit`, calibrates the parameters of a model (which may relax structures
through ``equilibrium``) against observed data in xarray datasets, with exact Jacobians, parameter
uncertainties, checkpoints and results saved as NetCDF.
This package knows nothing about atoms or meshes: energies come from :mod:`physics` or from you.
"""

from ._compilation_cache import enable_compilation_cache
from ._distributed import force_cpu_devices, initialize_distributed
from ._diagnostics import AdjointRecord, record_adjoints
from ._equilibrium import equilibrium, stability
from ._monitor import quiet as reporting_quietly
from ._overrides import current as active_adjoint_override
from ._errors import (CalibError, CalibIndexError, CalibKeyError, CalibTypeError, CalibValueError,
                      NonConvergenceWarning)
from ._result import RESULTS
from ._solution import Solution
from ._spectrum import translation_modes
from .adjoint import AbstractAdjoint, Checkpointed, Implicit, Neumann, Phantom, Truncated, Unrolled
from .linear_solve import CG, GMRES, MINRES, AbstractLinearSolver, BiCGStab, Dense, NeumannSeries
from .fixed_points import (AbstractFixedPointSolver, Anderson, FixedPointIteration,
                           FixedPointSolution, NewtonKrylov, fixed_point)
from .solvers import FIRE, LBFGS, AbstractSolver, GradientDescent, NewtonCG, SparseNewton
from .sparse import SparseHessian
from . import data
from .objective import Conditions, Model
from .parameters import Parameter, Tied
from . import fit  # a package that is also callable: calib.fit(model, data, parameters)
from .fit import FitError, FitResult, IterationInfo

__version__ = "0.1.0"

__all__ = [
    "AbstractAdjoint", "AbstractLinearSolver", "AbstractSolver", "AdjointRecord", "CG", "CalibError", "CalibIndexError",
    "CalibKeyError", "CalibTypeError", "CalibValueError",
    "Checkpointed", "Dense", "FIRE", "GradientDescent", "Implicit", "LBFGS",
    "MINRES", "Neumann", "NeumannSeries", "NewtonCG", "NonConvergenceWarning", "RESULTS", "Solution", "SparseHessian", "SparseNewton",
    "Truncated", "Unrolled", "enable_compilation_cache", "force_cpu_devices", "initialize_distributed",
    "AbstractFixedPointSolver", "Anderson", "BiCGStab", "FixedPointIteration", "FixedPointSolution",
    "GMRES", "NewtonKrylov", "Phantom", "fixed_point", "equilibrium", "record_adjoints", "stability", "translation_modes",
    "Conditions", "active_adjoint_override", "reporting_quietly", "FitError", "FitResult", "IterationInfo", "Model", "Parameter", "Tied", "data", "fit",
]
