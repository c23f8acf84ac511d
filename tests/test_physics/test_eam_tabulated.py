"""Tabulated EAM potentials from LAMMPS files: against the analytic Sutton–Chen potential, ASE's
EAM calculator, a direct numpy lattice sum and finite differences; file round trips and errors."""

import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from physics.atomistic import (LAMMPS_HARTREE_BOHR, SUTTON_CHEN, EAMFileError, Structure,
                               SuttonChen, TabulatedEAM, displacements, fcc, neighbour_list,
                               potential_energy, read_eam_funcfl, read_eam_setfl, remove_atom,
                               tabulate_eam, write_eam_setfl)

CUTOFF, ONSET = 6.5, 5.5
SC = SuttonChen(cutoff=CUTOFF, onset=ONSET)
# A fine grid: r nodes every 3.25 mÅ ending at the cutoff; densities in the crystal are ~100-200.
GRID = {"n_rho": 1001, "d_rho": 0.4, "n_r": 2001, "d_r": CUTOFF / 2000}


def _rattled_vacancy(a=3.61, seed=0, species=None, symbols=("X",)):
    structure = remove_atom(fcc(a, 2), 0)
    rng = np.random.default_rng(seed)
    positions = structure.positions + rng.normal(scale=0.05, size=structure.positions.shape)
    return Structure(positions, structure.cell, species, symbols)


def _energy_and_forces(potential, theta, structure, neighbours=None):
    neighbours = neighbours or neighbour_list(structure, potential.cutoff, skin=0.5)
    cell = jnp.asarray(structure.cell)
    energy_and_grad = jax.jit(jax.value_and_grad(
        lambda x: potential_energy(potential, x, cell, theta, neighbours)))
    energy, grad = energy_and_grad(jnp.asarray(structure.positions))
    return float(energy), -np.asarray(grad)


@pytest.fixture(scope="module")
def crystal():
    structure = _rattled_vacancy(symbols=("Cu",))
    return structure, neighbour_list(structure, CUTOFF, skin=0.5)


@pytest.fixture(scope="module")
def tabulated_cu():
    return tabulate_eam(SC, SUTTON_CHEN["Cu"], **GRID, symbol="Cu", mass=63.546,
                        lattice_constant=3.61, lattice_type="fcc")


def _binary_cu_ni(interpolation="lammps"):
    """Cu and Ni Sutton–Chen on one grid, with the geometric-mean cross pair."""
    _, cu_theta = tabulate_eam(SC, SUTTON_CHEN["Cu"], **GRID, symbol="Cu")
    _, ni_theta = tabulate_eam(SC, SUTTON_CHEN["Ni"], **GRID, symbol="Ni")
    rphi_cu, rphi_ni = cu_theta["rphi"][0], ni_theta["rphi"][0]
    theta = {"F": np.concatenate([cu_theta["F"], ni_theta["F"]]),
             "f": np.concatenate([cu_theta["f"], ni_theta["f"]]),
             # Rows (Cu,Cu), (Ni,Cu), (Ni,Ni).
             "rphi": np.stack([rphi_cu, np.sqrt(rphi_cu * rphi_ni), rphi_ni])}
    potential = TabulatedEAM(cutoff=CUTOFF, symbols=("Cu", "Ni"), **GRID,
                             interpolation=interpolation, atomic_numbers=(29, 28),
                             masses=(63.546, 58.693))
    return potential, theta


# -- interpolation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["lammps", "spline"])
def test_interpolant_hits_the_nodes_and_has_continuous_slope(interpolation):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(1, 12))
    potential = TabulatedEAM(cutoff=5.0, symbols=("X",), n_rho=12, d_rho=0.5, n_r=12, d_r=0.5,
                             interpolation=interpolation)
    theta = {"F": table, "f": table, "rphi": table}
    nodes = np.arange(12) * 0.5
    np.testing.assert_allclose(potential.embedding(theta, nodes), table[0], rtol=0, atol=1e-14)
    slope = jax.vmap(jax.grad(lambda rho: potential.embedding(theta, rho)))
    eps = 1e-7
    left, right = slope(jnp.asarray(nodes[1:-1] - eps)), slope(jnp.asarray(nodes[1:-1] + eps))
    np.testing.assert_allclose(left, right, atol=1e-5)


