r"""Host-side sparse solves with the tangent matrix, and a cache that lets the adjoint reuse them.

A Newton step solves :math:`H(x_k)\,\delta = -g`. Factorising :math:`H` (or building an algebraic
multigrid hierarchy for it) is by far the most expensive part of the step; the implicit adjoint
needs solves with the *same kind* of matrix. Factorisations are therefore kept in a cache keyed by
a digest of the matrix values, so the backward pass finds the last Newton factorisation instead of
computing a new one. The cache holds at least two entries and, for a ``vmap``-ed batch of ``B``
members, ``2 B``: the factorisations of the current host call and of the one before it (the
forward's last step, then the adjoint's first preconditioner call).

Methods:

* ``"superlu"`` — sparse LU (SuperLU, Li 2005, via :func:`scipy.sparse.linalg.splu`) with a
  minimum-degree ordering of :math:`A + A^T` and diagonal pivoting preferred (symmetric mode).
  Exact; memory and time grow faster than linearly (about :math:`n^{1.5}`–:math:`n^{1.7}` in 2D).
* ``"cholmod"`` — supernodal Cholesky (CHOLMOD, Chen et al. 2008) when ``scikit-sparse`` is
  installed; faster than SuperLU for symmetric positive-definite matrices.
* ``"amg"`` — conjugate gradients preconditioned by smoothed-aggregation algebraic multigrid
  (Vaněk, Mandel & Brezina 1996, via ``pyamg``), seeded with the near-null space (rigid-body
  modes). Time and memory close to linear in :math:`n`: the method for large 2D and 3D meshes.

Failures are classified, never guessed from a NaN downstream (:class:`Status`):

* the unshifted matrix is *numerically singular* when its factorisation breaks down, its answer is
  not finite, its relative residual exceeds :math:`100\sqrt{\varepsilon}` (direct methods) or the
  answer is so large that :math:`\|H\|_\infty \|x\|_\infty / \|b\|_\infty > 0.1/\varepsilon` (a lower
  bound of the condition number beyond round-off). The solve is then retried with a growing diagonal
  shift :math:`H + \tau\,\mathrm{diag}(|H|)`; if the shifted answer leaves a relative residual above
  :data:`SINGULAR_RESIDUAL` with the unshifted matrix, ``b`` has a component :math:`H` cannot produce
  (a load on a free rigid-body motion) and the status is ``SINGULAR``;
* an indefinite tangent (away from a minimum) whose Newton step is not a descent direction is also
  retried with shifts, which make it one; that is not a failure (status ``OK``);
* an AMG-CG solve that stops at its iteration limit is ``UNCONVERGED``; its answer is kept as an
  inexact Newton step (Dembo, Eisenstat & Steihaug 1982) when it is a descent direction, and the
  line search judges it (a stalled CG says nothing about singularity);
* when no attempt gives a finite answer the status is ``FAILED`` and the answer is NaN.
"""

from __future__ import annotations

import collections
import concurrent.futures
import enum
import functools
import hashlib
import threading
import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from threadpoolctl import ThreadpoolController

from .._errors import CalibValueError
from . import _stats

METHODS = ("auto", "superlu", "cholmod", "amg")
SHIFTS = (1e-6, 1e-4, 1e-2, 0.1, 1.0, 2.0, 10.0, 100.0)
# A shifted answer that leaves this relative residual with the unshifted matrix has changed the
# problem, not just regularised it: b has a part in the (near) null space of H.
SINGULAR_RESIDUAL = 1e-2
# What a factorisation or a solve raises when it breaks down (SuperLU: "Factor is exactly
# singular", a RuntimeError; CHOLMOD: not positive definite; pyamg/scipy: LinAlgError, a
# ValueError; MemoryError when the fill-in does not fit). Shapes are checked before, so a
# ValueError here is the matrix's, not the caller's.
BREAKDOWNS = (RuntimeError, ArithmeticError, ValueError, MemoryError)


