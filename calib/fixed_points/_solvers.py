r"""Solvers for a fixed point :math:`z^* = F(z^*, \theta)` of a general (non-gradient) map.

They share the interface and the machinery of the energy solvers (:class:`calib.AbstractSolver`:
``init``/``step``, the ``while_loop`` of ``run``, the ``scan`` of ``run_fixed`` that the unrolled
adjoints differentiate, the result codes), with the residual in the place of the gradient:

.. math:: g(z, \theta) = z - F(z, \theta), \qquad \text{converged when } \max_i |g_i| \le tol,

``state.value`` :math:`= \tfrac12\|g\|^2` and ``state.grad`` :math:`= g`. For an energy,
:math:`F(x) = x - \alpha\nabla E(x)` gives :math:`g = \alpha\nabla E`: gradient descent is the plain
iteration, and an equilibrium is the symmetric special case of a fixed point.

``fn`` is the map ``F(z, params) -> z`` on a flat ``z`` of shape ``(n,)``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._errors import CalibValueError
from ..solvers._base import AbstractSolver, check_positive, hold_when_converged


def residual(F, z, params):
    """``(g, F(z))`` with :math:`g = z - F(z, \\theta)`."""
    fz = F(z, params)
    return z - fz, fz


def _value(g):
    return 0.5 * jnp.vdot(g, g)


class IterationState(NamedTuple):
    x: jax.Array
    value: jax.Array  # 1/2 |g|^2
    grad: jax.Array  # g = z - F(z)
    n_steps: jax.Array
    stalled: jax.Array


@dataclasses.dataclass(frozen=True)
class AbstractFixedPointSolver(AbstractSolver):
    """A solver of :func:`calib.fixed_point` (``fn`` is the map ``F``, ``grad`` the residual
    :math:`g = z - F(z)`; ``tol`` bounds :math:`\\max_i |g_i|`, in the units of ``z``)."""

    def refresh(self, fn, state, params):
        """``state`` with its residual recomputed at ``params`` (after a ``stop_gradient``)."""
        g, _ = residual(fn, state.x, params)
        return state._replace(value=_value(g), grad=g)


@dataclasses.dataclass(frozen=True)
class FixedPointIteration(AbstractFixedPointSolver):
    r"""Damped (Krasnosel'skii–Mann) iteration :math:`z_{k+1} = (1-\beta) z_k + \beta F(z_k)`.

    Converges linearly, at the rate :math:`\rho(I - \beta(I - \partial F/\partial z))`, when that
    spectral radius is below 1 (for :math:`\beta = 1`: when :math:`F` contracts). Its unrolled
    derivative is the Neumann series of :math:`(I - \partial F/\partial z)^{-1}`, term by term.

    Attributes:
        damping: :math:`\beta \in (0, 1]` (1: plain iteration).
    """

    damping: float = 1.0

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "damping")

    def __post_init__(self):
        super().__post_init__()
        check_positive("FixedPointIteration", "damping", self.damping)
        if self.damping > 1:
            raise CalibValueError(f"FixedPointIteration: damping must be in (0, 1], got "
                                  f"{self.damping!r}")

    def init(self, fn, x0, params):
        g, _ = residual(fn, x0, params)
        return IterationState(x0, _value(g), g, jnp.asarray(0), jnp.asarray(False))

    def step(self, fn, state, params, differentiable):
        z = state.x - self.damping * state.grad
        g, _ = residual(fn, z, params)
        return IterationState(z, _value(g), g, state.n_steps + 1, state.stalled)


class AndersonState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array
    iterates: jax.Array  # (m, n): the last m iterates z_k (a ring buffer)
    residuals: jax.Array  # (m, n): their residuals g_k


@dataclasses.dataclass(frozen=True)
class Anderson(AbstractFixedPointSolver):
    r"""Anderson acceleration (Anderson, J. ACM 12, 547, 1965; type II as in Walker & Ni, SIAM J.
    Numer. Anal. 49, 1715, 2011).

    Keeps the last ``memory`` iterates :math:`z_i` and residuals :math:`g_i` and steps to

    .. math:: z_{k+1} = \sum_i c_i \bigl(z_i - \beta g_i\bigr), \qquad
              c = \arg\min_{\sum c_i = 1} \Bigl\|\sum_i c_i g_i\Bigr\|,

    the constrained least squares solved through its (``memory`` + 1)-square bordered normal
    equations with a Tikhonov term ``regularisation`` :math:`\times \|G^\top G\|`. With memory 1 it
    is the damped iteration; on a linear map it is equivalent to GMRES on :math:`(I - A) z = b`.

    Attributes:
        memory: ``m``, the number of past iterates mixed (default 5).
        damping: :math:`\beta \in (0, 1]`.
        regularisation: relative Tikhonov term of the least squares (keeps it solvable when the
            residual history is nearly dependent).
    """

    memory: int = 5
    damping: float = 1.0
    regularisation: float = 1e-10

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "damping", "regularisation")

    def __post_init__(self):
        super().__post_init__()
        check_positive("Anderson", "memory", self.memory, integer=True)
        check_positive("Anderson", "damping", self.damping)
        check_positive("Anderson", "regularisation", self.regularisation)
        if self.damping > 1:
            raise CalibValueError(f"Anderson: damping must be in (0, 1], got {self.damping!r}")

    def init(self, fn, x0, params):
        g, _ = residual(fn, x0, params)
        m, n = self.memory, x0.shape[0]
        iterates = jnp.zeros((m, n), x0.dtype).at[0].set(x0)
        residuals = jnp.zeros((m, n), x0.dtype).at[0].set(g)
        return AndersonState(x0, _value(g), g, jnp.asarray(0), jnp.asarray(False), iterates,
                             residuals)

    def refresh(self, fn, state, params):
        g, _ = residual(fn, state.x, params)
        slot = state.n_steps % self.memory
        return state._replace(value=_value(g), grad=g, residuals=state.residuals.at[slot].set(g))

    def step(self, fn, state, params, differentiable):
        m = self.memory
        filled = jnp.minimum(state.n_steps + 1, m)
        valid = jnp.arange(m) < filled
        G = jnp.where(valid[:, None], state.residuals, 0.0)
        gram = G @ G.T
        scale = jnp.maximum(jnp.max(jnp.abs(jnp.diag(gram))), jnp.finfo(G.dtype).tiny)
        # Unused slots get a unit diagonal and no coupling: their coefficients come out zero.
        gram = jnp.where(valid[:, None] & valid[None, :], gram, 0.0)
        gram = gram + jnp.diag(jnp.where(valid, self.regularisation * scale, scale))
        ones = valid.astype(G.dtype)
        bordered = jnp.block([[gram, ones[:, None]], [ones[None, :], jnp.zeros((1, 1), G.dtype)]])
        rhs = jnp.concatenate([jnp.zeros(m, G.dtype), jnp.ones(1, G.dtype)])
        c = jnp.linalg.solve(bordered, rhs)[:m]
        c = jnp.where(valid, c, 0.0)
        z = c @ (state.iterates - self.damping * G)
        # A singular history (NaN coefficients) falls back to the damped step.
        fallback = state.x - self.damping * state.grad
        z = jnp.where(jnp.all(jnp.isfinite(z)), z, fallback)
        g, _ = residual(fn, z, params)
        slot = (state.n_steps + 1) % m
        new = AndersonState(z, _value(g), g, state.n_steps + 1, state.stalled,
                            state.iterates.at[slot].set(z), state.residuals.at[slot].set(g))
        # Past convergence the history is round-off and its least squares ill-posed: an unrolled
        # derivative through it would blow up, so a converged state stays put.
        return hold_when_converged(self, state, new)


class NewtonKrylovState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array
    n_linear: jax.Array  # GMRES iterations so far


@dataclasses.dataclass(frozen=True)
class NewtonKrylov(AbstractFixedPointSolver):
    r"""Jacobian-free Newton–Krylov on :math:`g(z) = z - F(z) = 0` (Knoll & Keyes, J. Comput.
    Phys. 193, 357, 2004).

    Each step solves :math:`(I - \partial F/\partial z)\,p = -g` with GMRES on Jacobian-vector
    products (forward mode, no Jacobian is formed) to the relative ``forcing`` tolerance, then
    backtracks (halving, at most ``max_halvings`` times) until :math:`\|g\|` falls by the factor
    :math:`1 - 10^{-4} t`. Quadratic convergence near a non-singular solution, whatever the
    contraction of :math:`F`; a step that cannot reduce :math:`\|g\|` stops the solve
    (``stagnated``).

    Attributes:
        forcing: relative tolerance of each inner GMRES solve (default 1e-6).
        restart: GMRES Krylov dimension (default 20).
        linear_steps: GMRES iteration limit per Newton step (default 100).
        max_halvings: backtracking limit (default 20).
    """

    forcing: float = 1e-6
    restart: int = 20
    linear_steps: int = 100
    max_halvings: int = 20
    max_steps: int = 100

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "forcing")

    def __post_init__(self):
        super().__post_init__()
        check_positive("NewtonKrylov", "forcing", self.forcing)
        check_positive("NewtonKrylov", "restart", self.restart, integer=True)
        check_positive("NewtonKrylov", "linear_steps", self.linear_steps, integer=True)
        check_positive("NewtonKrylov", "max_halvings", self.max_halvings, integer=True)

    def init(self, fn, x0, params):
        g, _ = residual(fn, x0, params)
        return NewtonKrylovState(x0, _value(g), g, jnp.asarray(0), jnp.asarray(False),
                                 jnp.asarray(0))

    def step(self, fn, state, params, differentiable):
        from ..linear_solve import GMRES

        z, g = state.x, state.grad
        frozen = lax.stop_gradient((z, params))
        _, jvp = jax.linearize(lambda y: residual(fn, y, frozen[1])[0], frozen[0])
        gmres = GMRES.with_traced(tol=self.forcing, max_steps=self.linear_steps,
                                  restart=self.restart)
        p, info = gmres.solve(jvp, -lax.stop_gradient(g))
        norm = jnp.sqrt(2.0 * state.value)

        def residual_at(t):
            g_t, _ = residual(fn, z + t * p, params)
            return g_t

        def cond(c):
            t, g_t, i = c
            ok = jnp.linalg.norm(g_t) <= (1.0 - 1e-4 * t) * norm
            return ~ok & (i < self.max_halvings)

        def body(c):
            t, _, i = c
            t = 0.5 * t
            return t, residual_at(t), i + 1

        one = jnp.asarray(1.0, z.dtype)
        t, g_t, _ = lax.while_loop(cond, body, (one, residual_at(one), jnp.asarray(0)))
        t = lax.stop_gradient(t)
        ok = jnp.isfinite(jnp.linalg.norm(g_t)) & (jnp.linalg.norm(g_t) < norm)
        z_new = jnp.where(ok, z + t * p, z)
        g_new = residual(fn, z_new, params)[0] if differentiable else jnp.where(ok, g_t, g)
        new = NewtonKrylovState(z_new, _value(g_new), g_new, state.n_steps + 1,
                                state.stalled | ~ok, state.n_linear + info.iterations)
        return hold_when_converged(self, state, new)
