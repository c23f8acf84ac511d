"""Uncertainty at a least-squares optimum and profile-likelihood intervals, against known answers.

Covariances are checked against ``scipy.optimize.curve_fit``; identifiability against models that
are degenerate by construction; profile intervals against the Wald interval of a linear model (an
exact parabola) and against a brute-force grid for a nonlinear one.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from calib._errors import CalibTypeError, CalibValueError
from calib.fit._profile import profile_likelihood
from calib.fit._uncertainty import gauss_newton_uncertainty

Z95 = stats.norm.ppf(0.975)


# --- a nonlinear curve fit: y = A exp(-k t) + c, heteroscedastic sigma ------------------------------

def decay(t, A, k, c):
    return A * np.exp(-k * t) + c


def decay_jacobian(t, A, k, c):
    """d decay / d(A, k, c), shape (m, 3)."""
    e = np.exp(-k * t)
    return np.stack([e, -A * t * e, np.ones_like(t)], axis=1)


@pytest.fixture(scope="module")
def decay_data():
    rng = np.random.default_rng(42)
    t = np.linspace(0.0, 4.0, 25)
    sigma = 0.05 + 0.02 * t
    y = decay(t, 2.0, 1.3, 0.4) + sigma * rng.normal(size=t.size)
    return t, y, sigma


@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_matches_curve_fit(decay_data, absolute_sigma):
    t, y, sigma = decay_data
    # curve_fit's covariance is its Jacobian's at the solution: the analytic one, as here (with "trf";
    # "lm" keeps the one of its last Jacobian update, a little off the solution).
    popt, pcov = optimize.curve_fit(decay, t, y, p0=[1.0, 1.0, 0.0], sigma=sigma,
                                    absolute_sigma=absolute_sigma, jac=decay_jacobian,
                                    method="trf")
    J = decay_jacobian(t, *popt) / sigma[:, None]
    r = (decay(t, *popt) - y) / sigma
    u = gauss_newton_uncertainty(J, r, ["A", "k", "c"], popt, absolute_sigma=absolute_sigma)
    np.testing.assert_allclose(u.covariance, pcov, rtol=1e-7)
    se = np.sqrt(np.diag(pcov))
    np.testing.assert_allclose(u.standard_errors, se, rtol=1e-7)
    np.testing.assert_allclose(u.correlation, pcov / np.outer(se, se), rtol=1e-7, atol=1e-12)
    assert u.chi2 == pytest.approx(r @ r) and u.dof == t.size - 3
    assert u.reduced_chi2 == pytest.approx(u.chi2 / u.dof)
    assert u.scale == (1.0 if absolute_sigma else pytest.approx(u.reduced_chi2))
    q = Z95 if absolute_sigma else stats.t.ppf(0.975, u.dof)
    np.testing.assert_allclose(u.intervals, np.stack([popt - q * se, popt + q * se], 1), rtol=1e-7)
    assert u.unidentifiable == () and u.at_bound == ()
    assert np.all(np.diff(u.eigenvalues) >= 0) and u.eigenvalues[0] > 0
    # The eigenpairs are those of the Jacobi-scaled information, with unit diagonal.
    F = J.T @ J
    d = 1 / np.sqrt(np.diag(F))
    Fs = d[:, None] * F * d[None, :]
    np.testing.assert_allclose(Fs @ u.eigenvectors, u.eigenvectors * u.eigenvalues, atol=1e-10)
    np.testing.assert_allclose(u.eigenvalues.sum(), 3.0, rtol=1e-12)


def test_composite_scaled_sensitivities(decay_data):
    t, y, sigma = decay_data
    theta = np.array([2.0, 1.3, 0.4])
    J = decay_jacobian(t, *theta) / sigma[:, None]
    u = gauss_newton_uncertainty(J, np.zeros(t.size), ["A", "k", "c"], theta, absolute_sigma=True)
    by_hand = [np.sqrt(np.sum((J[:, j] * theta[j]) ** 2) / t.size) for j in range(3)]
    np.testing.assert_allclose(u.scaled_sensitivities, by_hand, rtol=1e-14)


def test_strong_correlation_is_named():
    # A straight line far from x = 0: intercept and slope are almost perfectly anti-correlated.
    x = np.linspace(10.0, 11.0, 12)
    J = np.stack([np.ones_like(x), x], axis=1)
    u = gauss_newton_uncertainty(J, np.zeros(x.size), ["a", "b"], [1.0, 2.0], absolute_sigma=True)
    rho = u.correlation[0, 1]
    assert rho < -0.99
    assert [w for w in u.warnings if "a and b are strongly correlated" in w and f"{rho:+.4f}" in w]
    # Correlation does not depend on the scale of the covariance.
    quiet = gauss_newton_uncertainty(J, np.ones(x.size), ["a", "b"], [1.0, 2.0],
                                     absolute_sigma=False, correlation_threshold=1.0)
    np.testing.assert_allclose(quiet.correlation, u.correlation, rtol=1e-12)
    assert not [w for w in quiet.warnings if "correlated" in w]


# --- identifiability ----------------------------------------------------------------------------

def _degenerate(absolute_sigma=True, prior_precision=None):
    """y = (a + b) x + c: only a + b is determined, c is."""
    rng = np.random.default_rng(1)
    x = np.linspace(0.0, 2.0, 15)
    J = np.stack([x, x, np.ones_like(x)], axis=1)
    r = 0.3 * rng.normal(size=x.size)
    return x, J, r, gauss_newton_uncertainty(J, r, ["a", "b", "c"], [1.0, 2.0, 0.5],
                                             absolute_sigma=absolute_sigma,
                                             prior_precision=prior_precision)


def test_exactly_degenerate_model():
    x, J, r, u = _degenerate()
    assert len(u.unidentifiable) == 1
    combo = u.unidentifiable[0]
    assert combo == "0.71*a - 0.71*b"
    assert np.all(np.isnan(u.standard_errors[:2])) and np.isfinite(u.standard_errors[2])
    assert np.all(np.isnan(u.covariance[:2])) and np.all(np.isnan(u.covariance[:, :2]))
    # c is determined: its variance is that of the reduced model y = s x + c.
    reduced = np.linalg.inv(np.stack([x, np.ones_like(x)], 1).T @ np.stack([x, np.ones_like(x)], 1))
    assert u.covariance[2, 2] == pytest.approx(reduced[1, 1], rel=1e-10)
    assert u.eigenvalues[0] < 1e-25
    assert [w for w in u.warnings if "a and b cannot be determined separately" in w
            and combo in w and "NaN" in w]


def test_parameter_the_data_ignore():
    x = np.linspace(0.0, 1.0, 10)
    J = np.stack([x, np.zeros_like(x)], axis=1)
    u = gauss_newton_uncertainty(J, np.zeros(10), ["a", "unused"], [1.0, 3.0], absolute_sigma=True)
    assert u.unidentifiable == ("unused",)
    assert np.isnan(u.standard_errors[1]) and u.standard_errors[0] == pytest.approx(1 / np.sqrt(x @ x))
    assert [w for w in u.warnings if w.startswith("unused does not affect the fit")]


def test_near_degenerate_model_is_warned_but_finite():
    x = np.linspace(0.0, 1.0, 30)
    eps = 1e-5
    J = np.stack([x, x + eps * x**2], axis=1)
    u = gauss_newton_uncertainty(J, np.zeros(x.size), ["D", "alpha"], [1.0, 1.0],
                                 absolute_sigma=True)
    assert 1e-16 < u.eigenvalues[0] / u.eigenvalues[1] < 1e-10
    assert np.all(np.isfinite(u.covariance)) and np.all(u.standard_errors > 1e3)
    # (JᵀJ)⁻¹ through an SVD of J: inverting JᵀJ itself would lose cond(J)² * eps ~ 1e-5.
    J_plus = np.linalg.pinv(J)
    np.testing.assert_allclose(u.covariance, J_plus @ J_plus.T, rtol=1e-7)
    assert len(u.unidentifiable) == 1 and "D" in u.unidentifiable[0] and "alpha" in u.unidentifiable[0]
    assert [w for w in u.warnings if "D and alpha are practically unidentifiable" in w]
    # A looser threshold calls it identifiable.
    loose = gauss_newton_uncertainty(J, np.zeros(x.size), ["D", "alpha"], [1.0, 1.0],
                                     absolute_sigma=True, identifiability_rtol=1e-20)
    assert loose.unidentifiable == ()


def test_identifiability_does_not_depend_on_units():
    x, J, r, u = _degenerate()
    # b in units a million times smaller: its value grows, its column shrinks.
    Jm = J * np.array([1.0, 1e-6, 1.0])
    um = gauss_newton_uncertainty(Jm, r, ["a", "b", "c"], [1.0, 2e6, 0.5], absolute_sigma=True)
    assert um.unidentifiable == u.unidentifiable
    np.testing.assert_allclose(um.eigenvalues, u.eigenvalues, atol=1e-12)


def test_prior_makes_a_degenerate_problem_determined():
    P = np.diag([4.0, 0.0, 0.0])  # a prior on a alone fixes a, hence b through a + b
    x, J, r, u = _degenerate(absolute_sigma=True, prior_precision=P)
    assert u.unidentifiable == () and np.all(np.isfinite(u.covariance))
    np.testing.assert_allclose(u.covariance, np.linalg.inv(J.T @ J + P), rtol=1e-9, atol=1e-14)
    assert u.chi2 == pytest.approx(r @ r)  # the prior term is not part of chi2
    _, _, _, scaled = _degenerate(absolute_sigma=False, prior_precision=P)
    # With relative sigma only the data term is rescaled; the prior's precision is absolute.
    s = scaled.reduced_chi2
    np.testing.assert_allclose(scaled.covariance, np.linalg.inv(J.T @ J / s + P), rtol=1e-9,
                               atol=1e-14)


def test_dof_not_positive():
    J = np.array([[1.0, 2.0], [0.5, 1.5]])
    u = gauss_newton_uncertainty(J, [0.1, -0.2], ["a", "b"], [1.0, 1.0], absolute_sigma=False)
    assert u.dof == 0 and np.isnan(u.reduced_chi2) and np.all(np.isnan(u.covariance))
    assert [w for w in u.warnings if "dof = 0" in w and "absolute_sigma=True" in w]
    absolute = gauss_newton_uncertainty(J, [0.1, -0.2], ["a", "b"], [1.0, 1.0], absolute_sigma=True)
    np.testing.assert_allclose(absolute.covariance, np.linalg.inv(J.T @ J), rtol=1e-12)
    assert [w for w in absolute.warnings if "dof = 0" in w]


# --- bounds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["rows", "mapping", "scipy"])
def test_parameter_at_a_bound(decay_data, form):
    t, y, sigma = decay_data
    theta = np.array([2.0, 1.3, 0.0])
    J = decay_jacobian(t, *theta) / sigma[:, None]
    bounds = {"rows": [(0, 10), (-np.inf, np.inf), (0.0, np.inf)],
              "mapping": {"c": (0.0, 1.0), "A": (0, 10)},
              "scipy": optimize.Bounds([0, -np.inf, 0.0], [10, np.inf, np.inf])}[form]
    u = gauss_newton_uncertainty(J, np.zeros(t.size), ["A", "k", "c"], theta, absolute_sigma=True,
                                 bounds=bounds)
    assert u.at_bound == ("c",)
    assert [w for w in u.warnings if w.startswith("c = 0 is at its lower bound 0")
            and "profile" in w]


def test_bound_tolerance_and_values_outside():
    J = np.eye(2)
    near = gauss_newton_uncertainty(J, [0, 0], ["a", "b"], [1 - 1e-9, 0.5], absolute_sigma=True,
                                    bounds=[(0, 1), (0, 1)])
    assert near.at_bound == ("a",)
    inside = gauss_newton_uncertainty(J, [0, 0], ["a", "b"], [0.99, 0.5], absolute_sigma=True,
                                      bounds=[(0, 1), (0, 1)])
    assert inside.at_bound == ()
    with pytest.raises(CalibValueError, match="'a' = 1.5 lies outside its bounds"):
        gauss_newton_uncertainty(J, [0, 0], ["a", "b"], [1.5, 0.5], absolute_sigma=True,
                                 bounds=[(0, 1), (0, 1)])
    with pytest.raises(CalibValueError, match="lower < upper"):
        gauss_newton_uncertainty(J, [0, 0], ["a", "b"], [0.5, 0.5], absolute_sigma=True,
                                 bounds=[(1, 0), (0, 1)])
    with pytest.raises(CalibValueError, match="unknown parameters"):
        gauss_newton_uncertainty(J, [0, 0], ["a", "b"], [0.5, 0.5], absolute_sigma=True,
                                 bounds={"z": (0, 1)})


# --- input validation ---------------------------------------------------------------------------

def test_bad_inputs():
    J = np.ones((4, 2)) * np.arange(1, 5)[:, None] ** np.array([0, 1])
    r = np.zeros(4)
    ok = dict(absolute_sigma=True)
    with pytest.raises(CalibValueError, match="shape \\(m, p\\)"):
        gauss_newton_uncertainty(np.ones(4), r, ["a"], [1.0], **ok)
    with pytest.raises(CalibValueError, match="3 parameter names"):
        gauss_newton_uncertainty(J, r, ["a", "b", "c"], [1.0, 1.0, 1.0], **ok)
    with pytest.raises(CalibValueError, match="residuals must have shape \\(4,\\)"):
        gauss_newton_uncertainty(J, np.zeros(3), ["a", "b"], [1.0, 1.0], **ok)
    with pytest.raises(CalibValueError, match="values must have shape \\(2,\\)"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [1.0], **ok)
    bad = J.copy()
    bad[2, 1] = np.nan
    with pytest.raises(CalibValueError, match="column 1 \\(parameter 'b'\\).*first at row 2"):
        gauss_newton_uncertainty(bad, r, ["a", "b"], [1.0, 1.0], **ok)
    with pytest.raises(CalibValueError, match="residuals have 1 non-finite entries \\(rows \\[3\\]"):
        gauss_newton_uncertainty(J, [0, 0, 0, np.inf], ["a", "b"], [1.0, 1.0], **ok)
    with pytest.raises(CalibValueError, match="value of 'a' is nan"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [np.nan, 1.0], **ok)
    with pytest.raises(CalibValueError, match="distinct"):
        gauss_newton_uncertainty(J, r, ["a", "a"], [1.0, 1.0], **ok)
    with pytest.raises(CalibTypeError, match="sequence of parameter names"):
        gauss_newton_uncertainty(J, r, "ab", [1.0, 1.0], **ok)
    with pytest.raises(CalibTypeError, match="array of numbers"):
        gauss_newton_uncertainty("J", r, ["a", "b"], [1.0, 1.0], **ok)
    with pytest.raises(CalibTypeError, match="absolute_sigma must be True"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [1.0, 1.0], absolute_sigma=None)
    with pytest.raises(CalibValueError, match="positive semi-definite"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [1.0, 1.0], prior_precision=-np.eye(2), **ok)
    with pytest.raises(CalibValueError, match="symmetric"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [1.0, 1.0], prior_precision=[[1, 1], [0, 1]], **ok)
    with pytest.raises(CalibValueError, match="prior_precision must have shape \\(2, 2\\)"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [1.0, 1.0], prior_precision=np.eye(3), **ok)
    with pytest.raises(CalibValueError, match="confidence must lie in \\(0, 1\\)"):
        gauss_newton_uncertainty(J, r, ["a", "b"], [1.0, 1.0], confidence=95, **ok)
    with pytest.raises(CalibValueError, match="no free parameters"):
        gauss_newton_uncertainty(np.ones((4, 0)), r, [], [], **ok)


def test_result_is_read_only_and_serialisable(decay_data):
    t, y, sigma = decay_data
    theta = np.array([2.0, 1.3, 0.4])
    u = gauss_newton_uncertainty(decay_jacobian(t, *theta) / sigma[:, None], np.zeros(t.size),
                                 ["A", "k", "c"], theta, absolute_sigma=True)
    with pytest.raises(ValueError):
        u.covariance[0, 0] = 1.0
    d = u.to_dict()
    assert d["names"] == ["A", "k", "c"] and isinstance(d["dof"], int)
    assert isinstance(d["absolute_sigma"], bool) and isinstance(d["chi2"], float)
    np.testing.assert_array_equal(d["covariance"], u.covariance)
    assert "std err" in u.summary()


# --- profile likelihood -------------------------------------------------------------------------

def test_profile_of_a_linear_model_is_the_wald_interval():
    rng = np.random.default_rng(3)
    x = np.linspace(-1.0, 2.0, 20)
    sigma = 0.2
    y = 0.7 + 1.5 * x + sigma * rng.normal(size=x.size)
    X = np.stack([np.ones_like(x), x], 1) / sigma
    theta, *_ = np.linalg.lstsq(X, y / sigma, rcond=None)
    res = X @ theta - y / sigma
    u = gauss_newton_uncertainty(X, res, ["a", "b"], theta, absolute_sigma=True)

    def refit_a(a):  # chi2 minimised over b with a fixed: linear least squares in b
        rhs = y / sigma - a * X[:, 0]
        b = (X[:, 1] @ rhs) / (X[:, 1] @ X[:, 1])
        return float(np.sum((rhs - b * X[:, 1]) ** 2)), True

    calls = []

    def counted(a):
        calls.append(a)
        return refit_a(a)

    p = profile_likelihood("a", theta[0], res @ res, counted, standard_error=u.standard_errors[0])
    assert (p.lower_kind, p.upper_kind) == ("crossed", "crossed")
    np.testing.assert_allclose([p.lower, p.upper], u.intervals[0], rtol=1e-9)
    assert p.threshold == pytest.approx(Z95**2)
    assert len(calls) <= 12  # the sqrt-linear predictor brackets at once; Brent hits at once
    assert np.all(np.diff(p.values) > 0) and np.all(p.converged)
    assert p.best_value in p.values and p.message.startswith("a: 95% profile interval [")


def _decay_profile_refit(t, y, sigma):
    """chi2 of y = A exp(-k t) with k fixed, minimised over A (linear in A)."""
    def refit(k):
        e = np.exp(-k * t) / sigma
        A = (e @ (y / sigma)) / (e @ e)
        return float(np.sum((A * e - y / sigma) ** 2)), True
    return refit


def test_profile_of_an_exponential_decay_is_asymmetric_and_matches_a_grid():
    rng = np.random.default_rng(7)
    t = np.linspace(0.0, 1.5, 8)
    sigma = 0.15
    y = 1.0 * np.exp(-2.0 * t) + sigma * rng.normal(size=t.size)
    refit = _decay_profile_refit(t, y, sigma)
    fit = optimize.minimize_scalar(lambda k: refit(k)[0], bounds=(0.1, 10), method="bounded",
                                   options={"xatol": 1e-12})
    k_hat, chi2_min = fit.x, fit.fun
    A_hat = (np.exp(-k_hat * t) @ y) / (np.exp(-k_hat * t) @ np.exp(-k_hat * t))
    J = np.stack([np.exp(-k_hat * t), -A_hat * t * np.exp(-k_hat * t)], 1) / sigma
    u = gauss_newton_uncertainty(J, (A_hat * np.exp(-k_hat * t) - y) / sigma, ["A", "k"],
                                 [A_hat, k_hat], absolute_sigma=True)
    p = profile_likelihood("k", k_hat, chi2_min, refit, standard_error=u.standard_errors[1])
    assert (p.lower_kind, p.upper_kind) == ("crossed", "crossed")

    grid = np.linspace(0.2, 8.0, 40001)
    delta = np.array([refit(k)[0] for k in grid]) - chi2_min
    inside = grid[delta <= p.threshold]
    step = grid[1] - grid[0]
    assert p.lower == pytest.approx(inside[0], abs=step) and p.upper == pytest.approx(inside[-1], abs=step)
    # Asymmetric, unlike the Wald interval.
    assert (p.upper - k_hat) / (k_hat - p.lower) > 1.2
    wald_lower, wald_upper = u.intervals[1]
    assert abs(p.upper - wald_upper) > 0.05 * (wald_upper - wald_lower)


def test_one_sided_profile_up_to_a_bound():
    # y = A (1 - exp(-k t)) sampled only where exp(-k t) is small: large k all fit alike.
    rng = np.random.default_rng(5)
    t = np.linspace(2.0, 4.0, 10)
    sigma = 0.05
    y = 1.0 * (1 - np.exp(-3.0 * t)) + sigma * rng.normal(size=t.size)

    def refit(k):
        e = (1 - np.exp(-k * t)) / sigma
        A = (e @ (y / sigma)) / (e @ e)
        return float(np.sum((A * e - y / sigma) ** 2)), True

    fit = optimize.minimize_scalar(lambda k: refit(k)[0], bounds=(0.1, 20), method="bounded",
                                   options={"xatol": 1e-10})
    p = profile_likelihood("k", fit.x, fit.fun, refit, bounds=(0.0, 20.0), initial_step=0.2)
    assert p.lower_kind == "crossed" and p.lower < fit.x
    assert p.upper_kind == "bound" and p.upper == 20.0
    assert "[" in p.message and "bound 20]" in p.message and "one-sided" in p.message
    assert p.values[-1] == 20.0


def test_refit_failing_in_a_region():
    rng = np.random.default_rng(7)
    t = np.linspace(0.0, 1.5, 8)
    y = np.exp(-2.0 * t) + 0.15 * rng.normal(size=t.size)
    refit = _decay_profile_refit(t, y, 0.15)
    fit = optimize.minimize_scalar(lambda k: refit(k)[0], bounds=(0.1, 10), method="bounded",
                                   options={"xatol": 1e-12})
    good = profile_likelihood("k", fit.x, fit.fun, refit, initial_step=0.2)
    wall = fit.x + 0.5 * (good.upper - fit.x)  # failures start before the upper crossing

    def flaky(k):
        chi2, _ = refit(k)
        return (chi2, True) if k < wall else (chi2, False)

    p = profile_likelihood("k", fit.x, fit.fun, flaky, initial_step=0.2)
    assert p.lower_kind == "crossed" and p.lower == pytest.approx(good.lower, rel=1e-8)
    assert p.upper_kind == "failed" and np.isnan(p.upper)
    last_good = p.values[p.converged].max()
    assert last_good < wall and wall - last_good < 0.2
    assert f"the last value where it converged" in p.message and f"{last_good:.6g}" in p.message
    assert np.all(np.isnan(p.chi2[~p.converged])) and np.all(p.values[~p.converged] >= wall)

    def raising(k):  # an exception of the solver counts as a failed re-fit, NaN chi2 as well
        if k >= wall:
            raise RuntimeError("inner solve did not converge")
        return refit(k)

    r = profile_likelihood("k", fit.x, fit.fun, raising, initial_step=0.2)
    assert r.upper_kind == "failed" and "RuntimeError: inner solve did not converge" in r.message
    n = profile_likelihood("k", fit.x, fit.fun, lambda k: (np.nan, True) if k >= wall else refit(k),
                           initial_step=0.2)
    assert n.upper_kind == "failed"
    # Failures beyond the crossing do not matter.
    far = profile_likelihood("k", fit.x, fit.fun,
                             lambda k: refit(k) if k < good.upper + 1.0 else (0.0, False),
                             initial_step=0.2)
    assert far.upper_kind == "crossed" and far.upper == pytest.approx(good.upper, rel=1e-8)


def test_profile_that_never_rises_enough():
    p = profile_likelihood("a", 0.0, 1.0, lambda v: (1.0 + np.tanh(v) ** 2, True), max_steps=5)
    assert p.lower_kind == p.upper_kind == "not_reached"
    assert np.isnan(p.lower) and np.isnan(p.upper)
    assert "not reached in 5 steps" in p.message and p.values.size == 11


def test_profile_notices_a_better_minimum():
    p = profile_likelihood("a", 0.0, 1.0, lambda v: (1.0 + (v - 0.5) ** 2 - 0.25, True),
                           initial_step=0.3)
    assert "had not reached its minimum" in p.message


def test_profile_scale_and_bound_at_the_optimum():
    p = profile_likelihood("a", 0.0, 0.0, lambda v: (v**2, True), bounds=(0.0, np.inf), scale=2.0,
                           confidence=0.68)
    assert p.threshold == pytest.approx(2.0 * stats.chi2.ppf(0.68, 1))
    assert (p.lower, p.lower_kind) == (0.0, "bound")
    assert p.upper == pytest.approx(np.sqrt(p.threshold), rel=1e-9)
    d = p.to_dict()
    assert d["lower_kind"] == "bound" and isinstance(d["upper"], float) and "name" not in d
    assert set(d) == {"values", "chi2", "converged", "best_value", "best_chi2", "threshold",
                      "lower", "upper", "lower_kind", "upper_kind", "confidence", "message"}


def test_profile_bad_inputs():
    f = lambda v: (v**2, True)  # noqa: E731
    with pytest.raises(CalibValueError, match="lower < upper"):
        profile_likelihood("a", 0.0, 0.0, f, bounds=(1.0, -1.0))
    with pytest.raises(CalibValueError, match="outside the bounds"):
        profile_likelihood("a", 2.0, 0.0, f, bounds=(-1.0, 1.0))
    with pytest.raises(CalibValueError, match="max_steps"):
        profile_likelihood("a", 0.0, 0.0, f, max_steps=0)
    with pytest.raises(CalibValueError, match="initial_step"):
        profile_likelihood("a", 0.0, 0.0, f, initial_step=-1.0)
    with pytest.raises(CalibValueError, match="best_chi2 must be finite"):
        profile_likelihood("a", 0.0, np.nan, f)
    with pytest.raises(CalibTypeError, match="refit must be a callable"):
        profile_likelihood("a", 0.0, 0.0, None)
    # A NaN standard error (an unidentifiable parameter) is simply not used for the first step.
    p = profile_likelihood("a", 0.0, 0.0, f, standard_error=np.nan)
    assert p.upper == pytest.approx(Z95, rel=1e-9)


def test_refit_failing_inside_the_bracket_interpolates():
    rng = np.random.default_rng(7)
    t = np.linspace(0.0, 1.5, 8)
    y = np.exp(-2.0 * t) + 0.15 * rng.normal(size=t.size)
    refit = _decay_profile_refit(t, y, 0.15)
    fit = optimize.minimize_scalar(lambda k: refit(k)[0], bounds=(0.1, 10), method="bounded",
                                   options={"xatol": 1e-12})
    good = profile_likelihood("k", fit.x, fit.fun, refit, standard_error=0.5)
    # The walk's points land outside this window, the root finder's inside.
    p = profile_likelihood("k", fit.x, fit.fun,
                           lambda k: (np.nan, False) if abs(k - good.upper) < 0.05 else refit(k),
                           standard_error=0.5)
    assert p.upper_kind == "crossed" and "located by interpolation" in p.message
    assert p.upper == pytest.approx(good.upper, abs=0.05)
    assert p.lower == pytest.approx(good.lower, rel=1e-8)