def test_lammps_slopes_reproduce_cubics_away_from_the_ends():
    # The five-point slopes are exact for cubics, so every interval whose two nodes both use them
    # (nodes 2 .. n-3) reproduces a cubic exactly.
    cubic = np.polynomial.Polynomial([0.3, -1.0, 0.5, 0.2])
    nodes = np.arange(15) * 0.25
    potential = TabulatedEAM(cutoff=5.0, symbols=("X",), n_rho=15, d_rho=0.25, n_r=15, d_r=0.25)
    theta = {"F": cubic(nodes)[None], "f": cubic(nodes)[None], "rphi": cubic(nodes)[None]}
    x = np.linspace(nodes[2], nodes[-3], 57)
    np.testing.assert_allclose(potential.embedding(theta, x), cubic(x), atol=1e-13)


def test_spline_interpolation_is_the_not_a_knot_spline():
    rng = np.random.default_rng(2)
    values = rng.normal(size=30)
    potential = TabulatedEAM(cutoff=9.0, symbols=("X",), n_rho=30, d_rho=0.3, n_r=30, d_r=0.3,
                             interpolation="spline")
    theta = {"F": values[None], "f": values[None], "rphi": values[None]}
    x = rng.uniform(0.0, 29 * 0.3, 100)
    expected = CubicSpline(np.arange(30) * 0.3, values, bc_type="not-a-knot")
    np.testing.assert_allclose(potential.embedding(theta, x), expected(x), atol=1e-12)
    np.testing.assert_allclose(potential.density(theta, x), expected(x), atol=1e-12)


def test_outside_the_tables(tabulated_cu):
    potential, theta = tabulated_cu
    rho_max = potential.rho_max
    end_slope = jax.grad(lambda rho: potential.embedding(theta, rho))(rho_max - 1e-9)
    beyond = np.array([rho_max + 1.0, rho_max + 50.0])
    np.testing.assert_allclose(potential.embedding(theta, beyond),
                               theta["F"][0, -1] + end_slope * (beyond - rho_max), rtol=1e-12)
    assert float(potential.density(theta, potential.r_max + 0.1)) == 0.0
    assert float(potential.pair(theta, potential.r_max + 0.1)) == 0.0


# -- files -----------------------------------------------------------------------------------------


def _random_binary():
    rng = np.random.default_rng(3)
    potential = TabulatedEAM(cutoff=4.9, symbols=("Ni", "Al"), n_rho=23, d_rho=0.05, n_r=17,
                             d_r=0.3, atomic_numbers=(28, 13), masses=(58.6934, 26.981539),
                             lattice_constants=(3.52, 4.05), lattice_types=("fcc", "FCC"))
    theta = {key: rng.normal(size=shape) * 10.0 ** rng.integers(-8, 8, size=shape)
             for key, shape in potential.shapes.items()}
    return potential, theta


def test_setfl_round_trip_is_exact(tmp_path):
    potential, theta = _random_binary()
    path = tmp_path / "NiAl.eam.alloy"
    write_eam_setfl(path, potential, theta, comments=["a random binary", "second line"])
    read, read_theta = read_eam_setfl(path)
    assert read == potential
    for key in theta:
        np.testing.assert_array_equal(read_theta[key], theta[key])

    # Values may wrap across lines in any way (and Fortran writes D exponents).
    lines = path.read_text().splitlines()
    tokens = " ".join(lines[4:]).split()
    rng = np.random.default_rng(4)
    wrapped, start = [], 0
    while start < len(tokens):
        stop = start + int(rng.integers(1, 9))
        wrapped.append("  ".join(tokens[start:stop]).replace("e", "D"))
        start = stop
    rewrapped = tmp_path / "rewrapped.eam.alloy"
    rewrapped.write_text("\n".join(lines[:4] + wrapped) + "\n")
    again, again_theta = read_eam_setfl(rewrapped)
    assert again == potential
    for key in theta:
        np.testing.assert_array_equal(again_theta[key], theta[key])


def _funcfl_functions(cutoff):
    def bump(r):
        return np.clip(1.0 - r / cutoff, 0.0, None) ** 3
    return {"Z": lambda r: 2.0 * bump(r) * np.exp(-0.4 * r),
            "f": lambda r: 0.8 * np.exp(-1.5 * (r - 2.55)) * bump(r),
            "F": lambda rho: -1.8 * np.sqrt(rho) + 0.15 * rho * rho}


