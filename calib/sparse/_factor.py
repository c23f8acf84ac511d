r"""Host-side sparse solves with the tangent matrix, and a cache that lets the adjoint reuse them.

A Newton step solves :math:`H(x_k)\,\delta = -g`. Factorising :math:`H` (or building an algebraic
multigrid hierarchy for it) is by far the most expensive part of the step; the implicit adjoint
needs solves with the *same kind* of matrix. Factorisations are therefore kept in a small cache
keyed by a digest of the matrix values, so the backward pass finds the last Newton factorisation
instead of computing a new one.

Methods:

* ``"superlu"`` — sparse LU (SuperLU, Li 2005, via :func:`scipy.sparse.linalg.splu`) with a
  minimum-degree ordering of :math:`A + A^T` and diagonal pivoting preferred (symmetric mode).
  Exact; memory and time grow faster than linearly (about :math:`n^{1.5}`–:math:`n^{1.7}` in 2D).
* ``"cholmod"`` — supernodal Cholesky (CHOLMOD, Chen et al. 2008) when ``scikit-sparse`` is
  installed; faster than SuperLU for symmetric positive-definite matrices.
* ``"amg"`` — conjugate gradients preconditioned by smoothed-aggregation algebraic multigrid
  (Vaněk, Mandel & Brezina 1996, via ``pyamg``), seeded with the near-null space (rigid-body
  modes). Time and memory close to linear in :math:`n`: the method for large 2D and 3D meshes.

An indefinite or singular tangent (away from a minimum) is handled by retrying with a diagonal
shift :math:`H + \tau\,\mathrm{diag}(|H|)`, which makes the step a descent direction.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import hashlib
import threading
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from threadpoolctl import ThreadpoolController

METHODS = ("auto", "superlu", "cholmod", "amg")

# The host solves run inside a JAX computation whose thread pool keeps the cores busy; multithreaded
# BLAS on top of it oversubscribes them. Measured on a 2-core machine: pyamg's setup for a 1.8e5-DOF
# plane-strain tangent took 8.4 s with the default BLAS threads and 0.6 s with one.
_THREADPOOLS = ThreadpoolController()

# Every factorisation is made, used and freed on this one thread. JAX runs host callbacks on
# threads of its own, and SuperLU objects freed on another thread than the one that made them never
# return their memory (scipy issue 15921): about 0.5 GB per 1e5-DOF Newton solve was lost that way.
_WORKER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="calib-sparse")


def _on_worker(function):
    """Run ``function`` on the sparse worker thread (directly when already there)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        if threading.current_thread().name.startswith("calib-sparse"):
            return function(*args, **kwargs)
        return _WORKER.submit(function, *args, **kwargs).result()

    return run


def has_cholmod() -> bool:
    try:
        import sksparse.cholmod  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_method(method: str, size: int, amg_threshold: int) -> str:
    """``"auto"``: a direct factorisation below ``amg_threshold`` unknowns, AMG-CG above."""
    if method != "auto":
        return method
    if size >= amg_threshold:
        return "amg"
    return "cholmod" if has_cholmod() else "superlu"


class SolveReport(NamedTuple):
    iterations: int  # Krylov iterations (0 for a direct solve)
    relative_residual: float  # ||b - A x|| / ||b|| with the matrix that was solved with
    shift: float  # diagonal shift tau used (0: the matrix itself)


class _Direct:
    def __init__(self, matrix: sp.csr_matrix, method: str):
        if method == "cholmod":
            from sksparse.cholmod import CholmodError, cholesky

            try:
                self._solve = cholesky(matrix.tocsc())
            except CholmodError as error:  # not positive definite: let the caller shift
                raise RuntimeError(str(error)) from error
        else:
            # The pattern is symmetric, so the CSR arrays read as CSC describe the same matrix.
            csc = sp.csc_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)
            lu = spla.splu(csc, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.01,
                           options={"SymmetricMode": True})
            self._solve = lu.solve
        self.matrix = matrix

    def solve(self, b, rtol):
        return self._solve(b), 0


class _AMG:
    def __init__(self, matrix: sp.csr_matrix, near_nullspace, max_iterations: int):
        import pyamg

        self.matrix = matrix
        self.max_iterations = max_iterations
        hierarchy = pyamg.smoothed_aggregation_solver(
            matrix, B=near_nullspace, symmetry="symmetric", strength="symmetric", max_coarse=1000,
            coarse_solver="splu")
        self.preconditioner = hierarchy.aspreconditioner(cycle="V")

    def solve(self, b, rtol, matrix=None):
        """CG on ``matrix`` (default: the one the hierarchy was built for), AMG-preconditioned."""
        count = [0]

        def tick(_):
            count[0] += 1

        matrix = self.matrix if matrix is None else matrix
        x, _ = spla.cg(matrix, b, rtol=rtol, atol=0.0, maxiter=self.max_iterations,
                       M=self.preconditioner, callback=tick)
        return x, count[0]


