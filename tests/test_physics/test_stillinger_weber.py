"""The Stillinger–Weber potential against the diamond-silicon values it was built for and a naive
loop over explicit triplets; its derivatives (forces, θ-gradients, Hessians) are finite and right."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics.atomistic import Structure, diamond, neighbour_list, remove_atom
from physics.atomistic._potential import potential_energy, site_energies
from physics.atomistic import STILLINGER_WEBER_SI, StillingerWeber

THETA = {k: jnp.asarray(v) for k, v in STILLINGER_WEBER_SI.items()}
A0_SI = 5.431


# --- a naive reference: explicit images and explicit triplets, plain floats ---

def _phi2(r, t):
    if r >= t["a"] * t["sigma"]:
        return 0.0
    s = t["sigma"] / r
    return (t["A"] * t["epsilon"] * (t["B"] * s ** t["p"] - s ** t["q"])
            * math.exp(t["sigma"] / (r - t["a"] * t["sigma"])))


def _phi3(dj, dk, t):
    rj, rk = np.linalg.norm(dj), np.linalg.norm(dk)
    reach = t["a"] * t["sigma"]
    if rj >= reach or rk >= reach:
        return 0.0
    cos = float(dj @ dk) / (rj * rk)
    return (t["lambda_"] * t["epsilon"] * (cos - t["cos_theta0"]) ** 2
            * math.exp(t["gamma"] * t["sigma"] / (rj - reach))
            * math.exp(t["gamma"] * t["sigma"] / (rk - reach)))


def _reference_site_energies(structure, theta):
    """Per-atom energies by brute force: every image within ±3 cells, every triplet."""
    t = {k: float(v) for k, v in theta.items()}
    reach = t["a"] * t["sigma"]
    x, cell = structure.positions, structure.cell
    shifts = np.array(list(itertools.product(range(-3, 4), repeat=3)), float) @ cell
    images = (x[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    energies = np.zeros(len(x))
    for i in range(len(x)):
        d = images - x[i]
        r = np.linalg.norm(d, axis=1)
        bonds = d[(r > 1e-8) & (r < reach)]
        # The cell must be large enough that ±3 images hold every neighbour.
        assert np.all(np.abs(bonds) < 2.5 * np.abs(cell).sum(axis=0))
        energies[i] = 0.5 * sum(_phi2(float(np.linalg.norm(b)), t) for b in bonds)
        for j, k in itertools.combinations(range(len(bonds)), 2):
            energies[i] += _phi3(bonds[j], bonds[k], t)
    return energies


def _rattled(structure, amplitude, seed):
    rng = np.random.default_rng(seed)
    return structure.replace(positions=structure.positions
                             + amplitude * rng.standard_normal(structure.positions.shape))


def _small_cell():
    """8 atoms: four primitive diamond cells (2x2x1), compressed so second neighbours enter the
    cutoff, rattled. Widths across the cell are below the cutoff: atoms see their own images."""
    a = 5.0
    unit = 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    basis = np.array([[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]])
    cells = np.array(list(itertools.product(range(2), range(2), range(1))), float)
    fractional = (cells[:, None, :] + basis[None]).reshape(-1, 3)
    structure = Structure(fractional @ unit, np.array([[2.0], [2.0], [1.0]]) * unit)
    return _rattled(structure, 0.1, seed=3)


def _energy_function(potential, structure, skin=0.5):
    neighbours = neighbour_list(structure, potential.cutoff, skin)
    cell = jnp.asarray(structure.cell)
    energy = jax.jit(lambda x, theta: potential_energy(potential, x, cell, theta, neighbours))
    return energy, jnp.asarray(structure.positions), neighbours


@pytest.fixture(scope="module")
def vacancy_cell():
    """Rattled 2x2x2 diamond Si (64 sites) with a vacancy; some second neighbours inside the cutoff."""
    return _rattled(remove_atom(diamond(A0_SI, 2), 5), 0.12, seed=0)


# --- the diamond crystal ---

def test_parameters_are_the_published_ones():
    potential = StillingerWeber()
    assert potential.cutoff == pytest.approx(1.80 * 2.0951, rel=1e-15)
    assert set(STILLINGER_WEBER_SI) == set(StillingerWeber.parameters)


def test_diamond_cohesive_energy_and_lattice_constant():
    potential = StillingerWeber()

    def energy_per_atom(a):
        structure = diamond(a, 2)
        energy, x, _ = _energy_function(potential, structure)
        return float(energy(x, THETA)) / structure.n_atoms

    # By construction: four bonds at the pair minimum (depth -epsilon), no angular strain.
    assert energy_per_atom(A0_SI) == pytest.approx(-2 * STILLINGER_WEBER_SI["epsilon"], abs=1e-6)
    assert energy_per_atom(A0_SI) == pytest.approx(-4.3366, abs=1e-3)

    # A small scan: E(a) has its minimum at a0 = 4 * 2^(1/6) sigma / sqrt(3) = 5.43095 Å.
    h = 2e-3
    scan = {a: energy_per_atom(a) for a in (A0_SI - h, A0_SI, A0_SI + h)}
    slope = (scan[A0_SI + h] - scan[A0_SI - h]) / (2 * h)
    curvature = (scan[A0_SI + h] - 2 * scan[A0_SI] + scan[A0_SI - h]) / h ** 2
    assert abs(slope) < 1e-3  # eV/Å per atom; |dE/da| ~ curvature * 5e-5 Å
    assert curvature > 1.0
    a_min = A0_SI - slope / curvature
    assert a_min == pytest.approx(4 * 2 ** (1 / 6) * STILLINGER_WEBER_SI["sigma"] / math.sqrt(3),
                                  abs=1e-5)
    assert a_min == pytest.approx(A0_SI, abs=1e-3)


# --- against the naive reference ---

def test_matches_explicit_triplets_with_vacancy(vacancy_cell):
    potential = StillingerWeber()
    neighbours = neighbour_list(vacancy_cell, potential.cutoff, 0.5)
    x, cell = jnp.asarray(vacancy_cell.positions), jnp.asarray(vacancy_cell.cell)
    got = np.asarray(site_energies(potential, x, cell, THETA, neighbours))
    expected = _reference_site_energies(vacancy_cell, THETA)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert float(potential_energy(potential, x, cell, THETA, neighbours)) == pytest.approx(
        expected.sum(), rel=1e-12)


def test_matches_explicit_triplets_in_small_cell_with_images():
    structure = _small_cell()
    potential = StillingerWeber()
    widths = structure.volume / np.linalg.norm(np.cross(structure.cell[[1, 2, 0]],
                                                        structure.cell[[2, 0, 1]]), axis=1)
    assert widths.min() < potential.cutoff  # images of an atom's own cell matter
    neighbours = neighbour_list(structure, potential.cutoff, 0.5)
    x, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    got = np.asarray(site_energies(potential, x, cell, THETA, neighbours))
    expected = _reference_site_energies(structure, THETA)
    assert np.any(np.abs(expected - (-2 * STILLINGER_WEBER_SI["epsilon"])) > 0.1)  # far from ideal
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# --- derivatives ---

def test_forces_match_finite_differences(vacancy_cell):
    energy, x, _ = _energy_function(StillingerWeber(), vacancy_cell)
    forces = -jax.grad(energy)(x, THETA)
    assert np.all(np.isfinite(np.asarray(forces)))
    rng = np.random.default_rng(1)
    h = 1e-5
    for atom, axis in zip(rng.choice(len(x), 6, replace=False), rng.integers(0, 3, 6)):
        step = jnp.zeros_like(x).at[atom, axis].set(h)
        fd = -(energy(x + step, THETA) - energy(x - step, THETA)) / (2 * h)
        assert float(forces[atom, axis]) == pytest.approx(float(fd), abs=1e-7)
    # No net force on a periodic cell.
    np.testing.assert_allclose(np.asarray(forces).sum(axis=0), 0.0, atol=1e-10)


def test_theta_gradients_match_finite_differences(vacancy_cell):
    # A cutoff above a*sigma, so sigma and a can be stepped up in the finite differences.
    energy, x, _ = _energy_function(StillingerWeber(cutoff=3.9), vacancy_cell)
    grad = jax.grad(energy, argnums=1)(x, THETA)
    assert set(grad) == set(THETA)
    for key in THETA:
        value = float(THETA[key])
        h = 1e-6 * max(abs(value), 1.0)
        fd = (energy(x, {**THETA, key: value + h}) - energy(x, {**THETA, key: value - h})) / (2 * h)
        assert np.isfinite(float(grad[key])), key
        assert float(grad[key]) == pytest.approx(float(fd), rel=1e-6, abs=1e-6), key


def test_second_derivatives_are_finite_with_vacancy(vacancy_cell):
    energy, x, _ = _energy_function(StillingerWeber(cutoff=3.9), vacancy_cell)
    hessian = np.asarray(jax.jit(jax.hessian(energy))(x, THETA)).reshape(x.size, x.size)
    assert np.all(np.isfinite(hessian))
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-9)
    # Mixed position-θ and θ-θ second derivatives (implicit differentiation of relaxed properties).
    mixed = jax.jit(jax.jacfwd(jax.grad(energy), argnums=1))(x, THETA)
    theta_theta = jax.jit(jax.hessian(energy, argnums=1))(x, THETA)
    for leaf in jax.tree_util.tree_leaves((mixed, theta_theta)):
        assert np.all(np.isfinite(np.asarray(leaf)))


def test_derivatives_finite_at_the_range():
    """A bent trimer with one bond right at a*sigma: no NaN from exp(sigma / (r - a sigma))."""
    potential = StillingerWeber(cutoff=3.9)
    reach = STILLINGER_WEBER_SI["a"] * STILLINGER_WEBER_SI["sigma"]
    bend = np.array([np.cos(2.0), np.sin(2.0), 0.0])
    cell = jnp.eye(3) * 20.0

    def energy(x, theta, neighbours):
        return potential_energy(potential, x, cell, theta, neighbours)

    # One compiled function for every geometry: the neighbour list is an argument, same shape.
    derivatives = jax.jit(lambda x, theta, neighbours: (
        energy(x, theta, neighbours), jax.grad(energy, argnums=(0, 1))(x, theta, neighbours),
        jax.hessian(energy, argnums=(0, 1))(x, theta, neighbours)))
    for gap in (-1e-3, -1e-9, -1e-14, 0.0, 1e-12, 1e-3):
        positions = np.array([[10.0, 10.0, 10.0], [10.0 + reach + gap, 10.0, 10.0],
                              [10.0, 10.0, 10.0] + 2.3 * bend])
        structure = Structure(positions, np.asarray(cell), pbc=False)
        neighbours = neighbour_list(structure, potential.cutoff, 0.5, capacity=2)
        values = derivatives(jnp.asarray(positions), THETA, neighbours)
        for leaf in jax.tree_util.tree_leaves(values):
            assert np.all(np.isfinite(np.asarray(leaf))), gap


def test_cos_theta0_defaults_to_tetrahedral(vacancy_cell):
    energy, x, _ = _energy_function(StillingerWeber(), vacancy_cell)
    without = {k: v for k, v in THETA.items() if k != "cos_theta0"}
    assert float(energy(x, without)) == pytest.approx(float(energy(x, THETA)), rel=1e-14)


# --- bad input ---

def test_bad_theta_is_refused():
    structure = diamond(A0_SI, 1)
    x, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    neighbours = neighbour_list(structure, 4.0, 0.5)
    missing = {k: v for k, v in STILLINGER_WEBER_SI.items() if k != "gamma"}
    with pytest.raises(KeyError, match="gamma"):
        potential_energy(StillingerWeber(), x, cell, missing, neighbours)
    too_long = {**STILLINGER_WEBER_SI, "a": 1.9}
    with pytest.raises(ValueError, match="cutoff"):
        potential_energy(StillingerWeber(), x, cell, too_long, neighbours)
    with pytest.raises(ValueError, match="cutoff"):
        potential_energy(StillingerWeber(cutoff=3.5), x, cell, STILLINGER_WEBER_SI, neighbours)
    with pytest.raises(ValueError, match="sigma > 0"):
        potential_energy(StillingerWeber(), x, cell, {**STILLINGER_WEBER_SI, "sigma": -1.0},
                         neighbours)
    # A larger cutoff than the potential's range is fine.
    energy = potential_energy(StillingerWeber(cutoff=4.0), x, cell, STILLINGER_WEBER_SI, neighbours)
    assert float(energy) / 8 == pytest.approx(-2 * STILLINGER_WEBER_SI["epsilon"], abs=1e-6)
