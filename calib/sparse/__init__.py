"""Sparse tangents: a Hessian with a fixed pattern, host factorisations the adjoint can reuse, and
statistics of the host work (:func:`statistics`)."""

from ._factor import CACHE as FACTOR_CACHE
from ._factor import Status, has_cholmod
from ._hessian import SparseHessian
from ._stats import SparseStatistics, statistics

__all__ = ["FACTOR_CACHE", "SparseHessian", "SparseStatistics", "Status", "has_cholmod",
           "statistics"]
