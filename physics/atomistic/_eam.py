r"""Embedded-atom potentials with analytic functions.

.. math:: E = \sum_i F(\rho_i) + \tfrac12 \sum_i \sum_{j\ne i} \phi(r_{ij}), \qquad
          \rho_i = \sum_{j \ne i} f(r_{ij})

(Daw & Baskes, Phys. Rev. B 29, 6443, 1984). :math:`F` is the embedding energy, :math:`f` the
electron density an atom contributes at distance :math:`r`, :math:`\phi` a pair repulsion. The
Finnis–Sinclair form (Phil. Mag. A 50, 45, 1984) takes :math:`F(\rho) = -A\sqrt\rho`, from the
second-moment approximation of tight binding.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from ._potential import Constraint, Potential, positive, smooth_step, value_of
from ._radial import RadialTerms
from calib._errors import CalibValueError


@dataclasses.dataclass(frozen=True)
class EAM(Potential):
    """Base of analytic single-species EAM potentials: implement ``embedding``, ``density`` and
    ``pair``. Density and pair are multiplied by the :func:`smooth_step` switch between ``onset``
    (``None``: ``0.9 * cutoff``) and ``cutoff``, unless ``smooth=False`` (for functions that
    already vanish at the cutoff)."""

    onset: float | None = None
    smooth: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.onset is not None and not 0 < self.onset < self.cutoff:
            raise CalibValueError(f"{type(self).__name__}: need 0 < onset < cutoff, got onset={self.onset}"
                                  f", cutoff={self.cutoff}")

    def embedding(self, rho, theta):
        raise NotImplementedError

    def density(self, r, theta):
        raise NotImplementedError

    def pair(self, r, theta):
        raise NotImplementedError

    def _switch(self, r):
        if not self.smooth:
            return 1.0
        return smooth_step(r, 0.9 * self.cutoff if self.onset is None else self.onset, self.cutoff)

    def site_energies(self, theta, r, d, inside, species, neighbour_species):
        theta = self.check_theta(theta)
        switch = self._switch(r)
        rho = jnp.sum(jnp.where(inside, switch * self.density(r, theta), 0.0), axis=1)
        pair = 0.5 * jnp.sum(jnp.where(inside, switch * self.pair(r, theta), 0.0), axis=1)
        return self.embedding(rho, theta) + pair

    def radial_terms(self, theta):
        theta = self.check_theta(theta)
        return RadialTerms(pair=lambda r, s_i, s_j: self._switch(r) * self.pair(r, theta),
                           density=lambda r, s_j: self._switch(r) * self.density(r, theta),
                           embedding=lambda rho, s: self.embedding(rho, theta))


def _safe_sqrt(x):
    # sqrt has an infinite derivative at 0 (an atom with no neighbours); its energy is 0 there.
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


@dataclasses.dataclass(frozen=True)
class SuttonChen(EAM):
    r"""Sutton & Chen (Phil. Mag. Lett. 61, 139, 1990), a long-ranged Finnis–Sinclair potential for
    fcc metals:

    .. math:: E = \varepsilon\Big[\tfrac12\sum_i\sum_{j\ne i}\Big(\frac{a}{r_{ij}}\Big)^n
              - c\sum_i \sqrt{\rho_i}\Big], \qquad \rho_i = \sum_{j\ne i}\Big(\frac{a}{r_{ij}}\Big)^m.

    Parameters θ: ``epsilon`` (eV), ``a`` (Å; the lattice constant the fit used), ``c``
    (dimensionless), ``n``, ``m`` (exponents, dimensionless; differentiable too). The power laws
    decay slowly: the published values assume lattice sums to infinite range, so use a cutoff of at
    least ~3 a (all periodic images are counted). Every parameter must be positive (checked, also
    under ``jit``/``grad``). :data:`SUTTON_CHEN` holds the Cu, Ni and Al sets.
    """

    parameters = ("epsilon", "a", "c", "n", "m")
    cutoff: float = 10.0

    def constraints(self, theta):
        return (positive(theta, "epsilon", "the energy scale, eV"),
                positive(theta, "a", "the length scale, Å"),
                positive(theta, "c", "the strength of the embedding term, dimensionless"),
                positive(theta, "n", "the repulsive exponent"),
                positive(theta, "m", "the density exponent"))

    def embedding(self, rho, theta):
        return -theta["epsilon"] * theta["c"] * _safe_sqrt(rho)

    def density(self, r, theta):
        return (theta["a"] / r) ** theta["m"]

    def pair(self, r, theta):
        return theta["epsilon"] * (theta["a"] / r) ** theta["n"]


SUTTON_CHEN = {
    "Cu": {"epsilon": 1.2382e-2, "a": 3.61, "c": 39.432, "n": 9.0, "m": 6.0},
    "Ni": {"epsilon": 1.5707e-2, "a": 3.52, "c": 39.432, "n": 9.0, "m": 6.0},
    "Al": {"epsilon": 3.3147e-2, "a": 4.05, "c": 16.399, "n": 7.0, "m": 6.0},
}
"""Sutton–Chen parameter sets (Sutton & Chen 1990, Table 1): epsilon in eV, a in Å."""


@dataclasses.dataclass(frozen=True)
class FinnisSinclair(EAM):
    r"""Finnis & Sinclair (Phil. Mag. A 50, 45, 1984; erratum 53, 161, 1986) for bcc transition metals:

    .. math:: F(\rho) = -A\sqrt\rho, \quad
              f(r) = (r - d)^2 + \beta\,\frac{(r - d)^3}{d} \;(r < d), \quad
              \phi(r) = (r - c)^2 (c_0 + c_1 r + c_2 r^2) \;(r < c).

    Parameters θ: ``A`` (eV/Å, as :math:`\rho` is in Å²), ``d`` (Å), ``beta`` (dimensionless),
    ``c`` (Å), ``c0`` (eV/Å²), ``c1`` (eV/Å³), ``c2`` (eV/Å⁴). The functions vanish with zero slope
    at ``d`` and ``c``, which are themselves parameters, so no switch is applied (energies and forces
    are continuous; force constants jump there). ``cutoff`` must exceed both, and ``A``, ``d``, ``c``
    must be positive: checked at once when θ is concrete, at run time when it is traced.
    """

    parameters = ("A", "d", "beta", "c", "c0", "c1", "c2")
    cutoff: float = 4.5
    smooth: bool = False

    def constraints(self, theta):
        reach = tuple(
            Constraint((name,), value_of(theta[name]) <= self.cutoff,
                       f"{name} <= cutoff = {self.cutoff} Å (beyond the cutoff the interactions "
                       "would be cut off)",
                       f"use FinnisSinclair(cutoff=...) with room for the values {name} may reach")
            for name in ("c", "d"))
        return (positive(theta, "A", "the embedding strength, eV/Å"),
                positive(theta, "d", "the range of the density, Å"),
                positive(theta, "c", "the range of the pair term, Å")) + reach

    def embedding(self, rho, theta):
        return -theta["A"] * _safe_sqrt(rho)

    def density(self, r, theta):
        d = theta["d"]
        x = jnp.minimum(r - d, 0.0)
        return x * x + theta["beta"] * x * x * x / d

    def pair(self, r, theta):
        x = jnp.minimum(r - theta["c"], 0.0)
        return x * x * (theta["c0"] + theta["c1"] * r + theta["c2"] * r * r)


FINNIS_SINCLAIR_MO = {"A": 1.887117, "d": 4.114825, "beta": 0.0, "c": 3.25,
                      "c0": 43.4475218, "c1": -31.9332978, "c2": 6.0804249}
"""Finnis–Sinclair molybdenum (1984, Table 1): a0 = 3.1472 Å, cohesive energy 6.82 eV."""
