r"""Unrolled baselines: differentiate through the solver's iterations themselves.

These run a fixed number of steps ``K`` (no early exit, so the derivative is that of a fixed
computation) and let JAX's autodiff go through them. They converge to :class:`calib.Implicit` as
``K`` grows, at a cost that grows with ``K``: the reference against which the implicit gradient's
savings are measured.

Whether they converge depends on the solver: the derivative iterates of gradient descent and FIRE
follow the primal and converge with it; those of L-BFGS and Newton–CG need not (the step length
and the trust radius are treated as constants, and a state held after convergence stops its
derivative too), so they can plateau at a relative error of 1e-3–1e-2. Every unrolled mode
therefore measures how far the derivative it returns is from the implicit function theorem,

.. math:: \rho = \frac{\|H\,\dot x + \partial_\theta \nabla_x E\,\dot\theta\|}
                       {\|\partial_\theta \nabla_x E\,\dot\theta\|},

in the probe direction :math:`\dot\theta = \theta` (a uniform relative change of every
parameter; 1 where a parameter is 0), with :math:`\dot x` the unrolled tangent. The tangent comes
from the same forward-mode pass that computes the state (about twice the cost of the forward
solve), the residual from one Hessian-vector product. It is returned as
``Solution.ift_residual`` and a :class:`calib.NonConvergenceWarning` names it when it exceeds
``ift_tol``. ``check=False`` skips it (e.g. to time the bare baseline).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._diagnostics import call_site, report_ift_residual
from .._options import merge_options
from ..solvers._base import check_positive, normalise_scalars
from ._base import AbstractAdjoint, stats_of


def fixed_point_residual(F):
    """:math:`g(z, \\theta) = z - F(z, \\theta)`: the residual of :func:`calib.fixed_point`, which
    takes the place of the energy's gradient in the IFT check."""
    return lambda z, params: z - F(z, params)
from .._errors import CalibValueError


def _steps(owner: str, steps, solver) -> int:
    if steps is None:
        return int(solver.max_steps)
    return steps


def _probe_direction(params):
    r""":math:`\dot\theta = \theta` (1 where 0) on the parameters, zero on the extra arguments."""
    theta, args = params

    def direction(leaf):
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            return np.zeros(leaf.shape, jax.dtypes.float0)
        return jnp.where(leaf == 0, jnp.ones_like(leaf), leaf)

    def zero(leaf):
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            return np.zeros(leaf.shape, jax.dtypes.float0)
        return jnp.zeros_like(leaf)

    return (jax.tree.map(direction, theta), jax.tree.map(zero, args))


def _checked(adjoint, run, residual_map, x0, params, warn):
    """``run(x0, params) -> state`` with the IFT residual of its derivative when ``adjoint.check``.

    The state comes out of ``jax.jvp``, so the probe tangent costs one forward-mode pass and the
    state stays differentiable as before (reverse mode backpropagates through the same steps).
    """
    if not adjoint.check:
        state = run(x0, params)
        return state, jnp.full((), jnp.nan, x0.dtype)
    probe = lax.stop_gradient(_probe_direction(params))
    state, state_dot = jax.jvp(lambda p: run(x0, p), (params,), (probe,))
    x = lax.stop_gradient(state.x)
    x_dot = lax.stop_gradient(state_dot.x)
    frozen = lax.stop_gradient(params)
    grad_x = residual_map  # the gradient of the energy, or z - F(z) for a fixed point
    _, mixed = jax.jvp(lambda p: grad_x(x, p), (frozen,), (probe,))
    _, h_x_dot = jax.jvp(lambda y: grad_x(y, frozen), (x,), (x_dot,))
    scale = jnp.linalg.norm(mixed)
    residual = jnp.linalg.norm(h_x_dot + mixed) / jnp.where(scale > 0, scale, 1.0)
    if warn:
        jax.debug.callback(functools.partial(report_ift_residual, type(adjoint).__name__,
                                             adjoint.ift_tol, site=call_site()), residual)
    return state, residual


@dataclasses.dataclass(frozen=True)
class Unrolled(AbstractAdjoint):
    """Backpropagate through all ``steps`` solver iterations.

    Time: about one extra gradient per step in the backward pass (plus the forward). Memory: the
    whole trajectory, :math:`O(K n)`.

    Attributes:
        steps: ``K``, the exact number of solver steps taken (``None``: the solver's ``max_steps``).
            The forward result is reported as converged only if the force tolerance holds after them.
        check: measure the IFT residual of the derivative (see the module notes).
        ift_tol: the residual above which a warning says the derivative is inexact.
    """

    steps: int | None = None
    check: bool = True
    ift_tol: float = 1e-3

    traced_options: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        normalise_scalars(self)
        check_positive("Unrolled", "steps", self.steps, integer=True, allow_none=True)
        check_positive("Unrolled", "ift_tol", self.ift_tol)

    def solve(self, fn, solver, x0, params, *, throw, warn=True, unravel, options=({}, {})):
        return self._run(fn, jax.grad(fn), solver, x0, params, warn, options)

    def solve_fixed_point(self, F, solver, z0, params, *, throw, warn, options):
        return self._run(F, fixed_point_residual(F), solver, z0, params, warn, options)

    def _run(self, fn, residual_map, solver, x0, params, warn, options):
        solver = merge_options(solver, options[0])
        self = merge_options(self, options[1])  # noqa: PLW0642 (numeric options as data)
        def run(x0, params):
            state = solver.init(fn, x0, params)
            return solver.run_fixed(fn, state, params, _steps("Unrolled", self.steps, solver))

        state, residual = _checked(self, run, residual_map, x0, params, warn)
        return state.x, stats_of(solver, state)._replace(ift_residual=residual)


