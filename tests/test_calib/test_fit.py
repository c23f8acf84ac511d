"""calib.fit end to end: recovery, agreement with scipy's curve_fit, exact Jacobians, coverage,
gating of failed inner solves, priors, tied and nested parameters, units, robust losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy.optimize import curve_fit

import calib
from calib.fit._evaluate import Evaluator
from calib.objective import Objective
from calib.parameters import ParameterSpace

T = np.linspace(0.0, 4.0, 15)
TRUE = {"A": 2.5, "k": 1.3, "c": 0.5}


def decay(t, A, k, c):
    return A * np.exp(-k * t) + c


def decay_model(theta, conditions):
    return {"y": theta["A"] * jnp.exp(-theta["k"] * conditions["t"]) + theta["c"]}


def decay_data(seed=0, sigma=0.02, noise=True):
    y = decay(T, **TRUE)
    if noise:
        y = y + sigma * np.random.default_rng(seed).standard_normal(T.size)
    return xr.Dataset({"y": ("t", y, {"units": "m", "sigma": sigma})},
                      coords={"t": ("t", T, {"units": "s"})}, attrs={"name": "decay"})


def decay_parameters():
    return [calib.Parameter("A", 1.0, bounds=(0.0, 10.0)), calib.Parameter("k", 0.5, bounds=(0.0, None)),
            calib.Parameter("c", 0.0)]


@pytest.mark.parametrize("optimizer", ["trf", "lm"])
@pytest.mark.parametrize("absolute", [True, False])
def test_optimum_and_standard_errors_equal_curve_fit(optimizer, absolute):
    data = decay_data()
    result = calib.fit(decay_model, data, decay_parameters(), optimizer=optimizer,
                       absolute_sigma=absolute)
    popt, pcov = curve_fit(decay, T, data["y"].values, p0=[1.0, 0.5, 0.0],
                           sigma=np.full(T.size, 0.02), absolute_sigma=absolute, method="trf",
                           jac=lambda t, A, k, c: np.stack(
                               [np.exp(-k * t), -A * t * np.exp(-k * t), np.ones_like(t)], 1),
                           ftol=1e-14, xtol=1e-14, gtol=1e-14)
    assert result.success, result.message
    np.testing.assert_allclose(result.values, popt, rtol=1e-8)
    np.testing.assert_allclose(result.covariance, pcov, rtol=1e-6)
    np.testing.assert_allclose(result.standard_errors, np.sqrt(np.diag(pcov)), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["lbfgsb", "lbfgs"])
def test_gradient_optimisers_reach_the_least_squares_optimum(optimizer):
    data = decay_data()
    reference = calib.fit(decay_model, data, decay_parameters())
    result = calib.fit(decay_model, data, decay_parameters(), optimizer=optimizer, max_iterations=500)
    np.testing.assert_allclose(result.values, reference.values, rtol=1e-5)


def test_noise_free_data_are_recovered_exactly():
    result = calib.fit(decay_model, decay_data(noise=False), decay_parameters())
    np.testing.assert_allclose(result.values, [2.5, 1.3, 0.5], rtol=1e-9)
    assert result.chi2 < 1e-16


def test_coverage_of_the_95_percent_intervals():
    """Of 100 noisy data sets, the 95% Wald intervals hold the truth in >= 90 (all three at once is
    not asked: each parameter's coverage is checked)."""
    hits = np.zeros(3)
    for seed in range(100):
        result = calib.fit(decay_model, decay_data(seed=seed, sigma=0.05),
                           [calib.Parameter("A", 2.0), calib.Parameter("k", 1.0), calib.Parameter("c", 0.3)],
                           optimizer="lm", progress=False)
        truth = np.array([TRUE["A"], TRUE["k"], TRUE["c"]])
        hits += (result.intervals[:, 0] <= truth) & (truth <= result.intervals[:, 1])
    assert np.all(hits >= 90), hits


# ------------------------------------------------------------------ a user-defined energy
def spring_energy(x, theta, load):
    """A chain of two nonlinear springs under an end load: stiffness k, hardening b."""
    k, b = theta["spring"]["k"], theta["spring"]["b"]
    stretch = jnp.concatenate([x[:1], jnp.diff(x)])
    return jnp.sum(0.5 * k * stretch ** 2 + 0.25 * b * stretch ** 4) - load * x[-1]


def spring_model(theta, conditions):
    def tip(load):
        solution = calib.equilibrium(spring_energy, jnp.zeros(2), theta, load,
                                     adjoint=calib.Implicit())
        return solution.x[-1]

    return {"tip": jax.vmap(tip)(conditions["load"])}


LOADS = np.array([0.5, 1.0, 2.0, 3.0, 4.0])


def spring_data(k=2.0, b=0.7):
    # Closed form per spring: k s + b s^3 = load, both springs carry the load.
    stretch = np.array([np.roots([b, 0.0, k, -f])[np.isreal(np.roots([b, 0.0, k, -f]))].real[0]
                        for f in LOADS])
    return xr.Dataset({"tip": ("load", 2.0 * stretch, {"units": "mm", "sigma": 1e-3})},
                      coords={"load": ("load", LOADS, {"units": "N"})}, attrs={"name": "springs"})


def spring_parameters():
    return [calib.Parameter("spring.k", 1.0, bounds=(0.1, 10.0), units="N/mm"),
            calib.Parameter("spring.b", 0.2, bounds=(0.0, 5.0), units="N/mm**3")]


def test_user_energy_solved_by_equilibrium_is_calibrated():
    result = calib.fit(spring_model, spring_data(), spring_parameters())
    assert result.success
    np.testing.assert_allclose([result["spring.k"], result["spring.b"]], [2.0, 0.7], rtol=1e-7)
    assert result.theta["spring"]["k"] == result["spring.k"]
    assert result.inner["solves"] > 0 and result.inner["failed"] == 0


def test_jacobian_by_forward_mode_equals_finite_differences():
    datasets = calib.data.prepare_all(spring_data())
    space = ParameterSpace(spring_parameters(), bounds_native=True)
    evaluator = Evaluator(Objective(spring_model, datasets, space))
    z = space.z0() * np.array([1.3, 2.0])
    J = evaluator.evaluate("jacobian", z).jacobian
    h = 1e-6
    fd = np.stack([(evaluator.evaluate("value", z + h * e).residuals
                    - evaluator.evaluate("value", z - h * e).residuals) / (2 * h)
                   for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-6 * np.abs(J).max())
    reverse = Evaluator(Objective(spring_model, datasets, space), jacobian="rev")
    np.testing.assert_allclose(reverse.evaluate("jacobian", z).jacobian, J, rtol=1e-10)


def test_the_adjoint_is_a_fit_option_and_never_changes_the_optimum():
    implicit = calib.fit(spring_model, spring_data(), spring_parameters())
    unrolled = calib.fit(spring_model, spring_data(), spring_parameters(),
                         adjoint=calib.Unrolled(steps=30, check=False))
    np.testing.assert_allclose(unrolled.values, implicit.values, rtol=1e-7)
    assert "Unrolled" in unrolled.adjoint


# ------------------------------------------------------------------ gating of failed inner solves
def exp_energy(x, theta):
    # A minimum at x = log(theta) exists only for theta > 0; otherwise the solve runs away.
    return jnp.sum(jnp.exp(x) - theta["theta"] * x)


def log_model(theta, conditions):
    solution = calib.equilibrium(exp_energy, jnp.zeros(1), theta,
                                 solver=calib.LBFGS(max_steps=50))
    return {"x": solution.x[0]}


def log_data():
    return xr.Dataset({"x": ((), np.log(0.05), {"units": "1", "sigma": 1e-3})}, attrs={"name": "log"})


@pytest.mark.parametrize("optimizer", ["lm", "trf", "lbfgsb", "lbfgs"])
def test_a_failed_inner_solve_is_rejected_and_the_step_shortened(optimizer):
    result = calib.fit(log_model, log_data(), [calib.Parameter("theta", 3.0)], optimizer=optimizer,
                       max_iterations=500)
    assert result.success
    np.testing.assert_allclose(result["theta"], 0.05, rtol=1e-6)
    assert result.inner["failed"] >= 1 and result.inner["rejected_steps"] >= 1
    assert not np.all(result.history["accepted"])


def test_gating_sees_solves_inside_a_model_the_user_compiled_earlier():
    compiled = jax.jit(log_model)
    # Traced and cached before the fit opens its monitor, with the very argument structure the fit
    # passes, so the fit's program reuses this trace: its solve reports all the same.
    compiled({"theta": jnp.asarray(2.0, jnp.float64)}, calib.Conditions({}, {}, "log", {}))
    assert compiled._cache_size() == 1
    with pytest.raises(calib.FitError, match=r"called at test_fit.py:\d+: did not converge"):
        calib.fit(compiled, log_data(), [calib.Parameter("theta", -1.0)], optimizer="lm")
    assert compiled._cache_size() == 1


def test_a_fit_that_cannot_start_names_the_solve_and_the_parameters():
    with pytest.raises(calib.FitError, match=r"calib.equilibrium called at test_fit.py:\d+.*theta=-1"):
        calib.fit(log_model, log_data(), [calib.Parameter("theta", -1.0)], optimizer="lm")


def test_a_property_function_returning_a_number_under_vmap_is_gated():
    def tip_only(theta, load):  # like a physics property: returns a plain number
        return calib.equilibrium(exp_energy, jnp.zeros(1), {"theta": theta["theta"] * load}).x[0]

    def model(theta, conditions):
        return {"x": jax.vmap(lambda f: tip_only(theta, f))(conditions["f"])}

    data = xr.Dataset({"x": ("f", np.log(0.05 * np.array([1.0, 2.0])), {"units": "1", "sigma": 1e-3})},
                      coords={"f": [1.0, 2.0]}, attrs={"name": "batch"})
    with pytest.raises(calib.FitError, match=r"calib.equilibrium called at test_fit.py:\d+: did not "
                                             r"converge.*theta=1"):
        calib.fit(model, data.assign_coords(f=[1.0, -2.0]), [calib.Parameter("theta", 1.0)])


# ------------------------------------------------------------------ priors, tied, units, losses
def sum_model(theta, conditions):
    return {"y": (theta["a"] + theta["b"]) * conditions["x"]}


def sum_data():
    x = np.linspace(1.0, 2.0, 6)
    return xr.Dataset({"y": ("x", 3.0 * x, {"units": "1", "sigma": 0.01})}, coords={"x": x})


def test_degenerate_parameters_are_named_and_a_prior_determines_them():
    result = calib.fit(sum_model, sum_data(), {"a": 1.0, "b": 1.0})
    assert any("a" in w and "b" in w for w in result.warnings), result.warnings
    with_prior = calib.fit(sum_model, sum_data(),
                           [calib.Parameter("a", 1.0), calib.Parameter("b", 1.0, prior=(0.5, 0.1))])
    np.testing.assert_allclose([with_prior["a"], with_prior["b"]], [2.5, 0.5], rtol=1e-6)
    assert np.all(np.isfinite(with_prior.standard_errors))


def test_tied_fixed_and_nested_parameters():
    def model(theta, conditions):
        return {"y": (theta["clay"]["E"] + theta["sand"]["E"] + theta["offset"]) * conditions["x"]}

    params = [calib.Parameter("clay.E", 0.1), calib.Tied("sand.E", "2 * clay.E"),
              calib.Parameter("offset", 0.0, fixed=True)]
    result = calib.fit(model, sum_data(), params)
    np.testing.assert_allclose(result["clay.E"], 1.0, rtol=1e-8)
    np.testing.assert_allclose(result["sand.E"], 2.0, rtol=1e-8)
    assert result.kinds == ("free", "tied", "fixed") and result.free_names == ("clay.E",)


def test_units_of_a_declared_model_are_converted():
    """Bulk modulus data in GPa, a model that predicts eV/angstrom^3; strain data in percent."""
    strain = np.array([0.5, 1.0, 1.5])
    data = xr.Dataset({"stress": ("strain", 100.0 * strain / 100.0, {"units": "GPa", "sigma": 0.01})},
                      coords={"strain": ("strain", strain, {"units": "percent"})})
    model = calib.Model(lambda theta, c: {"stress": theta["B"] * c["strain"]},
                        units={"stress": "eV/angstrom**3"}, conditions={"strain": "1"})
    result = calib.fit(model, data, [calib.Parameter("B", 0.3, units="eV/angstrom**3")])
    np.testing.assert_allclose(result["B"], 100.0 / 160.2176634, rtol=1e-8)


def test_a_robust_loss_resists_an_outlier():
    data = decay_data(noise=False)
    y = data["y"].values.copy()
    y[3] += 1.0
    data = data.assign(y=("t", y, data["y"].attrs))
    plain = calib.fit(decay_model, data, decay_parameters())
    robust = calib.fit(decay_model, data, decay_parameters(), loss="soft_l1", loss_scale=3.0)
    truth = np.array([2.5, 1.3, 0.5])
    assert np.linalg.norm(robust.values - truth) < 0.1 * np.linalg.norm(plain.values - truth)


def test_bad_model_outputs_raise_clear_errors():
    data = decay_data()
    with pytest.raises(calib.CalibValueError, match=r"'y' has shape \(\).*\(15,\)"):
        calib.fit(lambda th, c: {"y": th["A"]}, data, decay_parameters())
    with pytest.raises(calib.CalibKeyError, match="no prediction for the observed variable 'y'"):
        calib.fit(lambda th, c: {"z": th["A"] * c["t"]}, data, decay_parameters())
    with pytest.raises(calib.CalibKeyError, match="condition 'pressure'"):
        calib.fit(lambda th, c: {"y": c["pressure"]}, data, decay_parameters())
    with pytest.raises(calib.CalibValueError, match="optimizer 'newton' is not known"):
        calib.fit(decay_model, data, decay_parameters(), optimizer="newton")
    with pytest.raises(calib.CalibValueError, match="use optimizer='trf'"):
        calib.fit(decay_model, data, decay_parameters(), optimizer="lm", loss="huber")


def test_callback_stops_the_fit_and_the_result_says_so():
    seen = []
    result = calib.fit(decay_model, decay_data(), decay_parameters(), optimizer="lm",
                       callback=lambda info: seen.append(info.iteration) or info.iteration >= 2)
    assert seen == [1, 2] and not result.success and "callback" in result.message


def test_profile_interval_and_save_load_round_trip(tmp_path):
    result = calib.fit(decay_model, decay_data(), decay_parameters(), profile=["k"])
    profile = result.profiles["k"]
    assert profile["lower_kind"] == profile["upper_kind"] == "crossed"
    # Nearly linear here: the profile interval is close to the Wald interval.
    np.testing.assert_allclose([profile["lower"], profile["upper"]], result.intervals[1], rtol=2e-3)
    path = result.save(tmp_path / "fit.nc")
    assert calib.FitResult.load(path).equals(result)


# ------------------------------------------------------------------ checkpoints
KILLED_FIT = """
import os, signal, sys
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np, xarray as xr
import calib
t = np.linspace(0.0, 4.0, 15)
y = 2.5 * np.exp(-1.3 * t) + 0.5 + 0.02 * np.random.default_rng(0).standard_normal(15)
data = xr.Dataset({"y": ("t", y, {"units": "m", "sigma": 0.02})}, coords={"t": t}, attrs={"name": "decay"})
def model(theta, c):
    return {"y": theta["A"] * jnp.exp(-theta["k"] * c["t"]) + theta["c"]}
def die(info):
    if info.iteration == 3:
        os.kill(os.getpid(), signal.SIGKILL)
calib.fit(model, data, [calib.Parameter("A", 1.0, bounds=(0.0, 10.0)),
                        calib.Parameter("k", 0.5, bounds=(0.0, None)), calib.Parameter("c", 0.0)],
          optimizer="lm", checkpoint=sys.argv[1], callback=die, progress=False)
"""


def test_a_fit_killed_by_sigkill_resumes_to_the_same_optimum(tmp_path):
    import signal
    import subprocess
    import sys

    checkpoint = tmp_path / "fit.ckpt.npz"
    script = tmp_path / "killed_fit.py"
    script.write_text(KILLED_FIT)
    run = subprocess.run([sys.executable, str(script), str(checkpoint)], capture_output=True,
                         env={"CALIB_COMPILATION_CACHE": "off", "PATH": "", "JAX_PLATFORMS": "cpu"})
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()[-2000:]
    saved = np.load(checkpoint)
    assert int(saved["iteration"]) == 3  # the iteration in flight is all that was lost

    data = decay_data()
    data["t"].attrs = {}
    resumed = calib.fit(decay_model, data, decay_parameters(), optimizer="lm",
                        checkpoint=checkpoint, resume=True)
    uninterrupted = calib.fit(decay_model, data, decay_parameters(), optimizer="lm")
    np.testing.assert_allclose(resumed.values, uninterrupted.values, rtol=1e-10)
    assert int(np.sum(resumed.history["accepted"])) == int(np.sum(uninterrupted.history["accepted"]))


@pytest.mark.parametrize("optimizer", ["trf", "adam"])
def test_a_stopped_fit_resumes_from_its_last_accepted_iterate(tmp_path, optimizer):
    checkpoint = tmp_path / "fit.npz"
    kwargs = dict(optimizer=optimizer, checkpoint=checkpoint, max_iterations=2000,
                  learning_rate=0.02)
    first = calib.fit(decay_model, decay_data(), decay_parameters(),
                      callback=lambda info: info.iteration >= 3, **kwargs)
    assert not first.success
    resumed = calib.fit(decay_model, decay_data(), decay_parameters(), resume=True, **kwargs)
    reference = calib.fit(decay_model, decay_data(), decay_parameters())
    np.testing.assert_allclose(resumed.values, reference.values, rtol=1e-6 if optimizer == "trf" else 1e-3)
    with pytest.raises(calib.CalibValueError, match="belongs to a different fit"):
        calib.fit(decay_model, decay_data(seed=1), decay_parameters(), resume=True, **kwargs)


def test_warm_start_reuses_the_last_accepted_equilibrium():
    def warm(theta, conditions, state):
        x0 = jnp.zeros((conditions["load"].size, 2)) if state is None else state
        tips = jax.vmap(lambda f, x: calib.equilibrium(spring_energy, x, theta, f).x)(
            conditions["load"], x0)
        return {"tip": tips[:, -1]}, tips

    cold = calib.fit(spring_model, spring_data(), spring_parameters())
    hot = calib.fit(calib.Model(warm, warm_start=True), spring_data(), spring_parameters())
    np.testing.assert_allclose(hot.values, cold.values, rtol=1e-8)
    assert hot.inner["inner_steps"] < cold.inner["inner_steps"]


def test_several_datasets_with_their_own_models_and_weights():
    curve = decay_data()
    asymptote = xr.Dataset({"y_inf": ((), 0.5, {"units": "cm", "sigma": 0.1})}, attrs={"name": "late"})
    models = {"decay": decay_model,
              "late": calib.Model(lambda theta, c: {"y_inf": theta["c"]}, units={"y_inf": "m"})}
    result = calib.fit(models, [curve, asymptote], decay_parameters(), weights={"late": 4.0})
    assert [d.name for d in result.datasets] == ["decay", "late"]
    # The late dataset is in cm: 0.5 cm = 0.005 m pulls c down from ~0.5 m; weighted residual 2x.
    single = calib.fit(decay_model, curve, decay_parameters())
    assert result["c"] < single["c"]
    late = result.datasets[1].variables["y_inf"]
    np.testing.assert_allclose(late.predicted, 100.0 * result["c"], rtol=1e-12)
    with pytest.raises(calib.CalibValueError, match="late"):
        calib.fit(models, [curve, asymptote, asymptote], decay_parameters())


def bounded_c_data():
    # Noisy decay whose best asymptote lies below c's lower bound 0.47.
    data = decay_data(seed=3, sigma=0.02)
    return data.assign(y=("t", data["y"].values - 0.05, data["y"].attrs))


def bounded_c_parameters():
    return [calib.Parameter("A", 1.0, bounds=(0.0, 10.0)), calib.Parameter("k", 0.5, bounds=(0.0, None)),
            calib.Parameter("c", 0.5, bounds=(0.47, 0.53))]


@pytest.mark.parametrize("optimizer", ["lm", "trf"])
def test_an_optimum_on_a_bound_is_reported_not_a_crash(optimizer):
    result = calib.fit(decay_model, bounded_c_data(), bounded_c_parameters(), optimizer=optimizer,
                       profile=["A"])
    np.testing.assert_allclose(result["c"], 0.47, atol=1e-6)
    assert any("c" in w and "bound" in w for w in result.warnings), result.warnings
    assert np.isfinite(result.standard_errors[0]) and np.isfinite(result.standard_errors[1])
    # Profile re-fits keep c inside its bounds: no point of the profile beats the optimum.
    profile = result.profiles["A"]
    assert np.nanmin(profile["chi2"]) >= profile["best_chi2"] - 1e-9 * profile["best_chi2"]


def test_resuming_a_different_fit_is_refused(tmp_path):
    checkpoint = tmp_path / "fit.npz"
    calib.fit(decay_model, decay_data(), decay_parameters(), optimizer="lm", checkpoint=checkpoint,
              callback=lambda info: info.iteration >= 2)
    changed = decay_parameters()
    changed[0] = calib.Parameter("A", 4.0, bounds=(0.0, 10.0))  # another start: another z scale
    for parameters, kwargs in ((changed, {}), (decay_parameters(), {"weights": 2.0})):
        with pytest.raises(calib.CalibValueError, match="belongs to a different fit"):
            calib.fit(decay_model, decay_data(), parameters, optimizer="lm", checkpoint=checkpoint,
                      resume=True, **kwargs)


def test_an_adjoint_option_that_cannot_reach_a_cached_solve_is_an_error():
    compiled = jax.jit(log_model)
    compiled({"theta": jnp.asarray(2.0, jnp.float64)}, calib.Conditions({}, {}, "log", {}))
    with pytest.raises(calib.CalibValueError, match="compiled earlier with the adjoint Implicit"):
        calib.fit(compiled, log_data(), [calib.Parameter("theta", 1.0)],
                  adjoint=calib.Unrolled(steps=50, check=False))


def test_a_vector_parameter_is_fitted_and_returned_as_an_array():
    x = np.linspace(0.0, 1.0, 8)
    data = xr.Dataset({"y": ("x", 1.0 + 2.0 * x - 3.0 * x ** 2, {"units": "1", "sigma": 0.01})},
                      coords={"x": x})

    def polynomial(theta, c):
        return {"y": jnp.polyval(theta["p"][::-1], c["x"])}

    result = calib.fit(polynomial, data, [calib.Parameter("p", [0.0, 0.0, 0.0])])
    assert result.free_names == ("p[0]", "p[1]", "p[2]")
    np.testing.assert_allclose(result.theta["p"], [1.0, 2.0, -3.0], rtol=1e-8)
