"""Relaxed crystal properties against known results, finite differences and unrolled gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from atomistic_reference import central_difference
from physics.atomistic import (EV_PER_A3_IN_GPA, LJ_REDUCED, MORSE_CU, STILLINGER_WEBER_SI,
                               SUTTON_CHEN, LennardJones, Morse, StillingerWeber, SuttonChen,
                               bulk_modulus, cohesive_energy, crystal_properties, diamond,
                               elastic_constants, elastic_tensor, lattice_constant, neighbour_list,
                               potential_energy, surface_energy, vacancy_formation_energy)

TIGHT = calib.LBFGS(tol=1e-11)
LJ_SHORT = LennardJones(cutoff=2.5, onset=2.2)  # smooth: C2, so elastic constants are well defined
MORSE = Morse(cutoff=5.0, onset=4.5)
MORSE_THETA = {k: jnp.asarray(v) for k, v in MORSE_CU.items()}


def test_lennard_jones_fcc_counts_every_image():
    """a0 = 1.5417 σ and Ec = 8.6102 ε for the infinite lattice sum (A6 = 14.4539, A12 = 12.1319):
    a 4-atom cell with a 10 σ cutoff, far beyond half the cell, plus the analytic r^-6 tail."""
    lj = LennardJones(cutoff=10.0, truncation="plain")
    a0 = float(lattice_constant(lj, LJ_REDUCED, "fcc", 1.55))
    ec = float(cohesive_energy(lj, LJ_REDUCED, "fcc", 1.55))
    density = 4 / a0 ** 3
    tail = 8 * np.pi * density / (3 * 10.0 ** 3)  # -1/2 ∫ 4πr² ρ 4r^-6 dr beyond the cutoff
    assert a0 == pytest.approx(1.5418, abs=2e-4)
    assert ec + tail == pytest.approx(8.6102, abs=2e-3)


def test_cauchy_relation_and_bulk_modulus_of_a_pair_potential():
    c = elastic_tensor(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, solver=TIGHT)
    c11, c12, c44 = float(c[0, 0]), float(c[0, 1]), float(c[3, 3])
    assert c12 == pytest.approx(c44, rel=1e-8)  # Cauchy: pair potential, Bravais lattice, P = 0
    np.testing.assert_allclose(np.diag(np.asarray(c))[:3], c11, rtol=1e-10)  # cubic symmetry
    assert abs(float(c[0, 3])) < 1e-8 * c11
    b = float(bulk_modulus(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, solver=TIGHT))
    assert b == pytest.approx((c11 + 2 * c12) / 3, rel=1e-8)
    clamped = elastic_tensor(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, solver=TIGHT, relaxed_ions=False)
    np.testing.assert_allclose(clamped, c, rtol=1e-7, atol=1e-7 * c11)  # fcc: nothing to relax


def test_embedded_atom_metal_breaks_the_cauchy_relation():
    sc = SuttonChen(cutoff=9.0, onset=8.0)
    c = elastic_constants(sc, SUTTON_CHEN["Cu"], "fcc", 3.61)
    assert float(c["C12"]) > float(c["C44"]) * 1.2  # positive Cauchy pressure, as in real Cu


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_diamond_silicon_internal_relaxation_softens_c44():
    """Stillinger–Weber Si: C11 = 151.4, C12 = 76.4, C44 = 56.4 GPa with the internal (sublattice)
    relaxation (Balamane, Halicioglu & Tiller, Phys. Rev. B 46, 2250, 1992). Clamping
    the sublattices stiffens C44 by about a factor of two; its value is checked against a finite
    difference of the energy under an affine shear."""
    sw = StillingerWeber()
    relaxed = elastic_constants(sw, STILLINGER_WEBER_SI, "diamond", 5.431, solver=TIGHT)
    clamped = elastic_constants(sw, STILLINGER_WEBER_SI, "diamond", 5.431, relaxed_ions=False)
    assert float(relaxed["C11"]) == pytest.approx(151.4, rel=5e-3)
    assert float(relaxed["C12"]) == pytest.approx(76.4, rel=5e-3)
    assert float(relaxed["C44"]) == pytest.approx(56.4, rel=5e-3)
    assert float(clamped["C11"]) == pytest.approx(float(relaxed["C11"]), rel=1e-6)

    a0 = float(lattice_constant(sw, STILLINGER_WEBER_SI, "diamond", 5.431, solver=TIGHT))
    crystal = diamond(a0)
    nb = neighbour_list(crystal, sw.cutoff, 0.5)

    def sheared(gamma):
        eps = jnp.array([[0, 0, 0], [0, 0, gamma / 2], [0, gamma / 2, 0]])
        f = jnp.eye(3) + eps
        return potential_energy(sw, jnp.asarray(crystal.positions) @ f.T,
                                jnp.asarray(crystal.cell) @ f.T, STILLINGER_WEBER_SI, nb)
    h = 1e-4
    fd = (sheared(h) - 2 * sheared(0.0) + sheared(-h)) / h ** 2 / crystal.volume * EV_PER_A3_IN_GPA
    assert float(clamped["C44"]) == pytest.approx(float(fd), rel=1e-6)
    assert float(clamped["C44"]) > 1.8 * float(relaxed["C44"])


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_unrelaxed_vacancy_of_a_pair_potential_costs_the_cohesive_energy():
    ec = float(cohesive_energy(LJ_SHORT, LJ_REDUCED, "fcc", 1.55))
    unrelaxed = float(vacancy_formation_energy(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, 2,
                                               condition="unrelaxed"))
    assert unrelaxed == pytest.approx(ec, rel=1e-10)
    volume = float(vacancy_formation_energy(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, 2))
    pressure = float(vacancy_formation_energy(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, 2,
                                              condition="zero_pressure"))
    assert pressure <= volume + 1e-9 < unrelaxed  # every extra freedom lowers the energy


def _property_cases():
    return {
        "lattice_constant": lambda t, s: lattice_constant(MORSE, t, "fcc", 3.6, solver=s),
        "cohesive_energy": lambda t, s: cohesive_energy(MORSE, t, "fcc", 3.6, solver=s),
        "C44": lambda t, s: elastic_constants(MORSE, t, "fcc", 3.6, solver=s)["C44"],
        "vacancy_constant_volume": lambda t, s: vacancy_formation_energy(MORSE, t, "fcc", 3.6, 2,
                                                                         solver=s),
        "vacancy_zero_pressure": lambda t, s: vacancy_formation_energy(
            MORSE, t, "fcc", 3.6, 2, condition="zero_pressure", solver=s),
        "surface_energy": lambda t, s: surface_energy(MORSE, t, "fcc", 3.6, 3, solver=s),
    }


# Two of the simplest properties run with the benchmarks: their relaxation is the first step of
# the others, whose gradients are checked here.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.benchmark) if n in ("lattice_constant", "cohesive_energy")
    else n for n in _property_cases()])
def test_property_gradients_match_finite_differences(name):
    # Properties are jit-able (neighbour lists are built from the static guess), so the finite
    # differences reuse one compiled function.
    prop = jax.jit(lambda t: _property_cases()[name](t, TIGHT))
    grad = jax.jit(jax.grad(prop))(MORSE_THETA)
    for key in ("alpha", "r0"):
        value = MORSE_THETA[key]
        fd = central_difference(lambda v: prop({**MORSE_THETA, key: v}), value, 1e-5)
        assert np.isfinite(float(grad[key]))
        assert float(grad[key]) == pytest.approx(float(fd), rel=2e-6, abs=1e-9), key


def test_forward_mode_and_reverse_mode_agree():
    f = lambda t: lattice_constant(MORSE, t, "fcc", 3.6, solver=TIGHT)
    forward = jax.jacfwd(f)(MORSE_THETA)
    reverse = jax.grad(f)(MORSE_THETA)
    for key in MORSE_THETA:
        assert float(forward[key]) == pytest.approx(float(reverse[key]), rel=1e-9)


# The slowest test of the suite (about 80 s on 2 cores: 150 unrolled relaxation steps of a vacancy
# crystal); implicit = unrolled is also checked on the calib systems and the FE models in make test.
@pytest.mark.benchmark
def test_implicit_vacancy_gradient_matches_unrolled_at_convergence():
    def ef(theta, adjoint):
        return vacancy_formation_energy(MORSE, theta, "fcc", 3.6, 2, solver=TIGHT, adjoint=adjoint)
    implicit = jax.grad(ef)(MORSE_THETA, None)
    unrolled = jax.grad(ef)(MORSE_THETA, calib.Unrolled(steps=150))
    for key in MORSE_THETA:
        assert float(implicit[key]) == pytest.approx(float(unrolled[key]), rel=1e-7)


def test_surface_energy_is_positive_and_lowered_by_relaxation():
    relaxed = float(surface_energy(MORSE, MORSE_THETA, "fcc", 3.6, 3))
    unrelaxed = float(surface_energy(MORSE, MORSE_THETA, "fcc", 3.6, 3, relaxed=False))
    assert 0 < relaxed < unrelaxed


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="lattice must be one of"):
        lattice_constant(MORSE, MORSE_THETA, "hcp", 3.6)
    with pytest.raises(ValueError, match="condition"):
        vacancy_formation_energy(MORSE, MORSE_THETA, "fcc", 3.6, 2, condition="relaxed")


def test_all_properties_at_once_match_the_single_functions():
    together = crystal_properties(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, vacancy_cells=2, solver=TIGHT)
    assert float(together["lattice_constant"]) == pytest.approx(
        float(lattice_constant(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, solver=TIGHT)), rel=1e-12)
    assert float(together["vacancy_formation_energy"]) == pytest.approx(
        float(vacancy_formation_energy(LJ_SHORT, LJ_REDUCED, "fcc", 1.55, 2, solver=TIGHT)), rel=1e-10)
    assert float(together["C12"]) == pytest.approx(float(together["C44"]), rel=1e-8)
    assert float(together["bulk_modulus"]) == pytest.approx(
        (float(together["C11"]) + 2 * float(together["C12"])) / 3, rel=1e-8)
