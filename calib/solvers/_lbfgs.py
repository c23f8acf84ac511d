"""Limited-memory BFGS with a backtracking line search."""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._result import RESULTS
from ._base import (AbstractSolver, accept_step, backtrack, check_positive, hold_when_converged,
                    safe_divide, safe_norm)
from .._errors import CalibValueError


class LBFGSState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array
    s_history: jax.Array  # (m, n), oldest first
    y_history: jax.Array  # (m, n)
    rho: jax.Array  # (m,), 1 / (s . y); 0 marks an empty slot
    n_evaluations: jax.Array
    # The last failed line search ended on a NaN/inf trial energy (e.g. a stale neighbour list, a
    # parameter out of range): a stagnation caused by non-finite values, not by round-off.
    trial_nonfinite: jax.Array


def _gamma(s_hist, y_hist):
    """Scale of the initial inverse Hessian, s.y / y.y of the newest pair."""
    return safe_divide(jnp.vdot(s_hist[-1], y_hist[-1]), jnp.vdot(y_hist[-1], y_hist[-1]))


def two_loop(s_hist, y_hist, rho, v, gamma, initial=None):
    """The L-BFGS inverse-Hessian approximation applied to ``v`` (Nocedal & Wright, Alg. 7.4).

    ``s_hist``, ``y_hist``: shape ``(m, n)``, oldest first; ``rho = 1/(s.y)`` with 0 for empty slots;
    the initial matrix is ``gamma * initial`` (``initial``: a linear map, the identity if ``None``).
    """

    def newest_first(q, sy_rho):
        s, y, r = sy_rho
        a = r * jnp.vdot(s, q)
        return q - a * y, a

    q, alphas = lax.scan(newest_first, v, (s_hist, y_hist, rho), reverse=True)

    def oldest_first(r_vec, sy_rho_a):
        s, y, r, a = sy_rho_a
        b = r * jnp.vdot(y, r_vec)
        return r_vec + (a - b) * s, None

    start = gamma * (q if initial is None else initial(q))
    return lax.scan(oldest_first, start, (s_hist, y_hist, rho, alphas))[0]


def inverse_hessian_apply(curvature, v):
    """Apply the L-BFGS approximation of :math:`H^{-1}` held in ``curvature`` (from
    :meth:`LBFGS.curvature`) to ``v``; the identity when no pair is stored."""
    s_hist, y_hist, rho = curvature
    gamma = jnp.where(rho[-1] != 0, _gamma(s_hist, y_hist), 1.0)
    return two_loop(s_hist, y_hist, rho, v, gamma)


