r"""Lamé parameters :math:`(\lambda, \mu)` from the other pairs of isotropic elastic constants, and
their admissible ranges.

All moduli are in one unit of stress (Pa, kPa, MPa, …); Poisson's ratio is dimensionless.
"""

from __future__ import annotations

from ._parameters import Range, positive


def lame_from_young_poisson(E, nu):
    r"""Lamé parameters :math:`(\lambda, \mu)` from Young's modulus and Poisson's ratio:

    .. math::

        \lambda = \frac{E\nu}{(1 + \nu)(1 - 2\nu)}, \qquad \mu = \frac{E}{2(1 + \nu)}.

    Same units as ``E``; ``nu`` is dimensionless, :math:`-1 < \nu < 1/2`.
    """
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (2.0 * (1.0 + nu))


def lame_from_bulk_shear(K, G):
    r"""Lamé parameters :math:`(\lambda, \mu)` from the bulk and shear moduli:
    :math:`\lambda = K - 2G/3`, :math:`\mu = G`. Same units as ``K`` and ``G``."""
    return K - 2.0 * G / 3.0, G


def lame_ranges(lam: str = "lam", mu: str = "mu") -> tuple[Range, ...]:
    r"""Admissible Lamé parameters: a positive definite elasticity tensor, i.e. :math:`\mu > 0` and
    a positive bulk modulus :math:`K = \lambda + 2\mu/3`."""
    return (positive(mu, "a positive shear modulus"),
            Range(lam, lambda v: 3 * v[lam] + 2 * v[mu] > 0,
                  f"{lam} > -2 {mu}/3 (a positive bulk modulus K = {lam} + 2 {mu}/3)",
                  reads=(lam, mu)))


def young_poisson_ranges(E: str = "E", nu: str = "nu") -> tuple[Range, ...]:
    r""":math:`E > 0` and :math:`-1 < \nu < 1/2` (a positive definite elasticity tensor)."""
    return (positive(E),
            Range(nu, lambda v: (v[nu] > -1) & (v[nu] < 0.5),
                  f"-1 < {nu} < 0.5 ({nu} = 0.5 is incompressible, which a displacement "
                  "formulation cannot represent)"))
