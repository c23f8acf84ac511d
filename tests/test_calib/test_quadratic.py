"""Quadratic energies: x*(theta) = A(theta)^{-1} b(theta) and its Jacobian are known in closed form.

E = 1/2 x^T A x - b^T x with A = M0 + diag(k) (symmetric positive definite), b = f. Then
dx*/dk_j = -A^{-1} e_j x*_j and dx*/df = A^{-1}; every solver, and the implicit adjoint with every
linear solver, must reproduce both.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib_systems import (QUAD_N, quad_energy, quad_hessian_eigenvalues, quad_jacobian,
                           quad_solution, quad_theta)

TOL = 1e-12  # force tolerance; with lambda_min ~ 2 the state error is below 1e-12
# lambda_max ~ 6.2, so any step below 2/6.2 converges; 0.2 contracts by ~0.6 per step.
GD = calib.GradientDescent(step_size=0.2, tol=TOL, max_steps=2000)


def _x_and_jacobian(solver, adjoint, mode):
    def x_of(theta):
        return calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), theta, solver=solver,
                                 adjoint=adjoint).x

    jac = jax.jacfwd(x_of) if mode == "fwd" else jax.jacrev(x_of)
    return jax.jit(lambda theta: (x_of(theta), jac(theta)))


def _check(x, jac, theta, atol):
    np.testing.assert_allclose(x, quad_solution(theta), rtol=0, atol=1e-11)
    expected = quad_jacobian(theta)
    for name in ("k", "f"):
        np.testing.assert_allclose(jac[name], expected[name], rtol=0, atol=atol, err_msg=name)


def test_closed_form_is_not_trivial():
    # Guard against a degenerate test system: the solution and both Jacobian blocks are O(1).
    theta = quad_theta()
    assert np.min(quad_hessian_eigenvalues(theta)) > 1.0
    assert np.max(quad_hessian_eigenvalues(theta)) < 2.0 / GD.step_size  # GD step is stable
    assert np.min(np.abs(quad_solution(theta))) > 0.05
    assert np.min(np.abs(np.diag(quad_jacobian(theta)["k"]))) > 0.01


@pytest.mark.parametrize(
    "solver",
    [calib.LBFGS(tol=TOL), calib.FIRE(tol=TOL), calib.NewtonCG(tol=TOL), GD],
    ids=lambda s: type(s).__name__)
def test_every_solver_value_and_jacobian(solver):
    theta = quad_theta()
    x, jac = _x_and_jacobian(solver, calib.Implicit(), "fwd")(theta)
    _check(x, jac, theta, atol=1e-10)


@pytest.mark.parametrize("linear_solver", [calib.MINRES(tol=1e-12), calib.Dense()],
                         ids=lambda s: type(s).__name__)
def test_implicit_with_every_linear_solver(linear_solver):
    # CG (the default) is covered above in forward mode and by the reverse-mode tests elsewhere.
    theta = quad_theta()
    with calib.record_adjoints() as log:
        x, jac = _x_and_jacobian(calib.LBFGS(tol=TOL), calib.Implicit(linear_solver=linear_solver),
                                 "rev")(theta)
    _check(x, jac, theta, atol=1e-10)
    # jacrev of an n-vector: cotangent solves, each reported and converged.
    assert len(log) >= 1
    assert all(r.solver == type(linear_solver).__name__ for r in log)
    assert all(r.exact for r in log)
    assert max(float(np.max(r.residual)) for r in log) <= float(linear_solver.tolerance(np.float64))


def test_equilibrium_energy_and_envelope_theorem():
    # E*(theta) = -1/2 b^T A^{-1} b, and dE*/dtheta = dE/dtheta at fixed x* (envelope theorem):
    # dE*/dk_j = x*_j^2 / 2, dE*/df = -x*.
    theta = quad_theta()

    def energy_of(theta):
        return calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), theta, solver=GD).energy

    value, grad = jax.jit(jax.value_and_grad(energy_of))(theta)
    x = quad_solution(theta)
    np.testing.assert_allclose(value, -0.5 * np.asarray(theta["f"]) @ x, rtol=1e-12)
    np.testing.assert_allclose(grad["k"], 0.5 * x**2, rtol=0, atol=1e-11)
    np.testing.assert_allclose(grad["f"], -x, rtol=0, atol=1e-11)


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_implicit_preconditioned_with_lbfgs_curvature():
    # CG preconditioned by the L-BFGS pairs of the forward solve: same closed-form Jacobian.
    theta = quad_theta()
    adjoint = calib.Implicit(precondition=True)
    with calib.record_adjoints() as log:
        x, jac = _x_and_jacobian(calib.LBFGS(tol=TOL), adjoint, "rev")(theta)
    _check(x, jac, theta, atol=1e-10)
    assert len(log) >= 1 and all(r.exact and r.solver == "CG" for r in log)
