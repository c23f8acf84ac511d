"""SparseNewton and SparseHessian: a nonlinear spring chain whose tangent is tridiagonal.

The chain ``E = sum_i k d_i^2/2 + c d_i^4/4 - f.x`` with ``d = diff([0, x])`` (one end clamped) has
a tridiagonal Hessian; its equilibrium and gradients are checked against L-BFGS with the dense
Hessian, finite differences and an unrolled Newton baseline.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import calib
from calib.sparse import FACTOR_CACHE

N = 40
_PATTERN = sp.diags([np.ones(N - 1), np.ones(N), np.ones(N - 1)], [-1, 0, 1], format="csr")
_PATTERN.sort_indices()
_ROWS = np.repeat(np.arange(N), np.diff(_PATTERN.indptr))
FORCES = np.linspace(0.1, 1.0, N) * 0.05


def chain_energy(x, theta, forces):
    d = jnp.diff(jnp.concatenate([jnp.zeros(1, x.dtype), x]))
    return jnp.sum(theta["k"] * d**2 / 2 + theta["c"] * d**4 / 4) - jnp.vdot(forces, x)


def chain_values(x, theta, forces):
    hessian = jax.hessian(chain_energy)(x, theta, forces)
    return hessian[_ROWS, _PATTERN.indices]


HESSIAN = calib.SparseHessian(_PATTERN.indptr, _PATTERN.indices, chain_values)


def theta0():
    return {"k": jnp.array(1.0), "c": jnp.array(0.5)}


def solve(theta, solver=None, adjoint=None, forces=None):
    solver = calib.SparseNewton(hessian=HESSIAN, method="superlu") if solver is None else solver
    forces = jnp.asarray(FORCES) if forces is None else forces
    return calib.equilibrium(chain_energy, jnp.zeros(N), theta, forces, solver=solver,
                             adjoint=adjoint)


def objective(theta, solver=None, adjoint=None):
    return jnp.sum(solve(theta, solver, adjoint).x ** 2)


def test_hessian_values_and_matvec_match_dense():
    x = jnp.linspace(0.0, 0.3, N)
    args = (x, theta0(), jnp.asarray(FORCES))
    dense = np.asarray(jax.hessian(chain_energy)(*args))
    np.testing.assert_allclose(HESSIAN.dense(*args), dense, rtol=1e-14)
    v = jnp.asarray(np.random.default_rng(0).normal(size=N))
    np.testing.assert_allclose(HESSIAN.matvec(chain_values(*args), v), dense @ v, rtol=1e-12)


@pytest.mark.parametrize("method", ["superlu", "amg"])
def test_equilibrium_matches_lbfgs(method):
    sol = solve(theta0(), calib.SparseNewton(hessian=HESSIAN, method=method, tol=1e-11))
    assert int(sol.result) == calib.RESULTS.successful
    assert int(sol.steps) <= 8  # quadratic convergence
    ref = solve(theta0(), calib.LBFGS(tol=1e-11))
    np.testing.assert_allclose(sol.x, ref.x, rtol=1e-8, atol=1e-12)


def test_gradient_three_ways_and_factorisation_reuse():
    theta = theta0()
    FACTOR_CACHE.clear()
    with calib.record_adjoints() as log:
        implicit = jax.grad(objective)(theta)
    # The adjoint CG is preconditioned by the last Newton factorisation (a cache hit): a nonlinear
    # problem needs a couple of iterations because that tangent is one step old.
    assert FACTOR_CACHE.hits >= 1
    assert 1 <= int(log[-1].iterations) <= 3 and bool(log[-1].converged)
    unrolled = jax.grad(lambda t: objective(t, adjoint=calib.Unrolled(steps=10)))(theta)
    matrix_free = jax.grad(lambda t: objective(t, adjoint=calib.Implicit(precondition=False)))(theta)
    for name in theta:
        h = 1e-6
        plus, minus = dict(theta), dict(theta)
        plus[name] = theta[name] + h
        minus[name] = theta[name] - h
        fd = (objective(plus) - objective(minus)) / (2 * h)
        np.testing.assert_allclose(implicit[name], fd, rtol=1e-6)
        np.testing.assert_allclose(implicit[name], unrolled[name], rtol=1e-9)
        np.testing.assert_allclose(implicit[name], matrix_free[name], rtol=1e-8)


def test_statistics_count_the_host_work():
    # The public hook the benchmarks read (nested blocks each see everything).
    FACTOR_CACHE.clear()
    with calib.sparse.statistics() as outer:
        with calib.sparse.statistics() as inner:
            jax.block_until_ready(jax.grad(objective)(theta0()))
    assert inner == outer
    assert outer.factorisations == outer.cache_misses >= 2  # one per Newton step
    assert outer.cache_hits >= 1  # the adjoint's preconditioner
    assert outer.host_calls == outer.members >= outer.factorisations + outer.cache_hits
    assert outer.host_seconds >= outer.factor_seconds > 0 and outer.solve_seconds >= 0
    assert outer.failures == outer.singular == outer.krylov_iterations == 0
    assert outer.messages == []


def test_linear_problem_adjoint_is_one_back_substitution():
    theta = {"k": jnp.array(2.0), "c": jnp.array(0.0)}
    with calib.record_adjoints() as log:
        jax.grad(objective)(theta)
    assert int(log[-1].iterations) == 1 and float(log[-1].residual) < 1e-12


def test_gradient_with_respect_to_forces_and_under_jit():
    grad = jax.jit(jax.grad(lambda f: jnp.sum(solve(theta0(), forces=f).x)))(jnp.asarray(FORCES))
    ref = jax.grad(lambda f: jnp.sum(solve(theta0(), calib.LBFGS(tol=1e-12), forces=f).x))(
        jnp.asarray(FORCES))
    np.testing.assert_allclose(grad, ref, rtol=1e-7)


def double_well(x, theta):
    return jnp.sum(theta["a"] * (x**2 - 1.0) ** 2 / 4 + 0.1 * x)


def _diagonal_values(x, theta):
    return jnp.diag(jax.hessian(double_well)(x, theta))


def test_indefinite_start_is_shifted_to_a_descent_step():
    # At x = 0.1 the double well has negative curvature; a plain Newton step would climb.
    hessian = calib.SparseHessian(np.arange(4), np.arange(3), _diagonal_values)
    solver = calib.SparseNewton(hessian=hessian, method="superlu")
    sol = calib.equilibrium(double_well, jnp.full(3, 0.1), {"a": jnp.array(1.0)}, solver=solver)
    assert int(sol.result) == calib.RESULTS.successful
    assert np.all(np.abs(np.asarray(sol.x) + 1.0) < 0.1)  # the lower (tilted) well


def barrier(x, theta):
    # Infinite energy beyond x = -0.5: the line search must never accept such a step.
    inside = x > -0.5
    safe = jnp.where(inside, x, 0.0)
    value = jnp.sum(theta["k"] * safe**2 / 2 - jnp.log(safe + 0.5) + 2.0 * safe)
    return jnp.where(jnp.all(inside), value, jnp.inf)


def _barrier_values(x, theta):
    return jnp.diag(jax.hessian(barrier)(x, theta))


def test_line_search_rejects_infinite_energy():
    hessian = calib.SparseHessian(np.arange(3), np.arange(2), _barrier_values)
    solver = calib.SparseNewton(hessian=hessian, method="superlu")
    sol = calib.equilibrium(barrier, jnp.zeros(2), {"k": jnp.array(0.1)}, solver=solver)
    assert int(sol.result) == calib.RESULTS.successful
    assert np.all(np.asarray(sol.x) > -0.5)


def test_non_convergence_is_reported():
    solver = calib.SparseNewton(hessian=HESSIAN, method="superlu", max_steps=1, rtol=0.0, tol=1e-14)
    with pytest.warns(calib.NonConvergenceWarning, match="step limit"):
        sol = solve({"k": jnp.array(1.0), "c": jnp.array(5.0)}, solver)
    assert int(sol.result) == calib.RESULTS.max_steps_reached


def test_relative_tolerance():
    loose = calib.SparseNewton(hessian=HESSIAN, method="superlu", tol=1e-30, rtol=1e-3)
    sol = solve(theta0(), loose)
    assert int(sol.result) == calib.RESULTS.successful
    assert float(sol.max_force) <= 1e-3 * np.max(np.abs(FORCES))


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="SparseNewton: hessian must be a calib.SparseHessian"):
        calib.SparseNewton()
    with pytest.raises(ValueError, match="method must be one of"):
        calib.SparseNewton(hessian=HESSIAN, method="pardiso")
    with pytest.raises(ValueError, match="flat vector of the Hessian's size 40"):
        calib.equilibrium(chain_energy, jnp.zeros(N + 1), theta0(), jnp.zeros(N + 1),
                          solver=calib.SparseNewton(hessian=HESSIAN))
    with pytest.raises(ValueError, match="structurally symmetric"):
        calib.SparseHessian(np.array([0, 2, 2]), np.array([0, 1]), chain_values)
    with pytest.raises(ValueError, match="near_nullspace must have shape"):
        calib.SparseHessian(_PATTERN.indptr, _PATTERN.indices, chain_values,
                            near_nullspace=np.ones((N + 1, 1)))
    with pytest.raises(TypeError, match="values must be a function"):
        calib.SparseHessian(_PATTERN.indptr, _PATTERN.indices, None)


def test_amg_adjoint_solves_with_the_tangent_at_the_solution():
    # AMG-CG keeps its hierarchy (the expensive part) and iterates on the tangent at x*, so the
    # outer adjoint CG needs one iteration even for a nonlinear problem.
    solver = calib.SparseNewton(hessian=HESSIAN, method="amg")
    with calib.record_adjoints() as log:
        amg = jax.grad(lambda t: objective(t, solver))(theta0())
    assert int(log[-1].iterations) == 1 and float(log[-1].residual) < 1e-9
    direct = jax.grad(objective)(theta0())
    for name in direct:
        np.testing.assert_allclose(amg[name], direct[name], rtol=1e-8)


@pytest.mark.parametrize("method", ["superlu", "amg"])
def test_gradient_when_the_start_is_already_the_solution(method):
    # No Newton step, so no factorisation yet: the adjoint assembles the tangent at x0 itself.
    solver = calib.SparseNewton(hessian=HESSIAN, method=method)
    x_star = solve(theta0(), solver).x

    def from_solution(theta):
        return jnp.sum(calib.equilibrium(chain_energy, x_star, theta, jnp.asarray(FORCES),
                                         solver=solver).x ** 2)

    np.testing.assert_allclose(jax.grad(from_solution)(theta0())["c"],
                               jax.grad(objective)(theta0())["c"], rtol=1e-8)


def test_jacfwd_tangents_share_one_lookup_and_back_substitution():
    # Under jacfwd the P tangents at one state are solved with one matrix: the host groups them by
    # the content of their values (vmap materialises the broadcast matrix) into one cache look-up
    # and one multi-right-hand-side solve; the Jacobian equals the column-by-column jvps.
    theta = theta0()

    def positions(t):
        return solve(t).x

    FACTOR_CACHE.clear()
    with calib.sparse.statistics() as stats:
        jacobian = jax.block_until_ready(jax.jacfwd(positions)(theta))
    for name in theta:
        basis = {k: jnp.asarray(float(k == name)) for k in theta}
        column = jax.jvp(positions, (theta,), (basis,))[1]
        np.testing.assert_allclose(jacobian[name], column, rtol=1e-12, atol=1e-14)
    # Newton steps look up once each; every preconditioner call of the tangents' CG once for both
    # tangents, though it counts two members.
    lookups = stats.cache_hits + stats.cache_misses
    assert stats.members > lookups
    assert stats.failures == stats.singular == 0
