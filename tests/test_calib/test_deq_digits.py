"""The deep-equilibrium digits experiment (experiments/deq_digits.py) at a small size: every
gradient trains the classifier, the unrolled gradient equals the implicit one closely, the phantom
one does not, and unrolling costs memory."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from experiments import deq_digits  # noqa: E402


def test_deq_trains_with_every_gradient(tmp_path):
    args = deq_digits.parse_args(["--width", "16", "--epochs", "3", "--batch", "100",
                                  "--train-size", "600", "--unrolled-steps", "20",
                                  "--truncated-backprop", "3", "--learning-rate", "1e-2",
                                  "--out", str(tmp_path)])
    data = deq_digits.digits(args.train_size, args.seed)
    rows = {mode: deq_digits.train(mode, data, args) for mode in deq_digits.MODES}
    for row in rows.values():
        assert row["test_accuracy"] > 0.6, row["mode"]
        assert row["loss"][-1] < row["loss"][0]
    assert rows["unrolled"]["gradient_error"].max() < 1e-5
    assert rows["phantom"]["gradient_error"].max() > 1e-3
    assert rows["unrolled"]["peak_mib"] > rows["implicit"]["peak_mib"]
    deq_digits.save(list(rows.values()), args)
    for name in ("deq_digits.png", "deq_digits.nc", "deq_digits.txt"):
        assert (tmp_path / name).stat().st_size > 0
