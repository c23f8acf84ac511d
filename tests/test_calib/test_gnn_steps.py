"""The GNN step-size experiment (experiments/gnn_steps.py) at a tiny size: the network trains by
backpropagation through the unrolled solver, runs on meshes it was not trained on, and every
method is compared on the same unseen problems."""

from __future__ import annotations

import numpy as np

from experiments import gnn_steps


def test_gnn_trains_and_runs_on_unseen_meshes(tmp_path):
    args = gnn_steps.parse_args(["--train-cells", "4", "--test-cells", "4", "6", "--train", "4",
                                 "--test", "2", "--depth", "5", "--iterations", "40",
                                 "--max-steps", "600", "--tolerance", "1e-2",
                                 "--out", str(tmp_path)])
    results, history = gnn_steps.run(args)
    assert history[-1] < history[0]                      # training lowered the unrolled loss
    for summary in results:
        assert 0 < summary["gnn"]["residual_at_depth"] < 2   # GD need not lower |r| at once
        assert summary["gnn"]["steps"] is not None and summary["lbfgs"]["steps"] is not None
        assert summary["lbfgs"]["steps"] < summary["fixed"]["steps"]
    assert results[1]["n"] > results[0]["n"]             # a larger mesh than the training one
    gnn_steps.save(results, history, args)
    for name in ("gnn_steps.png", "gnn_steps.nc", "gnn_steps.txt"):
        assert (tmp_path / name).stat().st_size > 0
    assert np.isfinite(history).all()
