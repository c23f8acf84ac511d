"""Smoke test of the finite-element benchmark (``calib bench-fem``) at tiny sizes."""

import json
import math

import numpy as np
import pytest

from experiments import bench_fem


def test_grids_hit_the_requested_sizes():
    for dofs in (500, 1e4, 1e6):
        nx, ny = bench_fem.grid_2d(dofs)
        assert nx % 10 == 0 and abs(2 * nx * ny / dofs - 1) < 0.1
    assert bench_fem.grid_2d(1e6) == (710, 704)
    n = bench_fem.grid_box(1e5)
    assert n % 4 == 0 and n * (n + 1) * (3 * n - 1) == 100_320
    # Slope between the smallest and the largest size, whatever lies between or the order.
    assert bench_fem.growth_exponent([1e6, 1e4, 1e5], [2.0 * 100 ** 1.2, 2.0, 50.0]) == \
        pytest.approx(1.2)
    assert math.isnan(bench_fem.growth_exponent([1e4], [1.0]))


def test_box_problem():
    # The 3D case is built (not solved: each compilation costs seconds) and checked for its
    # size, layers, loaded area and observation points; it is measured by the same code as the
    # plane-strain case below.
    args = bench_fem.parse_args(["--box-dofs", "1500"])
    problem = bench_fem.box_footing(args.box_dofs, args)
    model, mesh = problem.model, problem.model.mesh
    assert model.n_free == 1656 and problem.grid == "8x8x8"
    assert set(mesh.region_names) == {"sand", "clay"}
    assert {r.name for r in model.regions} == {"sand", "clay"} == set(problem.theta)
    model.check_parameters(problem.theta)
    # The pressure acts on the 1 m x 1 m quarter footing: total force = pressure x area.
    forces = np.asarray(model.loading().forces)
    assert -forces.sum() == pytest.approx(args.pressure * 1.0, rel=1e-12)
    top = mesh.points[problem.observe]
    assert np.allclose(top[:, 2], bench_fem.BOX_DEPTH) and len(problem.observe) == 6
    assert set(problem.setup) == {"mesh_s", "model_s", "pattern_s", "hessian_s"}


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_main_tiny(tmp_path, capsys):
    xr = pytest.importorskip("xarray")
    # One plane-strain size with the CG baseline: three compilations of ~5 s each.
    status = bench_fem.main(["--dofs", "500", "--box-dofs", "0", "--cg-max-dofs", "600",
                             "--repeat", "1", "--breakdown", "--out", str(tmp_path)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "T_fg / T_f" in printed and "matrix-free CG baseline" in printed

    results = json.loads((tmp_path / "bench_fem.json").read_text())
    (row,) = results["rows"]
    assert row["case"] == "plane strain" and row["dofs"] == 480 and row["grid"] == "20x12"
    assert row["method"] == "superlu"
    assert row["result"] == 0 and row["newton_steps"] >= 2         # HAR is nonlinear
    for key in ("forward_s", "grad_s", "ratio", "compile_forward_s", "compile_grad_s",
                "misfit", "settlement_mm", "forward_host_s", "forward_jax_s", "cg_grad_s",
                "cg_ratio", "peak_rss_gb"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    # The adjoint reuses the last Newton factorisation: no factorisation of its own.
    assert row["adjoint_converged"] and 1 <= row["adjoint_iterations"] <= 5
    assert row["grad_factorisations"] == row["factorisations"] == row["newton_steps"]
    assert row["grad_cache_hits"] >= 1
    assert len(row["gradient"]) == 10                               # 5 parameters x 2 layers
    assert all(math.isfinite(g) and g != 0 for g in row["gradient"].values())
    # The matrix-free baseline (plain CG, many more iterations) gives the same gradient.
    assert row["cg_converged"] and row["cg_iterations"] > 10 * row["adjoint_iterations"]
    assert row["cg_gradient_difference"] < 1e-6
    assert math.isnan(results["summary"]["forward_exponent"])       # one size only

    dataset = xr.load_dataset(tmp_path / "bench_fem.nc", engine="h5netcdf")
    assert dataset.sizes["size"] == 1 and dataset.sizes["parameter"] == 10
    assert dataset["forward_s"].attrs["units"] == "s"
    assert dataset["ratio"].values[0] == pytest.approx(row["ratio"])
    assert dataset["gradient"].sel(parameter="sand.k").item() == pytest.approx(
        row["gradient"]["sand.k"])
    assert list(dataset["case"].values) == ["plane strain"]


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_batch_tiny(tmp_path, capsys):
    # jax.vmap of a tiny linear-elastic strip at B = 1 (two compilations; the batching itself is
    # tested in tests/test_calib/test_sparse_batching.py).
    status = bench_fem.main(["--dofs", "--box-dofs", "0", "--batch", "1", "--batch-dofs", "200",
                             "--material", "linear", "--repeat", "1", "--out", str(tmp_path)])
    assert status == 0
    assert "jax.vmap over B parameter sets" in capsys.readouterr().out
    results = json.loads((tmp_path / "bench_fem.json").read_text())
    assert results["rows"] == [] and not (tmp_path / "bench_fem.nc").exists()
    (row,) = results["batch"]
    assert row["batch"] == 1 and row["forward_ratio"] == row["grad_ratio"] == 1.0
    assert row["all_successful"] and row["forward_member_s"] > 0 and row["grad_member_s"] > 0
    # One factorisation per Newton step; the adjoint factorises nothing new.
    assert row["forward_factorisations"] == row["grad_factorisations"] == row["newton_steps"]
    assert row["grad_cache_hits"] >= 1
    assert results["summary"]["batch_size"] == 1
    assert bench_fem.member_scales(4).tolist() == [1.0, 1.025, 1.05, 1.075]


def test_arguments_are_checked():
    with pytest.raises(SystemExit):
        bench_fem.parse_args(["--dofs", "--box-dofs", "0"])  # nothing to run
    with pytest.raises(SystemExit):
        bench_fem.parse_args(["--batch", "0"])
