"""Atomistic systems: structures, neighbour lists, interatomic potentials and relaxed properties.

Energies in eV, lengths in Å, moduli in GPa at the interface. Potential parameters θ are always an
explicit dict argument, so every energy and property is differentiable in them.
"""

from ._batching import Bucket, Layout, build_buckets, configuration_mesh, neighbour_pairs, size_buckets
from ._force_matching import ForceMatching, configuration_properties
from ._training_set import (assign_uncertainties, load_cu_emt_properties, load_cu_emt_training_set,
                            read_training_set, select_configurations, training_set,
                            training_structures, write_training_set)
from ._ase_io import from_ase, read_structure, to_ase, write_structure
from ._data import load_fcc_metals
from ._eam import EAM, FINNIS_SINCLAIR_MO, SUTTON_CHEN, FinnisSinclair, SuttonChen
from ._eam_files import EAMFileError, read_eam_funcfl, read_eam_setfl, write_eam_setfl
from ._eam_tabulated import LAMMPS_HARTREE_BOHR, TabulatedEAM, tabulate_eam
from ._lattice import bcc, diamond, fcc, hcp, remove_atom, strained, surface_slab
from ._neighbours import (Neighbours, displacements, neighbour_list, neighbours_valid,
                          update_neighbours)
from ._pair import LJ_REDUCED, MORSE_CU, LennardJones, Morse
from ._potential import (PairPotential, Potential, potential_energy, site_energies, smooth_step,
                         stress)
from ._properties import (bulk_modulus, cohesive_energy, crystal_properties, elastic_constants,
                          elastic_tensor, isolated_atom_energy, lattice_constant, surface_energy,
                          vacancy_formation_energy)
from ._precondition import LatticePreconditioner, lattice_grid
from ._relax import Relaxed, RelaxationEnergy, relax, voigt_to_tensor
from ._stillinger_weber import STILLINGER_WEBER_SI, StillingerWeber
from ._structure import Structure
from ._units import EV_PER_A2_IN_J_PER_M2, EV_PER_A3_IN_GPA

__all__ = [
    "Bucket", "ForceMatching", "Layout", "assign_uncertainties", "build_buckets",
    "configuration_mesh", "configuration_properties", "load_cu_emt_properties",
    "load_cu_emt_training_set", "neighbour_pairs", "read_training_set", "select_configurations",
    "size_buckets", "training_set", "training_structures", "write_training_set",
    "EAM", "EAMFileError", "EV_PER_A2_IN_J_PER_M2", "EV_PER_A3_IN_GPA", "FINNIS_SINCLAIR_MO",
    "FinnisSinclair", "LAMMPS_HARTREE_BOHR", "LJ_REDUCED", "LatticePreconditioner", "LennardJones",
    "MORSE_CU", "Morse", "Neighbours", "PairPotential", "Potential", "RelaxationEnergy", "Relaxed",
    "STILLINGER_WEBER_SI", "SUTTON_CHEN", "StillingerWeber", "Structure", "SuttonChen",
    "TabulatedEAM", "bcc", "bulk_modulus", "cohesive_energy", "crystal_properties", "diamond",
    "displacements", "elastic_constants", "elastic_tensor", "fcc", "from_ase", "hcp",
    "isolated_atom_energy", "lattice_constant", "lattice_grid", "load_fcc_metals", "neighbour_list",
    "neighbours_valid", "potential_energy", "read_eam_funcfl", "read_eam_setfl", "read_structure",
    "relax", "remove_atom", "site_energies", "smooth_step", "strained", "stress", "surface_energy",
    "surface_slab", "tabulate_eam", "to_ase", "update_neighbours", "vacancy_formation_energy",
    "voigt_to_tensor", "write_eam_setfl", "write_structure"
]
