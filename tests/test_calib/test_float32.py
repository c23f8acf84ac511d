"""float32: default tolerances follow the precision, gradients agree with float64, no false alarms.

The suite runs with ``jax_enable_x64``; these tests build float32 states and parameters explicitly,
so every solve here runs in float32 (Python-number constants are weakly typed and do not promote).
Warnings are errors in the test suite: a spurious non-convergence warning fails the test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib

_rng = np.random.default_rng(7)
_q = _rng.normal(size=(6, 6))
M0 = _q @ _q.T / 6 + np.eye(6)


def energy(x, theta):
    """A quadratic-plus-quartic bowl; constants cast to the state's precision."""
    m = jnp.asarray(M0, x.dtype) + jnp.diag(theta["k"])
    return 0.5 * x @ m @ x - theta["f"] @ x + 0.05 * jnp.sum(x ** 4)


def theta_of(dtype):
    return {"k": jnp.asarray([1.0, 2.0, 0.5, 1.5, 1.0, 0.7], dtype),
            "f": jnp.asarray([1.0, -1.0, 0.5, 2.0, 0.3, -0.4], dtype)}


def loss(theta, solver, adjoint):
    x0 = jnp.zeros(6, theta["k"].dtype)
    sol = calib.equilibrium(energy, x0, theta, solver=solver, adjoint=adjoint)
    return jnp.sum(sol.x ** 2), sol


SOLVERS = {"LBFGS": calib.LBFGS(), "FIRE": calib.FIRE(), "NewtonCG": calib.NewtonCG()}
ADJOINTS = {"CG": calib.Implicit(), "MINRES": calib.Implicit(linear_solver=calib.MINRES()),
            "Dense": calib.Implicit(linear_solver=calib.Dense())}


@pytest.fixture(scope="module")
def reference():
    grad, _ = jax.grad(loss, has_aux=True)(theta_of(jnp.float64), calib.LBFGS(tol=1e-12),
                                           calib.Implicit())
    return grad


@pytest.mark.parametrize("solver", SOLVERS, ids=list(SOLVERS))
def test_float32_solve_converges_with_default_tolerance(solver):
    _, sol = loss(theta_of(jnp.float32), SOLVERS[solver], calib.Implicit())
    assert sol.x.dtype == jnp.float32 and bool(sol.converged), sol.message()
    assert float(sol.max_force) <= 1e-4


@pytest.mark.parametrize("adjoint", ADJOINTS, ids=list(ADJOINTS))
def test_float32_implicit_gradient_matches_float64(adjoint, reference):
    with calib.record_adjoints() as log:
        grad, sol = jax.grad(loss, has_aux=True)(theta_of(jnp.float32), calib.LBFGS(),
                                                 ADJOINTS[adjoint])
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grad))
    assert log and all(bool(np.all(r.converged)) for r in log)
    for key in grad:
        np.testing.assert_allclose(np.asarray(grad[key], np.float64), reference[key],
                                   rtol=2e-3, atol=2e-4)


def test_float32_defaults_are_looser_than_float64():
    assert float(calib.CG().tolerance(jnp.float32)) == pytest.approx(1e-5)
    assert float(calib.CG().tolerance(jnp.float64)) == pytest.approx(1e-10)
    # The CG residual is refreshed every 10 iterations in float32 only.
    assert calib.CG()._refresh_every(jnp.float32) == 10 and calib.CG()._refresh_every(jnp.float64) == 0
