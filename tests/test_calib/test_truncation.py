"""The truncation experiment (experiments/truncation.py) at a small size: calib.Truncated's error
falls like rho^T and the rule T = ceil(log eps / log rho) meets eps; the truncated lambda-return of
TD(lambda) falls like (lambda rho_eff)^K."""

from __future__ import annotations

import math

import numpy as np

from experiments import truncation


def test_truncated_backprop_and_td_lambda_follow_the_geometric_law(tmp_path):
    args = truncation.parse_args(["--width", "40", "--max-backprop", "20", "--tolerances", "1e-2",
                                  "1e-4", "--states", "9", "--lambdas", "0.6", "0.9",
                                  "--horizon", "60", "--out", str(tmp_path)])
    truncated, td = truncation.truncated_backprop(args), truncation.td_lambda(args)
    assert 0.9 < truncated["slope"] / truncated["log_rho"] < 1.1
    for row in truncated["rule"]:
        assert row["met"], row
    assert td["rho_P"] == np.float64(td["rho_P"]) and abs(td["rho_P"] - math.cos(math.pi / 10)) < 1e-12
    for row in td["rows"]:
        assert row["closed_form_error"] < 1e-12
        assert abs(row["rho_eff"] - math.cos(2 * math.pi / 10)) < 1e-12
        assert 0.95 < row["slope"] / math.log(row["rate"]) < 1.05
    truncation.save(truncated, td, tmp_path)
    for name in ("truncation.png", "truncation.nc", "truncation.txt"):
        assert (tmp_path / name).stat().st_size > 0
