"""Smoke test of the atomistic benchmark (``calib bench-atomistic``) at a tiny size."""

import json

import numpy as np
import pytest

pytest.importorskip("ase")

from experiments import bench_atomistic  # noqa: E402


def test_fit_exponent():
    n = np.array([100.0, 1000.0, 10000.0])
    assert bench_atomistic.fit_exponent(n, 3e-4 * n ** 1.1) == pytest.approx(1.1)
    assert np.isnan(bench_atomistic.fit_exponent([100], [1.0]))


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_main_tiny(tmp_path, capsys):
    out = tmp_path / "results.json"
    # 31 atoms, one solver and one size (every jit compilation costs seconds); ASE is stopped after
    # a few steps, so its time is extrapolated.
    status = bench_atomistic.main([
        "--cells", "2", "--scaling-cells", "2", "--repeats", "1", "--grad-modes", "jit",
        "--solvers", "LBFGS", "--ase-optimizers", "FIRE", "--ase-max-steps", "3", "--fmax", "0.02",
        "--no-count-steps", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "speed-up" in printed and "EXTRAPOLATED" in printed and "fitted exponent" in printed

    results = json.loads(out.read_text())
    records = results["records"]
    relax_rows = {r["method"]: r for r in records if r["part"] == 1}
    assert set(relax_rows) == {"calib LBFGS", "ASE FIRE"}
    ours = relax_rows["calib LBFGS"]
    # Our tol is fmax / sqrt(3) on components, so the per-atom norm meets ASE's criterion.
    assert ours["converged"] and ours["meets_fmax"] and ours["max_force_norm"] <= 0.02
    assert ours["energy_minus_reference_eV"] == 0.0
    assert relax_rows["ASE FIRE"]["extrapolated"] and not relax_rows["ASE FIRE"]["converged"]

    (gradient,) = [r for r in records if r["part"] == 2 and r["method"] == "jit"]
    assert gradient["n_atoms"] == 31 and gradient["ratio"] > 0
    (fd,) = [r for r in records if r["method"] == "finite difference d/dalpha"]
    assert fd["relative_error"] < 1e-5
    assert results["summary"]["scaling"]["n_atoms"] == [31]
