"""Neighbour lists: every periodic image, validity under motion, rebuild and reallocation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from atomistic_reference import direct_pair_energy
from physics.atomistic import (LJ_REDUCED, MORSE_CU, LennardJones, Morse, Structure, fcc, hcp,
                               neighbour_list, neighbours_valid, potential_energy, remove_atom,
                               update_neighbours)
from physics.atomistic._relax import relax


def _morse_phi(r, theta=MORSE_CU):
    return theta["D"] * ((1 - np.exp(-theta["alpha"] * (r - theta["r0"]))) ** 2 - 1)


def _energy(potential, structure, theta, skin=0.5):
    nb = neighbour_list(structure, potential.cutoff, skin)
    return float(potential_energy(potential, jnp.asarray(structure.positions),
                                  jnp.asarray(structure.cell), theta, nb))


@pytest.mark.parametrize("structure", [
    fcc(3.615, 1),  # 4 atoms, cutoff 8 Å > 2 cell lengths: several images of every atom
    hcp(2.55, cells=(1, 1, 1)),  # 2 atoms, non-orthogonal cell
    Structure(fcc(3.615, 1).positions @ np.array([[1, 0, 0], [0.1, 1, 0], [0, 0.2, 1.0]]).T
              + 0.03 * np.random.default_rng(1).standard_normal((4, 3)),
              fcc(3.615, 1).cell @ np.array([[1, 0, 0], [0.1, 1, 0], [0, 0.2, 1.0]]).T),
], ids=["fcc-conventional", "hcp-primitive", "sheared-rattled"])
def test_long_cutoff_counts_every_image(structure):
    """A minimum-image code gets these wrong silently; compare with a direct lattice sum."""
    potential = Morse(cutoff=8.0, truncation="shifted")
    shift = _morse_phi(8.0)
    expected = direct_pair_energy(structure.positions, structure.cell,
                                  lambda r: _morse_phi(r) - shift, 8.0)
    assert _energy(potential, structure, MORSE_CU) == pytest.approx(expected, rel=1e-12)


def test_hcp_has_twelve_nearest_neighbours_in_a_primitive_cell():
    nb = neighbour_list(hcp(2.55, cells=1), cutoff=2.6, skin=0.0)
    np.testing.assert_array_equal(nb.count(), [12, 12])


def test_open_boundaries_see_no_images():
    cluster = Structure(np.array([[0.0, 0, 0], [1.2, 0, 0]]), np.eye(3) * 3.0, pbc=False)
    nb = neighbour_list(cluster, cutoff=2.5, skin=0.0)
    np.testing.assert_array_equal(nb.count(), [1, 1])
    e = _energy(LennardJones(cutoff=2.5, truncation="plain"), cluster, LJ_REDUCED, skin=0.0)
    assert e == pytest.approx(4 * (1.2 ** -12 - 1.2 ** -6))


def test_stale_list_is_detected_and_gives_nan():
    crystal = fcc(3.615, 3)
    nb = neighbour_list(crystal, 6.5, skin=1.0)
    x = jnp.asarray(crystal.positions)
    cell = jnp.asarray(crystal.cell)
    assert bool(neighbours_valid(nb, x + 0.45, cell))  # a rigid shift moves no pair
    moved = x.at[0].add(jnp.array([0.6, 0.0, 0.0]))
    assert not bool(neighbours_valid(nb, moved, cell))
    assert bool(jnp.isnan(potential_energy(Morse(), moved, cell, MORSE_CU, nb)))
    assert not bool(neighbours_valid(nb, x * 0.85, cell * 0.85))  # compressed by 15 %


def test_update_keeps_capacity_or_reallocates():
    crystal = fcc(3.615, 3)
    nb = neighbour_list(crystal, 6.5, skin=1.0, capacity_multiplier=1.0)
    same, reallocated = update_neighbours(nb, crystal)
    assert not reallocated and same.capacity == nb.capacity
    dense = crystal.replace(positions=crystal.positions * 0.9, cell=crystal.cell * 0.9)
    grown, reallocated = update_neighbours(nb, dense)
    assert reallocated and grown.capacity > nb.capacity
    assert np.all(grown.count() > nb.count())
    with pytest.raises(ValueError, match="capacity"):
        neighbour_list(dense, 6.5, skin=1.0, capacity=nb.capacity)


def test_relax_rebuilds_a_stale_list_and_reaches_the_true_minimum():
    """Start far from equilibrium with a thin skin: the list goes stale mid-relaxation and is rebuilt."""
    crystal = remove_atom(fcc(3.615, 2), 0)
    potential = Morse(cutoff=5.0, onset=4.0)
    start = crystal.replace(positions=crystal.positions
                            + 0.25 * np.random.default_rng(0).standard_normal((31, 3)))
    thin = relax(potential, MORSE_CU, start, skin=0.3)
    thick = relax(potential, MORSE_CU, start, skin=2.0)
    assert int(thin.solution.result) == calib.RESULTS.successful
    assert float(thin.energy) == pytest.approx(float(thick.energy), abs=1e-8)
    # The thin list was replaced: it is no longer the one built at the start.
    assert not np.allclose(thin.neighbours.reference_positions, start.positions)


def test_overlapping_atoms_are_refused():
    s = Structure(np.array([[0.0, 0, 0], [3.0, 0, 0]]), np.eye(3) * 3.0)
    with pytest.raises(ValueError, match="on top of each other"):
        neighbour_list(s, 2.0)


def test_list_built_for_a_shorter_cutoff_is_refused():
    crystal = fcc(3.615, 2)
    nb = neighbour_list(crystal, 4.0, skin=0.5)
    with pytest.raises(ValueError, match="rebuild it"):
        potential_energy(Morse(cutoff=6.5), jnp.asarray(crystal.positions), jnp.asarray(crystal.cell),
                         MORSE_CU, nb)


def test_jit_and_vmap_over_parameters():
    crystal = fcc(3.615, 2)
    nb = neighbour_list(crystal, 6.5, 1.0)
    f = jax.jit(lambda t: potential_energy(Morse(), jnp.asarray(crystal.positions),
                                           jnp.asarray(crystal.cell), t, nb))
    thetas = {k: jnp.full(3, v) * jnp.array([0.9, 1.0, 1.1]) if k == "D" else jnp.full(3, v)
              for k, v in MORSE_CU.items()}
    batched = jax.vmap(f)(thetas)
    np.testing.assert_allclose(batched, [float(f({**MORSE_CU, "D": MORSE_CU["D"] * s}))
                                         for s in (0.9, 1.0, 1.1)], rtol=1e-12)
