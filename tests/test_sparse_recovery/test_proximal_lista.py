"""Proximal operators, ISTA/FISTA, the lasso as a fixed point, and the LISTA networks: each
against a closed form or the algorithm it generalises (experiments/sparse_recovery)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.sparse_recovery import lista, problems, proximal

M, N = 20, 40


@pytest.fixture(scope="module")
def problem():
    key = jax.random.PRNGKey(3)
    A = problems.gaussian_matrix(key, M, N)
    x = problems.bernoulli_gaussian(jax.random.PRNGKey(4), 6, N, 0.1)
    return A, x, x @ A.T


def test_soft_thresholds_are_proximal_maps():
    # The prox of tau |.|_1 and tau sum_g |u_g|_2 minimise 1/2 |v - u|^2 + tau R(v): check by
    # comparing the objective at the prox with random perturbations of it.
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=12))
    tau = 0.4
    for prox, penalty in (
            (lambda u: proximal.soft_threshold(u, tau), lambda v: jnp.sum(jnp.abs(v))),
            (lambda u: proximal.group_soft_threshold(u, tau, 3),
             lambda v: jnp.sum(jnp.linalg.norm(v.reshape(4, 3), axis=1)))):
        v = prox(u)
        objective = lambda v: 0.5 * jnp.sum((v - u) ** 2) + tau * penalty(v)  # noqa: E731
        others = v + 0.05 * rng.normal(size=(200, 12))
        assert float(objective(v)) <= float(jnp.min(jax.vmap(objective)(others)))
    assert np.allclose(proximal.group_soft_threshold(u, tau, 1), proximal.soft_threshold(u, tau))
    with pytest.raises(ValueError, match="group_size=5"):
        proximal.group_soft_threshold(u, tau, 5)


def test_ista_fista_and_the_fixed_point_reach_the_lasso_solution(problem):
    A, _, y = problem
    lam = 0.02
    x_star = proximal.lasso(A, y, lam)
    # Optimality: A^T (y - A x) = lam sign(x) on the support, |.| <= lam elsewhere.
    correlation = (y - x_star @ A.T) @ A
    support = x_star != 0
    assert np.allclose(correlation[support], lam * jnp.sign(x_star[support]), atol=1e-8)
    assert float(jnp.max(jnp.abs(correlation[~support]))) <= lam + 1e-8
    fista = proximal.fista(A, y, lam, 3000)
    ista = proximal.ista(A, y, lam, 3000)
    assert fista.shape == (3001, 6, N)
    assert float(jnp.max(jnp.abs(fista[-1] - x_star))) < 1e-8
    # ISTA is the slower of the two: it is closer after 3000 steps than FISTA after 100 only
    # because FISTA has long since converged.
    gap = lambda xs, k: float(jnp.max(jnp.abs(xs[k] - x_star)))  # noqa: E731
    assert gap(fista, 100) < gap(ista, 100)
    errors = proximal.ista(A, y, lam, 50, record=lambda x: jnp.sum((x - x_star) ** 2))
    assert errors.shape == (51,) and errors[-1] < errors[0]


def test_lasso_derivative_is_the_support_formula(problem):
    # d x_S / d y = (A_S^T A_S)^{-1} A_S^T (and 0 off the support), from the implicit adjoint of
    # the prox fixed point.
    A, _, y = problem
    lam, member = 0.02, y[:1]
    x_star = proximal.lasso(A, member, lam)[0]
    support = np.nonzero(np.asarray(x_star))[0]
    jacobian = jax.jacfwd(lambda y: proximal.lasso(A, y[None], lam)[0])(member[0])
    A_S = A[:, support]
    expected = jnp.linalg.solve(A_S.T @ A_S, A_S.T)
    assert np.allclose(jacobian[support], expected, atol=1e-8)
    assert np.allclose(np.delete(np.asarray(jacobian), support, axis=0), 0.0, atol=1e-10)


def test_untrained_networks_with_ista_weights_are_ista(problem):
    A, _, y = problem
    lam, K = 0.05, 6
    L = proximal.lipschitz(A)
    thresholds = jnp.full((K,), lam / L)
    reference = proximal.ista(A, y, lam, K)
    for network in (lista.LISTA(A, thresholds, weight=A / L),
                    lista.LISTACP(A, thresholds, weight=A / L)):
        assert np.allclose(network(y), reference, atol=1e-12), type(network).__name__
    # Group LISTA with B = I and W = A / L is group ISTA.
    group = lista.GroupLISTA(A, thresholds, 4, weight=A / L)
    prox = lambda u, tau: proximal.group_soft_threshold(u, tau, 4)  # noqa: E731
    assert np.allclose(group(y), proximal.ista(A, y, lam, K, prox=prox), atol=1e-12)
    assert lista.parameter_count(group) == K * (N // 4) * 16 + K
    assert lista.parameter_count(lista.LISTACP(A, thresholds)) == K * M * N + K


def test_analytic_weight_is_the_least_coherent_with_unit_diagonal(problem):
    A = problem[0]
    W = lista.analytic_weight(A)
    assert np.allclose(jnp.diag(W.T @ A), 1.0)
    # Any other W with the same diagonal has a larger |W^T A|_F: perturb within the constraint.
    rng = np.random.default_rng(1)
    value = float(jnp.sum((W.T @ A) ** 2))
    for _ in range(5):
        D = jnp.asarray(rng.normal(size=W.shape))
        D = D - A * jnp.sum(D * A, axis=0) / jnp.sum(A * A, axis=0)  # keeps a_i^T w_i
        assert float(jnp.sum(((W + 1e-2 * D).T @ A) ** 2)) > value


def test_support_selection_passes_the_largest_entries_unshrunk():
    u = jnp.asarray([[3.0, -0.5, 0.2, -2.0, 1.0]])
    out = lista.support_selected_threshold(u, 0.3, keep=2)
    assert np.allclose(out, [[3.0, -0.2, 0.0, -2.0, 0.7]])
    assert np.allclose(lista.support_selected_threshold(u, 0.3, keep=0),
                       proximal.soft_threshold(u, 0.3))
    assert lista.LISTACP(jnp.eye(3, 100), jnp.ones(3), support_selection=True).keep == (1, 2, 3)


def test_training_lowers_the_error_of_every_network(problem):
    A = problem[0]

    def sample(key, A):
        x = problems.bernoulli_gaussian(key, 16, N, 0.1)
        return x, x @ A.T

    thresholds = lista.geometric_thresholds(4, 0.3, 0.7)
    x_test = problems.bernoulli_gaussian(jax.random.PRNGKey(9), 32, N, 0.1)
    y_test = x_test @ A.T
    for network, weights in ((lista.LISTACP(A, thresholds, support_selection=True), "W"),
                             (lista.GroupLISTA(A, thresholds, 4), "B")):
        before = problems.nmse_db(network(y_test), x_test)[-1]
        start = getattr(network, weights)
        trained, losses = lista.train(network, sample, steps=40, learning_rate=1e-3,
                                      threshold_learning_rate=3e-3, key=jax.random.PRNGKey(0),
                                      data=(A,))
        assert losses.shape == (40,)
        assert problems.nmse_db(trained(y_test), x_test)[-1] < before - 1.0
        assert np.array_equal(trained.A, A)  # the sensing matrix is not trained
        # The weights move by about the relative rate per step, whatever their scale.
        change = jnp.sqrt(jnp.mean((getattr(trained, weights) - start) ** 2)
                          / jnp.mean(start**2))
        assert 1e-3 < float(change) < 0.2, weights
