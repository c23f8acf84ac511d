"""Atomistic systems: structures, neighbour lists, interatomic potentials and relaxed properties.

Energies in eV, lengths in Å, moduli in GPa at the interface. Potential parameters θ are always an
explicit dict argument, so every energy and property is differentiable in them.
"""

from ._eam import EAM, FINNIS_SINCLAIR_MO, SUTTON_CHEN, FinnisSinclair, SuttonChen
from ._lattice import bcc, diamond, fcc, hcp, remove_atom, strained, surface_slab
from ._neighbours import (Neighbours, displacements, neighbour_list, neighbours_valid,
                          update_neighbours)
from ._pair import LJ_REDUCED, MORSE_CU, LennardJones, Morse
from ._potential import PairPotential, Potential, potential_energy, site_energies, smooth_step
from ._structure import Structure

__all__ = [
    "EAM", "FINNIS_SINCLAIR_MO", "LJ_REDUCED", "MORSE_CU", "SUTTON_CHEN", "FinnisSinclair",
    "LennardJones", "Morse", "Neighbours", "PairPotential", "Potential", "Structure", "SuttonChen",
    "bcc", "diamond", "displacements", "fcc", "hcp", "neighbour_list", "neighbours_valid",
    "potential_energy", "remove_atom", "site_energies", "smooth_step", "strained", "surface_slab",
    "update_neighbours",
]
