"""Smoke test of ``calib bench-lammps`` at a tiny size (LAMMPS used when it loads)."""

import json

import pytest

from experiments import bench_lammps


def test_options_are_checked():
    with pytest.raises(SystemExit):
        bench_lammps.parse_args(["--cells", "0"])
    with pytest.raises(SystemExit):
        bench_lammps.parse_args(["--fmax", "-1"])


@pytest.mark.benchmark  # compiles a relaxation and the breakdown programs; run with -m benchmark
def test_main_tiny(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert bench_lammps.main(["--cells", "2", "--potentials", "morse", "--repeats", "1",
                              "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "explicit-force kernel" in printed
    record = json.loads(out.read_text())["records"][0]
    ours = record["calib"]
    assert ours["converged"] and ours["max_force_norm"] <= 1e-3
    assert ours["evaluations"] >= ours["steps"] > 0
    assert ours["breakdown"]["autodiff_force_difference"] < 1e-10
    if record["lammps"] is not None:  # LAMMPS installed: the same energy at the start
        assert abs(record["start_energy_difference"]) < 1e-9
