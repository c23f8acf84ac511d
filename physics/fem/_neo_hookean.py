r"""The compressible neo-Hookean solid (large deformation)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp

from ._kinematics import deformation_gradient, det3
from ._lame import lame_ranges
from ._material import Material


@dataclasses.dataclass(frozen=True)
class NeoHookean(Material):
    r"""Compressible neo-Hookean solid (large deformation).

    .. math::

        W = \frac{\mu}{2}(I_1 - 3) - \mu \ln J + \frac{\lambda}{2} (\ln J)^2,
        \qquad F = I + \nabla u,\quad I_1 = \operatorname{tr}(F^\mathsf{T} F),\quad J = \det F,

    .. math::

        P = \frac{\partial W}{\partial F}
          = \mu (F - F^{-\mathsf{T}}) + \lambda \ln J\, F^{-\mathsf{T}}.

    Parameters :math:`\theta`: ``mu`` (shear modulus, > 0) and ``lam`` (Lamé's first parameter,
    :math:`\lambda > -2\mu/3`), both in units of stress. For small strains it reduces to
    :class:`LinearElastic` with the same :math:`\lambda, \mu` (its Hessian at :math:`F = I` is the
    linear elasticity tensor). :math:`W = +\infty` for :math:`J \le 0` (an inverted element), with
    zero gradient there, so that a line search rejects such a step.

    Reference: the form of J. Bonet & R. D. Wood, *Nonlinear Continuum Mechanics for Finite Element
    Analysis*, 2nd ed., Cambridge University Press (2008), §6.4.3.
    """

    parameters: ClassVar[tuple[str, ...]] = ("mu", "lam")
    finite_strain: ClassVar[bool] = True
    _parameter_help: ClassVar[str] = "shear modulus and Lamé's first parameter, in units of stress"

    def density(self, grad_u, theta):
        f = deformation_gradient(grad_u)
        j = det3(f)
        admissible = j > 0
        # Double where: evaluate the log at J = 1 off the admissible branch, so that its derivative
        # (1/J) stays finite there and the zero cotangent of the unselected branch gives zero.
        log_j = jnp.log(jnp.where(admissible, j, 1.0))
        mu, lam = theta["mu"], theta["lam"]
        w = 0.5 * mu * (jnp.sum(f * f) - 3.0) - mu * log_j + 0.5 * lam * log_j * log_j
        return jnp.where(admissible, w, jnp.inf)

    def _ranges(self):
        return lame_ranges("lam", "mu")
