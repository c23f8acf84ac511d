"""The fit result: exact NetCDF round trip, parameter access, the text report, plots, ``calib report``."""

import math

import numpy as np
import pytest
import xarray as xr

from calib._errors import CalibKeyError, CalibTypeError, CalibValueError
from calib.fit._report_command import main
from calib.fit._result import DatasetFit, FitResult, VariableFit

PNG = b"\x89PNG\r\n\x1a\n"


def curve_dataset():
    strain = np.linspace(0.0, 0.05, 6)
    observed = 2.0e3 * strain + np.array([0.3, -0.2, 0.1, 0.0, -0.4, 0.2])
    return DatasetFit(
        name="tension", weight=1.0, relative_sigma=False,
        coords={"strain": strain, "specimen": np.array(["a", "a", "b", "b", "c", "c"])},
        coord_dims={"strain": ("strain",), "specimen": ("strain",)},
        coord_units={"strain": "1", "specimen": None},
        variables={"stress": VariableFit("stress", "MPa", ("strain",), observed, np.full(6, 0.5), 2.0e3 * strain)})


def scalar_dataset():
    return DatasetFit(
        name="crystal", weight=2.5, relative_sigma=False, coords={"temperature": 300.0},
        coord_dims={"temperature": ()}, coord_units={"temperature": "K"},
        variables={"a0": VariableFit("a0", "angstrom", (), 3.615, 0.002, 3.617),
                   "B": VariableFit("B", "GPa", (), 140.0, 5.0, 131.0)})


def make_result(**changes):
    fields = dict(
        parameter_names=("clay.E", "clay.nu", "steel.E", "steel.G"),
        values=np.array([2.0e3, 0.3, 2.1e5, 8.0e4]),
        initial=np.array([1.5e3, 0.3, 2.0e5, 7.5e4]),
        units=("MPa", None, "MPa", "MPa"),
        kinds=("free", "fixed", "free", "tied"),
        lower=np.array([0.0, -np.inf, 1.0e5, -np.inf]),
        upper=np.array([np.inf, np.inf, 2.1e5, np.inf]),
        prior_mean=np.array([np.nan, np.nan, 2.0e5, np.nan]),
        prior_sigma=np.array([np.nan, np.nan, 1.0e4, np.nan]),
        free_names=("clay.E", "steel.E"),
        standard_errors=np.array([12.5, 3.0e3]),
        intervals=np.array([[1975.5, 2024.5], [2.04e5, 2.16e5]]),
        confidence=0.95,
        covariance=np.array([[156.25, -30000.0], [-30000.0, 9.0e6]]),
        correlation=np.array([[1.0, -0.8], [-0.8, 1.0]]),
        eigenvalues=np.array([1.0e-7, 0.01]),
        eigenvectors=np.array([[0.6, -0.8], [0.8, 0.6]]),
        scaled_sensitivities=np.array([3.2, 0.4]),
        chi2=7.25, objective=7.5, dof=6, reduced_chi2=7.25 / 6, covariance_scale=7.25 / 6,
        absolute_sigma=False,
        warnings=("steel.E is at its upper bound 2.1e+05 MPa; widen the bound or fix it",
                  "2 inner solves failed; their steps were rejected"),
        profiles={"clay.E": {"values": np.array([1950.0, 1975.0, 2000.0, 2025.0]),
                             "chi2": np.array([11.0, 8.5, 7.25, 8.4]),
                             "converged": np.array([True, True, True, False]),
                             "lower": 0.0, "upper": 2031.25, "threshold": 11.09, "best_value": 2000.0,
                             "best_chi2": 7.25, "confidence": 0.95, "lower_kind": "bound",
                             "upper_kind": "crossed", "message": "clay.E: 95% profile interval [bound 0, 2031.25]"}},
        history={"loss": np.array([40.0, 12.0, 13.0, 7.5]), "step_norm": np.array([0.0, 1.2, 0.5, 0.1]),
                 "inner_steps": np.array([30, 22, 25, 10]), "accepted": np.array([True, True, False, True]),
                 "trust_radius": np.array([1.0, 2.0, 0.5, 0.5])},
        datasets=(curve_dataset(), scalar_dataset()),
        inner={"solves": 120, "failed": 2, "rejected_steps": 1, "max_steps": 37, "mean_steps": 21.5},
        config={"optimizer": {"name": "levenberg_marquardt", "tol": 1e-10}, "adjoint": "implicit",
                "loss": "soft_l1", "datasets": ["tension", "crystal"]},
        success=True, message="converged: relative reduction of chi-square below 1e-10",
        optimizer="LevenbergMarquardt", adjoint="Implicit(CG)", n_evaluations=9, n_jacobians=4,
        compile_seconds=3.25, run_seconds=0.5)
    fields.update(changes)
    return FitResult(**fields)


