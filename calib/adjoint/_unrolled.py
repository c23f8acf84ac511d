"""Unrolled baselines: differentiate through the solver's iterations themselves.

These run a fixed number of steps ``K`` (no early exit, so the derivative is that of a fixed
computation) and let JAX's autodiff go through them. They converge to :class:`calib.Implicit` as
``K`` grows, at a cost that grows with ``K``: the reference against which the implicit gradient's
savings are measured.
"""

from __future__ import annotations

import dataclasses
import math

import jax
from jax import lax

from ..solvers._base import check_positive, refresh
from ._base import AbstractAdjoint, stats_of
from .._errors import CalibValueError


def _steps(owner: str, steps, solver) -> int:
    if steps is None:
        return int(solver.max_steps)
    return steps


@dataclasses.dataclass(frozen=True)
class Unrolled(AbstractAdjoint):
    """Backpropagate through all ``steps`` solver iterations.

    Time: about one extra gradient per step in the backward pass (plus the forward). Memory: the
    whole trajectory, :math:`O(K n)`.

    Attributes:
        steps: ``K``, the exact number of solver steps taken (``None``: the solver's ``max_steps``).
            The forward result is reported as converged only if the force tolerance holds after them.
    """

    steps: int | None = None

    def __post_init__(self):
        check_positive("Unrolled", "steps", self.steps, integer=True, allow_none=True)

    def solve(self, fn, solver, x0, params, *, throw, unravel):
        state = solver.init(fn, x0, params)
        state = solver.run_fixed(fn, state, params, _steps("Unrolled", self.steps, solver))
        return state.x, stats_of(solver, state)


@dataclasses.dataclass(frozen=True)
class Truncated(AbstractAdjoint):
    """Run ``steps`` iterations, backpropagate only through the last ``backprop`` of them.

    The state entering the last ``backprop`` steps is treated as a constant (Shaban et al., AISTATS
    2019). Memory :math:`O(T n)` for ``T = backprop``; the gradient is biased unless the iteration
    contracts fast.

    Attributes:
        steps: ``K`` in total (``None``: the solver's ``max_steps``).
        backprop: ``T <= K``, the differentiated tail.
    """

    steps: int | None = None
    backprop: int = 10

    def __post_init__(self):
        check_positive("Truncated", "steps", self.steps, integer=True, allow_none=True)
        check_positive("Truncated", "backprop", self.backprop, integer=True)
        if self.steps is not None and self.backprop > self.steps:
            raise CalibValueError(
                f"Truncated: backprop={self.backprop} exceeds steps={self.steps}; backprop counts the "
                "last steps of the run, so it must be at most steps")

    def solve(self, fn, solver, x0, params, *, throw, unravel):
        total = _steps("Truncated", self.steps, solver)
        tail = min(self.backprop, total)
        frozen = lax.stop_gradient(params)
        state = solver.init(fn, x0, frozen)
        state = solver.run_fixed(fn, state, frozen, total - tail, differentiable=False)
        state = refresh(fn, lax.stop_gradient(state), params)
        state = solver.run_fixed(fn, state, params, tail)
        return state.x, stats_of(solver, state)


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
    """

    steps: int | None = None
    checkpoints: int | None = None

    def __post_init__(self):
        check_positive("Checkpointed", "steps", self.steps, integer=True, allow_none=True)
        check_positive("Checkpointed", "checkpoints", self.checkpoints, integer=True, allow_none=True)
        if self.steps is not None and self.checkpoints is not None and self.checkpoints > self.steps:
            raise CalibValueError(
                f"Checkpointed: checkpoints={self.checkpoints} exceeds steps={self.steps}")

    def solve(self, fn, solver, x0, params, *, throw, unravel):
        total = _steps("Checkpointed", self.steps, solver)
        n_segments = self.checkpoints or max(1, math.ceil(math.sqrt(total)))
        n_segments = min(n_segments, total)
        length, remainder = divmod(total, n_segments)

        @jax.checkpoint
        def segment(state, params):
            return solver.run_fixed(fn, state, params, length)

        state = solver.init(fn, x0, params)
        state = lax.scan(lambda s, _: (segment(s, params), None), state, None, length=n_segments)[0]
        state = solver.run_fixed(fn, state, params, remainder)
        return state.x, stats_of(solver, state)