def _write_funcfl(path, functions, n_rho, d_rho, n_r, d_r, cutoff):
    def block(values):
        return "".join(" ".join(f"{v:.16e}" for v in values[k:k + 4]) + "\n"
                       for k in range(0, len(values), 4))
    r, rho = np.arange(n_r) * d_r, np.arange(n_rho) * d_rho
    path.write_text(f"analytic test potential\n29 63.546 3.615 FCC\n"
                    f"{n_rho} {d_rho!r} {n_r} {d_r!r} {cutoff!r}\n"
                    + block(functions["F"](rho)) + block(functions["Z"](r))
                    + block(functions["f"](r)))


def test_funcfl_energy_matches_a_direct_lattice_sum(tmp_path):
    cutoff = 5.0
    functions = _funcfl_functions(cutoff)
    path = tmp_path / "test.eam"
    _write_funcfl(path, functions, n_rho=801, d_rho=0.005, n_r=1001, d_r=cutoff / 1000,
                  cutoff=cutoff)
    potential, theta = read_eam_funcfl(path)
    assert potential.symbols == ("Cu",) and potential.masses == (63.546,)
    r = np.arange(potential.n_r) * potential.d_r
    np.testing.assert_allclose(theta["rphi"][0], 27.2 * 0.529 * functions["Z"](r) ** 2, rtol=1e-14)

    structure = _rattled_vacancy(seed=5)
    energy, _ = _energy_and_forces(potential, theta, structure)
    # Direct sum over the 27 nearest images (enough: the cutoff is below the 7.22 Å cell edge),
    # with phi(r) = 27.2 * 0.529 * Z(r)^2 / r.
    x, total = structure.positions, 0.0
    for i in range(len(x)):
        d = np.concatenate([np.linalg.norm(x + np.asarray(n) @ structure.cell - x[i], axis=1)
                            for n in itertools.product((-1, 0, 1), repeat=3)])
        d = d[(d > 1e-9) & (d < cutoff)]
        rho = np.sum(functions["f"](d))
        assert rho < potential.rho_max
        phi = LAMMPS_HARTREE_BOHR * functions["Z"](d) ** 2 / d
        total += functions["F"](rho) + 0.5 * np.sum(phi)
    # Measured difference 1.8e-10 eV of -45.7 eV (interpolation on the 5 mÅ / 0.005 grids).
    assert energy == pytest.approx(total, rel=0, abs=1e-8)


# -- against the analytic potential and ASE --------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["lammps", "spline"])
def test_tabulated_sutton_chen_matches_the_analytic_one(crystal, interpolation):
    structure, neighbours = crystal
    potential, theta = tabulate_eam(SC, SUTTON_CHEN["Cu"], **GRID, symbol="Cu",
                                    interpolation=interpolation)
    energy, forces = _energy_and_forces(potential, theta, structure, neighbours)
    expected, expected_forces = _energy_and_forces(SC, SUTTON_CHEN["Cu"], structure, neighbours)
    # Measured (both interpolations): |dE| = 8e-10 eV of -104.4 eV, max |dF| = 3.6e-8 eV/Å (forces
    # up to 0.96 eV/Å). The error falls as d_r^4: a 4x coarser r grid gives 1.8e-7 eV, 2e-6 eV/Å.
    assert energy == pytest.approx(expected, rel=0, abs=1e-8)
    np.testing.assert_allclose(forces, expected_forces, rtol=0, atol=3e-7)


def _ase_energy_and_forces(path, structure):
    ase = pytest.importorskip("ase")
    from ase.calculators.eam import EAM as AseEAM
    atoms = ase.Atoms([structure.symbols[s] for s in structure.species],
                      positions=structure.positions, cell=structure.cell, pbc=True)
    atoms.calc = AseEAM(potential=os.fspath(path))
    return atoms.get_potential_energy(), atoms.get_forces()


