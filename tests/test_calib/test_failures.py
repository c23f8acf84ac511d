"""Failures are reported, never silent: result codes, warnings (throw=False), errors (throw=True),
and adjoint records for gradients taken at failed solves or with failed linear solves."""

import contextlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib_systems import QUAD_N, quad_energy, quad_jacobian, quad_solution, quad_theta

# Three fixed steps of gradient descent cannot reach a 1e-10 force from x0 = 0.
SHORT = calib.GradientDescent(step_size=0.2, tol=1e-10, max_steps=3)


@contextlib.contextmanager
def raises_instead_of_warning(match):
    """throw=True must raise (equinox's runtime error, a RuntimeError) and not also warn. Under
    filterwarnings=error a warning raised inside a JAX callback would itself surface as a
    RuntimeError, so the absence of the warning is checked explicitly."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match=match):
            yield
    assert not [w for w in caught if issubclass(w.category, calib.NonConvergenceWarning)]


def _short_solve(x0, theta, throw=False):
    return calib.equilibrium(quad_energy, x0, theta, solver=SHORT, throw=throw)


_short_solve_jit = jax.jit(_short_solve, static_argnums=2)


def test_max_steps_reached_is_reported_with_a_warning():
    with pytest.warns(calib.NonConvergenceWarning, match="step limit"):
        sol = _short_solve_jit(jnp.zeros(QUAD_N), quad_theta())
        jax.block_until_ready(sol)
    assert int(sol.result) == calib.RESULTS.max_steps_reached
    assert not bool(sol.converged)
    assert int(sol.steps) == 3
    assert float(sol.max_force) > SHORT.tol
    assert "step limit" in sol.message()
    # It really is not the solution.
    assert np.max(np.abs(np.asarray(sol.x) - quad_solution(quad_theta()))) > 1e-3


def test_max_steps_reached_raises_with_throw():
    with raises_instead_of_warning("step limit"):
        jax.block_until_ready(_short_solve_jit(jnp.zeros(QUAD_N), quad_theta(), True))


def test_converged_solve_with_throw_does_not_raise():
    sol = _short_solve_jit(jnp.asarray(quad_solution(quad_theta())), quad_theta(), True)
    assert int(sol.result) == calib.RESULTS.successful and bool(sol.converged)


_batched_short_solve = jax.jit(jax.vmap(_short_solve, in_axes=(0, None)))


def _batch_solve(theta):
    starts = jnp.stack([jnp.asarray(quad_solution(theta)), jnp.zeros(QUAD_N), jnp.ones(QUAD_N)])
    return _batched_short_solve(starts, theta)


def test_failures_in_a_batch_are_reported():
    with pytest.warns(calib.NonConvergenceWarning, match="step limit") as caught:
        sol = jax.block_until_ready(_batch_solve(quad_theta()))
    assert all("step limit" in str(w.message) for w in caught)
    np.testing.assert_array_equal(sol.result, [0, 1, 1])
    np.testing.assert_array_equal(sol.converged, [True, False, False])



def test_gradient_at_a_failed_solve_is_reported():
    grad = jax.jit(jax.grad(lambda t: jnp.sum(_short_solve(jnp.zeros(QUAD_N), t).x)))
    with calib.record_adjoints() as log, pytest.warns(calib.NonConvergenceWarning) as caught:
        jax.block_until_ready(grad(quad_theta()))
    messages = [str(w.message) for w in caught]
    assert any("gradient taken at an equilibrium solve that did not succeed" in m
               for m in messages), messages
    assert any("step limit" in m for m in messages), messages
    assert len(log) == 1
    record = log[0]
    assert bool(record.converged)  # the linear solve itself was fine...
    assert int(record.forward_result) == calib.RESULTS.max_steps_reached
    assert record.exact is False  # ...but the gradient is not exact


_CG_ONE_STEP = calib.Implicit(linear_solver=calib.CG(max_steps=1))
_GD = calib.GradientDescent(step_size=0.2, tol=1e-12, max_steps=2000)


def _grad_with_one_cg_step(throw):
    def loss(theta):
        sol = calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), theta,
                                solver=_GD, adjoint=_CG_ONE_STEP, throw=throw)
        return jnp.sum(sol.x)
    return jax.jit(jax.grad(loss))


def test_adjoint_linear_solve_failure_is_reported():
    # Four distinct Hessian eigenvalues: CG needs 4 iterations, it is allowed 1.
    with calib.record_adjoints() as log, pytest.warns(calib.NonConvergenceWarning,
                                                       match=r"adjoint linear solve \(CG\)"):
        grad = jax.block_until_ready(_grad_with_one_cg_step(False)(quad_theta()))
    assert len(log) == 1
    record = log[0]
    assert record.solver == "CG"
    assert int(record.iterations) == 1
    assert not bool(record.converged) and record.exact is False
    assert int(record.forward_result) == calib.RESULTS.successful
    assert float(record.residual) > 1e-3
    # And the returned gradient is indeed inexact.
    expected = quad_jacobian(quad_theta())["f"].sum(axis=0)
    assert np.max(np.abs(np.asarray(grad["f"]) - expected)) > 1e-4


def test_adjoint_linear_solve_failure_raises_with_throw():
    with raises_instead_of_warning("adjoint linear solve"):
        jax.block_until_ready(_grad_with_one_cg_step(True)(quad_theta()))


def test_unrolled_with_too_few_steps_is_reported():
    sol_fn = jax.jit(lambda t: calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), t,
                                                 solver=_GD, adjoint=calib.Unrolled(steps=2)))
    with pytest.warns(calib.NonConvergenceWarning) as caught:
        sol = jax.block_until_ready(sol_fn(quad_theta()))
        jax.effects_barrier()
    messages = " | ".join(str(w.message) for w in caught)
    assert "step limit" in messages
    # ...and the derivative of two steps is far from the IFT one, which is measured and said.
    assert "IFT residual" in messages and float(sol.ift_residual) > 1e-2
    assert int(sol.steps) == 2 and int(sol.result) == calib.RESULTS.max_steps_reached


def entropy_energy(x, theta):
    # Minimised at x = exp(theta - 1) > 0; NaN for x < 0.
    return jnp.sum(x * jnp.log(x) - theta * x)


def test_nonfinite_energy_is_reported():
    with pytest.warns(calib.NonConvergenceWarning, match="NaN/inf"):
        sol = calib.equilibrium(entropy_energy, -jnp.ones(2), jnp.array([0.5, 1.5]))
        jax.block_until_ready(sol)
    assert int(sol.result) == calib.RESULTS.nonfinite
    assert int(sol.steps) == 0  # stops at once instead of iterating on NaN
    assert "NaN/inf" in sol.message()
    # The same energy from a valid start converges to the closed form.
    ok = calib.equilibrium(entropy_energy, jnp.ones(2), jnp.array([0.5, 1.5]))
    np.testing.assert_allclose(ok.x, np.exp(np.array([0.5, 1.5]) - 1.0), rtol=1e-8)


@jax.custom_jvp
def _lying_bowl(x):
    return jnp.sum(x**2)


@_lying_bowl.defjvp
def _lying_bowl_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _lying_bowl(x), -2.0 * jnp.vdot(x, t)  # the wrong sign: "downhill" is uphill


def lying_energy(x, theta):
    return theta * _lying_bowl(x)


def test_stagnation_is_reported():
    # No step along the (wrong) descent direction lowers the energy: L-BFGS must give up and say
    # so instead of spinning until max_steps.
    with pytest.warns(calib.NonConvergenceWarning, match="stagnated"):
        sol = calib.equilibrium(lying_energy, jnp.array([1.0, -2.0]), 1.0)
        jax.block_until_ready(sol)
    assert int(sol.result) == calib.RESULTS.stagnated
    assert int(sol.steps) < 5
