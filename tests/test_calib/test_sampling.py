"""calib.sampling: the log posterior (likelihood, priors, change of variables), NUTS and emcee on
a posterior known in closed form, the R-hat and ESS estimators against known values, and the gating
of failed inner solves."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import calib
from calib import sampling

pytest.importorskip("blackjax")
pytest.importorskip("emcee")

# ---------------------------------------------------------------------- a closed-form posterior
# y_i = a + b t_i + noise (sigma known), Gaussian priors on a and b: the posterior of (a, b) is
# Gaussian with precision X^T X / sigma^2 + diag(1/s^2). Two more parameters that the data do not
# see test the change of variables: q in (0, 1) with a logistic transform and no prior (its
# posterior is uniform on (0, 1)), and s > 0 with a log transform and a prior N(2, 0.5) (its
# posterior is that normal, truncated at 0 where it has no mass).
T = np.linspace(-1.0, 1.0, 8)
SIGMA = 0.3
PRIOR = {"a": (0.0, 2.0), "b": (1.0, 1.5)}


def linear_model(theta, conditions):
    return {"y": theta["a"] + theta["b"] * conditions["t"] + 0.0 * (theta["q"] + theta["s"])}


def linear_data():
    y = 0.5 + 2.0 * T + SIGMA * np.random.default_rng(3).standard_normal(T.size)
    return xr.Dataset({"y": ("t", y, {"units": "m", "sigma": SIGMA})},
                      coords={"t": ("t", T, {"units": "s"})}, attrs={"name": "line"})


def linear_parameters():
    return [calib.Parameter("a", 0.3, prior=PRIOR["a"]), calib.Parameter("b", 1.5, prior=PRIOR["b"]),
            calib.Parameter("q", 0.4, bounds=(0.0, 1.0)),
            calib.Parameter("s", 1.8, bounds=(0.0, None), prior=(2.0, 0.5))]


def exact_linear():
    X = np.stack([np.ones_like(T), T], axis=1)
    y = linear_data()["y"].values
    precision = X.T @ X / SIGMA ** 2 + np.diag([1 / PRIOR["a"][1] ** 2, 1 / PRIOR["b"][1] ** 2])
    rhs = X.T @ y / SIGMA ** 2 + np.array([PRIOR["a"][0] / PRIOR["a"][1] ** 2,
                                           PRIOR["b"][0] / PRIOR["b"][1] ** 2])
    covariance = np.linalg.inv(precision)
    return covariance @ rhs, covariance


EXACT = {"q": (0.5, 1 / math.sqrt(12)), "s": (2.0, 0.5)}


@pytest.fixture(scope="module")
def posterior():
    return sampling.log_posterior(linear_model, linear_data(), linear_parameters())


@pytest.fixture(scope="module")
def nuts_samples(posterior):
    return sampling.nuts(posterior, num_warmup=300, num_samples=600, chains=4, seed=1, chunk=300)


@pytest.fixture(scope="module")
def emcee_samples(posterior):
    return sampling.emcee(posterior, walkers=16, steps=3000, burn=600, seed=2, init_scale=0.1)


def _check_moments(ds, tolerance_in_mcse=5.0, rhat=1.02):
    mean, covariance = exact_linear()
    expected = {"a": (mean[0], math.sqrt(covariance[0, 0])), "b": (mean[1], math.sqrt(covariance[1, 1])),
                **EXACT}
    table = sampling.summary(ds)
    for name, (mu, sd) in expected.items():
        s = table[name]
        assert abs(s["mean"] - mu) <= tolerance_in_mcse * sd / math.sqrt(s["ess_bulk"]), (name, s, mu)
        # the sd of a sample sd is about sd / sqrt(2 ESS); allow a generous band
        assert abs(s["sd"] / sd - 1) <= 0.15, (name, s["sd"], sd)
        assert s["rhat"] < rhat, (name, s["rhat"])


def test_log_density_is_likelihood_prior_and_log_jacobian(posterior):
    z = posterior.to_unconstrained({"a": 0.7, "b": 1.9, "q": 0.25, "s": 1.6})
    y = linear_data()["y"].values
    chi2 = np.sum(((0.7 + 1.9 * T - y) / SIGMA) ** 2)
    prior = ((0.7 - 0.0) / 2.0) ** 2 + ((1.9 - 1.0) / 1.5) ** 2 + ((1.6 - 2.0) / 0.5) ** 2
    # d theta / dz: identity scales |theta0| (0.3, 1.5), logistic q(1 - q), exp: s
    log_jacobian = math.log(0.3) + math.log(1.5) + math.log(0.25 * 0.75) + math.log(1.6)
    value = float(jax.jit(posterior.logdensity)(jnp.asarray(z)))
    assert value == pytest.approx(-0.5 * (chi2 + prior) + log_jacobian, rel=1e-12)
    values = posterior.to_physical(z)
    assert float(values["q"]) == pytest.approx(0.25) and float(values["s"]) == pytest.approx(1.6)
    grad = jax.grad(posterior.logdensity)(jnp.asarray(z))
    assert np.all(np.isfinite(np.asarray(grad)))
    assert posterior.names == ("a", "b", "q", "s")


def test_log_density_is_minus_infinity_where_not_finite():
    def model(theta, conditions):
        return {"y": jnp.sqrt(theta["c"]) + 0.0 * conditions["t"]}

    post = sampling.log_posterior(model, linear_data(), [calib.Parameter("c", 1.0)])
    ld = jax.jit(post.logdensity)
    assert np.isfinite(float(ld(jnp.array([1.0]))))
    assert float(ld(jnp.array([-1.0]))) == -np.inf
    assert float(ld(jnp.array([np.nan]))) == -np.inf


def test_nuts_recovers_the_exact_posterior(nuts_samples):
    _check_moments(nuts_samples)
    ds = nuts_samples
    assert ds["a"].dims == ("chain", "draw") and ds.sizes == {"chain": 4, "draw": 600}
    q = ds["q"].values
    assert np.all((q > 0) & (q < 1)) and np.all(ds["s"].values > 0)
    assert int(ds.attrs["divergences"]) == 0
    assert ds.attrs["n_gradient_evaluations"] > 4 * 900
    assert ds.attrs["compile_seconds"] > 0 and ds.attrs["run_seconds"] > 0
    assert ds.attrs["n_inner_solves"] == 0  # the model relaxes nothing
    assert 0.6 < float(ds["sample_stats.acceptance_rate"].mean()) <= 1.0


def test_emcee_recovers_the_exact_posterior(emcee_samples):
    # the walkers are not independent chains: their R-hat is looser
    _check_moments(emcee_samples, tolerance_in_mcse=6.0, rhat=1.05)
    ds = emcee_samples
    assert ds.sizes == {"chain": 16, "draw": 2400}
    assert np.all((ds["q"].values > 0) & (ds["q"].values < 1))
    assert ds.attrs["n_logdensity_evaluations"] == 16 + 16 * 3000
    assert 0.2 < ds.attrs["acceptance_fraction"] < 0.9


def test_netcdf_round_trip_and_plots(nuts_samples, tmp_path):
    path = sampling.to_netcdf(nuts_samples, tmp_path / "post.nc")
    back = sampling.from_netcdf(path)
    np.testing.assert_array_equal(back["a"].values, nuts_samples["a"].values)
    np.testing.assert_array_equal(back["sample_stats.diverging"].values,
                                  nuts_samples["sample_stats.diverging"].values)
    stats = xr.load_dataset(path, group="sample_stats", engine="h5netcdf")
    assert "diverging" in stats and stats["diverging"].dims == ("chain", "draw")
    mean, covariance = exact_linear()
    approx = sampling.Laplace(("a", "b"), mean, covariance)
    fig = sampling.corner_plot({"nuts": nuts_samples}, approx)
    fig.savefig(tmp_path / "corner.png", dpi=40)
    sampling.trace_plot(nuts_samples).savefig(tmp_path / "trace.png", dpi=40)
    assert (tmp_path / "corner.png").stat().st_size > 0
    rows = sampling.compare({"nuts": nuts_samples}, approx)
    assert [r["parameter"] for r in rows] == ["a", "b", "q", "s"]
    assert "laplace_sd" in rows[0] and "laplace_sd" not in rows[2]
    assert rows[0]["sd_ratio"] == pytest.approx(1.0, abs=0.15)


def test_laplace_of_a_fit_matches_the_linear_posterior():
    params = [calib.Parameter("a", 0.3, prior=PRIOR["a"]), calib.Parameter("b", 1.5, prior=PRIOR["b"])]

    def model(theta, conditions):
        return {"y": theta["a"] + theta["b"] * conditions["t"]}

    result = calib.fit(model, linear_data(), params, progress=False)
    approx = sampling.laplace(result)
    mean, covariance = exact_linear()
    np.testing.assert_allclose(approx.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(approx.covariance, covariance, rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------- diagnostics
def _ar1(phi, chains, n, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((chains, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / math.sqrt(1 - phi ** 2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def test_ess_of_iid_chains_is_the_number_of_draws():
    rng = np.random.default_rng(0)
    values = [sampling.ess(rng.standard_normal((4, 1000)), method=m) for m in ("bulk", "mean")
              for _ in range(10)]
    assert np.mean(values) == pytest.approx(4000, rel=0.05)


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_ess_of_ar1_chains(phi):
    # integrated autocorrelation time of AR(1): (1 + phi) / (1 - phi)
    x = _ar1(phi, 4, 20000, seed=int(phi * 10))
    expected = x.size * (1 - phi) / (1 + phi)
    assert sampling.ess(x, method="mean") == pytest.approx(expected, rel=0.12)
    assert sampling.ess(x, method="bulk") == pytest.approx(expected, rel=0.12)


def test_rhat_is_one_for_mixed_chains_and_large_otherwise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1000))
    assert sampling.rhat(x) == pytest.approx(1.0, abs=0.01)
    assert sampling.rhat(x, method="split") == pytest.approx(1.0, abs=0.01)
    shifted = x.copy()
    shifted[0] += 1.0
    assert sampling.rhat(shifted) > 1.05
    drifting = x + np.linspace(0, 3, 1000)  # every chain drifts: only the split halves see it
    assert sampling.rhat(drifting, method="split") > 1.1
    scaled = x.copy()
    scaled[0] *= 3.0  # same location, different scale: only the folded R-hat sees it
    assert sampling.rhat(scaled) > 1.05
    # the classic R-hat by hand: within and between variances of the split chains
    halves = sampling.split_chains(shifted)
    n = halves.shape[1]
    W = halves.var(axis=1, ddof=1).mean()
    B = n * halves.mean(axis=1).var(ddof=1)
    assert sampling.rhat(shifted, method="split") == pytest.approx(
        math.sqrt(((n - 1) / n * W + B / n) / W))


# ---------------------------------------------------------------------- failed inner solves
# x* = argmin 0.5 (x - c)^2 by gradient descent (step 0.5, from 0) within 20 steps to a force of
# 1e-6: it converges only for |c| < 2^20 * 1e-6 ~ 1.05, and otherwise returns a finite last state.
SLOW = calib.GradientDescent(step_size=0.5, tol=1e-6, max_steps=20)
THRESHOLD = 2 ** 20 * 1e-6


def relaxing_model(theta, conditions):
    solution = calib.equilibrium(lambda x, c: 0.5 * (x - c) ** 2, jnp.zeros(()), theta["c"],
                                 solver=SLOW)
    return {"y": solution.x + 0.0 * conditions["t"]}


def relaxing_data():
    return xr.Dataset({"y": ("t", np.full(3, 0.9), {"units": "m", "sigma": 0.3})},
                      coords={"t": ("t", np.arange(3.0), {"units": "s"})}, attrs={"name": "relax"})


@pytest.fixture(scope="module")
def relaxing_posterior():
    return sampling.log_posterior(relaxing_model, relaxing_data(), [calib.Parameter("c", 0.8)])


def test_emcee_rejects_points_whose_solve_failed(relaxing_posterior):
    with pytest.warns(RuntimeWarning, match="inner solves failed"):
        ds = sampling.emcee(relaxing_posterior, walkers=8, steps=300, burn=50, seed=0, init_scale=0.05)
    assert float(ds["c"].max()) < THRESHOLD
    assert ds.attrs["failed_inner_solves"] > 0 and ds.attrs["rejected_for_failed_solves"] > 0
    # one batched solve per call, counted per walker
    assert ds.attrs["n_inner_solves"] == ds.attrs["n_logdensity_evaluations"]


def test_nuts_flags_draws_whose_solve_failed(relaxing_posterior):
    with pytest.warns(RuntimeWarning, match="inner solves failed"):
        ds = sampling.nuts(relaxing_posterior, num_warmup=100, num_samples=200, chains=1, seed=0)
    c = ds["c"].values[0]
    flagged = ds["sample_stats.inner_failed"].values[0]
    np.testing.assert_array_equal(flagged, np.abs(c) >= THRESHOLD)
    assert flagged.any() and ds.attrs["failed_draws"] == int(flagged.sum())
    assert ds.attrs["failed_inner_solves"] > 0


# ---------------------------------------------------------------------- the experiment's problems
@pytest.mark.benchmark
@pytest.mark.parametrize("problem", ["borehole", "morse_cu"])
def test_posterior_matches_laplace_and_nuts_beats_emcee(problem, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from experiments import sample_posterior

    result = sample_posterior.run(tmp_path, problems=(problem,), quick=True, verbose=False)[problem]
    for row in result["rows"]:
        if row["sampler"] == "nuts":
            assert row["rhat"] < 1.05
            assert abs(row["mean_shift_in_sd"]) < 0.5 and abs(row["sd_ratio"] - 1) < 0.2
    assert result["costs"]["nuts"]["failed_inner_solves"] == 0
    assert result["nuts_over_emcee"]["ess_per_inner_solve"] > 1
    assert (tmp_path / f"{problem}_corner.png").exists()
