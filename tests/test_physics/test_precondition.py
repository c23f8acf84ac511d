"""The lattice-Laplacian preconditioner: grid detection, the operator, and fewer relaxation steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from physics.atomistic import (MORSE_CU, LatticePreconditioner, Morse, Structure, diamond, fcc, hcp,
                               lattice_grid, relax, remove_atom, surface_slab)


@pytest.mark.parametrize("structure, grid", [
    (fcc(3.6, 3), (6, 6, 6)),
    (remove_atom(fcc(3.6, (2, 3, 4)), 5), (4, 6, 8)),
    (diamond(5.43, 2), (8, 8, 8)),
    (hcp(2.5, cells=(2, 2, 2)), (6, 6, 4)),
    (surface_slab(fcc(3.6, (2, 2, 3)), vacuum=3.6), (4, 4, 8)),
])
def test_grid_is_found_for_crystals(structure, grid):
    found, sites = lattice_grid(structure)
    assert found == grid
    assert len(np.unique(sites)) == structure.n_atoms


def test_no_grid_for_an_amorphous_structure():
    rng = np.random.default_rng(0)
    assert lattice_grid(Structure(rng.uniform(0, 10, (50, 3)), np.eye(3) * 10)) is None


def test_operator_is_symmetric_positive_definite_and_leaves_strains_alone():
    grid, sites = lattice_grid(remove_atom(fcc(3.6, 2), 0))
    m = LatticePreconditioner(grid)
    params = (None, (jnp.asarray(sites),))
    n = 3 * len(sites) + 6
    dense = jax.vmap(lambda v: m(params, v))(jnp.eye(n)).T
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    assert float(jnp.min(jnp.linalg.eigvalsh(dense))) > 0
    np.testing.assert_allclose(dense[-6:, -6:], np.eye(6))
    np.testing.assert_allclose(dense[:-6, -6:], 0.0)


def test_lbfgs_with_the_exact_inverse_as_preconditioner_converges_at_once():
    """On a quadratic, M = H^-1 makes the first scaled step exact."""
    h = jnp.diag(jnp.logspace(-4, 0, 30))
    b = jnp.linspace(-1.0, 1.0, 30)

    def energy(x, theta, hessian):
        return 0.5 * x @ hessian @ x - theta * b @ x

    solver = calib.LBFGS(tol=1e-10, preconditioner=lambda params, v: jnp.linalg.solve(params[1][0], v))
    sol = calib.equilibrium(energy, jnp.zeros(30), 1.0, h, solver=solver)
    plain = calib.equilibrium(energy, jnp.zeros(30), 1.0, h, solver=calib.LBFGS(tol=1e-10))
    np.testing.assert_allclose(sol.x, jnp.linalg.solve(h, b), rtol=1e-8)
    assert int(sol.steps) <= 3 < int(plain.steps)


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_preconditioned_vacancy_relaxation_takes_fewer_steps_to_the_same_minimum():
    crystal = remove_atom(fcc(3.615, 6), 0)
    potential = Morse(cutoff=5.0, onset=4.5)
    plain = relax(potential, MORSE_CU, crystal, precondition=False)
    preconditioned = relax(potential, MORSE_CU, crystal)
    assert int(preconditioned.solution.result) == calib.RESULTS.successful
    assert float(preconditioned.energy) == pytest.approx(float(plain.energy), abs=1e-9)
    assert int(preconditioned.solution.steps) < 0.8 * int(plain.solution.steps)
    # The implicit gradient does not depend on how the forward solve got there.
    grads = [jax.grad(lambda t: relax(potential, t, crystal, precondition=p).energy)(MORSE_CU)
             for p in (False, True)]
    for key in MORSE_CU:
        assert float(grads[1][key]) == pytest.approx(float(grads[0][key]), rel=1e-8)
