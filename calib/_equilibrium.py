"""``calib.equilibrium``: the differentiable inner solve."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _monitor, _overrides
from ._closure import convert, rebuild
from ._diagnostics import call_site, ift_residual_message, warn_forward
from ._errors import NonConvergenceWarning
from ._options import merge_options, split_options
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
    check_stability: bool | None = None,
    stability_iterations: int = 50,
) -> Solution:
    r"""Minimise ``energy(x, theta, *args)`` over ``x`` from ``x0``: :math:`x^*(\theta)`.

    The returned state is a differentiable function of ``theta`` (and of floating ``args``): use
    ``jax.grad``, ``jax.jacfwd``, ``jax.jvp`` … on any function of ``Solution.x`` and
    ``Solution.energy``. ``adjoint`` chooses how (implicit function theorem by default); it never
    changes which equilibrium is found.

    Args:
        energy: ``energy(x, theta, *args) -> scalar``, pure and jit-able. It is closure-converted:
            arrays it closes over become traced inputs (differentiable, like ``args``), and a fresh
            ``lambda``/``partial`` made by the same code over the same non-array values reuses the
            compiled solve. Numeric options of ``solver`` and ``adjoint`` (tolerances, step sizes)
            are traced too: changing them does not recompile.
        x0: starting state, a pytree of floating arrays (e.g. positions of shape ``(N, 3)``); a
            (nested) list of numbers is taken as one array.
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
        check_stability: ``True``: estimate the extreme Hessian eigenvalues at the solution
            (Lanczos, known zero modes of the adjoint's ``nullspace`` excluded) and report a saddle
            point (``RESULTS.saddle_point``) when the smallest is negative, or
            ``RESULTS.unstable_spectrum`` when the estimates are not finite. ``None`` (default):
            the same check, with a short probe of 20 Lanczos steps, only when the solver took no
            step (a start that is already stationary, where the force test cannot tell a minimum
            from a saddle or a maximum); a saddle reached after steps is still caught by the CG
            adjoint's curvature test. ``False``: never.
        stability_iterations: Lanczos steps for ``check_stability=True``.

    Returns:
        A :class:`calib.Solution`.
    """
    if not callable(energy):
        raise CalibTypeError(f"equilibrium: energy must be a callable energy(x, theta, *args) -> scalar, "
                             f"got {type(energy).__name__}")
    solver = LBFGS() if solver is None else solver
    adjoint = _overrides.resolve(Implicit() if adjoint is None else adjoint)
    if not isinstance(solver, AbstractSolver):
        raise CalibTypeError(f"equilibrium: solver must be a solver object such as calib.LBFGS() or "
                             f"calib.FIRE(), got {solver!r}")
    if not isinstance(adjoint, AbstractAdjoint):
        raise CalibTypeError(f"equilibrium: adjoint must be an adjoint object such as calib.Implicit() or "
                             f"calib.Unrolled(steps=100), got {adjoint!r}")
    x0 = _as_state(x0)
    if check_stability not in (None, True, False):
        raise CalibValueError(f"equilibrium: check_stability must be None (probe only a start that "
                              f"is already stationary), True or False, got {check_stability!r}")
    if isinstance(stability_iterations, bool) or not (isinstance(stability_iterations, int)
                                                      and stability_iterations > 0):
        raise CalibValueError(f"equilibrium: stability_iterations must be a positive int, got "
                              f"{stability_iterations!r}")
    energy_skeleton, closed_over = convert(energy)
    solver_static, solver_options = split_options(solver)
    adjoint_static, adjoint_options = split_options(adjoint)
    inputs = (x0, theta, args, closed_over, solver_options, adjoint_options)
    # Called with concrete values (not under jit/grad/vmap), the warnings are given here, after the
    # solve: the compiled program then holds no host callback (JAX's persistent compilation cache
    # never stores programs with callbacks) and the warning points at the caller's line.
    eager = not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(inputs))
    warn_inside = bool(warn) and not eager
    solution = _equilibrium(energy_skeleton, solver_static, adjoint_static, bool(throw),
                            warn_inside, check_stability, stability_iterations, *inputs)
    # Every solve is reported to an open calib fit (or other monitor), so a failure inside a
    # property function that returns plain numbers is still seen, and named.
    _monitor.report(solution, type(adjoint).__name__, _overrides.active())
    if eager and warn and not throw and not _monitor.quiet():
        _warn_now(solution, adjoint)
    return solution


def _warn_now(solution, adjoint) -> None:
    """The warnings the compiled solve would have given, for a concrete ``solution`` (a
    :class:`Solution` or a :class:`calib.FixedPointSolution`; called by the public function, so
    the warning points at its caller)."""
    result = np.asarray(solution.result)
    dtype = jax.tree.leaves(getattr(solution, solution._state))[0].dtype
    kind = "equilibrium" if isinstance(solution, Solution) else "fixed point"
    if np.any(result != RESULTS.successful):
        codes = sorted({int(c) for c in np.ravel(result) if c != RESULTS.successful})
        warnings.warn(f"{kind} solve: " + "; ".join(solution._describe(c, dtype) for c in codes),
                      NonConvergenceWarning, stacklevel=3)
    residual = np.asarray(solution.ift_residual)
    tolerance = getattr(adjoint, "ift_tol", None)
    if tolerance is not None and np.any(residual > tolerance):
        warnings.warn(ift_residual_message(type(adjoint).__name__, tolerance, residual),
                      NonConvergenceWarning, stacklevel=3)


@jax.tree_util.register_pytree_node_class
class Arguments(tuple):
    """The energy's extra arguments ``*args`` (a tuple: ``*args`` unpacks to them alone) with the
    arrays its closure held, as one pytree."""

    def __new__(cls, args, closed_over):
        self = super().__new__(cls, args)
        self.closed_over = closed_over
        return self

    def tree_flatten(self):
        return (tuple(self), self.closed_over), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def _as_state(x0):
    """Validate ``x0``; a (nested) list or tuple of plain numbers is taken as one array."""
    if isinstance(x0, (list, tuple)) and x0 and all(
            isinstance(leaf, (int, float)) and not isinstance(leaf, bool)
            for leaf in jax.tree.leaves(x0)):
        try:
            x0 = np.asarray(x0, dtype=float)
        except ValueError as error:  # ragged
            raise CalibValueError(f"equilibrium: x0 is a ragged list of numbers ({error}); pass an "
                                  "array, e.g. jnp.asarray(x0, dtype=float)") from None
    leaves = jax.tree.leaves(x0)
    if not leaves:
        raise CalibValueError("equilibrium: x0 is empty; pass the starting state (e.g. an (N, 3) array)")
    for path, leaf in jax.tree_util.tree_flatten_with_path(x0)[0]:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            where = jax.tree_util.keystr(path)
            raise CalibTypeError(f"equilibrium: x0{where} has dtype {dtype}; the state must be "
                                 "floating point, e.g. jnp.asarray(x0, dtype=float)")
    return x0


# Lanczos steps of the default stability probe (a start that is already stationary).
_PROBE_ITERATIONS = 20


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _equilibrium(energy_skeleton, solver, adjoint, throw, warn, check_stability,
                 stability_iterations, x0, theta, args, closed_over, solver_options,
                 adjoint_options):
    x0_flat, unravel = ravel_pytree(x0)

    # The energy's closed-over arrays travel with the arguments, so they are traced (and
    # differentiable by the adjoint) rather than compile-time constants; solvers that read the
    # arguments (a sparse Hessian, a preconditioner) still see the user's own.
    args = Arguments(args, closed_over)

    def full_energy(x, params):
        theta, args = params
        return rebuild(energy_skeleton, args.closed_over)(x, theta, *args)

    def fn(x_flat, params):
        value = full_energy(unravel(x_flat), params)
        if jnp.ndim(value) != 0:
            raise CalibTypeError(f"equilibrium: energy must return a scalar, got shape "
                                 f"{jnp.shape(value)}")
        return value

    x_flat, stats = adjoint.solve(fn, solver, x0_flat, (theta, args), throw=throw,
                                  warn=warn and not throw, unravel=unravel,
                                  options=(solver_options, adjoint_options))
    adjoint = merge_options(adjoint, adjoint_options)
    result = stats.result
    dtype = x_flat.dtype

    nan = jnp.full((), jnp.nan, dtype)
    min_eig, max_eig = nan, nan
    if check_stability is not False:
        x_fixed = jax.lax.stop_gradient(x_flat)
        params = jax.lax.stop_gradient((theta, args))
        basis = adjoint.nullspace_basis(x_fixed, unravel)

        def spectrum(iterations):
            _, hvp = jax.linearize(lambda y: jax.grad(fn)(y, params), x_fixed)
            return lanczos_extremes(hvp, x_flat.shape[0], dtype, iterations, basis)

        if check_stability:
            min_eig, max_eig = spectrum(stability_iterations)
            checked = jnp.asarray(True)
        else:
            # A start that is already stationary (no step taken) may be a saddle or a maximum: the
            # force test cannot tell, and a symmetric start is common (a perfect crystal, a centred
            # load). A short probe there costs a few Hessian-vector products, once.
            checked = (stats.steps == 0) & (result == RESULTS.successful)
            min_eig, max_eig = jax.lax.cond(
                checked, lambda: spectrum(min(_PROBE_ITERATIONS, stability_iterations)),
                lambda: (nan, nan))
        finite = jnp.isfinite(min_eig) & jnp.isfinite(max_eig)
        # Negative beyond round-off relative to the stiffest mode: a saddle.
        saddle = min_eig < -jnp.sqrt(jnp.finfo(dtype).eps) * jnp.abs(max_eig)
        ok = result == RESULTS.successful
        result = jnp.where(ok & checked & ~finite, RESULTS.unstable_spectrum,
                           jnp.where(ok & checked & saddle, RESULTS.saddle_point, result))

    if throw:
        messages = [RESULTS.message(c, dtype) for c in range(max(RESULTS.codes()) + 1)]
        x_flat = eqx.branched_error_if(x_flat, result != RESULTS.successful, result, messages)
    elif warn:
        jax.debug.callback(functools.partial(warn_forward, dtype=str(dtype), site=call_site()),
                           result)

    x = unravel(x_flat)
    value = (envelope_energy(full_energy, x, (theta, args)) if adjoint.envelope
             else full_energy(x, (theta, args)))
    return Solution(x=x, energy=value, steps=stats.steps, max_force=stats.max_force,
                    result=result.astype(jnp.int32), min_eigenvalue=min_eig, max_eigenvalue=max_eig,
                    ift_residual=stats.ift_residual)


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
