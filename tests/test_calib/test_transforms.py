"""JAX transformations through calib.equilibrium, checked against the closed-form quadratic.

x*(theta) = A(theta)^{-1} f with A = M0 + diag(k): jvp, vjp, jacfwd, jacrev, grad,
value_and_grad, vmap (over theta and over x0), jit, and derivatives with respect to extra args.
"""

import jax
import jax.numpy as jnp
import numpy as np

import calib
from calib_systems import (QUAD_N, quad_energy, quad_hessian_eigenvalues, quad_jacobian,
                           quad_solution, quad_theta)

# The transformations, not the solver, are under test: fixed-step gradient descent is the cheapest
# solver to compile (it converges for lambda_max(A) < 2 / 0.2 = 10, true for every theta used here).
SOLVER = calib.GradientDescent(step_size=0.2, tol=1e-12, max_steps=2000)
ATOL = 1e-10
C = np.array([0.5, -1.0, 2.0, 0.25])


def x_of(theta, x0=None, adjoint=None):
    x0 = jnp.zeros(QUAD_N) if x0 is None else x0
    return calib.equilibrium(quad_energy, x0, theta, solver=SOLVER, adjoint=adjoint).x


def loss(theta):
    return jnp.asarray(C) @ x_of(theta)


def _tangent():
    return {"k": jnp.array([0.3, -0.1, 0.2, 0.05]), "f": jnp.array([-0.2, 0.4, 0.1, 0.3])}


def _jvp_closed_form(theta, tangent):
    jac = quad_jacobian(theta)
    return jac["k"] @ np.asarray(tangent["k"]) + jac["f"] @ np.asarray(tangent["f"])


def test_jvp():
    theta, tangent = quad_theta(), _tangent()
    x, x_dot = jax.jit(lambda t, v: jax.jvp(x_of, (t,), (v,)))(theta, tangent)
    np.testing.assert_allclose(x, quad_solution(theta), atol=1e-11)
    np.testing.assert_allclose(x_dot, _jvp_closed_form(theta, tangent), rtol=0, atol=ATOL)


def test_vjp():
    theta = quad_theta()

    @jax.jit
    def pullback(t, cotangent):
        x, vjp = jax.vjp(x_of, t)
        return x, vjp(cotangent)[0]

    x, theta_bar = pullback(theta, jnp.asarray(C))
    np.testing.assert_allclose(x, quad_solution(theta), atol=1e-11)
    jac = quad_jacobian(theta)
    for name in ("k", "f"):
        np.testing.assert_allclose(theta_bar[name], C @ jac[name], rtol=0, atol=ATOL)


def test_jacfwd_equals_jacrev_equals_closed_form():
    # A dense adjoint solve, so forward and reverse mode agree to round-off (with CG each would
    # carry its own 1e-10 relative linear-solve error).
    theta = quad_theta()
    dense = calib.Implicit(linear_solver=calib.Dense())
    fwd, rev = jax.jit(lambda t: (jax.jacfwd(lambda s: x_of(s, adjoint=dense))(t),
                                  jax.jacrev(lambda s: x_of(s, adjoint=dense))(t)))(theta)
    expected = quad_jacobian(theta)
    for name in ("k", "f"):
        assert fwd[name].shape == rev[name].shape == (QUAD_N, QUAD_N)
        np.testing.assert_allclose(fwd[name], expected[name], rtol=0, atol=ATOL)
        np.testing.assert_allclose(rev[name], expected[name], rtol=0, atol=ATOL)
        np.testing.assert_allclose(fwd[name], rev[name], rtol=0, atol=1e-14)


def test_value_and_grad_and_grad_under_jit():
    theta = quad_theta()
    value, grad = jax.jit(jax.value_and_grad(loss))(theta)
    np.testing.assert_allclose(value, C @ quad_solution(theta), rtol=1e-12)
    jac = quad_jacobian(theta)
    for name in ("k", "f"):
        np.testing.assert_allclose(grad[name], C @ jac[name], rtol=0, atol=ATOL)
    # The jitted loss alone gives the same value (plain jax.grad is exercised under vmap below).
    np.testing.assert_allclose(jax.jit(loss)(theta), value, rtol=1e-14)


def test_vmap_over_theta():
    base = quad_theta()
    scales = jnp.array([0.5, 1.0, 1.5])
    batch = {"k": base["k"][None] * scales[:, None], "f": base["f"][None] + scales[:, None]}

    xs, jacs = jax.jit(jax.vmap(lambda t: (x_of(t), jax.jacfwd(x_of)(t))))(batch)
    assert xs.shape == (3, QUAD_N)
    for i in range(3):
        theta_i = {name: batch[name][i] for name in batch}
        assert np.max(quad_hessian_eigenvalues(theta_i)) < 2.0 / SOLVER.step_size
        np.testing.assert_allclose(xs[i], quad_solution(theta_i), atol=1e-11)
        expected = quad_jacobian(theta_i)
        for name in ("k", "f"):
            np.testing.assert_allclose(jacs[name][i], expected[name], rtol=0, atol=ATOL)


def test_vmap_over_x0():
    # Different starts, one strictly convex energy: one minimiser and one gradient for all.
    theta = quad_theta()
    starts = jnp.array([[0.0, 0.0, 0.0, 0.0], [5.0, -3.0, 1.0, 2.0], [-1.0, 4.0, -2.0, 0.5]])

    def per_start(x0):
        sol = calib.equilibrium(quad_energy, x0, theta, solver=SOLVER)
        g = jax.grad(lambda t: jnp.asarray(C) @ x_of(t, x0))(theta)
        return sol.x, sol.result, sol.steps, g

    with calib.record_adjoints() as log:
        xs, results, steps, grads = jax.jit(jax.vmap(per_start))(starts)
    # One adjoint solve per batch member, each with a record of its own.
    assert len(log) == 3 and all(record.exact for record in log)
    assert results.shape == (3,) and np.all(np.asarray(results) == calib.RESULTS.successful)
    assert len(set(np.asarray(steps).tolist())) > 1  # really different runs
    jac = quad_jacobian(theta)
    for i in range(3):
        np.testing.assert_allclose(xs[i], quad_solution(theta), atol=1e-11)
        for name in ("k", "f"):
            np.testing.assert_allclose(grads[name][i], C @ jac[name], rtol=0, atol=ATOL)


def test_pytree_state_and_derivative_with_respect_to_extra_args():
    # The state is a dict of two halves and the load enters as a positional *arg:
    # E(x, theta, f) = 1/2 x^T A(k) x - f^T x, so dx*/df = A^{-1}.
    theta = quad_theta()

    def energy(state, theta, load):
        return quad_energy(jnp.concatenate([state["a"], state["b"]]), {"k": theta["k"], "f": load})

    def x_of_load(load):
        sol = calib.equilibrium(energy, {"a": jnp.zeros(2), "b": jnp.zeros(2)}, {"k": theta["k"]},
                                load, solver=SOLVER)
        assert set(sol.x) == {"a", "b"} and sol.x["a"].shape == (2,)
        return jnp.concatenate([sol.x["a"], sol.x["b"]])

    x, jac = jax.jit(lambda f: (x_of_load(f), jax.jacrev(x_of_load)(f)))(theta["f"])
    np.testing.assert_allclose(x, quad_solution(theta), atol=1e-11)
    np.testing.assert_allclose(jac, quad_jacobian(theta)["f"], rtol=0, atol=ATOL)
