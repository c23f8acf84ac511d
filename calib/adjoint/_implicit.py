r"""Implicit differentiation of an equilibrium (the implicit function theorem).

At a minimum :math:`g(x^*, \theta) = \nabla_x E(x^*, \theta) = 0`. Differentiating this identity,

.. math:: H\,\dot x = -\partial_\theta g\,\dot\theta, \qquad H = \nabla_x^2 E(x^*, \theta),

so the tangent :math:`\dot x` costs one linear solve with the Hessian, whatever the number of solver
steps. It is written as a ``custom_jvp`` whose solve is a ``lax.custom_linear_solve`` with a
*symmetric* operator: JAX transposes it for reverse mode, so ``jvp``, ``jacfwd``, ``grad`` and
``jacrev`` all work and all cost one solve per tangent/cotangent.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._diagnostics import call_site, report_adjoint
from .._options import merge_options
from .._spectrum import orthonormal_columns, translation_modes
from ..linear_solve import CG, GMRES, AbstractLinearSolver, NeumannSeries
from ._base import AbstractAdjoint, stats_of, zero_tangent
from .._errors import CalibTypeError, CalibValueError


def _check_nullspace(nullspace):
    if nullspace is None or callable(nullspace) or (isinstance(nullspace, str)
                                                    and nullspace == "translations"):
        return
    if isinstance(nullspace, (jax.Array, np.ndarray)) and nullspace.ndim in (1, 2):
        return
    raise CalibTypeError(
        f"nullspace must be None, 'translations', a fixed basis array of shape (k, n) or a callable "
        f"x -> modes of shape (k, n), got {nullspace!r}")


def _basis(nullspace, x_flat, unravel):
    if nullspace is None:
        return None
    if isinstance(nullspace, str):
        modes = translation_modes(unravel(x_flat))
    elif callable(nullspace):
        modes = nullspace(unravel(x_flat))
    else:  # a fixed basis (traced data, see calib._options)
        modes = nullspace
    return lax.stop_gradient(orthonormal_columns(modes, x_flat.shape[0], "nullspace"))


def _projected(hvp, basis):
    """The operator ``P H P + Q Q^T``: equal to ``H`` off the null space, the identity on it, so it
    is non-singular when ``span(Q)`` is exactly the null space of ``H``."""
    if basis is None:
        return hvp, (lambda v: v)

    def project(v):
        return v - basis @ (basis.T @ v)

    return (lambda v: project(hvp(project(v))) + basis @ (basis.T @ v)), project


def _reported(report, dtype, *values):
    """Call ``report(*values)`` on the host and return a unit scalar of ``dtype`` that depends on
    it (one call per vmap member, as a debug callback makes)."""
    def host(*arrays):
        report(*arrays)
        return np.ones((), dtype)

    return jax.pure_callback(host, jax.ShapeDtypeStruct((), dtype), *values,
                             vmap_method="sequential")


def reported_solve(operator, rhs, linear_solver, preconditioner, *, symmetric: bool, throw: bool,
                   warn: bool, forward_result):
    """``operator^{-1} rhs`` as a ``lax.custom_linear_solve`` whose every solve (and, for reverse
    mode, every transposed solve: JAX transposes ``operator`` itself) is reported to
    :func:`calib.record_adjoints`, warned about or raised on (``throw``)."""
    name = type(linear_solver).__name__
    site = call_site()

    def solve(matvec, b):
        v, info = linear_solver.solve(matvec, b, preconditioner)
        negative = jnp.asarray(info.negative_curvature)
        # The report is a *pure* callback whose (unit) result scales the solution, so it happens
        # exactly when the solution is used: a tangent nobody reads (the positions of a relaxation
        # of which only the energy is used, differentiated by the envelope theorem) is removed by
        # dead-code elimination together with its linear solve. A debug callback is an effect and
        # would keep the solve alive: P wasted solves in every jacfwd of a relaxed energy.
        v = v * _reported(functools.partial(report_adjoint, name, warn, site=site), v.dtype,
                          info.residual, info.iterations, info.converged, forward_result, negative)
        if throw:
            v = eqx.error_if(
                v, negative,
                f"adjoint linear solve ({name}) met negative curvature (p.Hp <= 0): the equilibrium "
                "is a saddle point, not a minimum, and its implicit gradient describes an unstable "
                "state. Perturb x0, or pass the energy's zero modes as Implicit(nullspace=...).")
            v = eqx.error_if(
                v, ~info.converged,
                f"adjoint linear solve ({name}) did not reach its tolerance; the gradient would be "
                "inexact. Raise max_steps, loosen tol, or use another linear solver (MINRES/Dense "
                "if the Hessian is indefinite, GMRES/Dense for a fixed point).")
        return v

    if symmetric:
        return lax.custom_linear_solve(operator, rhs, solve, symmetric=True)
    return lax.custom_linear_solve(operator, rhs, solve, transpose_solve=solve)


def hessian_solve(hvp, rhs, linear_solver, basis, preconditioner, *, throw: bool, warn: bool,
                  forward_result):
    """Solve ``H v = rhs`` on the complement of the null space, reporting the solve."""
    operator, project = _projected(hvp, basis)
    if preconditioner is not None:
        preconditioner, _ = _projected(preconditioner, basis)
    v = reported_solve(operator, project(rhs), linear_solver, preconditioner, symmetric=True,
                       throw=throw, warn=warn, forward_result=forward_result)
    return project(v)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4, 5, 6))
def _solve(fn, solver, adjoint, unravel, precondition, throw, warn, x0, params, options):
    # ``solver`` and ``adjoint`` are static; their numeric options arrive as data in ``options``
    # (a tracer may not hide inside a static argument of a custom_jvp).
    solver = merge_options(solver, options[0])
    state = solver.run(fn, x0, params)
    curvature = solver.curvature(state) if precondition else None
    return state.x, stats_of(solver, state), curvature


@_solve.defjvp
def _solve_jvp(fn, solver, adjoint, unravel, precondition, throw, warn, primals, tangents):
    x0, params, options = primals
    _, params_dot, _ = tangents
    x, stats, curvature = _solve(fn, solver, adjoint, unravel, precondition, throw, warn, x0,
                                 params, options)
    solver = merge_options(solver, options[0])
    adjoint = merge_options(adjoint, options[1])
    grad_x = jax.grad(fn)
    # Right-hand side: -(d/dtheta grad_x E) . theta_dot, one jvp of the gradient.
    _, mixed = jax.jvp(lambda p: grad_x(x, p), (params,), (params_dot,))
    _, hvp = jax.linearize(lambda y: grad_x(y, params), x)
    preconditioner = None
    if curvature is not None:
        at_solution = solver.adjoint_curvature(lax.stop_gradient(curvature), lax.stop_gradient(x),
                                               lax.stop_gradient(params))
        preconditioner = functools.partial(solver.precondition, at_solution)
    x_dot = hessian_solve(hvp, -mixed, adjoint.adjoint_linear_solver,
                          adjoint.nullspace_basis(x, unravel), preconditioner, throw=throw,
                          warn=warn, forward_result=stats.result)
    tangent_out = (x_dot, jax.tree.map(zero_tangent, stats), jax.tree.map(zero_tangent, curvature))
    return (x, stats, curvature), tangent_out


@dataclasses.dataclass(frozen=True)
class Implicit(AbstractAdjoint):
    r"""Gradients by the implicit function theorem: one Hessian solve per (co)tangent.

    Time: one linear solve (``k`` Hessian-vector products for CG, each about two gradient costs),
    independent of how many steps the forward solve took. Memory: that of a few gradients, flat in
    the number of solver steps. Exact up to the solver and linear-solver tolerances, at a strict
    minimum (see ``check_stability`` in :func:`calib.equilibrium`).

    Attributes:
        linear_solver: for :func:`calib.equilibrium`, :class:`calib.CG` (the default, ``None``;
            matrix-free), :class:`calib.MINRES` (symmetric indefinite) or :class:`calib.Dense`
            (forms the Hessian; small systems); for :func:`calib.fixed_point`, whose
            :math:`I - \partial F/\partial z` is not symmetric, :class:`calib.GMRES` (the default),
            :class:`calib.BiCGStab` or :class:`calib.Dense` (LU).
        nullspace: known zero modes of the Hessian to project out: ``None``, ``"translations"``
            (rigid translations of an ``(N, d)`` position array, as in a periodic crystal), a fixed
            basis: an array of shape ``(k, n)`` in the flattened order of ``x`` (passed to the
            compiled solve as data), or a callable ``x -> modes`` returning such an array. The returned tangent is orthogonal to these modes.
        precondition: precondition CG with the curvature the forward solver gathered (the L-BFGS
            pairs at the solution approximate :math:`H^{-1}`; :class:`calib.SparseNewton` keeps the
            factorisation of its last tangent, nearly the exact inverse); ignored by other linear
            solvers and by solvers that gather none. ``None`` (default) asks the solver: on for
            :class:`calib.SparseNewton`, off for L-BFGS (on the vacancy-crystal benchmark its
            10-pair matrix did not lower the CG iteration count: 61 vs 59 at tol 1e-10).
    """

    envelope: ClassVar[bool] = True
    linear_solver: AbstractLinearSolver | None = None
    nullspace: str | Callable | None = None
    precondition: bool | None = None

    def __post_init__(self):
        if self.linear_solver is not None and not isinstance(self.linear_solver,
                                                             (AbstractLinearSolver, NeumannSeries)):
            raise CalibTypeError(
                f"Implicit: linear_solver must be a linear solver such as calib.CG(), calib.MINRES() "
                f"or calib.Dense(), got {self.linear_solver!r}")
        _check_nullspace(self.nullspace)

    def nullspace_basis(self, x_flat, unravel):
        return _basis(self.nullspace, x_flat, unravel)

    @property
    def adjoint_linear_solver(self):
        return CG() if self.linear_solver is None else self.linear_solver

    @property
    def fixed_point_linear_solver(self):
        r"""The linear solver for :math:`I - \partial F/\partial z` (not symmetric)."""
        if self.linear_solver is None:
            return GMRES()
        if self.linear_solver.symmetric_only:
            raise CalibValueError(
                f"Implicit: linear_solver={self.linear_solver!r} needs a symmetric operator, but the "
                "adjoint of a fixed point solves with I - dF/dz, which is not symmetric; use "
                "calib.GMRES(), calib.BiCGStab() or calib.Dense() (LU), or leave it None (GMRES)")
        return self.linear_solver

    def solve(self, fn, solver, x0, params, *, throw, warn=True, unravel, options=({}, {})):
        precondition = (solver.prefers_preconditioned_adjoint if self.precondition is None
                        else bool(self.precondition))
        x, stats, _ = _solve(fn, solver, self, unravel, precondition, throw, warn, x0, params,
                             options)
        return x, stats

    def solve_fixed_point(self, F, solver, z0, params, *, throw, warn, options=({}, {})):
        if self.nullspace is not None:
            raise CalibValueError("Implicit: nullspace= applies to the Hessian of an energy; a "
                                  "fixed point's I - dF/dz has no declared zero modes")
        self.fixed_point_linear_solver  # noqa: B018 (refuses a symmetric-only solver now)
        from ._fixed_point import solve_implicit

        return solve_implicit(self, F, solver, z0, params, throw=throw, warn=warn,
                              options=options)


@dataclasses.dataclass(frozen=True)
class Neumann(AbstractAdjoint):
    r"""Implicit gradient with :math:`H^{-1}` replaced by the truncated Neumann series
    :math:`\alpha \sum_{k<K} (I - \alpha H)^k`.

    It equals backpropagation through ``K`` gradient-descent steps of size :math:`\alpha` taken at
    the solution, and tends to :class:`Implicit` as ``K`` grows, with error
    :math:`\sim (1-\alpha\lambda_{min})^K`. Cost: ``K`` Hessian-vector products, memory flat in ``K``.

    For :func:`calib.fixed_point` it is :math:`\alpha\sum_{k<K}(I - \alpha(I - J))^k`,
    :math:`J = \partial F/\partial z`, with :math:`\alpha = 1` by default: :math:`\sum_{k<K} J^k`,
    backpropagation through ``K`` iterations of ``F`` started at the fixed point.

    Attributes:
        terms: ``K``.
        step: :math:`\alpha`; ``None`` takes :math:`1/\lambda_{max}` estimated by Lanczos at the
            solution (1 for a fixed point). Must be below :math:`2/\lambda_{max}` for the series
            to converge.
        nullspace: as in :class:`Implicit`.
    """

    terms: int = 100
    step: float | None = None
    nullspace: str | Callable | None = None

    traced_options: ClassVar[tuple[str, ...]] = ("step",)

    def __post_init__(self):
        NeumannSeries(self.terms, 1.0 if self.step is None else self.step)  # validates
        _check_nullspace(self.nullspace)

    def nullspace_basis(self, x_flat, unravel):
        return _basis(self.nullspace, x_flat, unravel)

    def _series(self, step) -> NeumannSeries:
        series = object.__new__(NeumannSeries)  # the step may be traced here: no re-validation
        object.__setattr__(series, "terms", self.terms)
        object.__setattr__(series, "step", step)
        return series

    @property
    def adjoint_linear_solver(self):
        return self._series(self.step)

    @property
    def fixed_point_linear_solver(self):
        r""":math:`\sum_{k<K} J^k` (step 1 unless given), what backpropagation through ``K``
        iterations of ``F`` started at the fixed point computes."""
        return self._series(1.0 if self.step is None else self.step)

    def solve(self, fn, solver, x0, params, *, throw, warn=True, unravel, options=({}, {})):
        x, stats, _ = _solve(fn, solver, self, unravel, False, throw, warn, x0, params, options)
        return x, stats

    def solve_fixed_point(self, F, solver, z0, params, *, throw, warn, options=({}, {})):
        if self.nullspace is not None:
            raise CalibValueError("Neumann: nullspace= applies to the Hessian of an energy, not to "
                                  "a fixed point")
        from ._fixed_point import solve_implicit

        return solve_implicit(self, F, solver, z0, params, throw=throw, warn=warn,
                              options=options)