def test_agrees_with_ase_on_a_copper_crystal(tmp_path, crystal, tabulated_cu):
    pytest.importorskip("ase")
    structure, neighbours = crystal
    potential, theta = tabulated_cu
    path = tmp_path / "Cu_sutton_chen.eam.alloy"
    write_eam_setfl(path, potential, theta, comments="Sutton-Chen Cu, tabulated")
    potential, theta = read_eam_setfl(path)
    energy, forces = _energy_and_forces(potential, theta, structure, neighbours)
    ase_energy, ase_forces = _ase_energy_and_forces(path, structure)
    # ASE splines phi = r*phi/r (not-a-knot) where we use LAMMPS's Hermite interpolation of r*phi:
    # measured |dE| = 8e-10 eV and max |dF| = 3.3e-8 eV/Å on this grid.
    assert energy == pytest.approx(ase_energy, rel=0, abs=1e-8)
    np.testing.assert_allclose(forces, ase_forces, rtol=0, atol=3e-7)


def test_agrees_with_ase_on_a_binary_alloy(tmp_path):
    pytest.importorskip("ase")
    potential, theta = _binary_cu_ni()
    species = np.random.default_rng(6).integers(0, 2, size=31)
    structure = _rattled_vacancy(a=3.56, seed=7, species=species, symbols=("Cu", "Ni"))
    path = tmp_path / "CuNi.eam.alloy"
    write_eam_setfl(path, potential, theta)
    energy, forces = _energy_and_forces(potential, theta, structure)
    ase_energy, ase_forces = _ase_energy_and_forces(path, structure)
    # Measured |dE| = 9e-10 eV of -122.8 eV and max |dF| = 3.3e-8 eV/Å. Species mix-ups are far
    # above that: the two cross-pair rows reordered changes E by 0.025 eV, F or f of Cu and Ni
    # swapped by 10 eV and 3 eV, densities taken from the centre's species by 0.87 eV.
    assert energy == pytest.approx(ase_energy, rel=0, abs=1e-8)
    np.testing.assert_allclose(forces, ase_forces, rtol=0, atol=3e-7)


# -- derivatives -----------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["lammps", "spline"])
def test_gradient_with_respect_to_the_tables_matches_finite_differences(crystal, interpolation):
    structure, neighbours = crystal
    potential, theta = tabulate_eam(SC, SUTTON_CHEN["Cu"], **GRID, symbol="Cu",
                                    interpolation=interpolation)
    theta = {key: jnp.asarray(value) for key, value in theta.items()}
    cell, x = jnp.asarray(structure.cell), jnp.asarray(structure.positions)
    energy = jax.jit(lambda th: potential_energy(potential, x, cell, th, neighbours))
    grad = jax.grad(energy)(theta)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grad.values())

    # Entries that matter: r nodes in the nearest-neighbour shell, rho nodes at atoms' densities.
    nearest = int(round(3.61 / np.sqrt(2) / potential.d_r))
    r = jnp.linalg.norm(displacements(neighbours, x, cell), axis=-1)
    inside = neighbours.mask & (r < CUTOFF)
    rho = np.sum(np.where(inside, potential.density(theta, jnp.where(inside, r, 1.0)), 0.0), axis=1)
    embedded = [int(rho[atom] / potential.d_rho) for atom in (0, 11)]
    entries = [("rphi", (0, nearest)), ("rphi", (0, nearest + 7)), ("f", (0, nearest)),
               ("f", (0, nearest - 11)), ("F", (0, embedded[0])), ("F", (0, embedded[1] + 1))]
    for key, index in entries:
        step = 1e-4 * max(1.0, abs(float(theta[key][index])))
        plus = {**theta, key: theta[key].at[index].add(step)}
        minus = {**theta, key: theta[key].at[index].add(-step)}
        fd = (float(energy(plus)) - float(energy(minus))) / (2 * step)
        assert float(grad[key][index]) != 0.0, (key, index)
        assert float(grad[key][index]) == pytest.approx(fd, rel=1e-6, abs=1e-10), (key, index)


def test_forces_are_minus_the_gradient_of_the_energy(crystal, tabulated_cu):
    structure, neighbours = crystal
    potential, theta = tabulated_cu
    cell = jnp.asarray(structure.cell)
    energy = jax.jit(lambda x: potential_energy(potential, x, cell, theta, neighbours))
    _, forces = _energy_and_forces(potential, theta, structure, neighbours)
    x = np.asarray(structure.positions)
    h = 1e-5
    for atom, axis in [(0, 0), (4, 1), (17, 2), (30, 0)]:
        plus, minus = x.copy(), x.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = (float(energy(jnp.asarray(plus))) - float(energy(jnp.asarray(minus)))) / (2 * h)
        assert -forces[atom, axis] == pytest.approx(fd, rel=1e-6, abs=1e-8)


