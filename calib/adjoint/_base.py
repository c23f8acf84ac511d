"""The adjoint interface: how derivatives flow through an equilibrium solve."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np



class SolveStats(NamedTuple):
    """Per-solve diagnostics carried next to the state (no derivatives flow through them)."""

    steps: jax.Array  # int32
    max_force: jax.Array  # max |dE/dx| at the returned state
    result: jax.Array  # int32, a RESULTS code
    # Unrolled modes: relative IFT residual of their derivative in a probe direction (NaN: n/a).
    ift_residual: jax.Array | None = None


def stats_of(solver, state) -> SolveStats:
    grad = jax.lax.stop_gradient(state.grad)
    return SolveStats(
        steps=jnp.asarray(state.n_steps, jnp.int32),
        max_force=jnp.max(jnp.abs(grad), initial=0.0),
        result=solver.result(state),
    )


def zero_tangent(leaf):
    """A zero tangent of the right kind (``float0`` for integer/bool outputs)."""
    leaf = jnp.asarray(leaf)
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
        return jnp.zeros_like(leaf)
    return np.zeros(leaf.shape, dtype=jax.dtypes.float0)


@dataclasses.dataclass(frozen=True)
class AbstractAdjoint:
    r"""How :func:`calib.equilibrium` differentiates the solve. Never changes the forward algorithm's
    result beyond the solver tolerance (unrolled modes run a fixed number of steps).

    ``envelope``: whether ``Solution.energy`` is differentiated by the envelope theorem
    (:math:`dE^*/d\theta = \partial_\theta E` at the minimum, no adjoint solve) rather than through
    ``x``. True for :class:`Implicit`, whose derivatives assume an exact minimum anyway.
    """

    envelope: ClassVar[bool] = False

    def solve(self, fn: Callable, solver, x0: jax.Array, params: Any, *, throw: bool, warn: bool,
              unravel: Callable, options=({}, {})
              ) -> tuple[jax.Array, SolveStats]:  # pragma: no cover - interface
        """Minimise ``fn(x, params)`` from the flat ``x0``; differentiable with respect to ``params``.

        ``solver`` and ``self`` come with their numeric options taken out (see
        ``calib._options``); ``options = (solver_options, adjoint_options)`` holds them as data,
        to be put back with ``merge_options`` inside whatever traced function uses them.
        ``throw``/``warn``: how failures found later (in the backward pass) are reported."""
        raise NotImplementedError

    def solve_fixed_point(self, F: Callable, solver, z0: jax.Array, params: Any, *, throw: bool,
                          warn: bool, options=({}, {})) -> tuple[jax.Array, SolveStats]:
        """Find :math:`z = F(z, params)` from the flat ``z0`` (:func:`calib.fixed_point`);
        differentiable with respect to ``params``. Arguments as in :meth:`solve`."""
        raise NotImplementedError(f"{type(self).__name__} does not support calib.fixed_point")

    def nullspace_basis(self, x_flat, unravel):
        """Orthonormal basis ``(n, k)`` of known zero modes at ``x_flat``, or ``None``."""
        return None
