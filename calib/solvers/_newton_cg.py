"""Truncated Newton: Hessian-vector products, Steihaug CG, a trust region."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._loops import bounded_while
from ._base import AbstractSolver, check_positive, hold_when_converged, safe_divide, safe_norm
from .._errors import CalibValueError


class NewtonCGState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array
    radius: jax.Array
    n_hvp: jax.Array


class _CGCarry(NamedTuple):
    z: jax.Array  # the step so far
    r: jax.Array  # model gradient g + H z
    d: jax.Array  # search direction
    hz: jax.Array  # H z, for the model decrease
    done: jax.Array
    n: jax.Array


@dataclasses.dataclass(frozen=True)
class NewtonCG(AbstractSolver):
    r"""Trust-region Newton–CG (Steihaug, SIAM J. Numer. Anal. 20, 626, 1983; Nocedal & Wright §7.1).

    Each step approximately minimises the quadratic model
    :math:`m(p) = \nabla E\cdot p + \tfrac12 p\cdot Hp` inside :math:`\|p\|\le\Delta` by conjugate
    gradients on Hessian-vector products (a ``jvp`` of the gradient; the Hessian is never formed).
    Negative curvature (:math:`d\cdot Hd \le 0`) sends the step to the trust-region boundary, so the
    method is safe away from a minimum. The CG tolerance follows the forcing sequence
    :math:`\min(1/2, \sqrt{\|g\|})\|g\|`, which gives superlinear convergence. The radius grows or
    shrinks with the ratio of actual to predicted energy decrease.

    Attributes:
        max_cg_steps: CG iterations per Newton step.
        initial_radius, max_radius: trust radius :math:`\Delta` at the start and its ceiling, in units
            of ``x`` (Euclidean norm over the whole state).
        eta: a step is accepted when actual/predicted decrease exceeds ``eta``.
    """

    max_cg_steps: int = 200
    initial_radius: float = 1.0
    max_radius: float = 100.0
    eta: float = 1e-4

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "initial_radius", "max_radius", "eta")

    def __post_init__(self):
        super().__post_init__()
        check_positive("NewtonCG", "max_cg_steps", self.max_cg_steps, integer=True)
        check_positive("NewtonCG", "initial_radius", self.initial_radius)
        check_positive("NewtonCG", "max_radius", self.max_radius)
        if not 0 <= self.eta < 0.25:
            raise CalibValueError(f"NewtonCG: eta must lie in [0, 0.25), got {self.eta!r}")
        if self.initial_radius > self.max_radius:
            raise CalibValueError(
                f"NewtonCG: initial_radius={self.initial_radius} exceeds max_radius={self.max_radius}")

    def init(self, fn, x0, params):
        value, grad = jax.value_and_grad(fn)(x0, params)
        return NewtonCGState(x0, value, grad, jnp.asarray(0), jnp.asarray(False),
                             jnp.asarray(self.initial_radius, value.dtype), jnp.asarray(0))

    def _steihaug(self, hvp, g, radius, differentiable):
        g_norm = safe_norm(g)
        cg_tol = lax.stop_gradient(jnp.minimum(0.5, jnp.sqrt(g_norm)) * g_norm)

        def to_boundary(z, d):
            zd, dd, zz = jnp.vdot(z, d), jnp.vdot(d, d), jnp.vdot(z, z)
            disc = jnp.maximum(zd**2 + dd * (radius**2 - zz), 0.0)
            return safe_divide(-zd + jnp.sqrt(disc), dd)

        def body(c: _CGCarry):
            hd = hvp(c.d)
            dhd = jnp.vdot(c.d, hd)
            rr = jnp.vdot(c.r, c.r)
            a = safe_divide(rr, dhd)
            z_next = c.z + a * c.d
            # Which branch is taken is a discrete decision: no gradient flows through it.
            leave = lax.stop_gradient((dhd <= 0) | (safe_norm(z_next) >= radius))
            tau = to_boundary(c.z, c.d)
            step = jnp.where(leave, tau, a)
            z = c.z + step * c.d
            hz = c.hz + step * hd
            r = c.r + step * hd
            small = lax.stop_gradient(safe_norm(r) <= cg_tol)
            beta = safe_divide(jnp.vdot(r, r), rr)
            d = -r + beta * c.d
            return _CGCarry(z, r, d, hz, leave | small, c.n + 1)

        zeros = jnp.zeros_like(g)
        start = _CGCarry(zeros, g, -g, zeros, lax.stop_gradient(g_norm <= cg_tol), jnp.asarray(0))
        out = bounded_while(lambda c: ~c.done, body, start, self.max_cg_steps, differentiable)
        return out.z, out.hz, out.n

    def step(self, fn, state, params, differentiable):
        grad_fn = jax.grad(fn)
        _, hvp = jax.linearize(lambda x: grad_fn(x, params), state.x)
        radius = lax.stop_gradient(state.radius)
        z, hz, n_hvp = self._steihaug(hvp, state.grad, radius, differentiable)

        predicted = -(jnp.vdot(state.grad, z) + 0.5 * jnp.vdot(z, hz))
        f_t, g_t = jax.value_and_grad(fn)(state.x + z, params)
        actual = state.value - f_t
        noise = 100 * jnp.finfo(state.value.dtype).eps * jnp.abs(state.value)
        ratio = safe_divide(actual, predicted)
        finite = jnp.isfinite(f_t) & jnp.all(jnp.isfinite(g_t))
        # Near convergence the energy change drowns in round-off; then accept a step that lowers the force.
        roundoff_ok = (jnp.abs(actual) <= noise) & (safe_norm(g_t) < safe_norm(state.grad))
        accept = lax.stop_gradient(finite & ((ratio > self.eta) | roundoff_ok))

        z_norm = lax.stop_gradient(safe_norm(z))
        ratio_sg = lax.stop_gradient(jnp.where(finite, ratio, -1.0))
        radius = jnp.where(
            (ratio_sg < 0.25) & ~roundoff_ok, 0.25 * jnp.minimum(z_norm, radius),
            jnp.where((ratio_sg > 0.75) & (z_norm >= 0.99 * radius),
                      jnp.minimum(2 * radius, self.max_radius), radius))

        x = jnp.where(accept, state.x + z, state.x)
        if differentiable:
            value, grad = jax.value_and_grad(fn)(x, params)
        else:
            value = jnp.where(accept, f_t, state.value)
            grad = jnp.where(accept, g_t, state.grad)
        scale = 1.0 + safe_norm(lax.stop_gradient(state.x))
        stalled = radius < 1e3 * jnp.finfo(radius.dtype).eps * scale
        new = NewtonCGState(x, value, grad, state.n_steps + 1, stalled, radius,
                            state.n_hvp + n_hvp + 1)
        return hold_when_converged(self, state, new)
