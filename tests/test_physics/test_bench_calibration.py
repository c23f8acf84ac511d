"""Smoke test of the calibration benchmark (``calib bench-calibration``) at tiny sizes."""

import math

import numpy as np
import pytest

from experiments import bench_calibration


def test_growth_exponent_and_arguments():
    p = [1, 2, 5, 10, 20]
    assert bench_calibration.growth_exponent(p, [3.0 * q ** 1.5 for q in p]) == pytest.approx(1.5)
    assert math.isnan(bench_calibration.growth_exponent([4], [1.0]))
    with pytest.raises(SystemExit):
        bench_calibration.parse_args(["--problems", "--parameters"])      # nothing to run
    with pytest.raises(SystemExit):
        bench_calibration.parse_args(["--footing-cells", "9"])            # not a multiple of 6
    with pytest.raises(SystemExit):
        bench_calibration.parse_args(["--parameters", "30", "--springs", "20"])
    args = bench_calibration.parse_args(["--quick"])
    assert (args.vacancy_cells, args.footing_cells, args.footing_data_cells) == (2, 6, 12)
    assert args.problems == ["morse", "footing", "eam"]


def test_spring_data_are_the_equilibria():
    # The synthetic data (closed form, every spring carries the load) without noise match the
    # relaxed chain at the true stiffnesses.
    import jax.numpy as jnp

    import calib

    model, data, parameters = bench_calibration.spring_problem(3, 6)
    groups = np.arange(6) * 3 // 6
    truth = 1.0 + 0.5 * np.sin(1.0 + np.arange(3))
    theta = {"k": jnp.asarray(truth), "b": jnp.asarray(bench_calibration.SPRING_B)}
    x = calib.equilibrium(bench_calibration.spring_energy, jnp.zeros(6), theta, 2.5,
                          jnp.asarray(groups)).x
    observed = data["u"].sel(load=2.5).values
    assert np.max(np.abs(np.asarray(x) - observed)) < 5 * bench_calibration.SPRING_SIGMA
    assert [p.name for p in parameters] == ["k", "b"] and parameters[1].fixed


def test_main_tiny(tmp_path, capsys):
    xr = pytest.importorskip("xarray")
    status = bench_calibration.main(["--problems", "springs", "--spring-groups", "2",
                                     "--springs", "4", "--parameters", "1", "2", "--repeat", "1",
                                     "--out", str(tmp_path)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "FD / exact" in printed and "growth exponents" in printed
    assert (tmp_path / "bench_calibration.txt").read_text().startswith("fits from the same start")
    assert (tmp_path / "bench_calibration_scaling.png").stat().st_size > 0

    dataset = xr.load_dataset(tmp_path / "bench_calibration.nc", engine="h5netcdf")
    assert list(dataset["method"].values) == ["exact", "fd 2-point"]
    exact, fd = (dataset.isel(run=i) for i in range(2))
    assert bool(exact["success"]) and bool(fd["success"])
    # Same start, same optimum: the chi2 agree, and FD needs P + 1 relaxations per Jacobian.
    assert float(fd["chi2_relative"]) < 1e-6
    assert float(fd["chi2"]) == pytest.approx(float(exact["chi2"]), rel=1e-6)
    assert float(fd["solves"]) > float(exact["solves"])
    assert float(exact["tangent_solves"]) > 0 and float(fd["tangent_solves"]) == 0
    assert dataset["run_s"].attrs["units"] == "s"
    assert list(dataset["parameter_count"].values) == [1, 2]
    assert np.all(dataset["scaling_fd2_solves"].values == 4 * (dataset["parameter_count"] + 1))
    assert np.all(dataset["scaling_exact_solves"].values == 4)
    assert np.all(dataset["scaling_fd3_error"].values < 1e-2)
    assert math.isfinite(dataset.attrs["exact_exponent"])


@pytest.mark.benchmark  # slow (minutes of compilation); run with -m benchmark
def test_main_morse_footing(tmp_path):
    xr = pytest.importorskip("xarray")
    status = bench_calibration.main(["--problems", "morse", "footing", "--quick",
                                     "--fd", "2-point", "3-point", "--parameters",
                                     "--out", str(tmp_path)])
    assert status == 0
    dataset = xr.load_dataset(tmp_path / "bench_calibration.nc", engine="h5netcdf")
    assert list(dataset["problem"].values) == ["morse"] * 3 + ["footing"] * 3
    fd = dataset.where(dataset["method"] != "exact", drop=True)
    # FD costs P + 1 (2-point) or 2P + 1-ish (3-point) relaxations per iteration.
    assert np.all(fd["solve_ratio"].values > 3.5)
    assert np.all(fd["chi2_relative"].values < 1e-6)
