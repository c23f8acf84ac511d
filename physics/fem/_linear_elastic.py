r"""Isotropic linear elasticity (small strain), in three parametrisations of its two constants."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
from calib._errors import CalibValueError

from ._kinematics import small_strain
from ._lame import lame_from_bulk_shear, lame_from_young_poisson, lame_ranges, young_poisson_ranges
from ._material import Material
from ._parameters import positive

# parametrisation -> (parameter names, what they are), the latter quoted by the error messages
_LINEAR_PARAMETRISATIONS = {
    "E_nu": (("E", "nu"),
             "Young's modulus in units of stress, and Poisson's ratio, dimensionless"),
    "K_G": (("K", "G"), "bulk and shear moduli, in units of stress"),
    "lame": (("lam", "mu"), "Lamé's first parameter and the shear modulus, in units of stress"),
}


@dataclasses.dataclass(frozen=True)
class LinearElastic(Material):
    r"""Isotropic linear elasticity (small strain).

    .. math::

        W = \frac{\lambda}{2} (\operatorname{tr}\varepsilon)^2 + \mu\, \varepsilon : \varepsilon,
        \qquad \varepsilon = \operatorname{sym} \nabla u,
        \qquad \sigma = \lambda \operatorname{tr}\varepsilon\, I + 2\mu\varepsilon.

    Attributes:
        parametrisation: which pair of constants :math:`\theta` holds:

            - ``"E_nu"`` (default): ``E`` (Young's modulus, stress units, > 0) and ``nu``
              (Poisson's ratio, :math:`-1 < \nu < 1/2`);
            - ``"K_G"``: ``K`` and ``G`` (bulk and shear moduli, stress units, > 0);
            - ``"lame"``: ``lam`` and ``mu`` (Lamé's first parameter and the shear modulus,
              :math:`\mu > 0`, :math:`\lambda > -2\mu/3`).

    The energy is the same whichever is chosen; only the coordinates in which :math:`\theta` is
    calibrated (and hence the conditioning of a fit) differ.
    """

    parametrisation: str = "E_nu"
    finite_strain: ClassVar[bool] = False

    def __post_init__(self):
        if self.parametrisation not in _LINEAR_PARAMETRISATIONS:
            raise CalibValueError(f"LinearElastic: parametrisation must be one of "
                                  f"{', '.join(map(repr, _LINEAR_PARAMETRISATIONS))}, got "
                                  f"{self.parametrisation!r}")

    # ``parameters`` depends on the parametrisation, so it is a property rather than a ClassVar;
    # instances read the same as those of the other materials.
    @property
    def parameters(self) -> tuple[str, ...]:
        return _LINEAR_PARAMETRISATIONS[self.parametrisation][0]

    @property
    def _parameter_help(self) -> str:
        return _LINEAR_PARAMETRISATIONS[self.parametrisation][1]

    def _name(self) -> str:
        return f"LinearElastic({self.parametrisation!r})"

    def lame_parameters(self, theta):
        r"""Lamé parameters :math:`(\lambda, \mu)` of ``theta``, in its units of stress."""
        if self.parametrisation == "E_nu":
            return lame_from_young_poisson(theta["E"], theta["nu"])
        if self.parametrisation == "K_G":
            return lame_from_bulk_shear(theta["K"], theta["G"])
        return theta["lam"], theta["mu"]

    def density(self, grad_u, theta):
        lam, mu = self.lame_parameters(theta)
        eps = small_strain(grad_u)
        tr = jnp.trace(eps)
        return 0.5 * lam * tr * tr + mu * jnp.sum(eps * eps)

    def _ranges(self):
        if self.parametrisation == "E_nu":
            return young_poisson_ranges("E", "nu")
        if self.parametrisation == "K_G":
            return positive("K"), positive("G")
        return lame_ranges("lam", "mu")

    def _unknown_hint(self, unknown):
        # Parameters of another parametrisation are the likely mistake: name the right one.
        for key, (names, _) in _LINEAR_PARAMETRISATIONS.items():
            if key != self.parametrisation and set(unknown) & set(names):
                return f"; for {', '.join(names)} use LinearElastic(parametrisation={key!r})"
        return ""
