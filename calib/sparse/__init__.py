"""Sparse tangents: a Hessian with a fixed pattern, and host factorisations the adjoint can reuse."""

from ._factor import CACHE as FACTOR_CACHE
from ._factor import has_cholmod
from ._hessian import SparseHessian

__all__ = ["FACTOR_CACHE", "SparseHessian", "has_cholmod"]
