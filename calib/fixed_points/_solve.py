r"""``calib.fixed_point``: a differentiable fixed point :math:`z^* = F(z^*, \theta)`."""

from __future__ import annotations

import functools
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .. import _monitor
from .._closure import convert, rebuild
from .._diagnostics import call_site, warn_forward
from .._equilibrium import Arguments, _as_state, _warn_now
from .._errors import CalibTypeError
from .._options import split_options
from .._result import RESULTS
from ..adjoint import AbstractAdjoint, Implicit
from ._solution import FixedPointSolution
from ._solvers import AbstractFixedPointSolver, Anderson


def fixed_point(
    F: Callable[..., Any],
    z0: Any,
    theta: Any,
    *args: Any,
    solver: AbstractFixedPointSolver | None = None,
    adjoint: AbstractAdjoint | None = None,
    throw: bool = False,
    warn: bool = True,
) -> FixedPointSolution:
    r"""Solve :math:`z = F(z, \theta, *args)` from ``z0``: :math:`z^*(\theta)`, differentiable.

    The general (non-gradient) counterpart of :func:`calib.equilibrium`: a deep equilibrium layer
    :math:`z = \sigma(Wz + Ux + b)`, a proximal iteration, a self-consistent field. ``adjoint``
    chooses how derivatives flow; by default (:class:`calib.Implicit`) a tangent or a cotangent
    costs one solve with the non-symmetric :math:`I - \partial F/\partial z` (GMRES), whatever the
    number of iterations, and works with ``jax.jvp``, ``jacfwd``, ``grad``, ``jacrev`` and ``vmap``.

    Args:
        F: ``F(z, theta, *args) -> z`` (the same pytree structure and shapes as ``z``), pure and
            jit-able; closed-over arrays become traced inputs, as in :func:`calib.equilibrium`.
        z0: the starting point, a pytree of floating arrays.
        theta: the parameters, a pytree.
        *args: further arrays passed to ``F`` (an input batch, data).
        solver: :class:`calib.Anderson` (default), :class:`calib.FixedPointIteration`,
            :class:`calib.NewtonKrylov`. Convergence is :math:`\max_i |z_i - F(z)_i| \le` ``tol``.
        adjoint: :class:`calib.Implicit` (default; its ``linear_solver`` GMRES, BiCGStab or Dense),
            :class:`calib.Neumann` (:math:`\sum_{k<K} J^k`), :class:`calib.Unrolled`,
            :class:`calib.Truncated`, :class:`calib.Checkpointed` (through the solver's iterations)
            or :class:`calib.Phantom` (the Jacobian-free gradient).
        throw: raise a runtime error naming the reason when the solve, or a later adjoint solve,
            fails; otherwise (default) the failure is in ``result`` and a
            :class:`calib.NonConvergenceWarning` is emitted unless ``warn=False``.
        warn: as in :func:`calib.equilibrium`.

    Returns:
        A :class:`calib.FixedPointSolution`.
    """
    if not callable(F):
        raise CalibTypeError(f"fixed_point: F must be a callable F(z, theta, *args) -> z, got "
                             f"{type(F).__name__}")
    solver = Anderson() if solver is None else solver
    adjoint = Implicit() if adjoint is None else adjoint
    if not isinstance(solver, AbstractFixedPointSolver):
        raise CalibTypeError(
            f"fixed_point: solver must be a fixed-point solver such as calib.Anderson(), "
            f"calib.FixedPointIteration() or calib.NewtonKrylov(), got {solver!r} (energy "
            "minimisers belong to calib.equilibrium)")
    if not isinstance(adjoint, AbstractAdjoint):
        raise CalibTypeError(f"fixed_point: adjoint must be an adjoint object such as "
                             f"calib.Implicit() or calib.Unrolled(steps=100), got {adjoint!r}")
    z0 = _as_state(z0)
    skeleton, closed_over = convert(F)
    solver_static, solver_options = split_options(solver)
    adjoint_static, adjoint_options = split_options(adjoint)
    inputs = (z0, theta, args, closed_over, solver_options, adjoint_options)
    eager = not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(inputs))
    solution = _fixed_point(skeleton, solver_static, adjoint_static, bool(throw),
                            bool(warn) and not eager, *inputs)
    _monitor.report(solution, type(adjoint).__name__, False)
    if eager and warn and not throw and not _monitor.quiet():
        _warn_now(solution, adjoint)
    return solution


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _fixed_point(skeleton, solver, adjoint, throw, warn, z0, theta, args, closed_over,
                 solver_options, adjoint_options):
    z0_flat, unravel = ravel_pytree(z0)
    structure = jax.tree.structure(z0)
    args = Arguments(args, closed_over)

    def F_flat(z_flat, params):
        theta, args = params
        out = rebuild(skeleton, args.closed_over)(unravel(z_flat), theta, *args)
        if jax.tree.structure(out) != structure:
            raise CalibTypeError(f"fixed_point: F must return the structure of z "
                                 f"({structure}), got {jax.tree.structure(out)}")
        out_flat, _ = ravel_pytree(out)
        if out_flat.shape != z0_flat.shape:
            raise CalibTypeError(f"fixed_point: F must return arrays of the shapes of z "
                                 f"({[jnp.shape(x) for x in jax.tree.leaves(z0)]}), got "
                                 f"{[jnp.shape(x) for x in jax.tree.leaves(out)]}")
        return out_flat.astype(z_flat.dtype)

    z_flat, stats = adjoint.solve_fixed_point(F_flat, solver, z0_flat, (theta, args),
                                              throw=throw, warn=warn and not throw,
                                              options=(solver_options, adjoint_options))
    result = stats.result
    dtype = z_flat.dtype
    if throw:
        messages = [RESULTS.fixed_point_message(c, dtype) for c in range(max(RESULTS.codes()) + 1)]
        z_flat = eqx.branched_error_if(z_flat, result != RESULTS.successful, result, messages)
    elif warn:
        jax.debug.callback(functools.partial(warn_forward, dtype=str(dtype), site=call_site(),
                                             kind="fixed_point"), result)
    return FixedPointSolution(z=unravel(z_flat), steps=stats.steps, max_residual=stats.max_force,
                              result=result.astype(jnp.int32), ift_residual=stats.ift_residual)

