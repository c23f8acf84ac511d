r"""The Morse pair potential on a periodic crystal.

.. math:: E = \sum_{i<j} s(r_{ij})\, D\left[\left(1 - e^{-\alpha (r_{ij} - r_0)}\right)^2 - 1\right]

with a smooth switch :math:`s` that takes the pair energy to zero between ``r_onset`` and
``r_cutoff`` (jax-md's multiplicative isotropic cutoff).
"""

from __future__ import annotations

import numpy as np
from jax_md import energy as jmd_energy
from jax_md import space

MORSE_CU_GIRIFALCO_WEIZER = {"D": 0.3429, "alpha": 1.3588, "r0": 2.866}
"""Morse parameters of copper (Girifalco & Weizer, Phys. Rev. 114, 687, 1959): D in eV, alpha in
1/Å, r0 in Å."""


def morse_energy(box, r_onset: float = 5.5, r_cutoff: float = 6.5):
    """Build ``energy(positions, theta) -> eV`` for a Morse crystal in an orthogonal periodic box.

    Pairs are found by the minimum-image convention over all atom pairs, so the cutoff must not
    exceed half the shortest box edge.

    Args:
        box: box edge lengths in Å, shape ``(3,)``.
        r_onset, r_cutoff: the pair energy is switched smoothly to zero between these radii (Å).

    Returns:
        ``energy(positions, theta)`` with positions of shape ``(N, 3)`` in Å and ``theta`` a dict
        with ``D`` (well depth, eV), ``alpha`` (range, 1/Å) and ``r0`` (pair distance of the minimum,
        Å); extra keys are ignored.
    """
    box = np.asarray(box, float)
    if box.shape != (3,) or np.any(box <= 0):
        raise ValueError(f"morse_energy: box must be three positive edge lengths (Å), got {box}")
    if not 0 < r_onset < r_cutoff:
        raise ValueError(f"morse_energy: need 0 < r_onset < r_cutoff, got {r_onset}, {r_cutoff}")
    if r_cutoff > 0.5 * box.min():
        raise ValueError(
            f"morse_energy: r_cutoff={r_cutoff} Å exceeds half the shortest box edge "
            f"({0.5 * box.min():.3f} Å), so the minimum-image convention would miss periodic images; "
            "use a larger supercell or a shorter cutoff")
    displacement, _ = space.periodic(box)
    pair = jmd_energy.morse_pair(displacement, r_onset=r_onset, r_cutoff=r_cutoff)

    def energy(positions, theta):
        return pair(positions, sigma=theta["r0"], epsilon=theta["D"], alpha=theta["alpha"])

    return energy
