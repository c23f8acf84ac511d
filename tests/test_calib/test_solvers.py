"""Inner solvers on nonlinear and nonconvex energies: what they return is a minimum (checked with
jax.grad / jax.hessian of the energy, independently of the solver) and their step controls hold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib_systems import morse_energy, morse_theta, morse_x0


def rosenbrock(x, theta):
    # Minimum at (a, a^2) for theta = (a, b), inside a curved, ill-conditioned valley.
    a, b = theta[0], theta[1]
    return (a - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("solver", [calib.LBFGS(tol=1e-10), calib.NewtonCG(tol=1e-10),
                                    calib.FIRE(tol=1e-8, max_steps=20_000)],
                         ids=lambda s: type(s).__name__)
def test_rosenbrock(solver):
    theta = jnp.array([1.5, 20.0])
    sol = calib.equilibrium(rosenbrock, jnp.array([-1.0, 1.0]), theta, solver=solver)
    assert int(sol.result) == calib.RESULTS.successful
    np.testing.assert_allclose(sol.x, [1.5, 2.25], rtol=0, atol=1e-6)
    # The reported force is the true one at the returned state (to round-off of the gradient,
    # whose terms are O(10) here).
    force = np.max(np.abs(np.asarray(jax.grad(rosenbrock)(sol.x, theta))))
    np.testing.assert_allclose(sol.max_force, force, rtol=0, atol=1e-13)
    assert force <= solver.tol + 1e-13
    np.testing.assert_allclose(sol.energy, rosenbrock(sol.x, theta), rtol=0, atol=1e-15)
    assert 0 < int(sol.steps) <= solver.max_steps


# jit: an op-by-op jax.hessian of the chain costs seconds.
_morse_derivatives = jax.jit(lambda x, t: (jax.grad(morse_energy)(x, t),
                                           jax.hessian(morse_energy)(x, t)))


@pytest.mark.parametrize("solver", [calib.FIRE(tol=1e-10), calib.GradientDescent(step_size=0.1, tol=1e-10)],
                         ids=lambda s: type(s).__name__)
def test_morse_chain_minimum(solver):
    # FIRE and gradient descent on the nonlinear chain: a stationary point with a positive
    # definite Hessian (both from jax.grad/jax.hessian, not from the solver).
    theta = morse_theta()
    sol = calib.equilibrium(morse_energy, morse_x0(), theta, solver=solver)
    assert int(sol.result) == calib.RESULTS.successful
    force, hessian = _morse_derivatives(sol.x, theta)
    assert np.max(np.abs(np.asarray(force))) <= 1e-10
    assert np.linalg.eigvalsh(np.asarray(hessian))[0] > 0.1


def double_well(x, tilt):
    # Minima near x = +-1; a local maximum near 0, where the curvature 12 x^2 - 4 is negative.
    return jnp.sum((x**2 - 1.0) ** 2 + tilt * x)


def test_newton_escapes_negative_curvature():
    # Started in the negative-curvature region, the solver must find a minimum (Newton's raw step
    # would head for the maximum; Steihaug CG sends it to the trust-region boundary instead).
    tilt = 0.1
    sol = calib.equilibrium(double_well, jnp.array([0.05]), tilt, solver=calib.NewtonCG(tol=1e-12),
                            check_stability=True)
    assert int(sol.result) == calib.RESULTS.successful
    x = float(sol.x[0])
    assert abs(abs(x) - 1.0) < 0.1
    np.testing.assert_allclose(4 * x**3 - 4 * x + tilt, 0.0, atol=1e-12)
    np.testing.assert_allclose(sol.min_eigenvalue, 12 * x**2 - 4, rtol=1e-10)


def stiff_bowl(x, stiffness):
    return 0.5 * stiffness * jnp.sum(x**2)


def test_fire_step_is_capped():
    x0 = jnp.array([1.0, 1.0, -1.0])
    cap = 0.05  # the uncapped first step would be dt^2 |F| = 0.05^2 * 1e4 * sqrt(3) ~ 43
    with pytest.warns(calib.NonConvergenceWarning):
        sol = calib.equilibrium(stiff_bowl, x0, 1e4, solver=calib.FIRE(max_steps=1, max_step_size=cap))
        jax.block_until_ready(sol)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(sol.x - x0)), cap, rtol=1e-12)


def test_lbfgs_step_is_capped():
    x0 = jnp.array([1.0, 3.0, -2.0])
    with pytest.warns(calib.NonConvergenceWarning):
        sol = calib.equilibrium(stiff_bowl, x0, 1.0,
                                solver=calib.LBFGS(max_steps=1, max_step_size=0.1))
        jax.block_until_ready(sol)
    np.testing.assert_allclose(np.max(np.abs(np.asarray(sol.x - x0))), 0.1, rtol=1e-12)
    # The capped step is still along the descent direction -grad = -x0.
    step = np.asarray(sol.x - x0)
    np.testing.assert_allclose(step / np.linalg.norm(step), -np.asarray(x0) / np.linalg.norm(x0),
                               rtol=1e-12)


def test_gradient_descent_step_is_exact():
    # One step of x - alpha * grad, nothing else.
    x0 = jnp.array([1.0, -2.0])
    with pytest.warns(calib.NonConvergenceWarning):
        sol = calib.equilibrium(stiff_bowl, x0, 3.0,
                                solver=calib.GradientDescent(step_size=0.1, max_steps=1))
        jax.block_until_ready(sol)
    np.testing.assert_allclose(sol.x, np.asarray(x0) * (1 - 0.1 * 3.0), rtol=1e-15)
