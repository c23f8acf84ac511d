"""The Neumann-identity experiment (experiments/neumann_identity.py) at a small size: backprop
through K iterations at the fixed point equals the K-term series to round-off, and both approach
the implicit gradient at the rate rho^K."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import neumann_identity


def _run(tmp_path, *extra):
    args = neumann_identity.parse_args(["--width", "12", "--max-terms", "30", "--out",
                                        str(tmp_path), *extra])
    rows = neumann_identity.run(args)
    neumann_identity.save(rows, args.out)
    return rows


def test_deq_backprop_is_the_neumann_series_and_falls_like_rho_k(tmp_path):
    (row,) = _run(tmp_path, "--deq-norms", "1.5", "--cells", "0")
    assert 0.2 < row["rho"] < 0.9
    assert row["max_gap"] < 1e-13
    # The geometric rate: the fitted slope of log error is log rho within 10 %.
    assert 0.9 < row["slope_backprop"] / row["log_rho_eff"] < 1.1
    np.testing.assert_allclose(row["slope_neumann"], row["slope_backprop"], rtol=1e-6)
    assert row["error_backprop"][-1] < 1e-5 * row["error_backprop"][0]
    for name in ("neumann_identity.png", "neumann_identity.nc", "neumann_identity.txt"):
        assert (tmp_path / name).stat().st_size > 0


def test_cli_lists_the_experiment():
    from calib.cli import SUBCOMMANDS

    assert SUBCOMMANDS["neumann-identity"][0] == "experiments.neumann_identity"


@pytest.mark.benchmark
def test_crystal_gradient_descent_rate(tmp_path):
    rows = _run(tmp_path, "--deq-norms", "--cells", "2", "--max-terms", "60")
    (row,) = rows
    assert row["max_gap"] < 1e-10
    assert 0.9 < row["slope_backprop"] / row["log_rho_eff"] < 1.1
