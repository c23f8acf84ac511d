"""The learned-step-size experiment (experiments/learned_steps.py) at a small size: the learned
untied schedule beats the best fixed step on unseen problems, the Chebyshev recurrence meets its
bound, and the schedule is learned by backpropagation through the unrolled steps."""

from __future__ import annotations

import math

import numpy as np

from experiments import learned_steps


def test_learned_schedule_beats_the_fixed_step_and_chebyshev_meets_its_bound(tmp_path):
    args = learned_steps.parse_args(["--cells", "6", "--train", "8", "--test", "8", "--depths",
                                     "4", "8", "--iterations", "150", "--tolerances", "1e-1",
                                     "--crystals", "3", "--crystal-depths", "4",
                                     "--crystal-iterations", "20", "--out", str(tmp_path)])
    results = learned_steps.run(args)
    for i in range(2):
        assert np.median(results["learned"][i]) < np.median(results["fixed"][i])
        assert np.median(results["chebyshev"][i]) < np.median(results["fixed"][i])
    # The Chebyshev residual never exceeds its minimax bound 1 / T_K((k + 1) / (k - 1)).
    for j, kappa in enumerate(results["kappa"]):
        for i, depth in enumerate(results["depths"]):
            bound = 1.0 / math.cosh(depth * math.acosh((kappa + 1) / (kappa - 1)))
            assert results["chebyshev"][i][j] <= bound * (1 + 1e-8) + 1e-14
    # On the strained crystals the learned schedule beats each crystal's best fixed step.
    crystal = results["crystal"]
    assert np.median(crystal["learned"][0]) < np.median(crystal["fixed"][0])
    learned_steps.save(results, args)
    for name in ("learned_steps.png", "learned_steps.nc", "learned_steps.txt"):
        assert (tmp_path / name).stat().st_size > 0
