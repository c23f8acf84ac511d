r"""Degrees of freedom and the sparsity pattern of the free-DOF stiffness matrix.

Global DOF ``node * dim + component``. Element DOFs are ordered node by node, so an element's
displacement vector reshapes to ``(n_nodes, dim)``. The tangent stiffness restricted to the free
DOFs has an entry :math:`(i, j)` whenever ``i`` and ``j`` share a cell; the pattern (CSR) and, for
every free–free entry of every element matrix, its position in the CSR value array are computed
once here, so assembling the matrix is a single ``segment_sum`` in JAX.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def element_dofs(cells: np.ndarray, dim: int) -> np.ndarray:
    """``(n_cells, n_nodes * dim)`` global DOFs of every cell, node-major."""
    return (cells[:, :, None] * dim + np.arange(dim)[None, None, :]).reshape(len(cells), cells.shape[1] * dim)


@dataclasses.dataclass(frozen=True, eq=False)
class Pattern:
    """CSR pattern of the free-DOF matrix and the scatter from element matrices into it.

    Attributes:
        indptr, indices: CSR structure, ``(n_free + 1,)`` and ``(nnz,)``.
        entries: ``(m,)`` flat indices into the concatenated element matrices
            ``(n_cells, k, k).ravel()`` of the entries whose row and column DOFs are both free.
        targets: ``(m,)`` positions of those entries in the CSR value array (sorted).
    """

    indptr: np.ndarray
    indices: np.ndarray
    entries: np.ndarray
    targets: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.indices.size)


def sparsity_pattern(free_dofs_of_cells: np.ndarray, n_free: int) -> Pattern:
    """Pattern from ``(n_cells, k)`` element DOFs numbered among the free DOFs (``-1``: fixed)."""
    n_cells, k = free_dofs_of_cells.shape
    rows = np.repeat(free_dofs_of_cells, k, axis=1).ravel()
    cols = np.tile(free_dofs_of_cells, (1, k)).ravel()
    keep = (rows >= 0) & (cols >= 0)
    entries = np.flatnonzero(keep)
    keys = rows[keep].astype(np.int64) * n_free + cols[keep]
    del rows, cols, keep
    # One stable sort groups equal (row, col) keys; each group is one CSR entry.
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    targets = np.cumsum(first) - 1
    unique = keys[first]
    del keys
    row_of = unique // n_free
    indices = unique - row_of * n_free
    indptr = np.zeros(n_free + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of, minlength=n_free), out=indptr[1:])
    return Pattern(indptr, indices.astype(np.int64), entries[order].astype(np.int64),
                   targets.astype(np.int64))
