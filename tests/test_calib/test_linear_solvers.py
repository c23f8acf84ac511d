"""The adjoint linear solvers on small explicit matrices, against numpy.linalg.solve, with honest
residual and iteration reports."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib

N = 8


def _matrix(eigenvalues, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    return (q * np.asarray(eigenvalues)) @ q.T


SPD = _matrix(np.geomspace(0.5, 20.0, N))
INDEFINITE = _matrix(np.array([-4.0, -2.5, -1.0, -0.3, 0.4, 1.5, 3.0, 6.0]), seed=1)
B = np.random.default_rng(2).normal(size=N)


@functools.lru_cache(maxsize=None)
def _solver_fn(solver):
    # One compilation per solver; the matrix is an argument.
    return jax.jit(lambda a, b: solver.solve(lambda v: a @ v, b))


def _solve(solver, matrix, b=B):
    x, info = _solver_fn(solver)(jnp.asarray(matrix), jnp.asarray(b))
    return np.asarray(x), info


def _true_residual(matrix, x, b=B):
    return np.linalg.norm(b - matrix @ x) / np.linalg.norm(b)


@pytest.mark.parametrize("solver", [calib.CG(tol=1e-12), calib.MINRES(tol=1e-12), calib.Dense(),
                                    calib.Dense(method="cholesky")],
                         ids=["CG", "MINRES", "Dense-lu", "Dense-cholesky"])
def test_spd_system(solver):
    x, info = _solve(solver, SPD)
    np.testing.assert_allclose(x, np.linalg.solve(SPD, B), rtol=1e-10, atol=1e-12)
    assert bool(info.converged)
    # Round-off level residuals: both at round-off (their exact values depend on how the compiler
    # orders the sums, e.g. on its optimisation level), else agreeing to 10 %.
    true = _true_residual(SPD, x)
    eps = 64 * np.finfo(float).eps
    if true < eps:
        assert info.residual < eps, (info.residual, true)
    else:
        np.testing.assert_allclose(info.residual, true, rtol=0.1, atol=1e-16)
    assert float(info.residual) <= float(solver.tolerance(np.float64))
    if isinstance(solver, (calib.CG, calib.MINRES)):
        # Krylov methods on 8 distinct eigenvalues: a handful of iterations, not the 10 n limit.
        assert 1 <= int(info.iterations) <= 2 * N
    else:
        assert int(info.iterations) == 1


@pytest.mark.parametrize("solver", [calib.MINRES(tol=1e-12), calib.Dense()], ids=["MINRES", "Dense"])
def test_symmetric_indefinite_system(solver):
    x, info = _solve(solver, INDEFINITE)
    np.testing.assert_allclose(x, np.linalg.solve(INDEFINITE, B), rtol=1e-9, atol=1e-11)
    assert bool(info.converged) and float(info.residual) <= 1e-12


@pytest.mark.parametrize("solver", [calib.CG(), calib.Dense(method="cholesky")],
                         ids=["CG", "Dense-cholesky"])
def test_solvers_for_definite_systems_report_failure_on_indefinite(solver):
    # CG and Cholesky assume positive definiteness; on an indefinite matrix they must not claim
    # success.
    x, info = _solve(solver, INDEFINITE)
    assert not bool(info.converged)
    true = _true_residual(INDEFINITE, x)
    assert not np.isfinite(true) or true > float(solver.tolerance(np.float64))
    if np.isfinite(true):
        np.testing.assert_allclose(info.residual, true, rtol=1e-6)


def test_iteration_limit_is_reported():
    x, info = _solve(calib.CG(max_steps=2), SPD)
    assert int(info.iterations) == 2
    assert not bool(info.converged)
    np.testing.assert_allclose(info.residual, _true_residual(SPD, x), rtol=1e-10)
    assert float(info.residual) > 1e-3
    x, info = _solve(calib.MINRES(max_steps=2), INDEFINITE)
    assert int(info.iterations) == 2 and not bool(info.converged)
    np.testing.assert_allclose(info.residual, _true_residual(INDEFINITE, x), rtol=1e-10)


def test_zero_right_hand_side():
    for solver in (calib.CG(), calib.MINRES()):
        x, info = _solve(solver, SPD, np.zeros(N))
        np.testing.assert_array_equal(x, np.zeros(N))
        assert bool(info.converged) and float(info.residual) == 0.0


def test_neumann_series_is_the_truncated_series():
    # x = alpha sum_{k<K} (I - alpha A)^k b, residual (I - alpha A)^K b.
    terms, alpha = 15, 0.08  # lambda_max = 20 < 2 / alpha
    x, info = _solve(calib.NeumannSeries(terms, alpha), SPD)
    m = np.eye(N) - alpha * SPD
    expected = alpha * sum(np.linalg.matrix_power(m, k) for k in range(terms)) @ B
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        info.residual, np.linalg.norm(np.linalg.matrix_power(m, terms) @ B) / np.linalg.norm(B),
        rtol=1e-10)
    assert int(info.iterations) == terms
    # An approximation by design: "converged" means "did what was asked", the residual tells the
    # rest (here far from solved: lambda_min / lambda_max = 1/40).
    assert bool(info.converged) and float(info.residual) > 1e-2


def test_neumann_series_default_step_converges():
    # step = 1 / lambda_max (Lanczos); on a well-conditioned matrix 200 terms solve it.
    a = _matrix(np.linspace(1.0, 3.0, N), seed=3)
    x, info = _solve(calib.NeumannSeries(200), a)
    np.testing.assert_allclose(x, np.linalg.solve(a, B), rtol=1e-10, atol=1e-12)
    assert float(info.residual) < 1e-12


@jax.jit
def _pcg(a, m, b):
    return calib.CG(tol=1e-12).solve(lambda v: a @ v, b, lambda v: m @ v)


def test_preconditioned_cg():
    # A badly scaled SPD matrix D A D (condition ~2e5): the Jacobi preconditioner undoes the
    # scaling, and the exact inverse as preconditioner solves in one iteration.
    d = np.geomspace(0.05, 20.0, N)
    scaled = d[:, None] * SPD * d[None, :]
    expected = np.linalg.solve(scaled, B)

    plain_x, plain = _solve(calib.CG(tol=1e-12), scaled)
    jacobi_x, jacobi = _pcg(jnp.asarray(scaled), jnp.diag(1.0 / np.diag(scaled)), jnp.asarray(B))
    exact_x, exact = _pcg(jnp.asarray(scaled), jnp.asarray(np.linalg.inv(scaled)), jnp.asarray(B))
    for x, info in ((plain_x, plain), (jacobi_x, jacobi), (exact_x, exact)):
        np.testing.assert_allclose(x, expected, rtol=1e-8)
        assert bool(info.converged)
        np.testing.assert_allclose(info.residual, _true_residual(scaled, np.asarray(x)), rtol=0.1,
                                   atol=1e-15)
    assert int(jacobi.iterations) < int(plain.iterations)
    assert int(exact.iterations) == 1
