r"""Derivatives of a fixed point :math:`z^* = F(z^*, \theta)` (:func:`calib.fixed_point`).

Differentiating the identity :math:`z^* = F(z^*, \theta)`,

.. math:: (I - J)\,\dot z = \partial_\theta F\,\dot\theta, \qquad J = \partial F/\partial z\,(z^*),

so a tangent costs one solve with :math:`A = I - J`, and a reverse-mode gradient one solve with
:math:`A^\top = I - J^\top` (Bai, Kolter & Koltun, "Deep equilibrium models", NeurIPS 2019). Unlike
the Hessian of an energy, :math:`A` is not symmetric: the solve is a ``lax.custom_linear_solve``
with a ``transpose_solve`` (JAX transposes the Jacobian-vector product into a vector-Jacobian product
itself), by GMRES, BiCGStab or a dense LU, with the same reports, warnings and ``throw`` semantics as
the equilibrium adjoint. When :math:`F` contracts (:math:`\rho(J) < 1`),
:math:`A^{-1} = \sum_k J^k`: backpropagating through ``K`` iterations of :math:`F` at the fixed
point is the ``K``-term Neumann series (:class:`calib.Neumann`), and the Jacobian-free ("phantom")
gradient keeps its first term(s) (:class:`Phantom`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
from jax import lax

from .._options import merge_options
from ..solvers._base import check_positive, normalise_scalars
from .._errors import CalibValueError
from ._base import AbstractAdjoint, stats_of, zero_tangent
from ._implicit import reported_solve


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4))
def _solve(F, solver, adjoint, throw, warn, z0, params, options):
    solver = merge_options(solver, options[0])
    state = solver.run(F, z0, params)
    return state.x, stats_of(solver, state)


@_solve.defjvp
def _solve_jvp(F, solver, adjoint, throw, warn, primals, tangents):
    z0, params, options = primals
    _, params_dot, _ = tangents
    z, stats = _solve(F, solver, adjoint, throw, warn, z0, params, options)
    adjoint = merge_options(adjoint, options[1])
    # Right-hand side: (dF/dtheta) theta_dot, one jvp of F in the parameters.
    _, rhs = jax.jvp(lambda p: F(z, p), (params,), (params_dot,))
    _, jvp_z = jax.linearize(lambda y: F(y, params), z)
    z_dot = reported_solve(lambda v: v - jvp_z(v), rhs, adjoint.fixed_point_linear_solver, None,
                           symmetric=False, throw=throw, warn=warn, forward_result=stats.result)
    return (z, stats), (z_dot, jax.tree.map(zero_tangent, stats))


def solve_implicit(adjoint, F, solver, z0, params, *, throw, warn, options):
    """The implicit fixed-point adjoint (for :class:`calib.Implicit` and :class:`calib.Neumann`)."""
    return _solve(F, solver, adjoint, throw, warn, z0, params, options)


@dataclasses.dataclass(frozen=True)
class Phantom(AbstractAdjoint):
    r"""The Jacobian-free ("phantom") gradient of a fixed point: solve without derivatives, then
    differentiate ``steps`` damped iterations :math:`z \mapsto (1-\lambda) z + \lambda F(z, \theta)`
    started at the (constant) solution.

    With ``steps=1, damping=1`` it is Jacobian-free backpropagation, :math:`(I - J)^{-1}` replaced
    by :math:`I` (Fung et al., AAAI 2022); in general it is
    :math:`\lambda\sum_{k<K}(I - \lambda(I - J))^k\,\partial_\theta F`, the phantom gradient of
    Geng et al. (NeurIPS 2021): a cheap descent direction when :math:`F` contracts, not the exact
    gradient. :func:`calib.fixed_point` only (an energy has no map to iterate).

    Attributes:
        steps: ``K`` (default 1).
        damping: :math:`\lambda \in (0, 1]` (default 1).
    """

    steps: int = 1
    damping: float = 1.0

    traced_options: ClassVar[tuple[str, ...]] = ("damping",)

    def __post_init__(self):
        normalise_scalars(self)
        check_positive("Phantom", "steps", self.steps, integer=True)
        check_positive("Phantom", "damping", self.damping)
        if self.damping > 1:
            raise CalibValueError(f"Phantom: damping must be in (0, 1], got {self.damping!r}")

    def solve(self, fn, solver, x0, params, *, throw, warn=True, unravel, options=({}, {})):
        raise CalibValueError(
            "Phantom: the phantom gradient iterates a map z -> F(z, theta); it applies to "
            "calib.fixed_point, not to calib.equilibrium (use Neumann or Truncated there)")

    def solve_fixed_point(self, F, solver, z0, params, *, throw, warn, options):
        solver = merge_options(solver, options[0])
        adjoint = merge_options(self, options[1])
        frozen = lax.stop_gradient(params)
        state = solver.run(F, z0, frozen)
        z = lax.stop_gradient(state.x)

        def iterate(_, y):
            return (1.0 - adjoint.damping) * y + adjoint.damping * F(y, params)

        z = lax.fori_loop(0, self.steps, iterate, z)
        # The forward answer is the solver's (the extra iterations only carry the derivative).
        z = lax.stop_gradient(state.x) + (z - lax.stop_gradient(z))
        return z, stats_of(solver, state)