# -- errors ----------------------------------------------------------------------------------------


def _small_setfl(tmp_path):
    potential, theta = _random_binary()
    path = tmp_path / "small.eam.alloy"
    write_eam_setfl(path, potential, theta)
    return path, path.read_text().splitlines()


def test_malformed_files_give_clear_errors(tmp_path):
    path, lines = _small_setfl(tmp_path)
    bad = tmp_path / "bad.eam.alloy"

    bad.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(EAMFileError, match=r"bad\.eam\.alloy: the file ends .* r\*phi\(r\) of Al-Al"
                                           r".*truncated"):
        read_eam_setfl(bad)

    broken = list(lines)
    broken[9] = broken[9].replace(broken[9].split()[1], "1.0x-3")
    bad.write_text("\n".join(broken) + "\n")
    with pytest.raises(EAMFileError, match=r"bad\.eam\.alloy, line 10: expected value .* of "
                                           r"F\(rho\) of Ni, got '1\.0x-3'"):
        read_eam_setfl(bad)

    bad.write_text("\n".join(lines[:3] + ["2 Ni"] + lines[4:]) + "\n")
    with pytest.raises(EAMFileError, match=r"line 4: expected the number of elements"):
        read_eam_setfl(bad)

    bad.write_text("\n".join(lines + ["1.0 2.0"]) + "\n")
    with pytest.raises(EAMFileError, match=rf"line {len(lines) + 1}: 2 value\(s\) left over"):
        read_eam_setfl(bad)

    element = lines[5].split()
    bad.write_text("\n".join(lines[:5] + [" ".join(element[:3])] + lines[6:]) + "\n")
    with pytest.raises(EAMFileError, match=r"line 7: expected the lattice type .* got the number"):
        read_eam_setfl(bad)

    bad.write_text("\n".join(lines[:4] + ["23 0.05 3 0.3 4.9"] + lines[5:]) + "\n")
    with pytest.raises(EAMFileError, match=r"line 5: the grid line .* Nr=3"):
        read_eam_setfl(bad)

    funcfl = tmp_path / "short.eam"
    funcfl.write_text("comment\n29 63.546 3.615 FCC\n")
    with pytest.raises(EAMFileError, match=r"short\.eam: only 2 line"):
        read_eam_funcfl(funcfl)
    funcfl.write_text("comment\n29 63.546 3.615 FCC\n5 0.1 5 0.5 2.0\n1 2 3 4 5\n1 2 3\n")
    with pytest.raises(EAMFileError, match=r"short\.eam: the file ends .* effective charge Z\(r\): "
                                           r"expected 5 value\(s\), found 3"):
        read_eam_funcfl(funcfl)


def test_wrong_tables_and_species_are_reported(crystal):
    structure, neighbours = crystal
    potential, theta = _random_binary()
    with pytest.raises(ValueError, match=r"theta\['rphi'\] must have shape \(3, 17\)"):
        potential.check_theta({**theta, "rphi": theta["rphi"][:2]})
    with pytest.raises(KeyError, match=r"missing \['F'\]"):
        potential.check_theta({"f": theta["f"], "rphi": theta["rphi"]})
    # A species code the potential does not know gives NaN, not a silently clipped element.
    single, single_theta = tabulate_eam(SC, SUTTON_CHEN["Cu"], n_rho=101, d_rho=4.0, n_r=201,
                                        d_r=CUTOFF / 200)
    species = np.zeros(31, int)
    species[3] = 1
    two = Structure(structure.positions, structure.cell, species, ("Cu", "Ni"))
    energy, _ = _energy_and_forces(single, single_theta, two)
    assert np.isnan(energy)
    with pytest.raises(ValueError, match=r"must reach the cutoff"):
        tabulate_eam(SC, SUTTON_CHEN["Cu"], n_rho=101, d_rho=4.0, n_r=100, d_r=0.05)
