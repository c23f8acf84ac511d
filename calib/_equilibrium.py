"""``calib.equilibrium``: the differentiable inner solve."""

from __future__ import annotations

import functools
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._diagnostics import warn_forward
from ._envelope import envelope_energy
from ._result import RESULTS
from ._solution import Solution
from ._spectrum import lanczos_extremes
from .adjoint import AbstractAdjoint, Implicit
from .solvers import LBFGS, AbstractSolver
from ._errors import CalibTypeError, CalibValueError


def equilibrium(
    energy: Callable[..., jax.Array],
    x0: Any,
    theta: Any,
    *args: Any,
    solver: AbstractSolver | None = None,
    adjoint: AbstractAdjoint | None = None,
    throw: bool = False,
    warn: bool = True,
    check_stability: bool = False,
    stability_iterations: int = 50,
) -> Solution:
    r"""Minimise ``energy(x, theta, *args)`` over ``x`` from ``x0``: :math:`x^*(\theta)`.

    The returned state is a differentiable function of ``theta`` (and of floating ``args``): use
    ``jax.grad``, ``jax.jacfwd``, ``jax.jvp`` … on any function of ``Solution.x`` and
    ``Solution.energy``. ``adjoint`` chooses how (implicit function theorem by default); it never
    changes which equilibrium is found.

    Args:
        energy: ``energy(x, theta, *args) -> scalar``, pure and jit-able. It is a static argument of
            an internal ``jit``: pass the same function object each time to avoid recompiling (not a
            fresh ``lambda``/``partial`` per call).
        x0: starting state, a pytree of floating arrays (e.g. positions of shape ``(N, 3)``).
        theta: parameters, a pytree (usually a dict of named arrays).
        *args: further arrays passed to ``energy`` (data, reference positions, a strain …).
        solver: :class:`calib.LBFGS` (default), :class:`calib.FIRE`, :class:`calib.NewtonCG`,
            :class:`calib.GradientDescent`. Convergence is ``max |dE/dx| <= solver.tol``.
        adjoint: :class:`calib.Implicit` (default), :class:`calib.Neumann`, :class:`calib.Unrolled`,
            :class:`calib.Truncated`, :class:`calib.Checkpointed`.
        throw: raise a runtime error (``jax.errors.JaxRuntimeError``, a ``RuntimeError``, whose
            message names the reason and the fix) when the solve, or a later adjoint solve, fails. With ``False`` (default) the failure is in ``Solution.result``
            and a :class:`calib.NonConvergenceWarning` is emitted (unless ``warn=False``).
        warn: with ``throw=False``, emit the warning; ``False`` leaves the failure in
            ``Solution.result`` only (for callers that retry and report themselves).
        check_stability: estimate the smallest Hessian eigenvalue at the solution (Lanczos, known
            zero modes of the adjoint's ``nullspace`` excluded) and report a saddle point
            (``RESULTS.saddle_point``) when it is negative.
        stability_iterations: Lanczos steps for ``check_stability``.

    Returns:
        A :class:`calib.Solution`.
    """
    if not callable(energy):
        raise CalibTypeError(f"equilibrium: energy must be a callable energy(x, theta, *args) -> scalar, "
                             f"got {type(energy).__name__}")
    solver = LBFGS() if solver is None else solver
    adjoint = Implicit() if adjoint is None else adjoint
    if not isinstance(solver, AbstractSolver):
        raise CalibTypeError(f"equilibrium: solver must be a solver object such as calib.LBFGS() or "
                             f"calib.FIRE(), got {solver!r}")
    if not isinstance(adjoint, AbstractAdjoint):
        raise CalibTypeError(f"equilibrium: adjoint must be an adjoint object such as calib.Implicit() or "
                             f"calib.Unrolled(steps=100), got {adjoint!r}")
    leaves = jax.tree.leaves(x0)
    if not leaves:
        raise CalibValueError("equilibrium: x0 is empty; pass the starting state (e.g. an (N, 3) array)")
    for path, leaf in jax.tree_util.tree_flatten_with_path(x0)[0]:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            where = jax.tree_util.keystr(path) or "x0"
            raise CalibTypeError(f"equilibrium: x0{where if where != 'x0' else ''} has dtype {dtype}; the "
                                 "state must be floating point, e.g. jnp.asarray(x0, dtype=float)")
    if not (isinstance(stability_iterations, int) and stability_iterations > 0):
        raise CalibValueError(f"equilibrium: stability_iterations must be a positive int, got "
                              f"{stability_iterations!r}")
    return _equilibrium(energy, solver, adjoint, bool(throw), bool(warn), bool(check_stability),
                        stability_iterations, x0, theta, args)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _equilibrium(energy, solver, adjoint, throw, warn, check_stability, stability_iterations, x0, theta,
                 args):
    x0_flat, unravel = ravel_pytree(x0)

    def fn(x_flat, params):
        theta, args = params
        value = energy(unravel(x_flat), theta, *args)
        if jnp.ndim(value) != 0:
            raise CalibTypeError(f"equilibrium: energy must return a scalar, got shape {jnp.shape(value)}")
        return value

    x_flat, stats = adjoint.solve(fn, solver, x0_flat, (theta, args), throw=throw, unravel=unravel)
    result = stats.result

    nan = jnp.full((), jnp.nan, x0_flat.dtype)
    min_eig, max_eig = nan, nan
    if check_stability:
        x_fixed = jax.lax.stop_gradient(x_flat)
        params = jax.lax.stop_gradient((theta, args))
        _, hvp = jax.linearize(lambda y: jax.grad(fn)(y, params), x_fixed)
        basis = adjoint.nullspace_basis(x_fixed, unravel)
        min_eig, max_eig = lanczos_extremes(hvp, x_flat.shape[0], x_flat.dtype,
                                            stability_iterations, basis)
        # Negative beyond round-off relative to the stiffest mode: a saddle.
        saddle = min_eig < -jnp.sqrt(jnp.finfo(x_flat.dtype).eps) * jnp.abs(max_eig)
        result = jnp.where((result == RESULTS.successful) & saddle, RESULTS.saddle_point, result)

    if throw:
        messages = [RESULTS.message(c) for c in range(5)]
        x_flat = eqx.branched_error_if(x_flat, result != RESULTS.successful, result, messages)
    elif warn:
        jax.debug.callback(warn_forward, result)

    x = unravel(x_flat)
    value = (envelope_energy(energy, x, (theta, args)) if adjoint.envelope
             else energy(x, theta, *args))
    return Solution(x=x, energy=value, steps=stats.steps, max_force=stats.max_force,
                    result=result.astype(jnp.int32), min_eigenvalue=min_eig, max_eigenvalue=max_eig)


def stability(energy: Callable, x: Any, theta: Any, *args: Any, nullspace=None, iterations: int = 50):
    """Lanczos estimates ``(lambda_min, lambda_max)`` of the Hessian of ``energy`` at ``x``.

    ``lambda_min < 0`` means ``x`` is a saddle point, not a minimum. ``nullspace`` is as in
    :class:`calib.Implicit` (the modes it names are excluded). Ritz values approach the extremes from
    inside; they are exact when ``iterations`` reaches the number of degrees of freedom.
    """
    x_flat, unravel = ravel_pytree(x)
    adjoint = Implicit(nullspace=nullspace)

    def grad_flat(y):
        return ravel_pytree(jax.grad(energy)(unravel(y), theta, *args))[0]

    _, hvp = jax.linearize(grad_flat, x_flat)
    basis = adjoint.nullspace_basis(x_flat, unravel)
    return lanczos_extremes(hvp, x_flat.shape[0], x_flat.dtype, iterations, basis)
