r"""Task-driven dictionary learning (experiments/sparse_recovery/dictionary.py and
experiments/dictionary_learning.py): the implicit derivative of the lasso is the support formula
:math:`(D_S^\top D_S)^{-1}`, the implicit task gradient matches central finite differences and long
unrolled FISTA, unrolled FISTA's error falls with K, and task-driven training lowers the task loss
below the unsupervised dictionary's."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from experiments import dictionary_learning  # noqa: E402
from experiments.sparse_recovery import dictionary as dl  # noqa: E402

# Small enough to compile and run in seconds (every image set is one batch of 120, so one lasso
# program and one implicit gradient serve the whole run), large enough for an honest check.
TINY = ["--atoms", "8", "--lam", "1", "--train-size", "120", "--test-size", "120",
        "--batch", "120", "--dictionary-iterations", "4", "--epochs", "4",
        "--learning-rate", "2e-2", "--unrolled-steps", "10", "400", "--directions", "3",
        "--repeats", "2"]


def test_implicit_code_derivative_is_the_support_formula():
    rng = np.random.default_rng(3)
    m, p, lam = 10, 6, 0.3
    D = np.asarray(dl.normalise_columns(jnp.asarray(rng.standard_normal((m, p)))))
    y = rng.standard_normal(m)

    # The implicit tangent (calib.Implicit: GMRES on I - dT/dx of the ISTA map), one program
    # for every direction.
    @jax.jit
    def tangent(D, y, dD, dy):
        return jax.jvp(lambda D, y: dl.encode(D, y[None], lam)[0], (D, y), (dD, dy))

    x, _ = tangent(D, y, np.zeros_like(D), np.zeros_like(y))
    x = np.asarray(x)
    S = np.flatnonzero(x)
    on, off, sign_error = (float(v) for v in dl.kkt_margins(D, y[None], x[None], lam))
    # A non-trivial, non-degenerate solution: the formula applies.
    assert 1 < len(S) < p and on > 1e-3 and off > 1e-3 and sign_error < 1e-8

    J_y = np.stack([np.asarray(tangent(D, y, np.zeros_like(D), e)[1]) for e in np.eye(m)], axis=1)
    DS = D[:, S]
    expected = np.zeros((p, m))
    expected[S] = np.linalg.solve(DS.T @ DS, DS.T)
    np.testing.assert_allclose(J_y, expected, atol=1e-9)
    np.testing.assert_allclose(dl.support_jacobian(D, x), expected, atol=1e-12)

    dD = rng.standard_normal((m, p))
    x_dot = np.asarray(tangent(D, y, dD, np.zeros_like(y))[1])
    np.testing.assert_allclose(x_dot, dl.support_tangent(D, y, x, dD), atol=1e-9)
    assert np.all(x_dot[x == 0] == 0) and np.linalg.norm(x_dot) > 1e-3
    # Its transpose, Mairal et al.'s gradient of a loss g.x of the code: <grad, dD> = g.x_dot.
    g = rng.standard_normal(p)
    gradient = np.asarray(dl.support_gradient(D, y[None], x[None], g[None]))
    assert np.sum(gradient * dD) == pytest.approx(g @ x_dot, rel=1e-9)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import xarray as xr

    out = tmp_path_factory.mktemp("dictionary_learning")
    assert dictionary_learning.main(TINY + ["--out", str(out)]) == 0
    with xr.open_dataset(out / "dictionary_learning.nc", engine="h5netcdf") as dataset:
        return out, dataset.load()


def test_implicit_gradient_matches_finite_differences_and_long_unrolling(tiny_run):
    _, ds = tiny_run
    # No support moved under the finite-difference steps, so the loss is smooth there.
    assert ds.attrs["support_changes"] == 0
    assert float(ds.fd_error.sel(gradient="implicit")) < 1e-6
    assert float(ds.error_vs_implicit.sel(gradient="unrolled_400")) < 1e-4
    assert float(ds.fd_error.sel(gradient="unrolled_400")) < 1e-4


def test_unrolled_error_falls_with_iterations(tiny_run):
    _, ds = tiny_run
    errors = [float(ds.fd_error.sel(gradient=f"unrolled_{k}")) for k in (10, 400)]
    assert errors[0] > 1e-3 and errors[0] > 1e3 * errors[1]
    assert float(ds.error_vs_implicit.sel(gradient="unrolled_10")) > 1e3 * float(
        ds.error_vs_implicit.sel(gradient="unrolled_400"))
    # Backpropagating through K iterations stores them: memory grows with K.
    memory = [float(ds.temp_bytes.sel(gradient=f"unrolled_{k}")) for k in (10, 400)]
    assert memory[1] > 5 * memory[0]


def test_task_driven_training_beats_the_unsupervised_dictionary(tiny_run):
    out, ds = tiny_run
    for name in ("dictionary_learning.txt", "dictionary_learning.nc", "dictionary_learning.png"):
        assert (out / name).stat().st_size > 0
    # The unsupervised dictionary's classifier is the optimum for its codes (and where training
    # starts): a lower task loss can only come from changing D.
    final = float(ds.task_train_objective[-1])
    assert final < 0.9 * ds.attrs["unsupervised_train_objective"]
    assert "task-driven" in (out / "dictionary_learning.txt").read_text()
