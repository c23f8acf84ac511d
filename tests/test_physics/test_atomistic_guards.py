"""Relaxed properties are right or fail loudly: far guesses, spurious stationary points, and
parameters outside their physical range, eagerly and under jit / grad / vmap."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from physics.atomistic import (LJ_REDUCED, MORSE_CU, STILLINGER_WEBER_SI, SUTTON_CHEN,
                               FINNIS_SINCLAIR_MO, FinnisSinclair, LennardJones, Morse,
                               StillingerWeber, SuttonChen, bulk_modulus, diamond, fcc, bcc,
                               lattice_constant, neighbour_list, potential_energy, tabulate_eam)
from physics.atomistic import _properties

MORSE = Morse(cutoff=6.5, onset=5.5)  # the README's copper
A0_MORSE = 3.625406487  # Å, from a guess close to it
THETA = {k: jnp.asarray(v) for k, v in MORSE_CU.items()}

# One compiled property from a guess 24 % above a0, shared by the tests below.
LATTICE_FROM_FAR = jax.jit(lambda theta: lattice_constant(MORSE, theta, "fcc", 4.5))


# --- a guess far above a0 -------------------------------------------------------------------------

@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_eager_lattice_constant_rebuilds_its_list_from_a_far_guess():
    # The list built at 4.5 Å stays exact only down to 4.5 * 6.5 / 7.5 = 3.9 Å; an eager call
    # rebuilds it and continues, and a0 is read off the relaxed cell (not the last strain, which
    # is relative to the rebuilt cell: that gave 4.183 Å before).
    assert float(lattice_constant(MORSE, MORSE_CU, "fcc", 4.5)) == pytest.approx(A0_MORSE, rel=1e-9)


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_eager_bulk_modulus_from_a_far_guess_is_the_one_at_a0():
    near = float(bulk_modulus(MORSE, MORSE_CU, "fcc", 3.6))
    far = float(bulk_modulus(MORSE, MORSE_CU, "fcc", 5.0))  # gave -14.4 GPa before
    assert near > 0
    assert far == pytest.approx(near, rel=1e-7)


def test_traced_lattice_constant_from_a_far_guess_is_nan_and_says_why():
    # Under jit the list cannot be rebuilt: the relaxation stalls at 3.9 Å, which must not come
    # back as a lattice constant.
    with pytest.warns(calib.NonConvergenceWarning, match=r"guess=4\.5 Å.*3\.9 Å.*skin"):
        value = LATTICE_FROM_FAR(THETA)
        value = float(value)
    assert np.isnan(value)


def test_a_crystal_too_dilute_to_interact_is_refused():
    # Nearest neighbours at 4 / sqrt(2) = 2.83 σ, beyond the 2.5 σ cutoff: zero energy and force,
    # a stationary point, but not a0 (it used to come back as a0 = 4.0).
    lj = LennardJones(cutoff=2.5, onset=2.2)
    with pytest.warns(calib.NonConvergenceWarning, match="no two atoms within the cutoff"):
        value = float(lattice_constant(lj, LJ_REDUCED, "fcc", 4.0))
    assert np.isnan(value)


def test_a_non_positive_bulk_modulus_is_refused_with_a_nan_gradient():
    context = dict(caller="bulk_modulus", lattice="fcc", guess=5.0, potential=MORSE, skin=1.0)
    bulk = _properties._Bulk(jnp.asarray(1.0), None, None, jnp.asarray(True), context)
    with pytest.warns(calib.NonConvergenceWarning, match="bulk modulus <= 0"):
        assert np.isnan(float(_properties._require_stable(bulk, jnp.asarray(-14.4))))
    # The refusal reaches derivatives too (jnp.where alone would give a zero gradient).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", calib.NonConvergenceWarning)
        grad = jax.grad(lambda b: _properties._require_stable(bulk, b))(jnp.asarray(-14.4))
    assert np.isnan(float(grad))
    assert float(_properties._require_stable(bulk, jnp.asarray(160.0))) == 160.0


# --- parameters outside their physical range ------------------------------------------------------

def _tabulated():
    potential, theta = tabulate_eam(SuttonChen(cutoff=6.0, onset=5.0), SUTTON_CHEN["Cu"],
                                    n_rho=60, d_rho=2.0, n_r=61, d_r=0.1, symbol="Cu")
    return potential, {k: jnp.asarray(v) for k, v in theta.items()}


def _cases():
    tabulated, tables = _tabulated()
    return {
        "lj-sigma": (LennardJones(cutoff=2.5), LJ_REDUCED, fcc(1.55), "sigma", -1.0,
                     r"LennardJones: theta\['sigma'\].*sigma > 0"),
        "lj-epsilon": (LennardJones(cutoff=2.5), LJ_REDUCED, fcc(1.55), "epsilon", -1.0,
                       r"LennardJones: theta\['epsilon'\].*epsilon > 0"),
        "morse-D": (Morse(cutoff=5.0), MORSE_CU, fcc(3.6), "D", -0.3,
                    r"Morse: theta\['D'\].*D > 0.*log\(D\)"),
        "sutton-chen-c": (SuttonChen(cutoff=6.0), SUTTON_CHEN["Cu"], fcc(3.61), "c", -1.0,
                          r"SuttonChen: theta\['c'\].*c > 0"),
        "finnis-sinclair-d": (FinnisSinclair(cutoff=4.5), FINNIS_SINCLAIR_MO, bcc(3.1472), "d", 5.0,
                              r"FinnisSinclair: theta\['d'\].*d <= cutoff = 4\.5"),
        "stillinger-weber-reach": (StillingerWeber(), STILLINGER_WEBER_SI, diamond(5.431), "a",
                                   1.9, r"StillingerWeber: theta\['a'\], theta\['sigma'\].*"
                                        r"a \* sigma <= cutoff"),
        "tabulated-nan": (tabulated, tables, fcc(3.61), "F", tables["F"].at[0, 3].set(jnp.nan),
                          r"TabulatedEAM: theta\['F'\].*every node of F finite"),
    }


CASES = _cases()
# A failed run-time check: jax.errors.JaxRuntimeError from a compiled program (XLA reports some
# callback failures as a ValueError), equinox's own runtime error from an eager vmap; the message
# is matched in every case.
RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, RuntimeError, ValueError)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_parameters_are_named_eagerly_and_under_jit_grad_and_vmap(name):
    potential, theta, crystal, key, bad, message = CASES[name]
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    neighbours = neighbour_list(crystal, potential.cutoff, 0.5)
    x, cell = jnp.asarray(crystal.positions), jnp.asarray(crystal.cell)

    def energy(value):
        return potential_energy(potential, x, cell, {**theta, key: value}, neighbours)

    assert np.isfinite(float(jax.jit(energy)(theta[key])))  # the good value passes
    with pytest.raises(ValueError, match=rf"{type(potential).__name__}: theta has {key}="):
        energy(bad)  # concrete: at once, with the value
    # Traced: at run time, with the same words (an optimiser's calls).
    for traced in (jax.jit(energy), jax.jit(jax.grad(lambda v: jnp.sum(energy(v))))):
        with pytest.raises(RUNTIME_ERRORS, match=message):
            jax.block_until_ready(traced(bad))
    if jnp.ndim(bad) == 0:
        with pytest.raises(RUNTIME_ERRORS, match=message):
            jax.block_until_ready(jax.vmap(energy)(jnp.stack([theta[key], bad])))


def test_a_bad_parameter_inside_a_traced_relaxation_is_named():
    # Before, D < 0 came back as a stagnated solve ("... use float64"); now the energy refuses it.
    with pytest.raises(RUNTIME_ERRORS, match=r"Morse: theta\['D'\].*D > 0"):
        jax.block_until_ready(LATTICE_FROM_FAR({**THETA, "D": jnp.asarray(-0.3)}))