@dataclasses.dataclass(frozen=True)
class Truncated(AbstractAdjoint):
    """Run ``steps`` iterations, backpropagate only through the last ``backprop`` of them.

    The state entering the last ``backprop`` steps is treated as a constant (Shaban et al., AISTATS
    2019). Memory :math:`O(T n)` for ``T = backprop``; the gradient is biased unless the iteration
    contracts fast.

    Attributes:
        steps: ``K`` in total (``None``: the solver's ``max_steps``).
        backprop: ``T <= K``, the differentiated tail.
        check, ift_tol: as in :class:`Unrolled`.
    """

    steps: int | None = None
    backprop: int = 10
    check: bool = True
    ift_tol: float = 1e-3

    def __post_init__(self):
        normalise_scalars(self)
        check_positive("Truncated", "ift_tol", self.ift_tol)
        check_positive("Truncated", "steps", self.steps, integer=True, allow_none=True)
        check_positive("Truncated", "backprop", self.backprop, integer=True)
        if self.steps is not None and self.backprop > self.steps:
            raise CalibValueError(
                f"Truncated: backprop={self.backprop} exceeds steps={self.steps}; backprop counts the "
                "last steps of the run, so it must be at most steps")

    def solve(self, fn, solver, x0, params, *, throw, warn=True, unravel, options=({}, {})):
        return self._run(fn, jax.grad(fn), solver, x0, params, warn, options)

    def solve_fixed_point(self, F, solver, z0, params, *, throw, warn, options):
        return self._run(F, fixed_point_residual(F), solver, z0, params, warn, options)

    def _run(self, fn, residual_map, solver, x0, params, warn, options):
        solver = merge_options(solver, options[0])
        self = merge_options(self, options[1])  # noqa: PLW0642 (numeric options as data)
        total = _steps("Truncated", self.steps, solver)
        tail = min(self.backprop, total)
        frozen = lax.stop_gradient(params)
        state = solver.init(fn, x0, frozen)
        state = solver.run_fixed(fn, state, frozen, total - tail, differentiable=False)
        head = lax.stop_gradient(state)

        def run(x0, params):
            return solver.run_fixed(fn, solver.refresh(fn, head, params), params, tail)

        state, residual = _checked(self, run, residual_map, x0, params, warn)
        return state.x, stats_of(solver, state)._replace(ift_residual=residual)


@dataclasses.dataclass(frozen=True)
class Checkpointed(AbstractAdjoint):
    r"""The unrolled gradient with rematerialisation (``jax.checkpoint``).

    The ``K`` steps are cut into ``C`` segments; only the states at segment boundaries are stored,
    and each segment is recomputed during the backward pass. Memory
    :math:`O((C + K/C)\,n)` (minimal, :math:`O(\sqrt K n)`, at the default :math:`C=\sqrt K`), time
    about one extra forward pass. The gradient equals :class:`Unrolled`'s to round-off.

    Attributes:
        steps: ``K`` (``None``: the solver's ``max_steps``).
        checkpoints: ``C`` (``None``: :math:`\lceil\sqrt K\rceil`).
        check, ift_tol: as in :class:`Unrolled`.
    """

    steps: int | None = None
    checkpoints: int | None = None
    check: bool = True
    ift_tol: float = 1e-3

    def __post_init__(self):
        normalise_scalars(self)
        check_positive("Checkpointed", "ift_tol", self.ift_tol)
        check_positive("Checkpointed", "steps", self.steps, integer=True, allow_none=True)
        check_positive("Checkpointed", "checkpoints", self.checkpoints, integer=True, allow_none=True)
        if self.steps is not None and self.checkpoints is not None and self.checkpoints > self.steps:
            raise CalibValueError(
                f"Checkpointed: checkpoints={self.checkpoints} exceeds steps={self.steps}")

    def solve(self, fn, solver, x0, params, *, throw, warn=True, unravel, options=({}, {})):
        return self._run(fn, jax.grad(fn), solver, x0, params, warn, options)

    def solve_fixed_point(self, F, solver, z0, params, *, throw, warn, options):
        return self._run(F, fixed_point_residual(F), solver, z0, params, warn, options)

    def _run(self, fn, residual_map, solver, x0, params, warn, options):
        solver = merge_options(solver, options[0])
        self = merge_options(self, options[1])  # noqa: PLW0642 (numeric options as data)
        total = _steps("Checkpointed", self.steps, solver)
        n_segments = self.checkpoints or max(1, math.ceil(math.sqrt(total)))
        n_segments = min(n_segments, total)
        length, remainder = divmod(total, n_segments)

        @jax.checkpoint
        def segment(state, params):
            return solver.run_fixed(fn, state, params, length)

        def run(x0, params):
            state = solver.init(fn, x0, params)
            state = lax.scan(lambda s, _: (segment(s, params), None), state, None,
                             length=n_segments)[0]
            return solver.run_fixed(fn, state, params, remainder)

        state, residual = _checked(self, run, residual_map, x0, params, warn)
        return state.x, stats_of(solver, state)._replace(ift_residual=residual)
