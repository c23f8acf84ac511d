"""Atomistic systems: crystal builders and interatomic potentials (energies in eV, lengths in Å)."""

from ._lattice import fcc, remove_atom
from ._morse import MORSE_CU_GIRIFALCO_WEIZER, morse_energy

__all__ = ["MORSE_CU_GIRIFALCO_WEIZER", "fcc", "morse_energy", "remove_atom"]
