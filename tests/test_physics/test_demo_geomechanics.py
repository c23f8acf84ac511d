"""The geomechanics demo: closed-form HAR element laws, element-test and borehole fits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import demo_geomechanics as demo
from physics import fem

THETA = {**demo.ELEMENT_TRUTH, "p_a": demo.P_A, "p0": demo.P0}


def _theta(values):
    return {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}


@pytest.mark.parametrize("values", [THETA, {"k": 300.0, "g": 150.0, "n": 0.25, "p_a": 100.0,
                                            "p0": 180.0}])
def test_closed_forms_match_the_package_material(values):
    # The demo's data come from the closed form in the paper's variables (a, ā, C); the fitted
    # model uses the package's FE stress. They must agree to round-off at every strain.
    material = fem.HoulsbyAmorosiRojas()
    theta = _theta(values)
    law = {k: values[k] for k in ("k", "g", "n", "p_a", "p0")}
    for eps in (0.0, 1e-4, 1e-3, 3e-3):
        sigma = np.asarray(material.stress(-(eps / 3) * jnp.eye(3), theta))
        np.testing.assert_allclose(values["p0"] - np.trace(sigma) / 3,
                                   demo.isotropic_pressure(eps, **law), rtol=1e-12)
        sigma = np.asarray(material.stress(jnp.diag(jnp.array([-eps, 0.0, 0.0])), theta))
        sigma_v, sigma_h = demo.oedometer_stresses(eps, **law)
        np.testing.assert_allclose(values["p0"] - sigma[0, 0], sigma_v, rtol=1e-12)
        np.testing.assert_allclose(values["p0"] - sigma[1, 1], sigma_h, rtol=1e-12)
        np.testing.assert_allclose(values["p0"] - sigma[2, 2], sigma_h, rtol=1e-12)


def test_closed_form_moduli():
    # Analytic facts of the paper: on the isotropic axis K = dp/dε_v = k p_a (p/p_a)^n, and the
    # initial oedometer slope is the constrained modulus K + 4G/3 at p0, the lateral one K - 2G/3.
    k, g, n = (demo.ELEMENT_TRUTH[key] for key in ("k", "g", "n"))
    h = 1e-7
    for eps in (0.0, 2e-3):
        p = demo.isotropic_pressure(eps, k, g, n)
        slope = (demo.isotropic_pressure(eps + h, k, g, n)
                 - demo.isotropic_pressure(eps - h, k, g, n)) / (2 * h)
        np.testing.assert_allclose(slope, k * demo.P_A * (p / demo.P_A) ** n, rtol=1e-5)
    K = k * demo.P_A * (demo.P0 / demo.P_A) ** n
    G = g * demo.P_A * (demo.P0 / demo.P_A) ** n
    up, down = demo.oedometer_stresses(h, k, g, n), demo.oedometer_stresses(-h, k, g, n)
    np.testing.assert_allclose((up[0] - down[0]) / (2 * h), K + 4 * G / 3, rtol=1e-6)
    np.testing.assert_allclose((up[1] - down[1]) / (2 * h), K - 2 * G / 3, rtol=1e-6)


def test_element_fits_recover_and_identify(tmp_path):
    summaries = demo.fit_elements(None)
    assert set(summaries) == {"element_isotropic", "element_oedometer", "element_oedometer_axial",
                              "element_joint"}
    by = {name: {r["parameter"]: r for r in s["rows"]} for name, s in summaries.items()}
    for name, rows in by.items():
        for r in rows.values():
            if np.isfinite(r["sigma"]):
                assert r["z"] <= demo.K_SIGMA, (name, r)
        assert summaries[name]["success"]
    # Isotropic compression has no shear: k and n are determined, g not at all.
    iso = by["element_isotropic"]
    assert iso["k"]["identified"] and iso["n"]["identified"] and not iso["g"]["identified"]
    assert any("g does not affect the fit" in w for w in summaries["element_isotropic"]["warnings"])
    # The oedometer with its lateral stress and the joint fit determine all three.
    for name in ("element_oedometer", "element_joint"):
        assert all(r["identified"] and r["recovered"] for r in by[name].values()), name
    # The axial stress alone: k and g only through one combination (the constrained modulus).
    axial = summaries["element_oedometer_axial"]
    assert not any(r["identified"] for r in axial["rows"])
    assert axial["correlations"]["k-g"] < -0.99
    # The joint fit is the most precise.
    for p in ("k", "g", "n"):
        assert by["element_joint"][p]["sigma"] <= by["element_oedometer"][p]["sigma"]
    # The files of one fit: NetCDF (an exact round trip), the report with the summary, the plots.
    import calib

    joint = summaries["element_joint"]
    files = demo.save_fit(tmp_path, "element_joint", joint["result"], joint)
    assert calib.FitResult.load(files["nc"]).equals(joint["result"])
    report = (tmp_path / "element_joint.txt").read_text(encoding="utf-8")
    assert "element_joint" in report and "|Δ|/σ" in report
    assert files["plots"] and all(p.endswith(".png") for p in files["plots"])


def test_lame_closed_form():
    a, b = demo.BOREHOLE["a"], demo.BOREHOLE["b"]
    E, nu, p = 5e4, 0.3, 100.0
    r = np.linspace(a, b, 7)
    u = demo.lame_radial_displacement(r, p, E, nu)
    # The radial stress from u: σ_r = (λ + 2μ) du/dr + λ u/r equals -p at the wall, 0 outside.
    lam, mu = (float(v) for v in fem.lame_from_young_poisson(E, nu))
    h = 1e-7
    for radius, expected in ((a, -p), (b, 0.0)):
        dudr = (demo.lame_radial_displacement(radius + h, p, E, nu)
                - demo.lame_radial_displacement(radius - h, p, E, nu)) / (2 * h)
        u0 = demo.lame_radial_displacement(radius, p, E, nu)
        assert (lam + 2 * mu) * dudr + lam * u0 / radius == pytest.approx(expected, abs=1e-5)
    assert np.all(np.diff(u) < 0)


def test_borehole_quick_fit():
    summaries = demo.fit_borehole(None, quick=True)
    (summary,) = summaries.values()
    assert summary["success"]
    for r in summary["rows"]:
        assert r["identified"] and r["z"] <= demo.K_SIGMA, r
        assert r["sigma"] < 0.02 * abs(r["true"])
    assert summary["reduced_chi2"] < 3.0
    assert summary["correlations"]["E-nu"] > 0.9


def test_main_arguments():
    args = demo.parse_args(["--tests", "element", "--quick", "--out", "x"])
    assert args.tests == ["element"] and args.quick and str(args.out) == "x"
    with pytest.raises(ValueError, match="unknown tests"):
        demo.run("x", which=("pressuremeter",), verbose=False)


@pytest.mark.benchmark
def test_borehole_full_bias(tmp_path):
    summaries = demo.fit_borehole(tmp_path, quick=False)
    for r in summaries["borehole"]["rows"]:
        assert r["recovered"] and abs(r["bias_over_sigma"]) < 0.3, r


@pytest.mark.benchmark
def test_footing_fit(tmp_path):
    (summary,) = demo.fit_footing(tmp_path, quick=True).values()
    assert summary["success"]
    for r in summary["rows"]:
        assert np.isfinite(r["sigma"]) and r["z"] <= demo.K_SIGMA, r
    assert (tmp_path / "footing.nc").exists()


@pytest.mark.benchmark
def test_main_runs(tmp_path, capsys):
    assert demo.main(["--tests", "element", "borehole", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "element_joint" in out and "borehole" in out
