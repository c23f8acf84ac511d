"""JAX-side sparse tangent solves: a host callback, made differentiable as a linear solve."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._factor import solve_near, solve_tangent


def _host(hessian, method, rtol, max_iterations, values, b):
    x, report = solve_tangent(hessian, values, b, method=method, rtol=rtol,
                              max_iterations=max_iterations)
    return x.astype(b.dtype), np.int32(report.iterations)


def host_solve(hessian, method: str, rtol: float, max_iterations: int, values, b):
    """``H^{-1} b`` on the host (cached factorisation); returns ``(x, iterations)``. Not differentiable."""
    shapes = (jax.ShapeDtypeStruct(b.shape, b.dtype), jax.ShapeDtypeStruct((), jnp.int32))
    callback = functools.partial(_host, hessian, method, rtol, max_iterations)
    return jax.pure_callback(callback, shapes, values, b, vmap_method="sequential")


def tangent_solve(hessian, method: str, rtol: float, max_iterations: int, values, b):
    r"""``H^{-1} b`` with ``H`` the sparse matrix of ``values``, differentiable in ``values`` and ``b``.

    A ``lax.custom_linear_solve`` whose operator is the JAX sparse product (used only for
    derivatives) and whose solve is the host factorisation: the derivative of :math:`H^{-1}b` is
    another solve with :math:`H` (symmetric), which finds the factorisation in the cache.
    """

    def solve(_, rhs):
        return host_solve(hessian, method, rtol, max_iterations, lax.stop_gradient(values), rhs)[0]

    return lax.custom_linear_solve(functools.partial(hessian.matvec, values), b, solve, symmetric=True)


def host_solve_near(hessian, method: str, rtol: float, max_iterations: int, values, current_values,
                    b):
    """:func:`calib.sparse._factor.solve_near` as a callback; returns ``(x, iterations)``."""

    def callback(values, current_values, b):
        x, iterations = solve_near(hessian, values, current_values, b, method=method, rtol=rtol,
                                   max_iterations=max_iterations)
        return x.astype(b.dtype), np.int32(iterations)

    shapes = (jax.ShapeDtypeStruct(b.shape, b.dtype), jax.ShapeDtypeStruct((), jnp.int32))
    return jax.pure_callback(callback, shapes, values, current_values, b,
                             vmap_method="sequential")
