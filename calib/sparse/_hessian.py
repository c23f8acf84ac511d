r"""A Hessian with a fixed sparsity pattern: the link between an energy and sparse linear algebra.

Finite-element (and other locally coupled) energies have Hessians whose non-zero pattern is known
before any value is: entry :math:`(i, j)` can be non-zero only when degrees of freedom ``i`` and
``j`` share an element. :class:`SparseHessian` holds that pattern (CSR, on the host) and a JAX
function that returns the values in the pattern's order, so a solver can assemble the tangent
matrix without ever forming a dense one and hand it to a sparse factorisation.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from .._errors import CalibTypeError, CalibValueError


class SparseHessian:
    r"""Sparsity pattern and values of :math:`H = \partial^2 E / \partial x^2` for a flat state ``x``.

    Args:
        indptr, indices: the CSR pattern of the symmetric ``(size, size)`` matrix (row ``i`` holds
            columns ``indices[indptr[i]:indptr[i+1]]``, sorted). Must be structurally symmetric.
        values: ``values(x, theta, *args) -> (nnz,)`` in the order of ``indices``; a pure, jit-able
            JAX function of the same arguments as the energy, with ``x`` the flat state ``(size,)``.
        near_nullspace: optional ``(size, k)`` array of the modes the matrix is close to singular on
            (rigid-body motions for elasticity); algebraic multigrid builds its coarse spaces from
            them.

    Instances compare and hash by identity, so a solver holding one can be a static ``jit`` argument:
    build it once per problem and reuse it.
    """

    def __init__(self, indptr, indices, values: Callable[..., jax.Array], *, near_nullspace=None):
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)
        if self.indptr.ndim != 1 or self.indptr.size < 2 or self.indptr[0] != 0:
            raise CalibValueError("SparseHessian: indptr must be a CSR row pointer starting at 0, of "
                                  "length size + 1")
        if np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise CalibValueError(f"SparseHessian: indptr must be non-decreasing and end at len(indices) = "
                                  f"{self.indices.size}, ends at {self.indptr[-1]}")
        self.size = int(self.indptr.size - 1)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.size):
            raise CalibValueError(f"SparseHessian: column indices must lie in [0, {self.size}), got "
                             f"[{self.indices.min()}, {self.indices.max()}]")
        if not callable(values):
            raise CalibTypeError(f"SparseHessian: values must be a function values(x, theta, *args) -> "
                                 f"(nnz,), got {type(values).__name__}")
        self.values = values
        self.rows = np.repeat(np.arange(self.size, dtype=np.int64), np.diff(self.indptr))
        pattern = self.matrix(np.ones(self.nnz))
        if (abs(pattern - pattern.T)).nnz:
            raise CalibValueError("SparseHessian: the pattern must be structurally symmetric (a Hessian)")
        if near_nullspace is not None:
            near_nullspace = np.asarray(near_nullspace, dtype=float)
            if near_nullspace.ndim != 2 or near_nullspace.shape[0] != self.size:
                raise CalibValueError(f"SparseHessian: near_nullspace must have shape ({self.size}, k), "
                                      f"got {near_nullspace.shape}")
        self.near_nullspace = near_nullspace

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def matrix(self, values) -> sp.csr_matrix:
        """The host (scipy) CSR matrix with the given ``(nnz,)`` values."""
        values = np.asarray(values)
        if values.shape != (self.nnz,):
            raise CalibValueError(f"SparseHessian: expected {self.nnz} values, got shape {values.shape}")
        return sp.csr_matrix((values, self.indices, self.indptr), shape=(self.size, self.size))

    def matvec(self, values: jax.Array, v: jax.Array) -> jax.Array:
        """``H v`` in JAX from the ``(nnz,)`` values (differentiable in both)."""
        return jax.ops.segment_sum(values * v[self.indices], jnp.asarray(self.rows),
                                   num_segments=self.size, indices_are_sorted=True)

    def dense(self, x, theta: Any, *args) -> np.ndarray:
        """The dense Hessian (small problems and tests only)."""
        return self.matrix(self.values(x, theta, *args)).toarray()

    def __repr__(self):
        return f"SparseHessian(size={self.size}, nnz={self.nnz})"
