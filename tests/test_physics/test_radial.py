"""The explicit-force kernel of pair and embedded-atom potentials (``physics.atomistic._radial``)
against autodiff of the site energies, to every order the calibration uses, and against finite
differences; the neighbour list it relies on."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics.atomistic import (FINNIS_SINCLAIR_MO, MORSE_CU, SUTTON_CHEN, FinnisSinclair, Morse,
                               SuttonChen, bcc, fcc, neighbour_list, potential_energy,
                               site_energies, surface_slab, tabulate_eam, update_neighbours)
from physics.atomistic import _neighbours, _radial
from physics.atomistic._potential import has_radial_terms

RNG = np.random.default_rng(3)


def _rattled(structure, amplitude):
    return structure.replace(positions=structure.positions
                             + amplitude * RNG.standard_normal(structure.positions.shape))


def _two_species_table():
    table, theta = tabulate_eam(SuttonChen(cutoff=6.0), SUTTON_CHEN["Cu"], 400, 0.5, 601, 0.01,
                                "Cu")
    potential = dataclasses.replace(table, symbols=("Cu", "Ni"), atomic_numbers=None, masses=None,
                                    lattice_constants=None, lattice_types=None)
    f, F, rphi = theta["f"][0], theta["F"][0], theta["rphi"][0]
    return potential, {"F": np.stack([F, 1.1 * F]), "f": np.stack([f, 0.9 * f]),
                       "rphi": np.stack([rphi, 1.05 * rphi, 0.95 * rphi])}


def _cases():
    crystal = _rattled(fcc(3.615, 2, symbol="Cu"), 0.05)
    primitive = _rattled(fcc(3.615, 1, symbol="Cu"), 0.03)  # images far beyond one shift
    slab = _rattled(surface_slab(fcc(3.615, 2, symbol="Cu"), 2, vacuum=8.0), 0.05)
    mixed = crystal.replace(species=RNG.integers(0, 2, crystal.n_atoms), symbols=("Cu", "Ni"))
    molybdenum = _rattled(bcc(3.1472, 2, symbol="Mo"), 0.03)
    return {
        "morse, shifted, strained cell": (Morse(cutoff=6.5, truncation="shifted"), MORSE_CU,
                                           crystal.replace(cell=crystal.cell @ np.array(
                                               [[1.01, 0.02, 0.0], [0.0, 0.99, 0.0],
                                                [0.0, 0.0, 1.0]]), positions=crystal.positions)),
        "sutton-chen, primitive cell": (SuttonChen(cutoff=8.0), SUTTON_CHEN["Cu"], primitive),
        "morse, slab": (Morse(), MORSE_CU, slab),
        "finnis-sinclair": (FinnisSinclair(), FINNIS_SINCLAIR_MO, molybdenum),
        "tabulated, two species": _two_species_table() + (mixed,),
    }


CASES = _cases()


def _relative(a, b):
    a, b = jnp.asarray(a), jnp.asarray(b)
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


# Two cases cover both code paths (one pass for pair potentials, two for the embedded-atom form,
# with species) in every run of the suite; the others run with the benchmarks (compile time).
QUICK_CASES = ("morse, shifted, strained cell", "tabulated, two species")


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[] if name in QUICK_CASES else [pytest.mark.benchmark])
    for name in CASES])
def test_every_derivative_equals_autodiff_of_the_site_energies(name):
    potential, theta, structure = CASES[name]
    assert has_radial_terms(potential)
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    neighbours = neighbour_list(structure, potential.cutoff, 1.0)
    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    v = jnp.asarray(np.random.default_rng(0).standard_normal(positions.shape))

    def derivatives(energy):
        def run(p, c, th):
            value, (dp, dc, dth) = jax.value_and_grad(energy, argnums=(0, 1, 2))(p, c, th)
            hvp = jax.jvp(lambda q: jax.grad(energy)(q, c, th), (p,), (v,))[1]
            # The implicit adjoint's mixed term: d/dtheta of v . dE/dr.
            mixed = jax.grad(lambda t: jnp.vdot(v, jax.grad(energy)(p, c, t)))(th)
            cell_hessian = jax.hessian(energy, argnums=1)(p, c, th)
            return value, dp, dc, dth, hvp, mixed, cell_hessian
        return jax.jit(run)(positions, cell, theta)

    fast = derivatives(lambda p, c, th: potential_energy(potential, p, c, th, neighbours))
    reference = derivatives(lambda p, c, th: jnp.sum(site_energies(potential, p, c, th,
                                                                   neighbours)))
    for got, want, what in zip(fast, reference, ("E", "forces", "dE/dC", "dE/dtheta", "HVP",
                                                 "mixed", "cell Hessian")):
        # Parameter derivatives are sums with cancellation (a parameter may barely matter), and
        # tables are piecewise cubics whose derivatives the two paths evaluate differently.
        tolerance = 1e-10 if ("tabulated" in name or isinstance(want, dict)) else 1e-12
        for key in (want if isinstance(want, dict) else [None]):
            g, w = (got[key], want[key]) if key is not None else (got, want)
            assert _relative(g, w) < tolerance, (what, key)


def test_forces_and_a_parameter_derivative_match_central_differences():
    potential, theta, structure = CASES["sutton-chen, primitive cell"]
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    neighbours = neighbour_list(structure, potential.cutoff, 1.0)
    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    energy = jax.jit(lambda p, th: potential_energy(potential, p, cell, th, neighbours))
    forces = -jax.jit(jax.grad(energy))(positions, theta)
    h = 1e-5
    for atom, axis in ((0, 0), (2, 1), (3, 2)):
        step = jnp.zeros_like(positions).at[atom, axis].set(h)
        fd = -(energy(positions + step, theta) - energy(positions - step, theta)) / (2 * h)
        assert float(forces[atom, axis]) == pytest.approx(float(fd), rel=1e-7, abs=1e-9)
    d_n = jax.jit(jax.grad(energy, argnums=1))(positions, theta)["n"]
    hn = 1e-6 * float(theta["n"])
    fd = (energy(positions, {**theta, "n": theta["n"] + hn})
          - energy(positions, {**theta, "n": theta["n"] - hn})) / (2 * hn)
    assert float(d_n) == pytest.approx(float(fd), rel=1e-7)


def test_blocks_that_do_not_divide_the_rows(monkeypatch):
    """Several blocks, the last overlapping the one before: the same numbers as one block."""
    potential, theta, structure = CASES["tabulated, two species"]
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    neighbours = neighbour_list(structure, potential.cutoff, 1.0)
    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)

    def energy_and_forces():
        return jax.value_and_grad(lambda p: potential_energy(potential, p, cell, theta,
                                                             neighbours))(positions)

    whole = energy_and_forces()
    monkeypatch.setattr(_radial, "SLOTS_PER_BLOCK", 5 * neighbours.capacity)  # 32 = 6 * 5 + 2
    assert _radial._rows_per_block(structure.n_atoms, neighbours.capacity) == 5
    blocked = energy_and_forces()
    assert float(blocked[0]) == pytest.approx(float(whole[0]), rel=1e-14)
    assert _relative(blocked[1], whole[1]) < 1e-12


def test_a_stale_list_gives_nan_energy_and_forces():
    potential, theta, structure = CASES["morse, slab"]
    neighbours = neighbour_list(structure, potential.cutoff, 0.5)
    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    moved = positions.at[3, 0].add(0.4)  # beyond half the skin
    energy, gradient = jax.value_and_grad(
        lambda p: potential_energy(potential, p, cell, MORSE_CU, neighbours))(moved)
    assert np.isnan(float(energy)) and bool(jnp.all(jnp.isnan(gradient)))


def test_the_list_holds_every_pair_both_ways_with_positions_outside_the_cell():
    crystal = _rattled(fcc(3.615, 2, symbol="Cu"), 0.05)
    # Some atoms outside the cell (unwrapped positions): the shifts account for it.
    outside = crystal.replace(positions=crystal.positions + np.where(
        RNG.random((crystal.n_atoms, 1)) < 0.3, crystal.cell[0], 0.0))
    for structure in (crystal, outside):
        neighbours = neighbour_list(structure, 5.0, 1.0)
        index, shift = np.asarray(neighbours.index), np.asarray(neighbours.shift)
        n = structure.n_atoms
        listed = {(i, int(j), *map(int, s)) for i in range(n)
                  for j, s in zip(index[i], shift[i]) if j < n}
        i, j, s, _ = _neighbours._pairs(structure.positions, structure.cell, structure.pbc, 6.0)
        assert listed == {(a, b, *map(int, c)) for a, b, c in zip(i, j, s)}
        assert all((j, i, -a, -b, -c) in listed for i, j, a, b, c in listed)
    e = [float(potential_energy(Morse(cutoff=5.0), jnp.asarray(s.positions), jnp.asarray(s.cell),
                                MORSE_CU, neighbour_list(s, 5.0, 1.0))) for s in (crystal, outside)]
    assert e[1] == pytest.approx(e[0], rel=1e-13)


def test_a_rebuild_keeps_the_image_table_and_the_shapes():
    crystal = _rattled(fcc(3.615, 3, symbol="Cu"), 0.02)
    neighbours = neighbour_list(crystal, 5.0, 1.0)
    moved = crystal.replace(positions=crystal.positions + 0.3 * RNG.standard_normal(
        crystal.positions.shape))
    rebuilt, reallocated = update_neighbours(neighbours, moved)
    assert not reallocated
    assert rebuilt.images.shape == neighbours.images.shape
    np.testing.assert_array_equal(np.asarray(rebuilt.images), np.asarray(neighbours.images))
    fresh = neighbour_list(moved, 5.0, 1.0)
    e = [float(potential_energy(Morse(cutoff=5.0), jnp.asarray(moved.positions),
                                jnp.asarray(moved.cell), MORSE_CU, nb)) for nb in (rebuilt, fresh)]
    assert e[0] == pytest.approx(e[1], rel=1e-13)
