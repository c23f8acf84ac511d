"""Zero modes: a translation-invariant periodic ring whose Hessian is singular.

The ring (calib_systems.ring_*) has N = 5 particles in a periodic box; its Hessian is a weighted
cycle-graph Laplacian with the uniform translation as null vector. Gaps have a closed form, so a
translation-invariant loss of the gaps has a closed-form gradient; for a loss that is *not*
translation-invariant, Implicit(nullspace=...) returns the tangent orthogonal to translations, i.e.
the derivative of the zero-mean representative of the equilibrium.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib_systems import (RING_N, central_difference, max_rel_err, ring_centered_closed_form,
                           ring_energy, ring_gaps, ring_gaps_closed_form, ring_hessian,
                           ring_theta, ring_x0)

# Hessian eigenvalues 0, 1.30 ... 5.75: the step 2 / (1.30 + 5.75) ~ 0.28 contracts by ~0.63 per
# step off the null space (and gradient descent never moves along it).
SOLVER = calib.GradientDescent(step_size=0.28, tol=1e-12, max_steps=2000)
W = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # sum(W) != 0: sum(W * x) is not translation-invariant
TRANSLATIONS = calib.Implicit(nullspace="translations")


def invariant_loss_of_x(x):
    return jnp.sum(jnp.asarray(W) * ring_gaps(x) ** 2)


def positional_loss_of_x(x):
    return jnp.sum(jnp.asarray(W) * x[:, 0])


def _solve(theta, adjoint=None):
    return calib.equilibrium(ring_energy, ring_x0(), theta, solver=SOLVER, adjoint=adjoint).x


def _grads(adjoint):
    """Gradients of the invariant and of the positional loss, one compilation."""
    return jax.jit(lambda t: (jax.grad(lambda s: invariant_loss_of_x(_solve(s, adjoint)))(t),
                              jax.grad(lambda s: positional_loss_of_x(_solve(s, adjoint)))(t)))


@jax.jit
def _invariant_reference(theta):
    return jax.grad(lambda t: jnp.sum(jnp.asarray(W) * ring_gaps_closed_form(t) ** 2))(theta)


@jax.jit
def _positional_reference(theta):
    return jax.grad(lambda t: jnp.sum(jnp.asarray(W) * ring_centered_closed_form(t)))(theta)


# --- translation_modes ------------------------------------------------------------------------

def test_translation_modes_of_positions():
    x = jnp.arange(8.0).reshape(4, 2)
    modes = calib.translation_modes(x)
    assert modes.shape == (2, 8)
    expected = np.zeros((2, 4, 2))
    expected[0, :, 0] = 1.0
    expected[1, :, 1] = 1.0
    np.testing.assert_array_equal(modes, expected.reshape(2, 8))


def test_translation_modes_of_a_pytree():
    x = {"a": jnp.zeros((2, 3)), "b": jnp.ones((3, 3))}
    modes = calib.translation_modes(x)
    assert modes.shape == (3, 15)
    # Each mode is a unit displacement of every point along one axis, in ravel_pytree order.
    np.testing.assert_array_equal(modes.sum(axis=1), [5.0, 5.0, 5.0])
    for j in range(3):
        unit = jax.flatten_util.ravel_pytree(
            jax.tree.map(lambda leaf: jnp.zeros_like(leaf).at[:, j].set(1.0), x))[0]
        np.testing.assert_array_equal(modes[j], unit)


@pytest.mark.parametrize("x", [jnp.zeros(5), {"a": jnp.zeros((2, 3)), "b": jnp.zeros((2, 2))}],
                         ids=["flat", "mixed-d"])
def test_translation_modes_rejects_non_positions(x):
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        calib.translation_modes(x)


# --- gradients on the singular system ---------------------------------------------------------

def test_ring_is_singular_and_the_solve_is_exact():
    theta = ring_theta()
    eigenvalues = np.linalg.eigvalsh(ring_hessian(theta))
    assert abs(eigenvalues[0]) < 1e-12 and eigenvalues[1] > 1.0
    np.testing.assert_allclose(ring_gaps(_solve(theta)), ring_gaps_closed_form(theta), atol=1e-11)


@pytest.fixture(scope="module")
def translation_grads():
    with calib.record_adjoints() as log:
        grads = _grads(TRANSLATIONS)(ring_theta())
    assert len(log) == 2 and all(record.exact for record in log)
    return grads


def test_translations_nullspace_matches_closed_form(translation_grads):
    theta = ring_theta()
    invariant, positional = translation_grads
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(translation_grads))
    assert max_rel_err(invariant, _invariant_reference(theta)) < 1e-9
    assert max_rel_err(positional, _positional_reference(theta)) < 1e-9


def test_translations_nullspace_matches_finite_differences(translation_grads):
    forward = jax.jit(lambda t: invariant_loss_of_x(_solve(t)))
    fd = central_difference(forward, ring_theta(), h=1e-5)
    assert max_rel_err(translation_grads[0], fd) < 1e-6


def test_translations_nullspace_matches_unrolled(translation_grads):
    unrolled = jax.jit(jax.grad(lambda t: invariant_loss_of_x(
        _solve(t, calib.Unrolled(steps=100)))))(ring_theta())
    assert max_rel_err(unrolled, translation_grads[0]) < 1e-9


def test_custom_nullspace_callable(translation_grads):
    # The same zero mode given by hand as (k, n) = (1, 5) in the flattened order of x; the
    # normalisation does not matter (the basis is orthonormalised).
    custom = calib.Implicit(nullspace=lambda x: 3.0 * jnp.ones((1, x.size)))
    grads = _grads(custom)(ring_theta())
    for got, want in zip(grads, translation_grads):
        assert max_rel_err(got, want) < 1e-12


def test_neumann_with_translations_nullspace():
    # The Neumann series on the projected operator (identity on the translation): converges to
    # the same zero-mean derivative. Off the null space the spectrum is 1.30 ... 5.75 and the
    # default step is 1/5.75, so 150 terms leave a bias ~(1 - 1.30/5.75)^150 ~ 1e-17.
    neumann = calib.Neumann(terms=150, nullspace="translations")
    grad = jax.jit(jax.grad(lambda t: positional_loss_of_x(_solve(t, neumann))))(ring_theta())
    assert max_rel_err(grad, _positional_reference(ring_theta())) < 1e-9


@pytest.mark.parametrize("linear_solver", [calib.CG(), calib.Dense()], ids=["CG", "Dense"])
def test_without_nullspace_inconsistent_adjoint_is_reported(linear_solver):
    # The cotangent of sum(W * x) has a component sum(W) / sqrt(N) along the null vector, so
    # H v = cotangent has no solution: the solve must say so, not return a silent number.
    adjoint = calib.Implicit(linear_solver=linear_solver)
    grad = jax.jit(jax.grad(lambda t: positional_loss_of_x(_solve(t, adjoint))))
    # CG either stalls or meets the (round-off) non-positive curvature of the null vector: both are
    # reported, and both messages point at the fix (a nullspace).
    with calib.record_adjoints() as log, pytest.warns(calib.NonConvergenceWarning,
                                                       match="did not converge|negative curvature"):
        jax.block_until_ready(grad(ring_theta()))
    assert len(log) == 1
    assert not log[0].exact and not bool(log[0].converged)
    assert float(log[0].residual) > 1e-3


def test_without_nullspace_invariant_loss_is_consistent():
    # For a translation-invariant loss the cotangent is orthogonal to the null vector, so the
    # singular system is consistent and CG (started at 0, staying in range(H)) solves it exactly.
    grad = jax.jit(jax.grad(lambda t: invariant_loss_of_x(_solve(t))))
    with calib.record_adjoints() as log:
        g = grad(ring_theta())
    assert len(log) == 1 and log[0].exact
    assert max_rel_err(g, _invariant_reference(ring_theta())) < 1e-9


def test_nullspace_of_wrong_shape_raises():
    bad = calib.Implicit(nullspace=lambda x: jnp.ones((1, 3)))
    with pytest.raises(ValueError, match=r"shape \(k, 5\).*got shape \(1, 3\)"):
        jax.grad(lambda t: positional_loss_of_x(_solve(t, bad)))(ring_theta())
    with pytest.raises(ValueError, match=r"got shape \(1, 3\)"):
        calib.stability(ring_energy, ring_x0(), ring_theta(), nullspace=lambda x: jnp.ones((1, 3)))


# A fixed basis array of shape (k, n) is accepted (see test_compilation); other arrays are not.
@pytest.mark.parametrize("nullspace", ["rotations", 3, jnp.ones((1, 1, RING_N))],
                         ids=["unknown-name", "int", "array-3d"])
def test_nullspace_of_wrong_type_raises(nullspace):
    with pytest.raises(TypeError, match="nullspace must be"):
        calib.Implicit(nullspace=nullspace)
    with pytest.raises(TypeError, match="nullspace must be"):
        calib.Neumann(nullspace=nullspace)


def test_stability_excludes_the_nullspace():
    theta = ring_theta()
    eigenvalues = np.linalg.eigvalsh(ring_hessian(theta))
    with_modes = calib.equilibrium(ring_energy, ring_x0(), theta, solver=SOLVER,
                                   adjoint=TRANSLATIONS, check_stability=True)
    assert int(with_modes.result) == calib.RESULTS.successful
    # With the translation excluded, the smallest eigenvalue is the first non-zero one.
    np.testing.assert_allclose(with_modes.min_eigenvalue, eigenvalues[1], rtol=1e-10)
    np.testing.assert_allclose(with_modes.max_eigenvalue, eigenvalues[-1], rtol=1e-10)
    # Without it the zero mode is seen (and, being zero within round-off, is not a saddle).
    lam_min, lam_max = calib.stability(ring_energy, with_modes.x, theta)
    assert abs(float(lam_min)) < 1e-10
    np.testing.assert_allclose(lam_max, eigenvalues[-1], rtol=1e-10)