class Status(enum.IntEnum):
    """Outcome of one host solve, in increasing severity (a batch reports each member's)."""

    OK = 0
    """Solved with the matrix (or, for an indefinite one, a shift that makes a descent step)."""
    UNCONVERGED = 1
    """AMG-CG stopped at its iteration limit above ``linear_rtol``; the answer is inexact."""
    SINGULAR = 2
    """The matrix is numerically singular and ``b`` has a component it cannot produce; the answer
    comes from a shifted matrix (a step along the near-null space)."""
    FAILED = 3
    """Every factorisation or solve broke down or gave a non-finite answer; the answer is NaN."""


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


@_on_worker
def run_host(work, members: int = 1):
    """Run ``work()`` (the solves of one host call of ``members`` right-hand sides) on the worker
    thread with one BLAS thread, sizing the cache for the call and timing it."""
    CACHE.reserve(members)
    t0 = time.perf_counter()
    try:
        with _THREADPOOLS.limit(limits=1, user_api="blas"):
            return work()
    finally:
        _stats.record(host_calls=1, members=members, host_seconds=time.perf_counter() - t0)


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
    shift: float  # diagonal shift tau used (0: the matrix itself; NaN: failed)
    status: Status = Status.OK
    message: str = ""  # why the status is not OK


class _Direct:
    def __init__(self, matrix: sp.csr_matrix, method: str):
        if method == "cholmod":
            from sksparse.cholmod import CholmodError, cholesky

            try:
                self._solve = cholesky(matrix.tocsc())
            except CholmodError as error:  # not positive definite: let the caller shift
                raise ArithmeticError(f"CHOLMOD: {error}") from error
        else:
            # The pattern is symmetric, so the CSR arrays read as CSC describe the same matrix.
            csc = sp.csc_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)
            lu = spla.splu(csc, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.01,
                           options={"SymmetricMode": True})
            self._solve = lu.solve
        self.matrix = matrix
        self.method = method

    def solve(self, b, rtol, max_iterations, matrix=None):
        """``(x, iterations, converged)``; a direct solve is exact (``matrix`` is ignored)."""
        return self._solve(b), 0, True


class _AMG:
    method = "amg"

    def __init__(self, matrix: sp.csr_matrix, near_nullspace):
        import pyamg

        self.matrix = matrix
        hierarchy = pyamg.smoothed_aggregation_solver(
            matrix, B=near_nullspace, symmetry="symmetric", strength="symmetric", max_coarse=1000,
            coarse_solver="splu")
        self.preconditioner = hierarchy.aspreconditioner(cycle="V")

    def solve(self, b, rtol, max_iterations, matrix=None):
        """CG on ``matrix`` (default: the one the hierarchy was built for), AMG-preconditioned:
        ``(x, iterations, converged)``; ``converged`` is scipy's ``info == 0``. The iteration
        limit is the caller's (the hierarchy is cached for every solver that shares the matrix)."""
        count = [0]

        def tick(_):
            count[0] += 1

        matrix = self.matrix if matrix is None else matrix
        x, info = spla.cg(matrix, b, rtol=rtol, atol=0.0, maxiter=max_iterations,
                          M=self.preconditioner, callback=tick)
        if info < 0:  # scipy: illegal input or breakdown
            raise ArithmeticError(f"AMG-CG broke down (scipy cg info = {info})")
        _stats.record(krylov_iterations=count[0], krylov_unconverged=int(info > 0))
        return x, count[0], info == 0


def _factorise(matrix, method, near_nullspace, *, shifted=False):
    t0 = time.perf_counter()
    try:
        if method == "amg":
            return _AMG(matrix, near_nullspace)
        return _Direct(matrix, method)
    finally:
        _stats.record(factorisations=1, shifted_factorisations=int(shifted),
                      factor_seconds=time.perf_counter() - t0)


class _Entry(NamedTuple):
    """A cached factorisation: of ``matrix + shift diag|matrix|`` (``shift > 0`` only when the
    matrix itself is numerically singular), or ``factor=None`` with the reason it broke down."""

    factor: _Direct | _AMG | None
    matrix: sp.csr_matrix  # the unshifted matrix
    shift: float
    error: str = ""


