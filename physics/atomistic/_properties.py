r"""Relaxed crystal properties, each a differentiable function of the potential's parameters θ.

Every property starts from the zero-pressure lattice constant :math:`a_0(\theta)` (a hydrostatic
cell relaxation of the conventional cell, positions relaxed too) and relaxes whatever else it needs;
all relaxations go through :func:`calib.equilibrium`, so ``jax.grad`` and ``jax.jacfwd`` of a
property differentiate the nested equilibria by the implicit function theorem (no finite
differences, no backpropagation through solver iterations).

Units at the interface: lengths in Å, energies in eV, moduli in GPa, surface energies in J/m².
Crystals are named by ``lattice`` (``"fcc"``, ``"bcc"``, ``"diamond"``) and a starting guess of the
cubic lattice constant ``guess`` (Å), which also fixes where neighbour lists are built: keep it
within a few per cent of the answer (under ``jit``/``grad`` a list that goes stale cannot be
rebuilt, and the property comes out NaN with a solver warning). Crystals are of one element,
species code 0: for a multi-element tabulated EAM, the properties are those of its first element.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from calib._errors import CalibValueError


from ._lattice import bcc, diamond, fcc, remove_atom, surface_slab
from ._neighbours import neighbour_list
from ._potential import Potential, potential_energy
from ._relax import relax, voigt_to_tensor
from ._structure import Structure
from ._units import EV_PER_A2_IN_J_PER_M2, EV_PER_A3_IN_GPA

LATTICES: dict[str, Callable[..., Structure]] = {"fcc": fcc, "bcc": bcc, "diamond": diamond}
VACANCY_CONDITIONS = ("constant_volume", "zero_pressure", "unrelaxed")


def _crystal(lattice: str, guess: float, cells=1) -> Structure:
    if lattice not in LATTICES:
        raise CalibValueError(f"lattice must be one of {sorted(LATTICES)}, got {lattice!r}; for other "
                              "structures use physics.atomistic.relax directly")
    return LATTICES[lattice](guess, cells)


def isolated_atom_energy(potential: Potential, theta, species: int = 0) -> jax.Array:
    """Energy of one atom with no neighbours, eV (0 for pair potentials; :math:`F(0)` for EAM)."""
    r = jnp.ones((1, 1))
    d = jnp.zeros((1, 1, 3))
    codes = jnp.full((1,), species, jnp.int32)
    return potential.site_energies(theta, r, d, jnp.zeros((1, 1), bool), codes, codes[:, None])[0]


def _relaxed_bulk(potential, theta, lattice, guess, skin, solver):
    """Zero-pressure conventional cell: ``(scale a0/guess, Relaxed, unit Structure)``, the common
    start of every property (computed once by :func:`crystal_properties`)."""
    unit = _crystal(lattice, guess)
    relaxed = relax(potential, theta, unit, positions=True, cell="hydrostatic", skin=skin,
                    solver=solver)
    scale = 1.0 + relaxed.solution.x["strain"]
    return scale, relaxed, unit


def lattice_constant(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                     skin: float = 1.0, solver=None) -> jax.Array:
    """Zero-pressure cubic lattice constant :math:`a_0(\\theta)`, Å (static, 0 K)."""
    scale, _, _ = _relaxed_bulk(potential, theta, lattice, guess, skin, solver)
    return guess * scale


def cohesive_energy(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                    skin: float = 1.0, solver=None) -> jax.Array:
    """Cohesive energy per atom at :math:`a_0`, eV, positive for a bound crystal:
    :math:`E_c = E_{atom} - E_{crystal}/N`."""
    return _cohesive_energy(potential, theta, _relaxed_bulk(potential, theta, lattice, guess, skin,
                                                            solver))


def _cohesive_energy(potential, theta, bulk):
    _, relaxed, unit = bulk
    return isolated_atom_energy(potential, theta) - relaxed.energy / unit.n_atoms


def _strained_energy(potential, theta, unit, scale, neighbours, strain, relaxed_ions, solver):
    """Energy of the conventional cell at :math:`a_0`, deformed by ``strain`` (3, 3)."""
    positions, cell = unit.positions * scale, unit.cell * scale
    if not relaxed_ions:
        deformation = jnp.eye(3) + strain
        return potential_energy(potential, positions @ deformation.T, cell @ deformation.T, theta,
                                neighbours)
    return relax(potential, theta, unit, positions=True, strain=strain, reference_positions=positions,
                 reference_cell=cell, neighbours=neighbours, solver=solver).energy


def elastic_tensor(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                   relaxed_ions: bool = True, skin: float = 1.0, solver=None) -> jax.Array:
    r"""The ``(6, 6)`` elastic stiffness in Voigt notation at :math:`a_0`, GPa.

    :math:`C_{IJ} = V^{-1}\,\partial^2 W/\partial\varepsilon_I\partial\varepsilon_J` at zero strain,
    with :math:`W(\varepsilon)` the energy of the strained cell with the atoms relaxed
    (``relaxed_ions=True``: the internal relaxation enters through :math:`dx^*/d\varepsilon`, the
    implicit function theorem) or carried affinely (``False``, the clamped-ion constants). At zero
    pressure these are the elastic constants of the stress–strain relation.
    """
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver)
    return _elastic_tensor(potential, theta, bulk, relaxed_ions, solver)


def _elastic_tensor(potential, theta, bulk, relaxed_ions, solver):
    scale, relaxed, unit = bulk
    neighbours = relaxed.neighbours

    def energy(voigt):
        return _strained_energy(potential, theta, unit, scale, neighbours, voigt_to_tensor(voigt),
                                relaxed_ions, solver)

    volume = unit.volume * scale ** 3
    return jax.hessian(energy)(jnp.zeros(6)) / volume * EV_PER_A3_IN_GPA


def elastic_constants(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                      relaxed_ions: bool = True, skin: float = 1.0, solver=None) -> dict:
    """Cubic elastic constants ``{"C11", "C12", "C44"}``, GPa (averaged over the equivalent
    entries of :func:`elastic_tensor`)."""
    return _cubic(elastic_tensor(potential, theta, lattice, guess, relaxed_ions=relaxed_ions,
                                 skin=skin, solver=solver))


def _cubic(c) -> dict:
    return {"C11": (c[0, 0] + c[1, 1] + c[2, 2]) / 3,
            "C12": (c[0, 1] + c[0, 2] + c[1, 2]) / 3,
            "C44": (c[3, 3] + c[4, 4] + c[5, 5]) / 3}


def bulk_modulus(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                 skin: float = 1.0, solver=None) -> jax.Array:
    r"""Bulk modulus at :math:`a_0`, GPa: :math:`B = V\,d^2E/dV^2 = (9V)^{-1} d^2W/de^2` for a
    hydrostatic strain :math:`e`, with internal positions relaxed."""
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver)
    return _bulk_modulus(potential, theta, bulk, solver)


def _bulk_modulus(potential, theta, bulk, solver):
    scale, relaxed, unit = bulk

    def energy(e):
        return _strained_energy(potential, theta, unit, scale, relaxed.neighbours, e * jnp.eye(3),
                                True, solver)

    volume = unit.volume * scale ** 3
    return jax.grad(jax.grad(energy))(jnp.zeros(())) / (9.0 * volume) * EV_PER_A3_IN_GPA


def vacancy_formation_energy(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6,
                             cells: int | tuple[int, int, int] = 3, *,
                             condition: str = "constant_volume", index: int = 0, skin: float = 1.0,
                             solver=None, adjoint=None) -> jax.Array:
    r"""Vacancy formation energy, eV:

    .. math:: E_v^f = E(N-1\ \text{atoms, one site empty}) - (N - 1)\,\varepsilon_{bulk}

    in a ``cells`` supercell of the crystal at :math:`a_0`, with :math:`\varepsilon_{bulk}` the
    energy per atom of the perfect crystal at :math:`a_0`. ``condition``:

    - ``"constant_volume"``: positions relaxed, cell fixed at :math:`a_0`;
    - ``"zero_pressure"``: positions and (hydrostatic) cell relaxed;
    - ``"unrelaxed"``: atoms left on their sites (for a pair potential this equals the cohesive
      energy exactly).

    Converges with supercell size as the elastic interaction between periodic images decays.
    ``adjoint`` chooses how the vacancy relaxation is differentiated (default implicit).
    """
    if condition not in VACANCY_CONDITIONS:
        raise CalibValueError(f"vacancy_formation_energy: condition must be one of {VACANCY_CONDITIONS}, "
                              f"got {condition!r}")
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver)
    return _vacancy_formation_energy(potential, theta, bulk, lattice, guess, cells, condition, index,
                                     skin, solver, adjoint)


def _vacancy_formation_energy(potential, theta, bulk, lattice, guess, cells, condition, index, skin,
                              solver, adjoint):
    scale, relaxed, unit = bulk
    bulk_per_atom = relaxed.energy / unit.n_atoms
    defect = remove_atom(_crystal(lattice, guess, cells), index)
    positions, cell = defect.positions * scale, defect.cell * scale
    if condition == "unrelaxed":
        energy = potential_energy(potential, positions, cell, theta,
                                  neighbour_list(defect, potential.cutoff, skin))
    else:
        energy = relax(potential, theta, defect, positions=True,
                       cell="hydrostatic" if condition == "zero_pressure" else None,
                       reference_positions=positions, reference_cell=cell, skin=skin,
                       solver=solver, adjoint=adjoint).energy
    return energy - defect.n_atoms * bulk_per_atom


def surface_energy(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6,
                   layers: int = 6, *, vacuum: float | None = None, relaxed: bool = True,
                   skin: float = 1.0, solver=None) -> jax.Array:
    r"""Energy of the (001) surface, J/m²: :math:`\gamma = (E_{slab} - N\varepsilon_{bulk})/(2A)`.

    The slab is ``layers`` conventional cells thick (``2 * layers`` atomic planes for fcc/bcc,
    ``4 * layers`` for diamond, whose (001) surface is left unreconstructed), one cell wide in-plane
    (periodic), at :math:`a_0`, with ``vacuum`` (Å; default ``cutoff + skin + 1``) between periodic
    copies, and positions relaxed unless ``relaxed=False``.
    """
    scale, bulk, unit = _relaxed_bulk(potential, theta, lattice, guess, skin, solver)
    bulk_per_atom = bulk.energy / unit.n_atoms
    vacuum = potential.cutoff + skin + 1.0 if vacuum is None else vacuum
    slab = surface_slab(_crystal(lattice, guess, (1, 1, layers)), axis=2, vacuum=vacuum)
    positions, cell = slab.positions * scale, slab.cell * scale
    if relaxed:
        energy = relax(potential, theta, slab, positions=True, reference_positions=positions,
                       reference_cell=cell, skin=skin, solver=solver).energy
    else:
        energy = potential_energy(potential, positions, cell, theta,
                                  neighbour_list(slab, potential.cutoff, skin))
    area = jnp.linalg.norm(jnp.cross(cell[0], cell[1]))
    return (energy - slab.n_atoms * bulk_per_atom) / (2.0 * area) * EV_PER_A2_IN_J_PER_M2


def crystal_properties(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                       vacancy_cells: int = 3, skin: float = 1.0, solver=None) -> dict:
    """All bulk properties at once, as a dict of scalars (units as in the single functions):
    ``lattice_constant``, ``cohesive_energy``, ``bulk_modulus``, ``C11``, ``C12``, ``C44``,
    ``vacancy_formation_energy`` (constant volume, relaxed). The zero-pressure cell that all of
    them start from is relaxed once."""
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver)
    return {
        "lattice_constant": guess * bulk[0],
        "cohesive_energy": _cohesive_energy(potential, theta, bulk),
        "bulk_modulus": _bulk_modulus(potential, theta, bulk, solver),
        **_cubic(_elastic_tensor(potential, theta, bulk, True, solver)),
        "vacancy_formation_energy": _vacancy_formation_energy(
            potential, theta, bulk, lattice, guess, vacancy_cells, "constant_volume", 0, skin,
            solver, None),
    }


__all__ = ["LATTICES", "bulk_modulus", "cohesive_energy", "crystal_properties", "elastic_constants",
           "elastic_tensor", "isolated_atom_energy", "lattice_constant", "surface_energy",
           "vacancy_formation_energy"]