def no_free(**changes):
    """Every parameter fixed, no profile, no history: the empty shapes of the layout."""
    return make_result(kinds=("fixed", "fixed", "fixed", "tied"), free_names=(), standard_errors=[],
                       intervals=[], covariance=[], correlation=[], eigenvalues=[], eigenvectors=[],
                       scaled_sensitivities=[], profiles={}, history={}, warnings=(), inner={}, **changes)


@pytest.mark.parametrize("build", [make_result, no_free], ids=["full", "no-free-parameters"])
def test_save_load_round_trip_is_exact(tmp_path, build):
    result = build()
    assert result.equals(FitResult.from_dataset(result.to_dataset()))
    path = result.save(tmp_path / "sub" / "fit.nc")
    assert path == tmp_path / "sub" / "fit.nc" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["fit.nc"]  # the temporary file was renamed
    loaded = FitResult.load(path)
    assert loaded.equals(result) and result.equals(loaded)
    assert loaded.datasets[1].variables["a0"].observed.shape == ()
    assert loaded.datasets[0].coords["specimen"].dtype.kind == "U"
    assert loaded.units[1] is None and loaded.datasets[0].coord_units["specimen"] is None
    result.save(path)  # overwriting an existing result is one rename
    assert FitResult.load(path).equals(result)


def test_equals_sees_every_change():
    result = make_result()
    assert not result.equals(make_result(values=np.array([2.0e3, 0.3, 2.1e5, 8.1e4])))
    assert not result.equals(make_result(warnings=()))
    assert not result.equals(make_result(units=("MPa", "", "MPa", "MPa")))  # None and "" differ
    assert not result.equals(make_result(datasets=(curve_dataset(),)))
    assert not result.equals(result.to_dataset())


def test_dataset_layout_is_readable():
    ds = make_result().to_dataset()
    assert ds.attrs["calib_result_version"] == 1
    assert list(ds["parameter"].values) == ["clay.E", "clay.nu", "steel.E", "steel.G"]
    assert ds["tension.stress.observed"].dims == ("tension.strain",)
    assert ds["tension.stress.observed"].attrs["units"] == "MPa"
    assert ds["tension.strain"].attrs["units"] == "1"
    np.testing.assert_allclose(ds["tension.stress.residual"].values, make_result().datasets[0].variables["stress"].residual)
    assert ds["crystal.a0.predicted"].dims == () and ds["crystal.temperature"].attrs["units"] == "K"
    assert ds["covariance"].dims == ("free_parameter", "free_parameter_b")
    assert ds["profile.clay.E.chi2"].dims == ("profile.clay.E.point",)
    assert ds["profile.clay.E.values"].attrs["upper"] == 2031.25
    assert ds["history.accepted"].dtype == bool and ds.sizes["iteration"] == 4


def test_parameter_access_and_nested_theta():
    result = make_result()
    assert result["steel.G"] == 8.0e4
    assert result.theta == {"clay": {"E": 2.0e3, "nu": 0.3}, "steel": {"E": 2.1e5, "G": 8.0e4}}
    assert result.standard_error("steel.E") == 3.0e3
    assert math.isnan(result.standard_error("clay.nu")) and math.isnan(result.standard_error("steel.G"))
    with pytest.raises(CalibKeyError, match=r"no parameter 'clay\.e'.*did you mean 'clay\.E'.*clay\.E, clay\.nu"):
        result["clay.e"]
    with pytest.raises(KeyError, match="no parameter 'rock.E'"):
        result.standard_error("rock.E")
    with pytest.raises(CalibTypeError, match="named by their path"):
        result[0]


def test_inconsistent_fields_are_refused():
    with pytest.raises(CalibValueError, match=r"covariance must have shape \(2, 2\)"):
        make_result(covariance=np.eye(3))
    with pytest.raises(CalibValueError, match=r"free_names \['clay.E'\] must be the parameters of kind 'free'"):
        make_result(free_names=("clay.E",))
    with pytest.raises(CalibValueError, match=r"profiles\['clay.E'\]: missing keys \['message'\]"):
        make_result(profiles={"clay.E": {k: v for k, v in make_result().profiles["clay.E"].items() if k != "message"}})
    with pytest.raises(CalibTypeError, match="config must be JSON serialisable"):
        make_result(config={"solver": object()})
    with pytest.raises(CalibValueError, match="sigma must be positive"):
        VariableFit("a0", "angstrom", (), 3.6, 0.0, 3.6)


