"""The Morse crystal used by the experiments, against a direct lattice sum."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import energy as jmd_energy

from physics.atomistic import MORSE_CU_GIRIFALCO_WEIZER, fcc, morse_energy, remove_atom

THETA = {k: jnp.asarray(v) for k, v in MORSE_CU_GIRIFALCO_WEIZER.items()}


def _direct_sum(positions, box, theta, r_onset, r_cutoff):
    """Pair energy summed over all periodic images with numpy (no minimum image)."""
    pair = jmd_energy.multiplicative_isotropic_cutoff(jmd_energy.morse, r_onset, r_cutoff)
    total = 0.0
    shifts = [np.array(s) * box for s in itertools.product((-1, 0, 1), repeat=3)]
    for i in range(len(positions)):
        for shift in shifts:
            d = np.linalg.norm(positions + shift - positions[i], axis=1)
            d = d[(d > 1e-9) & (d < r_cutoff)]
            total += 0.5 * float(np.sum(pair(jnp.asarray(d), sigma=theta["r0"], epsilon=theta["D"],
                                             alpha=theta["alpha"])))
    return total


def test_fcc_builder():
    positions, box = fcc(3.615, (4, 4, 5))
    assert positions.shape == (4 * 80, 3)
    np.testing.assert_allclose(box, [14.46, 14.46, 18.075])
    nearest = np.sort(np.linalg.norm(positions[1:] - positions[0], axis=1))[0]
    assert nearest == pytest.approx(3.615 / np.sqrt(2))
    assert remove_atom(positions, 3).shape == (319, 3)


def test_energy_matches_direct_lattice_sum_with_vacancy():
    positions, box = fcc(3.615, 4)
    x = remove_atom(positions, 0)
    energy = morse_energy(box, r_onset=5.5, r_cutoff=6.5)
    expected = _direct_sum(x, box, MORSE_CU_GIRIFALCO_WEIZER, 5.5, 6.5)
    assert float(energy(jnp.asarray(x), THETA)) == pytest.approx(expected, rel=1e-12)


def test_parameter_gradient_is_finite_and_matches_finite_differences():
    positions, box = fcc(3.615, 4)
    x = jnp.asarray(remove_atom(positions, 0))
    energy = jax.jit(morse_energy(box))
    grad = jax.grad(energy, argnums=1)(x, THETA)
    for k in THETA:
        h = 1e-6 * float(THETA[k])
        fd = (energy(x, {**THETA, k: THETA[k] + h}) - energy(x, {**THETA, k: THETA[k] - h})) / (2 * h)
        assert np.isfinite(float(grad[k]))
        assert float(grad[k]) == pytest.approx(float(fd), rel=1e-7)


def test_cutoff_longer_than_half_the_box_is_refused():
    _, box = fcc(3.615, 3)
    with pytest.raises(ValueError, match="r_cutoff=6.5 Å exceeds half the shortest box edge"):
        morse_energy(box, r_cutoff=6.5)
