r"""Newton's method on an assembled sparse tangent, for finite-element-sized problems."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._errors import CalibTypeError, CalibValueError
from .._result import RESULTS
from ..sparse._factor import METHODS, Status, resolve_method
from ..sparse._hessian import SparseHessian
from ..sparse._solve import host_solve, host_solve_near, tangent_solve
from ._base import AbstractSolver, accept_step, backtrack, check_positive

# A step on a singular tangent that lowers max |force| by less than this factor makes no progress
# towards an equilibrium (a load on a free rigid-body motion has none): the solve stops there.
_SINGULAR_PROGRESS = 0.9


class SparseNewtonState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array
    tangent: jax.Array  # (nnz,) values of the last tangent matrix solved with (cached on the host)
    initial_force: jax.Array  # max |g(x0)|, the scale of the relative tolerance
    n_linear: jax.Array  # Krylov iterations so far (0 for direct solves)
    status: jax.Array  # int32 calib.sparse.Status of the last host solve (0: OK)


@dataclasses.dataclass(frozen=True)
class SparseNewton(AbstractSolver):
    r"""Newton's method with the tangent :math:`H = \nabla^2 E` assembled as a sparse matrix.

    Each step assembles :math:`H(x_k)` from ``hessian.values`` (JAX), solves
    :math:`H\,\delta = -\nabla E` on the host (sparse LU / Cholesky, or AMG-preconditioned CG) and
    takes the longest step :math:`x_k + t\delta`, :math:`t = 1, 1/2, 1/4, \dots`, at which the energy
    is finite and either decreases (Armijo) or the force norm decreases (which keeps the quadratic
    convergence when the energy change is below round-off). An infinite or NaN energy — an inverted
    element, :math:`\det F \le 0`, a soil state beyond its tension limit — is thereby rejected.
    Converged when :math:`\max|\nabla E| \le \max(\mathrm{tol}, \mathrm{rtol}\,\max|\nabla E(x_0)|)`.

    The factorisation of the last tangent stays in a cache: :class:`calib.Implicit` uses it as the
    preconditioner of its conjugate-gradient adjoint solve (``precondition`` defaults to on for this
    solver), so the backward pass costs one back-substitution for a linear problem and two or three
    (the tangent of the last step differs from the one at the solution by the last step's size)
    for a nonlinear one.

    Failures of the linear algebra are reported as such (``Solution.result``), never as a bad start
    or non-finite energy: a factorisation that breaks down even with a diagonal shift, or an
    AMG-CG solve stopped at ``max_linear_steps`` in a solve that then fails to converge, gives
    ``RESULTS.linear_solve_failed``; a numerically singular tangent on which the shifted steps make
    no progress (a body without enough supports under a load on its free motion) stops the solve
    with ``RESULTS.singular``. :func:`calib.sparse.statistics` counts the host work.

    Under ``jax.vmap`` the host receives the batch in one call and skips members that have
    finished; the factorisation cache grows to hold every member's, so the adjoint reuses them.

    Attributes:
        hessian: the :class:`calib.SparseHessian` of the energy (pattern and values). The state must
            be the flat vector of its size.
        rtol: relative force tolerance (see above); ``0`` for the absolute ``tol`` only.
        method: ``"auto"`` (direct below ``amg_threshold`` unknowns, AMG-CG above), ``"superlu"``,
            ``"cholmod"`` (needs scikit-sparse) or ``"amg"`` (needs pyamg).
        linear_rtol: relative residual of the AMG-CG solves (ignored by direct methods).
        max_linear_steps: CG iteration limit per solve.
        amg_threshold: the size from which ``"auto"`` switches to AMG-CG.
        max_backtracks: halvings of the step before a line search gives up (reported as stagnation).
    """

    hessian: SparseHessian | None = None
    rtol: float = 1e-10
    method: str = "auto"
    linear_rtol: float = 1e-10
    max_linear_steps: int = 2000
    amg_threshold: int = 200_000
    max_backtracks: int = 30
    max_steps: int = 50

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.hessian, SparseHessian):
            raise CalibTypeError(f"SparseNewton: hessian must be a calib.SparseHessian (pattern and values "
                                 f"of the energy's Hessian), got {self.hessian!r}")
        if self.method not in METHODS:
            raise CalibValueError(f"SparseNewton: method must be one of {METHODS}, got {self.method!r}")
        if not (isinstance(self.rtol, (int, float)) and 0 <= self.rtol < 1):
            raise CalibValueError(f"SparseNewton: rtol must be in [0, 1), got {self.rtol!r}")
        check_positive("SparseNewton", "linear_rtol", self.linear_rtol)
        check_positive("SparseNewton", "max_linear_steps", self.max_linear_steps, integer=True)
        check_positive("SparseNewton", "amg_threshold", self.amg_threshold, integer=True)
        check_positive("SparseNewton", "max_backtracks", self.max_backtracks, integer=True)

    prefers_preconditioned_adjoint: ClassVar[bool] = True

    @property
    def resolved_method(self) -> str:
        return resolve_method(self.method, self.hessian.size, self.amg_threshold)

    def _host_args(self):
        return self.hessian, self.resolved_method, self.linear_rtol, self.max_linear_steps

    def _solve(self, values, b, differentiable, active):
        """The Newton step: ``(p, Krylov iterations, status)``; zero where not ``active``."""
        if differentiable:
            return tangent_solve(*self._host_args(), values, b, active)
        return host_solve(*self._host_args(), lax.stop_gradient(values), b, active)

    def tolerance(self, state):
        return jnp.maximum(self.absolute_tolerance(state), self.rtol * state.initial_force)

    def init(self, fn, x0, params):
        if x0.ndim != 1 or x0.shape[0] != self.hessian.size:
            raise CalibValueError(f"SparseNewton: the state must be a flat vector of the Hessian's size "
                                  f"{self.hessian.size}, got shape {x0.shape}")
        value, grad = jax.value_and_grad(fn)(x0, params)
        # No tangent yet (all zeros): it is assembled by the first step, or by adjoint_curvature
        # when the start already satisfies the tolerance.
        tangent = jnp.zeros(self.hessian.nnz, x0.dtype)
        force = lax.stop_gradient(jnp.max(jnp.abs(grad), initial=0.0))
        zero = jnp.asarray(0, jnp.int32)
        return SparseNewtonState(x0, value, grad, zero, jnp.asarray(False), tangent, force, zero,
                                 zero)

    def _line_search(self, fn, x, value, grad, p, params):
        slope = jnp.vdot(grad, p)
        grad_norm = jnp.linalg.norm(grad)

        def acceptable(t, f_t, g_t):
            finite = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t))
            armijo = f_t <= value + 1e-4 * t * slope
            residual = jnp.linalg.norm(g_t) <= (1 - 1e-4 * t) * grad_norm
            return finite & (armijo | residual)

        t, f_t, g_t, _ = backtrack(fn, x, p, params, acceptable, self.max_backtracks)
        ok = acceptable(t, f_t, g_t) & jnp.all(jnp.isfinite(p))
        return t, f_t, g_t, ok

    def step(self, fn, state, params, differentiable):
        theta, args = params
        # A finished state (converged, stalled, non-finite) is held; under vmap the loop still runs
        # for it until the last member finishes, so its host solve is skipped.
        done = lax.stop_gradient(self.finished(state))
        values = self.hessian.values(state.x, theta, *args)
        p, iterations, status = self._solve(values, -state.grad, differentiable, ~done)
        frozen = lax.stop_gradient((state.x, state.value, state.grad, p, params))
        t, f_t, g_t, ok = self._line_search(fn, *frozen)
        x_new, f_new, g_new = accept_step(fn, state, p, t, f_t, g_t, ok, params, differentiable)
        force = jnp.max(jnp.abs(lax.stop_gradient(state.grad)), initial=0.0)
        new_force = jnp.max(jnp.abs(lax.stop_gradient(g_new)), initial=0.0)
        drifting = (status == Status.SINGULAR) & ~(new_force < _SINGULAR_PROGRESS * force)
        new = SparseNewtonState(x_new, f_new, g_new, state.n_steps + 1, ~ok | drifting,
                                lax.stop_gradient(values), state.initial_force,
                                state.n_linear + iterations, status)
        held = jax.tree.map(lambda n, o: jnp.where(done, o, n), new, state)
        return held._replace(n_steps=new.n_steps)

    def result(self, state):
        """The base classification, except that an unconverged solve whose last linear solve
        failed, stopped unconverged or met a singular tangent says so."""
        base = super().result(state)
        status = state.status
        own = jnp.where(status == Status.SINGULAR, RESULTS.singular, RESULTS.linear_solve_failed)
        keep = self.converged(state) | (status == Status.OK)
        return jnp.where(keep, base, own).astype(jnp.int32)

    def curvature(self, state):
        """The values of the last tangent matrix; its factorisation is in the host cache."""
        return state.tangent

    def adjoint_curvature(self, curvature, x, params):
        """The last factorised tangent, or the one at ``x`` if no step was taken; with AMG also the
        tangent at the solution, so the adjoint's inner CG solves with it exactly."""
        theta, args = params

        def at_solution():
            return self.hessian.values(x, theta, *args)

        stepped = jnp.any(curvature != 0)
        if self.resolved_method != "amg":
            return lax.cond(stepped, lambda: curvature, at_solution)
        current = at_solution()
        return jnp.where(stepped, curvature, current), current

    def precondition(self, curvature, v):
        """Solve with the last tangent's factorisation (a cache hit after a solve): nearly the
        inverse of the tangent at the solution; with AMG, CG on that tangent itself."""
        if isinstance(curvature, tuple):
            stale, current = curvature
            return host_solve_near(*self._host_args(), stale, current, v)[0]
        # Not a Newton step: the plain inverse of the factorised tangent, no descent shift. A
        # failure gives NaN, which the adjoint's true-residual check reports as unconverged.
        return host_solve(*self._host_args(), lax.stop_gradient(curvature), v, descent=False)[0]
