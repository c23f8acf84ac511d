"""Saddle points are detected (check_stability) and calib.stability's Lanczos extremes are right."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib_systems import QUAD_N, quad_energy, quad_hessian_eigenvalues, quad_theta


def saddle_energy(x, theta):
    # theta = (a, b) > 0: (0, 0) is a saddle with Hessian diag(2a, -2b). From x1 = 0 the gradient
    # has no x1 component, so a descent method stays on the x1 = 0 line and stops at the saddle.
    return theta[0] * x[0] ** 2 - theta[1] * x[1] ** 2 + x[1] ** 4


STRONG = jnp.array([1.0, 1.0])  # eigenvalues +2 and -2


SADDLE_START = (0.5, 0.0)
# Gradient descent halves x0 each step and never moves x1 (any solver would do; this one is the
# cheapest to compile).
GD = calib.GradientDescent(step_size=0.25, tol=1e-10)


def test_saddle_point_is_detected():
    with pytest.warns(calib.NonConvergenceWarning, match="saddle point"):
        sol = calib.equilibrium(saddle_energy, jnp.array(SADDLE_START), STRONG, solver=GD,
                                check_stability=True)
        jax.block_until_ready(sol)
    assert int(sol.result) == calib.RESULTS.saddle_point
    assert not bool(sol.converged)
    np.testing.assert_allclose(sol.x, [0.0, 0.0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(sol.min_eigenvalue, -2.0, rtol=1e-10)
    np.testing.assert_allclose(sol.max_eigenvalue, 2.0, rtol=1e-10)
    assert "saddle point" in sol.message()


def test_saddle_point_raises_with_throw():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="saddle point"):
            jax.block_until_ready(calib.equilibrium(saddle_energy, jnp.array(SADDLE_START), STRONG,
                                                    solver=GD, check_stability=True, throw=True))
    # An error instead of the warning, not on top of it.
    assert not [w for w in caught if issubclass(w.category, calib.NonConvergenceWarning)]


def test_weak_saddle_is_detected_relative_to_the_stiffest_mode():
    # lambda_min = -1e-6 is tiny, but far beyond round-off relative to lambda_max = 2 (the
    # threshold is sqrt(eps) |lambda_max| ~ 3e-8), so it is a saddle all the same.
    with pytest.warns(calib.NonConvergenceWarning, match="saddle point"):
        sol = calib.equilibrium(saddle_energy, jnp.array(SADDLE_START), jnp.array([1.0, 5e-7]),
                                solver=GD, check_stability=True)
        jax.block_until_ready(sol)
    assert int(sol.result) == calib.RESULTS.saddle_point
    np.testing.assert_allclose(sol.min_eigenvalue, -1e-6, rtol=1e-8)


def test_saddle_is_not_checked_by_default():
    # Without check_stability the force criterion alone is met: reported as converged, with NaN
    # eigenvalue fields (this is why check_stability exists).
    sol = calib.equilibrium(saddle_energy, jnp.array(SADDLE_START), STRONG, solver=GD)
    assert int(sol.result) == calib.RESULTS.successful
    assert np.isnan(float(sol.min_eigenvalue)) and np.isnan(float(sol.max_eigenvalue))


def test_minimum_passes_the_check_with_exact_extremes():
    theta = quad_theta()
    sol = calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), theta, check_stability=True,
                            solver=calib.GradientDescent(step_size=0.2))
    eigenvalues = quad_hessian_eigenvalues(theta)
    assert int(sol.result) == calib.RESULTS.successful
    np.testing.assert_allclose(sol.min_eigenvalue, eigenvalues[0], rtol=1e-10)
    np.testing.assert_allclose(sol.max_eigenvalue, eigenvalues[-1], rtol=1e-10)


N = 12


def _indefinite_matrix():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    eigenvalues = np.linspace(-3.0, 5.0, N) + 0.1 * rng.normal(size=N)
    return (q * eigenvalues) @ q.T, q, eigenvalues


def matrix_energy(x, matrix):
    return 0.5 * x @ matrix @ x


# calib.stability is not jitted itself; op by op its Lanczos loop costs seconds to dispatch.
stability = jax.jit(calib.stability, static_argnums=0, static_argnames=("nullspace", "iterations"))


def test_stability_on_a_known_matrix():
    matrix, _, _ = _indefinite_matrix()
    expected = np.linalg.eigvalsh(matrix)
    x = jnp.asarray(np.linspace(-1.0, 1.0, N))  # the Hessian of a quadratic is the same anywhere
    lam_min, lam_max = stability(matrix_energy, x, jnp.asarray(matrix))
    np.testing.assert_allclose([lam_min, lam_max], [expected[0], expected[-1]], rtol=1e-10)


def test_stability_ritz_values_approach_from_inside():
    matrix, _, _ = _indefinite_matrix()
    expected = np.linalg.eigvalsh(matrix)
    x = jnp.zeros(N)
    estimates = [stability(matrix_energy, x, jnp.asarray(matrix), iterations=k)
                 for k in (3, 6, N)]
    mins = [float(e[0]) for e in estimates]
    maxs = [float(e[1]) for e in estimates]
    tiny = 1e-10
    assert all(m >= expected[0] - tiny for m in mins) and all(m <= expected[-1] + tiny for m in maxs)
    assert mins[0] >= mins[1] - tiny >= mins[2] - 2 * tiny  # interlacing: monotone in k
    assert maxs[0] <= maxs[1] + tiny <= maxs[2] + 2 * tiny
    np.testing.assert_allclose([mins[-1], maxs[-1]], [expected[0], expected[-1]], rtol=1e-10)


def test_stability_with_a_custom_nullspace():
    # Exclude the eigenvectors of the two most negative eigenvalues: the estimate becomes the
    # third-smallest eigenvalue.
    matrix, q, eigenvalues = _indefinite_matrix()
    order = np.argsort(eigenvalues)
    excluded = q[:, order[:2]].T  # shape (2, N)
    lam_min, lam_max = stability(matrix_energy, jnp.zeros(N), jnp.asarray(matrix),
                                 nullspace=lambda x: jnp.asarray(excluded))
    np.testing.assert_allclose([lam_min, lam_max],
                               [eigenvalues[order[2]], eigenvalues[order[-1]]], rtol=1e-10)
