"""calib.fixed_point: solvers against closed forms, every adjoint against the implicit one and
finite differences, forward = reverse mode, vmap, and failures reported.

The maps are small (n = 6) so that compilation stays cheap; float64 throughout (conftest).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib

N = 6
_rng = np.random.default_rng(0)
_A = _rng.standard_normal((N, N))
A = 0.6 * _A / np.max(np.abs(np.linalg.eigvals(_A)))  # spectral radius 0.6: a contraction
B = _rng.standard_normal(N)
W = 0.5 * _rng.standard_normal((N, N)) / np.sqrt(N)
X = _rng.standard_normal(N)


def linear(z, theta):
    return theta["A"] @ z + theta["b"]


def linear_theta():
    return {"A": jnp.asarray(A), "b": jnp.asarray(B)}


def deq(z, theta, x):
    """A deep-equilibrium layer, z = tanh(W z + u x + c)."""
    return jnp.tanh(theta["W"] @ z + theta["u"] * x + theta["c"])


def deq_theta():
    return {"W": jnp.asarray(W), "u": jnp.asarray(0.7), "c": jnp.asarray(0.1 * np.arange(N))}


def deq_solve(theta, adjoint=None, solver=None, x=None):
    x = jnp.asarray(X) if x is None else x
    return calib.fixed_point(deq, jnp.zeros(N), theta, x, adjoint=adjoint, solver=solver)


def deq_loss(theta, adjoint=None, solver=None):
    return jnp.sum(jnp.sin(deq_solve(theta, adjoint, solver).z))


@pytest.mark.parametrize("solver", [calib.FixedPointIteration(), calib.FixedPointIteration(
    damping=0.7), calib.Anderson(), calib.NewtonKrylov()], ids=lambda s: repr(s)[:40])
def test_linear_fixed_point_matches_closed_form(solver):
    solution = calib.fixed_point(linear, jnp.zeros(N), linear_theta(), solver=solver)
    exact = np.linalg.solve(np.eye(N) - A, B)
    assert int(solution.result) == calib.RESULTS.successful, solution.message()
    np.testing.assert_allclose(solution.z, exact, atol=1e-8)
    assert float(solution.max_residual) <= 1e-8
    assert np.isnan(float(solution.ift_residual))


def test_acceleration_needs_fewer_iterations_than_plain_iteration():
    steps = {type(s).__name__: int(calib.fixed_point(linear, jnp.zeros(N), linear_theta(),
                                                      solver=s).steps)
             for s in (calib.FixedPointIteration(), calib.Anderson(memory=N + 1),
                       calib.NewtonKrylov())}
    anderson_5 = int(calib.fixed_point(linear, jnp.zeros(N), linear_theta()).steps)
    # Plain iteration contracts like 0.6^k (about 40 steps to 1e-8); Anderson with a memory of
    # n + 1 on a linear map is GMRES (at most n + 1 steps, plus round-off); with the default
    # memory 5 it is a restarted variant, still faster; Newton solves a linear map in one step.
    assert steps["FixedPointIteration"] > 30
    assert steps["Anderson"] <= N + 2
    assert anderson_5 < steps["FixedPointIteration"] / 2
    assert steps["NewtonKrylov"] == 1


def test_linear_gradient_matches_closed_form_in_both_modes():
    theta = linear_theta()
    M = np.linalg.inv(np.eye(N) - A)
    z = M @ B

    def positions(theta):
        return calib.fixed_point(linear, jnp.zeros(N), theta, solver=calib.NewtonKrylov()).z

    forward = jax.jacfwd(positions)(theta)
    reverse = jax.jacrev(positions)(theta)
    np.testing.assert_allclose(forward["b"], M, atol=1e-12)
    np.testing.assert_allclose(reverse["b"], M, atol=1e-9)
    # dz/dA_jk = M[:, j] z_k
    np.testing.assert_allclose(forward["A"], np.einsum("ij,k->ijk", M, z), atol=1e-9)
    np.testing.assert_allclose(reverse["A"], forward["A"], atol=1e-9)


def test_deq_gradient_against_known_jacobian_and_finite_differences():
    theta = deq_theta()
    z = np.asarray(deq_solve(theta).z)
    d = 1.0 - np.tanh(W @ z + 0.7 * X + theta["c"]) ** 2
    J = d[:, None] * W                                   # dF/dz at the fixed point
    dz_dc = np.linalg.solve(np.eye(N) - J, np.diag(d))   # (I - J)^{-1} dF/dc
    jac = jax.jacfwd(lambda t: deq_solve(t).z)(theta)
    np.testing.assert_allclose(jac["c"], dz_dc, atol=1e-9)
    np.testing.assert_allclose(jac["u"], np.linalg.solve(np.eye(N) - J, d * X), atol=1e-9)
    grad = jax.grad(deq_loss)(theta)
    h = 1e-6
    fd = (deq_loss({**theta, "u": theta["u"] + h}) - deq_loss({**theta, "u": theta["u"] - h})) / (2 * h)
    np.testing.assert_allclose(grad["u"], fd, rtol=1e-6)


@pytest.mark.parametrize("linear_solver", [calib.GMRES(), calib.BiCGStab(), calib.Dense()],
                         ids=["gmres", "bicgstab", "dense"])
def test_implicit_linear_solvers_agree_forward_and_reverse(linear_solver):
    theta = deq_theta()
    adjoint = calib.Implicit(linear_solver=linear_solver)
    reference = jax.grad(deq_loss)(theta)
    grad = jax.grad(lambda t: deq_loss(t, adjoint))(theta)
    # Forward mode: the directional derivative along c equals grad . direction.
    direction = {k: jnp.zeros_like(v) for k, v in theta.items()}
    direction["c"] = jnp.linspace(-1.0, 1.0, N)
    _, tangent = jax.jvp(lambda t: deq_loss(t, adjoint), (theta,), (direction,))
    for name in theta:
        np.testing.assert_allclose(grad[name], reference[name], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(tangent, jnp.vdot(reference["c"], direction["c"]), rtol=1e-8)


@pytest.mark.parametrize("adjoint", [
    calib.Unrolled(steps=120), calib.Truncated(steps=120, backprop=80),
    calib.Checkpointed(steps=120), calib.Neumann(terms=80), calib.Phantom(steps=120)],
    ids=lambda a: type(a).__name__)
def test_every_adjoint_converges_to_implicit(adjoint):
    # With the plain iteration (rate about 0.3 here) all of them are the Neumann series of
    # (I - J)^{-1} to many terms: equal to the implicit gradient to round-off.
    theta = deq_theta()
    reference = jax.grad(deq_loss)(theta)
    grad = jax.grad(lambda t: deq_loss(t, adjoint, calib.FixedPointIteration()))(theta)
    for name in theta:
        np.testing.assert_allclose(grad[name], reference[name], rtol=1e-7, atol=1e-10)


def test_phantom_one_step_is_jacobian_free_backprop():
    # One step, damping 1: (I - J)^{-1} replaced by I, i.e. the cotangent times dF/dtheta.
    theta = deq_theta()
    z = deq_solve(theta).z
    _, vjp = jax.vjp(lambda t: deq(z, t, jnp.asarray(X)), theta)
    expected = vjp(jnp.cos(z))[0]
    grad = jax.grad(lambda t: deq_loss(t, calib.Phantom()))(theta)
    for name in theta:
        np.testing.assert_allclose(grad[name], expected[name], rtol=1e-10, atol=1e-14)


def test_unrolled_reports_its_ift_residual():
    theta = deq_theta()
    with pytest.warns(calib.NonConvergenceWarning, match="step limit"):
        few = deq_solve(theta, calib.Unrolled(steps=3, check=True, ift_tol=1e9),
                        calib.FixedPointIteration())
    many = deq_solve(theta, calib.Unrolled(steps=60), calib.FixedPointIteration())
    assert float(few.ift_residual) > 1e-3
    assert float(many.ift_residual) < 1e-10


def test_vmap_over_inputs_matches_a_loop():
    theta = deq_theta()
    xs = jnp.asarray(np.random.default_rng(1).standard_normal((3, N)))

    def loss(theta, x):
        return jnp.sum(calib.fixed_point(deq, jnp.zeros(N), theta, x).z ** 2)

    batched = jax.vmap(jax.grad(loss), in_axes=(None, 0))(theta, xs)
    for i in range(3):
        single = jax.grad(loss)(theta, xs[i])
        np.testing.assert_allclose(batched["W"][i], single["W"], rtol=1e-9, atol=1e-13)
    solutions = jax.vmap(lambda x: calib.fixed_point(deq, jnp.zeros(N), theta, x))(xs)
    assert solutions.z.shape == (3, N) and solutions.result.shape == (3,)


def test_pytree_state():
    def F(z, theta):
        return {"a": 0.5 * z["b"] + theta, "b": 0.25 * z["a"]}

    solution = calib.fixed_point(F, {"a": jnp.zeros(2), "b": jnp.zeros(2)}, jnp.asarray([1.0, 2.0]))
    # a = 0.5 b + t, b = a / 4  ->  a = t / (1 - 1/8)
    np.testing.assert_allclose(solution.z["a"], np.array([1.0, 2.0]) * 8 / 7, atol=1e-8)
    grad = jax.grad(lambda t: jnp.sum(calib.fixed_point(
        F, {"a": jnp.zeros(2), "b": jnp.zeros(2)}, t).z["b"]))(jnp.asarray([1.0, 2.0]))
    np.testing.assert_allclose(grad, np.full(2, 2 / 7), rtol=1e-8)


def test_adjoint_solves_are_recorded():
    with calib.record_adjoints() as records:
        jax.block_until_ready(jax.grad(deq_loss)(deq_theta()))
    assert len(records) == 1 and records[0].solver == "GMRES" and records[0].exact


def test_non_contractive_map_is_reported_and_newton_solves_it():
    def expanding(z, theta):  # z* = -theta, but |dF/dz| = 2: the plain iteration diverges
        return 2.0 * z + theta

    with pytest.warns(calib.NonConvergenceWarning, match="NaN/inf|step limit"):
        solution = calib.fixed_point(expanding, jnp.zeros(2), jnp.ones(2),
                                     solver=calib.FixedPointIteration(max_steps=2000))
    assert int(solution.result) in (calib.RESULTS.nonfinite, calib.RESULTS.max_steps_reached)
    with pytest.raises(Exception, match="F\\(z\\)|z - F"):
        jax.block_until_ready(calib.fixed_point(
            expanding, jnp.zeros(2), jnp.ones(2), solver=calib.FixedPointIteration(max_steps=50),
            throw=True).z)
    newton = calib.fixed_point(expanding, jnp.zeros(2), jnp.ones(2), solver=calib.NewtonKrylov())
    np.testing.assert_allclose(newton.z, -np.ones(2), atol=1e-12)
    # dz*/dtheta = (1 - 2)^{-1} = -1, through the implicit adjoint.
    grad = jax.grad(lambda t: jnp.sum(calib.fixed_point(expanding, jnp.zeros(2), t,
                                                        solver=calib.NewtonKrylov()).z))(jnp.ones(2))
    np.testing.assert_allclose(grad, -np.ones(2), rtol=1e-8)


def test_bad_input_is_refused_with_a_clear_error():
    theta = linear_theta()
    with pytest.raises(calib.CalibValueError, match="not symmetric"):
        jax.grad(lambda t: jnp.sum(calib.fixed_point(
            linear, jnp.zeros(N), t, adjoint=calib.Implicit(linear_solver=calib.CG())).z))(theta)
    with pytest.raises(calib.CalibTypeError, match="fixed-point solver"):
        calib.fixed_point(linear, jnp.zeros(N), theta, solver=calib.LBFGS())
    with pytest.raises(calib.CalibTypeError, match="shapes of z"):
        calib.fixed_point(lambda z, t: jnp.concatenate([z, z]), jnp.zeros(N), theta)
    with pytest.raises(calib.CalibValueError, match="equilibrium"):
        calib.equilibrium(lambda x, t: jnp.sum(x ** 2), jnp.ones(2), 1.0, adjoint=calib.Phantom())
    with pytest.raises(calib.CalibValueError, match="damping"):
        calib.Anderson(damping=1.5)