def test_report_contents():
    text = make_result().report()
    for expected in ("LevenbergMarquardt", "Implicit(CG)", "solves 120", "failed 2", "rejected steps 1",
                     "3.25 s compiling", "degrees of freedom  6", "scaled by reduced chi-square",
                     "clay.E", "clay.nu", "steel.G", "fixed", "tied", "2000", "± 12", "(0.62%)",
                     "[1976, 2024]", "210000  ± 3000", "[204000, 216000]", "at upper bound", "prior 200000 ± 10000",
                     "C(clay.E, steel.E)  -0.8000", "tension: chi-square", "crystal: chi-square",
                     "a0", "at strain=0.04"):
        assert expected in text, expected
    assert "[bound 0, 2031.2]" in text and "(one-sided: lower bound, upper crossed)" in text
    assert "clay.E: 95% profile interval [bound 0, 2031.25]" in text
    tail = text[text.index("[[Warnings]]"):]
    for warning in make_result().warnings:
        assert f"  - {warning}" in tail
    empty = no_free(absolute_sigma=True).report()
    assert "absolute sigma (not scaled)" in empty and "[[Correlations]]" not in empty and "(none)" in empty


def test_plots_are_written(tmp_path):
    paths = make_result().plot(tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert names == ["correlation.png", "fit_crystal.png", "fit_tension.png", "loss_history.png",
                     "profile_clay.E.png"]
    for path in paths:
        assert path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG
    assert sorted(p.name for p in no_free().plot(tmp_path / "few")) == ["fit_crystal.png", "fit_tension.png"]


def test_uncomputed_uncertainty_relative_weights_and_a_map(tmp_path):
    """NaN uncertainty, a dataset with relative weights and a 2-D variable: report, plot, round trip."""
    grid = np.arange(6.0).reshape(2, 3)
    field = DatasetFit(
        name="field/map", weight=0.5, relative_sigma=True, coords={"x": [0.0, 1.0, 2.0]},
        coord_dims={"x": ("x",)}, coord_units={},
        variables={"u": VariableFit("u", "mm", ("y", "x"), grid, np.ones((2, 3)), grid + [[0.1, 0.1, 0.1], [0.1, 0.1, 0.5]])})
    nan = np.full(2, np.nan)
    result = make_result(standard_errors=nan, intervals=np.full((2, 2), np.nan), covariance=np.full((2, 2), np.nan),
                         correlation=np.full((2, 2), np.nan), datasets=(field,), history={},
                         profiles={"steel.E": {"values": [2.1e5], "chi2": [np.nan], "converged": [False],
                                               "lower": 2.0e5, "upper": np.nan, "threshold": 3.84,
                                               "best_value": 2.1e5, "best_chi2": 7.25, "confidence": 0.95,
                                               "lower_kind": "crossed", "upper_kind": "not_reached", "message": ""}})
    assert result.datasets[0].coord_units == {"x": None}
    text = result.report()
    assert "± nan" in text and "field/map" in text and "relative weights" in text and "at y[1], x=2" in text
    assert "[200000, not reached)" in text and "0/1 re-fits converged" in text
    assert [p.name for p in result.plot(tmp_path)] == ["fit_field_map.png", "correlation.png", "profile_steel.E.png"]
    assert FitResult.load(result.save(tmp_path / "map.nc")).equals(result)


def test_report_command_end_to_end(tmp_path, capsys):
    path = make_result().save(tmp_path / "fit.nc")
    assert main([str(path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "[[Parameters]]" in out and "steel.E" in out and "plot" not in out
    assert not (tmp_path / "fit_plots").exists()
    other = no_free().save(tmp_path / "fixed.nc")  # two plots: keeps the test fast
    assert main([str(other)]) == 0
    assert (tmp_path / "fixed_plots" / "fit_tension.png").is_file()
    assert "2 plot(s) written" in capsys.readouterr().out
    assert main([str(other), "--plots", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "fit_crystal.png").is_file()
    assert main([str(other), "--plots", "x", "--no-plots"]) == 2  # usage error, from argparse


def test_report_command_bad_path(tmp_path, capsys):
    missing = tmp_path / "missing.nc"
    assert main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and err.count("\n") == 1 and "Traceback" not in err
    text = tmp_path / "notes.nc"
    text.write_text("not a NetCDF file")
    assert main([str(text)]) == 2
    assert str(text) in capsys.readouterr().err


def test_loading_other_netcdf_names_the_path(tmp_path):
    other = tmp_path / "data.nc"
    xr.Dataset({"stress": ("strain", np.arange(3.0), {"units": "MPa"})}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(CalibValueError, match=r"data\.nc.*not a calib fit result"):
        FitResult.load(other)
    with pytest.raises(CalibValueError, match=r"no file .*missing\.nc"):
        FitResult.load(tmp_path / "missing.nc")
