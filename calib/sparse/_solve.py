r"""JAX-side sparse tangent solves: host callbacks, made differentiable as a linear solve.

Under ``jax.vmap`` the callbacks receive the whole batch at once (``vmap_method="expand_dims"``:
batched inputs carry leading batch axes, unbatched ones axes of size 1) and solve its members one
after the other in a single host call, so the factorisation cache can be sized for the batch
(:class:`calib.sparse._factor.FactorCache`) and a batch of ``B`` costs about ``B`` single solves.
Members whose solve has already finished (``active`` false: a converged member of a batched Newton
loop, which still runs until the last member converges) cost nothing.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._factor import (CACHE, Status, _solve_columns, _solve_near, _solve_tangent, check_shapes,
                      run_host)
from . import _stats


def _batch_shape(arrays_and_ranks) -> tuple[int, ...]:
    """The broadcast leading (batch) shape of callback inputs with the given per-member ranks."""
    return np.broadcast_shapes(*(np.shape(a)[:np.ndim(a) - rank] for a, rank in arrays_and_ranks))


def _member(array, index, rank):
    """Batch member ``index`` of ``array`` (axes of size 1 broadcast)."""
    lead = np.ndim(array) - rank
    return array[tuple(i if n > 1 else 0 for i, n in zip(index, np.shape(array)[:lead]))]


def _solve_members(batch, b, solve_member):
    """Run ``solve_member(index) -> (x, SolveReport) | None`` (``None``: skipped) for every batch
    member on the sparse worker; returns the stacked ``(x, iterations, status)``."""
    x = np.zeros(batch + b.shape[-1:], b.dtype)
    iterations = np.zeros(batch, np.int32)
    status = np.zeros(batch, np.int32)

    def work():
        for index in np.ndindex(*batch):
            solved = solve_member(index)
            if solved is not None:
                x[index], report = solved
                iterations[index], status[index] = report.iterations, int(report.status)

    run_host(work, int(np.prod(batch, dtype=int)))
    return x, iterations, status


def _host_tangent(hessian, method, rtol, max_iterations, descent, values, b, active):
    # The callback receives jax Arrays: index host copies (slicing a jax Array is a device op).
    values, b, active = np.asarray(values), np.asarray(b), np.asarray(active)
    if not descent:
        return _host_columns(hessian, method, rtol, max_iterations, values, b, active)

    def solve_member(index):
        v = _member(values, index, 1)
        if not _member(active, index, 0):
            # Finished: keep its factorisation alive for the adjoint, solve nothing.
            CACHE.touch(CACHE.key(hessian, v, method))
            _stats.record(skipped=1)
            return None
        return _solve_tangent(hessian, v, _member(b, index, 1), method=method, rtol=rtol,
                              max_iterations=max_iterations, descent=descent)

    return _solve_members(_batch_shape(((values, 1), (b, 1), (active, 0))), b, solve_member)


def _host_columns(hessian, method, rtol, max_iterations, values, b, active):
    """Tangent and adjoint solves (no descent condition) of a batch: the members that share one
    matrix (under ``jax.jacfwd`` the P tangents at one state; ``values`` then has a broadcast axis)
    are solved together, with one cache look-up and one multi-right-hand-side solve."""
    batch = _batch_shape(((values, 1), (b, 1), (active, 0)))
    x = np.zeros(batch + b.shape[-1:], b.dtype)
    iterations = np.zeros(batch, np.int32)
    status = np.zeros(batch, np.int32)
    # vmap materialises the broadcast matrix for every tangent, so members are grouped by the
    # content of their values (a sample of the entries first, then an exact comparison).
    groups: dict = {}
    for index in np.ndindex(*batch):
        if not _member(active, index, 0):
            _stats.record(skipped=1)
            continue
        v = _member(values, index, 1)
        same = groups.setdefault(v[::max(1, v.size // 64)].tobytes(), [])
        for representative, members in same:
            if np.array_equal(representative, v):
                members.append(index)
                break
        else:
            same.append((v, [index]))

    def work():
        for representative, members in (group for same in groups.values() for group in same):
            solved = _solve_columns(hessian, representative,
                                    [_member(b, index, 1) for index in members], method=method,
                                    rtol=rtol, max_iterations=max_iterations)
            for index, (answer, report) in zip(members, solved):
                x[index] = answer
                iterations[index], status[index] = report.iterations, int(report.status)

    run_host(work, int(np.prod(batch, dtype=int)))
    return x, iterations, status


def _result_shapes(b):
    return (jax.ShapeDtypeStruct(b.shape, b.dtype), jax.ShapeDtypeStruct((), jnp.int32),
            jax.ShapeDtypeStruct((), jnp.int32))


def host_solve(hessian, method: str, rtol: float, max_iterations: int, values, b, active=True, *,
               descent: bool = True):
    r"""``H^{-1} b`` on the host (cached factorisation); not differentiable.

    Args:
        values: ``(nnz,)`` tangent values; b: ``(size,)``; active: bool, ``False`` skips the solve
            (the answer is then zero).
        descent: a Newton step (``b = -g``): retry with a diagonal shift until :math:`b \cdot x > 0`.

    Returns ``(x, iterations, status)``: the answer, the Krylov iterations and the
    :class:`calib.sparse._factor.Status` code (int32; NaN ``x`` when ``Status.FAILED``).
    """
    check_shapes(hessian, values, b, "SparseNewton")
    callback = functools.partial(_host_tangent, hessian, method, rtol, max_iterations, descent)
    return jax.pure_callback(callback, _result_shapes(b), values, b, jnp.asarray(active, bool),
                             vmap_method="expand_dims")


def tangent_solve(hessian, method: str, rtol: float, max_iterations: int, values, b, active=True):
    r"""``H^{-1} b`` with ``H`` the sparse matrix of ``values``, differentiable in ``values`` and ``b``.

    The primal is one host solve (with its iteration count and status); the tangent,
    :math:`\dot x = H^{-1}(\dot b - \dot H x)`, is a ``lax.custom_linear_solve`` whose operator is
    the JAX sparse product and whose solve is the host factorisation, so JAX can transpose it for
    reverse mode (another solve with the symmetric :math:`H`, which finds the factorisation in the
    cache). The status comes from the primal solve only: under ``jax.jacfwd`` the tangent solves
    are batched, the primal outputs are not. Returns ``(x, iterations, status)`` as
    :func:`host_solve`.
    """
    return _differentiable_solve(hessian, method, rtol, max_iterations, values, b,
                                 jnp.asarray(active, bool))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _differentiable_solve(hessian, method, rtol, max_iterations, values, b, active):
    return host_solve(hessian, method, rtol, max_iterations, lax.stop_gradient(values), b, active)


@_differentiable_solve.defjvp
def _differentiable_solve_jvp(hessian, method, rtol, max_iterations, primals, tangents):
    values, b, active = primals
    values_dot, b_dot, _ = tangents
    x, iterations, status = _differentiable_solve(hessian, method, rtol, max_iterations, values, b,
                                                  active)
    frozen = lax.stop_gradient(values)

    def solve(_, rhs):
        return host_solve(hessian, method, rtol, max_iterations, frozen, rhs, active,
                          descent=False)[0]

    rhs = b_dot - hessian.matvec(values_dot, x)
    x_dot = lax.custom_linear_solve(functools.partial(hessian.matvec, frozen), rhs, solve,
                                    symmetric=True)
    zero = np.zeros((), jax.dtypes.float0)
    return (x, iterations, status), (x_dot, zero, zero)


def _host_near(hessian, method, rtol, max_iterations, values, current_values, b):
    values, current_values, b = np.asarray(values), np.asarray(current_values), np.asarray(b)
    def solve_member(index):
        return _solve_near(hessian, _member(values, index, 1), _member(current_values, index, 1),
                           _member(b, index, 1), method=method, rtol=rtol,
                           max_iterations=max_iterations)

    return _solve_members(_batch_shape(((values, 1), (current_values, 1), (b, 1))), b,
                          solve_member)


def host_solve_near(hessian, method: str, rtol: float, max_iterations: int, values, current_values,
                    b):
    """:func:`calib.sparse._factor.solve_near` as a callback; returns ``(x, iterations, status)``
    (NaN ``x`` and ``Status.FAILED`` when the solve broke down)."""
    check_shapes(hessian, values, b, "SparseNewton adjoint")
    check_shapes(hessian, current_values, b, "SparseNewton adjoint")
    callback = functools.partial(_host_near, hessian, method, rtol, max_iterations)
    return jax.pure_callback(callback, _result_shapes(b), values, current_values, b,
                             vmap_method="expand_dims")


__all__ = ["Status", "host_solve", "host_solve_near", "tangent_solve"]