class FactorCache:
    """The factorisations of the latest host calls (LRU), keyed by the digest of the matrix
    values and the method. Holds ``max(capacity, 2 B)`` entries, ``B`` the members of the latest
    host call: a ``vmap``-ed batch keeps every member's factorisation from the forward to the
    adjoint, and the cache shrinks back when the batches do."""

    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self._members = 1
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def limit(self) -> int:
        """The number of entries currently kept."""
        return max(self.capacity, 2 * self._members)

    def __len__(self):
        return len(self._entries)

    def reserve(self, members: int):
        """Size the cache for a host call that solves ``members`` right-hand sides."""
        with self._lock:
            self._members = max(int(members), 1)

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
        _stats.record(cache_hits=int(entry is not None), cache_misses=int(entry is None))
        return entry

    def touch(self, key):
        """Mark ``key`` as used without counting a look-up (a batch member that had finished)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)

    def put(self, key, entry):
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    @_on_worker
    def clear(self):
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
            self._members = 1


CACHE = FactorCache()


def _relative_residual(matrix, x, b):
    b_norm = np.linalg.norm(b)
    return float(np.linalg.norm(b - matrix @ x) / (b_norm if b_norm > 0 else 1.0))


def check_shapes(hessian, values, b, where: str):
    """Raise a :class:`calib.CalibValueError` unless ``values`` is ``(nnz,)`` and ``b`` ``(size,)``."""
    if tuple(np.shape(values)) != (hessian.nnz,):
        raise CalibValueError(f"{where}: the tangent values must have shape ({hessian.nnz},) (the "
                              f"non-zeros of {hessian!r}), got {tuple(np.shape(values))}")
    if tuple(np.shape(b)) != (hessian.size,):
        raise CalibValueError(f"{where}: the right-hand side must have shape ({hessian.size},), got "
                              f"{tuple(np.shape(b))}")


def _numerically_singular(matrix, x, b, residual, exact: bool) -> str:
    """Why the answer ``x`` of ``matrix x = b`` cannot be trusted ('' when it can)."""
    if not np.all(np.isfinite(x)):
        return "the answer is not finite"
    eps = np.finfo(x.dtype).eps
    if exact and residual > 100 * np.sqrt(eps):
        return f"relative residual {residual:.1e} of a direct solve"
    b_inf = np.max(np.abs(b), initial=0.0)
    h_inf = spla.norm(matrix, np.inf)
    if b_inf > 0 and h_inf * np.max(np.abs(x)) > (0.1 / eps) * b_inf:
        return (f"condition number above {h_inf * np.max(np.abs(x)) / b_inf:.1e} "
                f"(|H| |x| / |b|)")
    return ""


def _attempt(entry: _Entry, b, rtol, max_iterations):
    """Solve with a cached entry: ``(x, iterations, converged, residual, problem)``;
    ``problem`` says why the answer cannot be used ('' when it can)."""
    try:
        x, iterations, converged = entry.factor.solve(b, rtol, max_iterations)
    except BREAKDOWNS as error:
        return None, 0, False, float("nan"), f"the solve broke down ({error})"
    residual = _relative_residual(entry.factor.matrix, x, b)
    problem = _numerically_singular(entry.factor.matrix, x, b, residual,
                                    exact=isinstance(entry.factor, _Direct))
    return x, iterations, converged, residual, problem


def _shifted_matrix(matrix, shift):
    diagonal = np.abs(matrix.diagonal())
    diagonal = np.where(diagonal > 0, diagonal, max(diagonal.max(initial=0.0), 1.0))
    shifted = (matrix + sp.diags(shift * diagonal)).tocsr()
    shifted.sort_indices()
    return shifted


def _cached_entry(hessian, values, method) -> _Entry:
    key = CACHE.key(hessian, values, method)
    entry = CACHE.get(key)
    if entry is None:
        matrix = hessian.matrix(values)
        try:
            entry = _Entry(_factorise(matrix, method, hessian.near_nullspace), matrix, 0.0)
        except BREAKDOWNS as error:
            entry = _Entry(None, matrix, 0.0, f"the factorisation broke down ({error})")
        CACHE.put(key, entry)
    return entry


def _solve_tangent(hessian, values, b, *, method, rtol, max_iterations, descent, shifts=SHIFTS):
    values = np.asarray(values)
    b = np.asarray(b)
    check_shapes(hessian, values, b, "solve_tangent")
    entry = _cached_entry(hessian, values, method)
    descent = descent and bool(np.any(b != 0))
    if entry.factor is not None:
        x, iterations, converged, residual, problem = _attempt(entry, b, rtol, max_iterations)
        if not problem and (not descent or np.dot(b, x) > 0):
            # A shifted entry stands in for a matrix found singular before: check again with b.
            return x, _report(entry, x, b, iterations, converged, residual,
                              "found singular before" if entry.shift > 0 else None)
    else:
        problem = entry.error
    # A factorisation refused as not positive definite (CHOLMOD) says nothing about singularity,
    # and neither does a step that is not a descent direction: both are an indefinite matrix.
    singular = bool(problem) and not problem.startswith("the factorisation broke down (CHOLMOD")
    for shift in (s for s in shifts if s > entry.shift):
        try:
            shifted = _Entry(_factorise(_shifted_matrix(entry.matrix, shift), method,
                                        hessian.near_nullspace, shifted=True), entry.matrix, shift)
        except BREAKDOWNS:
            continue
        x, iterations, converged, residual, trouble = _attempt(shifted, b, rtol, max_iterations)
        if trouble or (descent and np.dot(b, x) <= 0):
            continue
        if singular:
            # The regularised factorisation stands in for the singular one from now on (the next
            # Newton step at the same state, the adjoint's preconditioner).
            CACHE.put(CACHE.key(hessian, values, method), shifted)
        return x, _report(shifted, x, b, iterations, converged, residual,
                          problem if singular else None)
    message = (f"every factorisation of the {hessian.size}x{hessian.size} tangent failed, shifts "
               f"up to {max(shifts)} diag|H| included; the unshifted one: {problem or 'no descent'}")
    _stats.record(message, failures=1)
    return np.full_like(b, np.nan), SolveReport(0, float("nan"), float("nan"), Status.FAILED, message)


def _report(entry, x, b, iterations, converged, residual, singular: str | None) -> SolveReport:
    """The report of an accepted answer ``x`` from ``entry``; ``singular`` is why the unshifted
    matrix was refused (``None``: it was not, or only for not giving a descent step)."""
    if singular is not None:
        unshifted = _relative_residual(entry.matrix, x, b)
        if unshifted > SINGULAR_RESIDUAL:
            message = (f"the {entry.matrix.shape[0]}x{entry.matrix.shape[0]} tangent is numerically "
                       f"singular ({singular}); a step with the shift "
                       f"{entry.shift:g} diag|H| leaves relative residual {unshifted:.1e} with it")
            _stats.record(message, singular=1)
            return SolveReport(iterations, residual, entry.shift, Status.SINGULAR, message)
    if not converged:
        return SolveReport(iterations, residual, entry.shift, Status.UNCONVERGED,
                           f"AMG-CG stopped after {iterations} iterations at relative residual "
                           f"{residual:.1e}")
    return SolveReport(iterations, residual, entry.shift)


def _solve_columns(hessian, values, columns, *, method, rtol, max_iterations):
    r"""Solve :math:`H x_j = b_j` for several right-hand sides ``columns`` (a list of ``(size,)``
    arrays) with one matrix, no descent condition (tangent and adjoint solves): one cache look-up
    and, for a direct factorisation, one multi-right-hand-side back-substitution; a column whose
    answer cannot be trusted goes through :func:`_solve_tangent` alone (the shifted retries).
    Returns a list of ``(x, SolveReport)`` in the order of ``columns``."""
    values = np.asarray(values)
    entry = None if len(columns) == 1 else _cached_entry(hessian, values, method)
    if entry is None or not isinstance(entry.factor, _Direct):
        return [_solve_tangent(hessian, values, b, method=method, rtol=rtol,
                               max_iterations=max_iterations, descent=False) for b in columns]
    B = np.stack(columns, axis=1)
    try:
        X = np.asarray(entry.factor.solve(B, rtol, max_iterations)[0]).reshape(B.shape)
    except BREAKDOWNS:
        X = None
    out = []
    matrix = entry.factor.matrix
    residuals = None if X is None else (np.linalg.norm(B - matrix @ X, axis=0)
                                        / np.where(np.linalg.norm(B, axis=0) > 0,
                                                   np.linalg.norm(B, axis=0), 1.0))
    for j, b in enumerate(columns):
        problem = ("the solve broke down" if X is None else
                   _numerically_singular(matrix, X[:, j], b, float(residuals[j]), exact=True))
        if problem:
            out.append(_solve_tangent(hessian, values, b, method=method, rtol=rtol,
                                      max_iterations=max_iterations, descent=False))
        else:
            out.append((X[:, j], _report(entry, X[:, j], b, 0, True, float(residuals[j]),
                                         "found singular before" if entry.shift > 0 else None)))
    return out


def solve_tangent(hessian, values, b, *, method, rtol, max_iterations, descent=True,
                  shifts=SHIFTS):
    r"""Solve :math:`H x = b` with ``H`` given by ``(nnz,)`` values, on the host.

    With ``descent=True`` (a Newton step, ``b = -g``) the answer must satisfy :math:`b\cdot x > 0`;
    otherwise, or when the matrix is numerically singular, the solve is retried with a growing
    diagonal shift (see the module docstring for the classification). The factorisation of the
    matrix (or the shifted one that stands in for a singular matrix) is cached under its values.

    Returns ``(x, SolveReport)``; ``x`` is all-NaN when ``report.status`` is ``Status.FAILED``.
    Raises :class:`calib.CalibValueError` for arrays of the wrong shape.
    """
    return run_host(lambda: _solve_tangent(hessian, values, b, method=method, rtol=rtol,
                                           max_iterations=max_iterations, descent=descent,
                                           shifts=shifts))


def _solve_near(hessian, values, current_values, b, *, method, rtol, max_iterations):
    values, current_values, b = (np.asarray(a) for a in (values, current_values, b))
    check_shapes(hessian, values, b, "solve_near")
    check_shapes(hessian, current_values, b, "solve_near")
    entry = _cached_entry(hessian, values, method)
    if entry.factor is None:  # singular and never regularised: let a shifted solve stand in
        x, report = _solve_tangent(hessian, values, b, method=method, rtol=rtol,
                                   max_iterations=max_iterations, descent=False)
        return x, report
    current = hessian.matrix(current_values) if isinstance(entry.factor, _AMG) else None
    try:
        x, iterations, converged = entry.factor.solve(b, rtol, max_iterations, current)
    except BREAKDOWNS as error:
        message = f"the adjoint preconditioner solve broke down ({error})"
        _stats.record(message, failures=1)
        return np.full_like(b, np.nan), SolveReport(0, float("nan"), float("nan"), Status.FAILED,
                                                    message)
    if not np.all(np.isfinite(x)):
        message = "the adjoint preconditioner solve gave a non-finite answer"
        _stats.record(message, failures=1)
        return np.full_like(b, np.nan), SolveReport(0, float("nan"), float("nan"), Status.FAILED,
                                                    message)
    status = Status.OK if converged else Status.UNCONVERGED
    message = "" if converged else (f"AMG-CG on the tangent at the solution stopped after "
                                    f"{iterations} iterations")
    return x, SolveReport(iterations, float("nan"), entry.shift, status, message)


def solve_near(hessian, values, current_values, b, *, method, rtol, max_iterations):
    r"""Solve with the tangent ``current_values`` using the cached factorisation of ``values``.

    For the adjoint at a converged Newton solve: ``values`` is the last factorised tangent (one
    step old), ``current_values`` the tangent at the solution. AMG-CG iterates on the current
    matrix with the old hierarchy as preconditioner (the hierarchy is the expensive part; the
    solve is then exact to ``rtol`` in one go); a direct method applies the old factorisation, an
    approximate inverse that the caller's Krylov iteration corrects in a step or two.

    Returns ``(x, SolveReport)``; a breakdown gives an all-NaN ``x`` and ``Status.FAILED`` (never an
    exception, which a host callback must not raise), so the caller's residual check reports it;
    an AMG-CG stopped at its limit gives ``Status.UNCONVERGED``. Both are also counted by
    :func:`calib.sparse.statistics`.
    """
    return run_host(lambda: _solve_near(hessian, values, current_values, b, method=method,
                                        rtol=rtol, max_iterations=max_iterations))