@dataclasses.dataclass(frozen=True)
class LBFGS(AbstractSolver):
    r"""L-BFGS (Nocedal, Math. Comp. 35, 773, 1980; Liu & Nocedal 1989) with a backtracking line search.

    The search direction :math:`p = -H_k \nabla E` comes from the two-loop recursion over the last
    ``history`` pairs :math:`(s, y)`, with :math:`H_0 = (s\cdot y / y\cdot y) I`, or
    :math:`H_0 = (s\cdot y / y\cdot My)\,M` with a ``preconditioner`` :math:`M \approx H^{-1}`.
    The step length
    starts at 1 and is halved until the Armijo condition
    :math:`E(x+tp) \le E(x) + c_1 t\,\nabla E\cdot p` holds, or the *approximate* Wolfe condition of
    Hager & Zhang (SIAM J. Optim. 16, 170, 2005) does; the latter accepts steps whose energy change is
    below round-off, which is what lets the force reach tight tolerances. A pair with
    :math:`s\cdot y \le 0` is not stored; a failed line search clears the history and retries along
    the steepest descent; a failed steepest-descent search is reported as ``stagnated``.

    The step length is piecewise constant in :math:`\theta`, so unrolled differentiation treats it
    as a constant and differentiates the direction (an exact derivative almost everywhere).

    Attributes:
        history: number of stored pairs ``m``.
        max_step_size: largest component of a step's displacement (``None``: no limit). For atoms,
            0.2 Å is a safe choice.
        max_linesearch_steps: backtracking halvings before the line search gives up.
        armijo: the sufficient-decrease constant :math:`c_1`.
        preconditioner: ``None``, or a hashable callable ``preconditioner(params, v) -> M v`` with
            ``M`` a fixed symmetric positive-definite approximation of :math:`H^{-1}` acting on the
            flattened state (``params = (theta, args)`` of the solve). A good ``M`` makes the number
            of steps independent of the system size when :math:`H` is an ill-conditioned
            discrete-Laplacian-like operator (e.g. the elastic field of a defect; Packwood et al.,
            J. Chem. Phys. 144, 164109, 2016). It acts on the forward solve only.
    """

    history: int = 10
    max_step_size: float | None = None
    max_linesearch_steps: int = 30
    armijo: float = 1e-4
    preconditioner: Callable | None = None

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "max_step_size", "armijo")

    def __post_init__(self):
        super().__post_init__()
        check_positive("LBFGS", "history", self.history, integer=True)
        check_positive("LBFGS", "max_step_size", self.max_step_size, allow_none=True)
        check_positive("LBFGS", "max_linesearch_steps", self.max_linesearch_steps, integer=True)
        if not 0 < self.armijo < 0.5:
            raise CalibValueError(f"LBFGS: armijo must lie in (0, 0.5), got {self.armijo!r}")

    def init(self, fn, x0, params):
        value, grad = jax.value_and_grad(fn)(x0, params)
        m, n = self.history, x0.shape[0]
        zeros = jnp.zeros((m, n), x0.dtype)
        return LBFGSState(x0, value, grad, jnp.asarray(0), jnp.asarray(False), zeros, zeros,
                          jnp.zeros((m,), x0.dtype), jnp.asarray(1), jnp.asarray(False))

    def _direction(self, state, params):
        """Two-loop recursion: ``-H g``."""
        have = state.rho[-1] != 0
        initial = None
        if self.preconditioner is not None:
            initial = lambda v: self.preconditioner(params, v)  # noqa: E731
        # No curvature yet: a first step of unit length at most.
        first = 1.0 / jnp.maximum(1.0, safe_norm(state.grad))
        if initial is None:
            scale = _gamma(state.s_history, state.y_history)
        else:
            s, y = state.s_history[-1], state.y_history[-1]
            scale = safe_divide(jnp.vdot(s, y), jnp.vdot(y, initial(y)))
        gamma = jnp.where(have, scale, first)
        r_vec = two_loop(state.s_history, state.y_history, state.rho, state.grad, gamma, initial)
        p = -r_vec
        # Fall back to steepest descent if round-off made the direction uphill.
        p = jnp.where(jnp.vdot(p, state.grad) < 0, p, -gamma * state.grad)
        if self.max_step_size is not None:
            largest = jnp.max(jnp.abs(p))
            p = p * jnp.minimum(1.0, safe_divide(self.max_step_size, largest) + (largest == 0))
        return p

    def result(self, state):
        """As the base class, but a stagnation whose last line search met only NaN/inf energies is
        reported as ``nonfinite`` (the energy is undefined nearby), not as round-off."""
        base = super().result(state)
        return jnp.where((base == RESULTS.stagnated) & state.trial_nonfinite, RESULTS.nonfinite,
                         base).astype(jnp.int32)

    def curvature(self, state):
        """The stored (s, y) pairs: an approximation of the inverse Hessian at the solution."""
        return (state.s_history, state.y_history, state.rho)

    def precondition(self, curvature, v):
        return inverse_hessian_apply(curvature, v)

    def _line_search(self, fn, x, value, grad, p, params):
        """Backtracking; returns the step length, the energy and gradient there, and success."""
        slope = jnp.vdot(grad, p)
        noise = 100 * jnp.finfo(value.dtype).eps * jnp.abs(value)

        def acceptable(t, f_t, g_t):
            armijo = f_t <= value + self.armijo * t * slope
            # Approximate Wolfe (Hager-Zhang, delta = 0.1): energy unchanged within round-off and the
            # slope at t not steeply uphill.
            approx = (f_t <= value + noise) & (jnp.vdot(g_t, p) <= -0.8 * slope)
            return jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t)) & (armijo | approx)

        t, f_t, g_t, n_eval = backtrack(fn, x, p, params, acceptable, self.max_linesearch_steps)
        return t, f_t, g_t, acceptable(t, f_t, g_t), n_eval

    def step(self, fn, state, params, differentiable):
        p = self._direction(state, params)
        frozen = lax.stop_gradient((state.x, state.value, state.grad, p, params))
        t, f_t, g_t, ok, n_eval = self._line_search(fn, *frozen)
        x_new, f_new, g_new = accept_step(fn, state, p, t, f_t, g_t, ok, params, differentiable)

        s = x_new - state.x
        y = g_new - state.grad
        sy = jnp.vdot(s, y)
        # Keep a pair only with clearly positive curvature (a discrete choice: no gradient through it).
        s0, y0, sy0 = lax.stop_gradient((s, y, sy))
        store = ok & (sy0 > 1e-10 * jnp.sqrt(jnp.vdot(s0, s0) * jnp.vdot(y0, y0)))
        had_history = state.rho[-1] != 0

        def push(hist, v):
            return jnp.concatenate([hist[1:], v[None]], axis=0)

        s_hist = jnp.where(store, push(state.s_history, s), state.s_history)
        y_hist = jnp.where(store, push(state.y_history, y), state.y_history)
        rho = jnp.where(store, push(state.rho, safe_divide(1.0, sy)), state.rho)
        # A failed search with history: forget it and retry along -grad. Without history: stuck.
        rho = jnp.where(ok, rho, jnp.zeros_like(rho))
        stalled = (~ok) & (~had_history)
        trial_nonfinite = (~ok) & ~(jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t)))
        new = LBFGSState(x_new, f_new, g_new, state.n_steps + 1, stalled, s_hist, y_hist, rho,
                         state.n_evaluations + n_eval, lax.stop_gradient(trial_nonfinite))
        return hold_when_converged(self, state, new)
