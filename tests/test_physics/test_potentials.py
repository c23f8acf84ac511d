"""Pair and EAM potentials: analytic facts, forces, stresses and parameter gradients vs finite
differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atomistic_reference import central_difference
from physics.atomistic import (FINNIS_SINCLAIR_MO, LJ_REDUCED, MORSE_CU, SUTTON_CHEN, FinnisSinclair,
                               LennardJones, Morse, Structure, SuttonChen, bcc, fcc, neighbour_list,
                               potential_energy, remove_atom, smooth_step)
from physics.atomistic._potential import stress

CASES = {
    "lj-plain": (LennardJones(cutoff=2.5, truncation="plain"), LJ_REDUCED, 1.56),
    "lj-shifted": (LennardJones(cutoff=2.5, truncation="shifted"), LJ_REDUCED, 1.56),
    "lj-smooth": (LennardJones(cutoff=2.5, onset=2.0), LJ_REDUCED, 1.56),
    "morse": (Morse(cutoff=6.0, onset=5.0), MORSE_CU, 3.615),
    "sutton-chen": (SuttonChen(cutoff=7.0, onset=6.0), SUTTON_CHEN["Cu"], 3.61),
    "finnis-sinclair": (FinnisSinclair(cutoff=4.5), FINNIS_SINCLAIR_MO, 3.1472),
}


def _rattled_vacancy(name):
    potential, theta, a = CASES[name]
    crystal = remove_atom((bcc if name == "finnis-sinclair" else fcc)(a, 2), 3)
    rng = np.random.default_rng(7)
    crystal = crystal.replace(positions=crystal.positions + 0.04 * a * rng.standard_normal(
        crystal.positions.shape))
    nb = neighbour_list(crystal, potential.cutoff, skin=0.3)
    theta = {k: jnp.asarray(v, float) for k, v in theta.items()}
    return potential, theta, jnp.asarray(crystal.positions), jnp.asarray(crystal.cell), nb


def test_lennard_jones_dimer_minimum_at_two_to_the_sixth():
    s = Structure(np.array([[0.0, 0, 0], [1.1, 0, 0]]), np.eye(3) * 10, pbc=False)
    nb = neighbour_list(s, 3.0, 0.5)

    def dimer(r):
        x = jnp.array([[0.0, 0, 0], [1.0, 0, 0]]) * r
        return potential_energy(LennardJones(cutoff=3.0, truncation="plain"), x,
                                jnp.asarray(s.cell), LJ_REDUCED, nb)
    r_min = 2 ** (1 / 6)
    assert float(dimer(r_min)) == pytest.approx(-1.0, rel=1e-14)
    assert abs(float(jax.grad(dimer)(r_min))) < 1e-12


@pytest.mark.parametrize("name", list(CASES))
def test_forces_are_minus_the_energy_gradient(name):
    potential, theta, x, cell, nb = _rattled_vacancy(name)
    energy = jax.jit(lambda y: potential_energy(potential, y, cell, theta, nb))
    forces = -jax.grad(energy)(x)
    h = 1e-5
    for atom, axis in [(0, 0), (5, 1), (11, 2)]:
        step = jnp.zeros_like(x).at[atom, axis].set(1.0)
        fd = -float(central_difference(lambda t: energy(x + t * step), 0.0, h))
        assert float(forces[atom, axis]) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    # Newton's third law: forces sum to zero in a periodic crystal.
    np.testing.assert_allclose(np.sum(np.asarray(forces), axis=0), 0.0, atol=1e-10)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.benchmark) if n in ("lj-plain", "sutton-chen") else n
    for n in CASES])
def test_stress_is_the_strain_derivative_of_the_energy(name):
    potential, theta, x, cell, nb = _rattled_vacancy(name)
    sigma = stress(potential, x, cell, theta, nb)
    volume = float(jnp.abs(jnp.linalg.det(cell)))
    for i, j in [(0, 0), (1, 2), (2, 2), (0, 1)]:
        def strained(t):
            eps = jnp.zeros((3, 3)).at[i, j].add(t / 2).at[j, i].add(t / 2)
            return potential_energy(potential, x @ (jnp.eye(3) + eps).T, cell @ (jnp.eye(3) + eps).T,
                                    theta, nb)
        fd = central_difference(strained, 0.0, 1e-6) / volume
        assert float(sigma[i, j]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_parameter_gradients_are_finite_and_match_finite_differences(name):
    """jax-md's Lennard-Jones gives NaN for dE/dsigma through a masked r = 0 pair; ours must not."""
    potential, theta, x, cell, nb = _rattled_vacancy(name)
    energy = jax.jit(lambda t: potential_energy(potential, x, cell, t, nb))
    grad = jax.grad(energy)(theta)
    for key, value in theta.items():
        assert np.isfinite(float(grad[key])), key
        h = 1e-6 * max(abs(float(value)), 1.0)
        fd = central_difference(lambda v: energy({**theta, key: v}), value, h)
        assert float(grad[key]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9), key


def test_truncations_continuity_at_the_cutoff():
    rc = 2.5
    r = jnp.array([rc - 1e-9, rc + 1e-9])
    for truncation, continuous in [("plain", False), ("shifted", True), ("smooth", True)]:
        phi = LennardJones(cutoff=rc, truncation=truncation, onset=2.0).truncated_pair(r, LJ_REDUCED)
        inside = float(phi[0])
        assert (abs(inside) < 1e-7) == continuous, truncation
    # The smooth switch is C2: value, slope and curvature reach 0 at the cutoff and 1 at the onset.
    s = lambda t: smooth_step(t, 2.0, rc)
    for f in (s, jax.grad(s), jax.grad(jax.grad(s))):
        assert abs(float(f(rc - 1e-10))) < 1e-7
    assert float(s(2.0)) == 1.0 and abs(float(jax.grad(s)(2.0 + 1e-9))) < 1e-6


def test_sutton_chen_and_finnis_sinclair_reproduce_their_fits():
    """Sutton & Chen fitted a0 = 3.61 Å, Ec = 3.49 eV for Cu (lattice sums to infinite range);
    Finnis & Sinclair fitted a0 = 3.1472 Å, Ec = 6.82 eV for Mo."""
    def per_atom(potential, theta, crystal, cutoff):
        nb = neighbour_list(crystal, cutoff, 0.0)
        return float(potential_energy(potential, jnp.asarray(crystal.positions),
                                      jnp.asarray(crystal.cell), theta, nb)) / crystal.n_atoms
    sc = SuttonChen(cutoff=25.0, smooth=False)
    assert per_atom(sc, SUTTON_CHEN["Cu"], fcc(3.61, 1), 25.0) == pytest.approx(-3.49, abs=0.01)
    fs = FinnisSinclair()
    assert per_atom(fs, FINNIS_SINCLAIR_MO, bcc(3.1472, 1), 4.5) == pytest.approx(-6.82, abs=0.005)


def test_missing_parameter_is_named():
    potential, theta, x, cell, nb = _rattled_vacancy("morse")
    with pytest.raises(KeyError, match="alpha"):
        potential_energy(potential, x, cell, {"D": 1.0, "r0": 2.8}, nb)
    with pytest.raises(ValueError, match="truncation"):
        Morse(truncation="cubic")
    with pytest.raises(ValueError, match="cutoff"):
        LennardJones(cutoff=-1.0)
