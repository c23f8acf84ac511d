"""Pair potentials: Lennard-Jones and Morse."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from ._potential import PairPotential, positive


@dataclasses.dataclass(frozen=True)
class LennardJones(PairPotential):
    r"""Lennard-Jones (1924): :math:`\phi(r) = 4\varepsilon\left[(\sigma/r)^{12} - (\sigma/r)^6\right]`.

    Parameters θ: ``epsilon`` (well depth, eV), ``sigma`` (zero of :math:`\phi`, Å). The minimum of
    :math:`\phi` is at :math:`2^{1/6}\sigma`. In reduced units (``epsilon = sigma = 1``) the fcc
    crystal summed to infinite range has :math:`a_0 = 1.5418\sigma` and cohesive energy
    :math:`8.61\varepsilon` per atom; use a cutoff of several σ for these. Both parameters must be
    positive (checked, also under ``jit``/``grad``: see :meth:`Potential.check_theta`).
    """

    parameters = ("epsilon", "sigma")
    cutoff: float = 2.5

    def constraints(self, theta):
        # sigma enters only as sigma^6, so a negative sigma would silently act as |sigma|; a
        # negative epsilon turns the well into a barrier and the crystal flies apart.
        return (positive(theta, "epsilon", "the well depth, eV"),
                positive(theta, "sigma", "the zero of the pair energy, Å"))

    def pair(self, r, theta):
        s6 = (theta["sigma"] / r) ** 6
        return 4.0 * theta["epsilon"] * (s6 * s6 - s6)


@dataclasses.dataclass(frozen=True)
class Morse(PairPotential):
    r"""Morse (1929): :math:`\phi(r) = D\left[\left(1 - e^{-\alpha(r - r_0)}\right)^2 - 1\right]`.

    Parameters θ: ``D`` (well depth, eV), ``alpha`` (inverse width, 1/Å), ``r0`` (position of the
    minimum, Å), all positive (checked, also under ``jit``/``grad``). :data:`MORSE_CU` holds
    Girifalco & Weizer's copper values.
    """

    parameters = ("D", "alpha", "r0")
    cutoff: float = 6.5

    def constraints(self, theta):
        return (positive(theta, "D", "the well depth, eV"),
                positive(theta, "alpha", "the inverse width of the well, 1/Å"),
                positive(theta, "r0", "the position of the minimum, Å"))

    def pair(self, r, theta):
        decay = jnp.exp(-theta["alpha"] * (r - theta["r0"]))
        return theta["D"] * ((1.0 - decay) ** 2 - 1.0)


MORSE_CU = {"D": 0.3429, "alpha": 1.3588, "r0": 2.866}
"""Morse parameters of copper, Girifalco & Weizer, Phys. Rev. 114, 687 (1959): D in eV, alpha in
1/Å, r0 in Å (fitted to the cohesive energy, lattice constant and compressibility)."""

LJ_REDUCED = {"epsilon": 1.0, "sigma": 1.0}
"""Lennard-Jones in reduced units (energies in ε, lengths in σ)."""