def _factorise(matrix, method, near_nullspace, max_iterations):
    if method == "amg":
        return _AMG(matrix, near_nullspace, max_iterations)
    return _Direct(matrix, method)


class FactorCache:
    """The last few factorisations (LRU), keyed by the digest of the matrix values and the method."""

    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(hessian, values: np.ndarray, method: str) -> tuple:
        digest = hashlib.blake2b(np.ascontiguousarray(values).view(np.uint8), digest_size=16).digest()
        return (id(hessian), method, values.dtype.str, digest)

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return entry

    def put(self, key, entry):
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    @_on_worker
    def clear(self):
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


CACHE = FactorCache()


def _relative_residual(matrix, x, b):
    b_norm = np.linalg.norm(b)
    return float(np.linalg.norm(b - matrix @ x) / (b_norm if b_norm > 0 else 1.0))


@_on_worker
def solve_tangent(hessian, values, b, *, method, rtol, max_iterations, descent=True,
                  shifts=(1e-6, 1e-4, 1e-2, 0.1, 1.0, 2.0, 10.0, 100.0)):
    r"""Solve :math:`H x = b` with ``H`` given by ``(nnz,)`` values, on the host.

    With ``descent=True`` (a Newton step, ``b = -g``) the answer must satisfy :math:`b\cdot x > 0`;
    otherwise, or when the factorisation fails (singular matrix), the solve is retried with a
    growing diagonal shift. The factorisation of the unshifted matrix is cached under its values.

    Returns ``(x, SolveReport)``; ``x`` is all-NaN when every attempt failed.
    """
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        return _solve_tangent(hessian, values, b, method=method, rtol=rtol,
                              max_iterations=max_iterations, descent=descent, shifts=shifts)


def _solve_tangent(hessian, values, b, *, method, rtol, max_iterations, descent, shifts):
    values = np.asarray(values)
    b = np.asarray(b)
    key = CACHE.key(hessian, values, method)
    matrix = None
    factor = CACHE.get(key)
    for shift in (0.0,) + tuple(shifts):
        try:
            if shift == 0.0 and factor is None:
                matrix = hessian.matrix(values)
                factor = _factorise(matrix, method, hessian.near_nullspace, max_iterations)
                CACHE.put(key, factor)
            if shift == 0.0:
                current = factor
            else:
                matrix = hessian.matrix(values) if matrix is None else matrix
                diagonal = np.abs(matrix.diagonal())
                diagonal = np.where(diagonal > 0, diagonal, max(diagonal.max(initial=0.0), 1.0))
                shifted = (matrix + sp.diags(shift * diagonal)).tocsr()
                shifted.sort_indices()
                current = _factorise(shifted, method, hessian.near_nullspace, max_iterations)
            x, iterations = current.solve(b, rtol)
        except (RuntimeError, ArithmeticError, ValueError):
            continue
        if not np.all(np.isfinite(x)):
            continue
        if descent and np.dot(b, x) <= 0 and np.any(b != 0):
            continue
        return x, SolveReport(iterations, _relative_residual(current.matrix, x, b), shift)
    return np.full_like(b, np.nan), SolveReport(0, float("nan"), float("nan"))


@_on_worker
def solve_near(hessian, values, current_values, b, *, method, rtol, max_iterations):
    r"""Solve with the tangent ``current_values`` using the cached factorisation of ``values``.

    For the adjoint at a converged Newton solve: ``values`` is the last factorised tangent (one
    step old), ``current_values`` the tangent at the solution. AMG-CG iterates on the current
    matrix with the old hierarchy as preconditioner (the hierarchy is the expensive part; the
    solve is then exact to ``rtol`` in one go); a direct method applies the old factorisation, an
    approximate inverse that the caller's Krylov iteration corrects in a step or two.
    """
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        values = np.asarray(values)
        key = CACHE.key(hessian, values, method)
        factor = CACHE.get(key)
        if factor is None:
            factor = _factorise(hessian.matrix(values), method, hessian.near_nullspace,
                                max_iterations)
            CACHE.put(key, factor)
        if isinstance(factor, _AMG):
            return factor.solve(np.asarray(b), rtol, hessian.matrix(np.asarray(current_values)))
        return factor.solve(np.asarray(b), rtol)
