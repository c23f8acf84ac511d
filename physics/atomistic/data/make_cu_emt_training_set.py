"""Write the bundled Cu training set: reference energies, forces and stresses from ASE's EMT.

EMT (effective-medium theory, K. W. Jacobsen, P. Stoltze and J. K. Nørskov, Surf. Sci. 366, 394
(1996), as implemented in ASE's ``ase.calculators.emt``) is an independent many-body model of Cu
that no one here wrote, so fitting a potential of this package to it tests the fitting machinery on
data it cannot have been tuned to.

Configurations (deterministic for a seed), 32–256 atoms each:

- ``bulk``: fcc supercells, rattled by 0.02–0.15 Å (Gaussian, per component);
- ``strained``: the same, under a random symmetric strain of up to ±3 % per component;
- ``vacancy``: one atom removed, then rattled;
- ``surface_100``, ``surface_111``: slabs with 8 Å of vacuum (periodic in plane only), rattled.

Periodic configurations carry a stress; the slabs do not (a virial over a cell full of vacuum
says little). The script also writes EMT's relaxed properties of the crystal (lattice constant,
cohesive energy, C11, C12, C44 and the constant-volume relaxed vacancy formation energy in a
3×3×3 supercell), so one fit can mix the configurations with crystal properties.

Run from the repository root (needs ASE)::

    python physics/atomistic/data/make_cu_emt_training_set.py                # the packaged files
    python physics/atomistic/data/make_cu_emt_training_set.py out.extxyz 1000 # 1000 configurations
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

FILE = Path(__file__).with_name("cu_emt_training.extxyz.gz")
PROPERTIES_FILE = Path(__file__).with_name("cu_emt_properties.nc")
COUNT = 120
SEED = 2026
BULK_SIZES = ((2, 2, 2), (2, 3, 3), (3, 3, 3), (3, 3, 4), (3, 4, 4), (4, 4, 4))
SLAB_SIZES = ((2, 2, 8), (3, 4, 6), (3, 4, 8), (4, 4, 6))
KINDS = ("bulk", "strained", "vacancy", "surface_100", "surface_111")
EV_PER_A3_IN_GPA = 160.21766208


def emt_lattice_constant() -> float:
    """EMT's zero-pressure fcc lattice constant of Cu, Å (the minimum of the energy per atom)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from scipy.optimize import minimize_scalar

    def energy(a):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        return atoms.get_potential_energy() / len(atoms)

    return float(minimize_scalar(energy, bracket=(3.5, 3.6, 3.7), tol=1e-12).x)


def emt_properties(a0: float) -> dict[str, float]:
    """EMT's relaxed crystal properties at lattice constant ``a0`` (Å, eV, GPa)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    cell = bulk("Cu", "fcc", a=a0, cubic=True)
    cell.calc = EMT()
    e_bulk = cell.get_potential_energy() / len(cell)
    atom = bulk("Cu", "fcc", a=a0, cubic=True)[:1]
    atom.center(vacuum=10.0)
    atom.pbc = False
    atom.calc = EMT()
    e_atom = atom.get_potential_energy()
    # Elastic constants: central differences of the stress; every atom of the fcc cell is a centre
    # of inversion, so the ions do not relax and these are the relaxed-ion constants.
    h = 1e-4
    c = np.zeros((6, 6))
    for j in range(6):
        pair = []
        for sign in (1.0, -1.0):
            strain = np.zeros((3, 3))
            a, b = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)][j]
            strain[a, b] += sign * h / (1.0 if a == b else 2.0)
            strain[b, a] = strain[a, b]
            strained = cell.copy()
            strained.set_cell(cell.cell.array @ (np.eye(3) + strain).T, scale_atoms=True)
            strained.calc = EMT()
            pair.append(strained.get_stress())
        c[:, j] = (pair[0] - pair[1]) / (2 * h)
    c *= EV_PER_A3_IN_GPA
    supercell = bulk("Cu", "fcc", a=a0, cubic=True).repeat((3, 3, 3))
    del supercell[0]
    supercell.calc = EMT()
    BFGS(supercell, logfile=None).run(fmax=1e-5, steps=1000)
    e_vacancy = supercell.get_potential_energy() - len(supercell) * e_bulk
    return {"lattice_constant": a0, "cohesive_energy": e_atom - e_bulk,
            "C11": float(np.mean([c[0, 0], c[1, 1], c[2, 2]])),
            "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean([c[3, 3], c[4, 4], c[5, 5]])),
            "vacancy_formation_energy": float(e_vacancy)}


def configurations(count: int, seed: int = SEED, a0: float | None = None):
    """``count`` labelled ``ase.Atoms`` (EMT energy, forces and, if periodic, stress), the kinds
    in turn."""
    from ase.build import bulk, fcc100, fcc111
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    a0 = emt_lattice_constant() if a0 is None else a0
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        kind = KINDS[k % len(KINDS)]
        if kind.startswith("surface"):
            size = SLAB_SIZES[rng.integers(len(SLAB_SIZES))]
            build = fcc100 if kind == "surface_100" else fcc111
            atoms = build("Cu", size=size, a=a0, vacuum=8.0, orthogonal=True, periodic=False)
            atoms.pbc = (True, True, False)
            atoms.info.pop("adsorbate_info", None)   # not a scalar: extended XYZ cannot keep it
        else:
            atoms = bulk("Cu", "fcc", a=a0, cubic=True).repeat(BULK_SIZES[rng.integers(len(BULK_SIZES))])
            if kind == "strained":
                strain = rng.uniform(-0.03, 0.03, (3, 3))
                strain = 0.5 * (strain + strain.T)
                atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain).T, scale_atoms=True)
            if kind == "vacancy":
                del atoms[int(rng.integers(len(atoms)))]
        atoms.positions += rng.normal(0.0, rng.uniform(0.02, 0.15), atoms.positions.shape)
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if all(atoms.pbc):
            results["stress"] = atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["config_type"] = kind
        atoms.info["config_weight"] = 1.0
        frames.append(atoms)
    return frames


def write_training_set(path, count: int = COUNT, seed: int = SEED) -> None:
    import ase.io
    ase.io.write(path, configurations(count, seed))


def write_properties(path) -> None:
    import xarray as xr

    values = emt_properties(emt_lattice_constant())
    units = {"lattice_constant": "angstrom", "cohesive_energy": "eV", "C11": "GPa", "C12": "GPa",
             "C44": "GPa", "vacancy_formation_energy": "eV"}
    # Weights of a fit, not errors of EMT (it is exact for itself): tight enough that the crystal
    # properties matter against thousands of force components.
    sigma = {"lattice_constant": 0.002, "cohesive_energy": 0.02, "C11": 2.0, "C12": 2.0,
             "C44": 2.0, "vacancy_formation_energy": 0.02}
    ds = xr.Dataset(attrs={"name": "cu_emt_crystal", "source": "ASE EMT calculator (Jacobsen, "
                           "Stoltze and Norskov, Surf. Sci. 366, 394 (1996))",
                           "Conventions": "CF-1.8"})
    for name, value in values.items():
        ds[name] = ((), value, {"units": units[name], "ancillary_variables": f"{name}_sigma"})
        ds[f"{name}_sigma"] = ((), sigma[name], {"units": units[name]})
    ds.to_netcdf(path, engine="h5netcdf")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        write_training_set(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else COUNT)
    else:
        write_training_set(FILE)
        write_properties(PROPERTIES_FILE)
        print(f"wrote {FILE} and {PROPERTIES_FILE}")
