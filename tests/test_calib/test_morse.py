"""A nonlinear equilibrium: a 1D Morse chain (6 atoms, both ends pinned, external forces).

theta = {D, a, r0}. The gradient of a scalar loss of x* by the implicit function theorem must match
central finite differences of the converged solve, and backpropagation through many solver steps.
"""

import jax
import numpy as np
import pytest

import calib
from calib_systems import (MORSE_LENGTH, central_difference, max_rel_err, morse_energy,
                           morse_loss_of_x, morse_theta, morse_x0)

# NewtonCG converges quadratically, to ~1e-15 forces, so finite differences of the solve are
# smooth down to small steps.
SOLVER = calib.NewtonCG(tol=1e-13)


def _loss_and_solution(theta):
    sol = calib.equilibrium(morse_energy, morse_x0(), theta, solver=SOLVER, check_stability=True)
    return morse_loss_of_x(sol.x), sol


implicit_loss = jax.jit(lambda theta: _loss_and_solution(theta)[0])


@pytest.fixture(scope="module")
def implicit_grad_and_solution():
    with calib.record_adjoints() as log:
        grad, sol = jax.jit(jax.grad(_loss_and_solution, has_aux=True))(morse_theta())
    assert len(log) == 1 and log[0].exact and log[0].solver == "CG"
    return grad, sol


@pytest.fixture(scope="module")
def implicit_grad(implicit_grad_and_solution):
    return implicit_grad_and_solution[0]


def test_system_is_a_strict_nonuniform_minimum(implicit_grad_and_solution):
    sol = implicit_grad_and_solution[1]
    assert int(sol.result) == calib.RESULTS.successful
    assert float(sol.max_force) <= 1e-13
    assert float(sol.min_eigenvalue) > 0.1  # a strict minimum: the implicit gradient exists
    bonds = np.diff(np.concatenate([[0.0], np.asarray(sol.x), [MORSE_LENGTH]]))
    assert np.ptp(bonds) > 0.05  # the external forces make the bonds unequal (theta matters)


def test_implicit_matches_central_differences(implicit_grad):
    fd = central_difference(implicit_loss, morse_theta(), h=1e-5)
    assert min(abs(float(v)) for v in fd.values()) > 0.1  # every parameter matters
    assert max_rel_err(implicit_grad, fd) <= 1e-6


def test_implicit_matches_unrolled_lbfgs(implicit_grad):
    # LBFGS converges in ~20 steps; after K = 80 unrolled steps the unrolled derivative has
    # contracted onto the implicit one.
    @jax.jit
    @jax.grad
    def unrolled(theta):
        sol = calib.equilibrium(morse_energy, morse_x0(), theta, solver=calib.LBFGS(tol=1e-13),
                                adjoint=calib.Unrolled(steps=80))
        return morse_loss_of_x(sol.x)

    assert max_rel_err(unrolled(morse_theta()), implicit_grad) <= 1e-9
