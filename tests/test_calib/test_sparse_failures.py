"""Failures of the host sparse solves are reported as such: shapes raise, breakdowns become
``RESULTS.linear_solve_failed`` (never NaN blamed on x0 or theta), unconverged AMG-CG solves are
counted, and a singular tangent (a body without enough supports) is ``RESULTS.singular``.

Systems: a two-spring toy whose tangent is singular (no support), a tridiagonal chain of 3000
unknowns (large enough for a two-level AMG hierarchy, so CG needs several iterations) and a
finite-element plate held only against horizontal motion.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import calib
from calib.sparse import FACTOR_CACHE, Status
from calib.sparse._factor import solve_near, solve_tangent
from calib.sparse._solve import host_solve


def _tridiagonal(n):
    pattern = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")
    pattern.sort_indices()
    return pattern


# -- a free two-spring body: E = k/2 (x1 - x0)^2 - f.x, singular for every k ----------------------

PAIR = _tridiagonal(2)


def pair_energy(x, theta, f):
    return theta["k"] * (x[1] - x[0]) ** 2 / 2 - jnp.vdot(f, x)


def pair_values(x, theta, f):
    k = theta["k"]
    return jnp.stack([k, -k, -k, k])  # CSR order of [[k, -k], [-k, k]]


PAIR_HESSIAN = calib.SparseHessian(PAIR.indptr, PAIR.indices, pair_values)
PAIR_SOLVER = calib.SparseNewton(hessian=PAIR_HESSIAN, method="superlu")


def solve_pair(forces):
    return calib.equilibrium(pair_energy, jnp.zeros(2), {"k": jnp.asarray(2.0)},
                             jnp.asarray(forces), solver=PAIR_SOLVER, warn=False)


def test_a_load_on_a_free_motion_is_reported_singular():
    # A net force on the free body: no equilibrium exists. Before, the shifted steps drifted along
    # the rigid motion for max_steps and the result asked to raise max_steps.
    with calib.sparse.statistics() as stats:
        solution = solve_pair([1.0, 1.0])
        jax.block_until_ready(solution.x)
    assert int(solution.result) == calib.RESULTS.singular
    assert int(solution.steps) <= 3
    assert stats.singular >= 1 and "numerically singular" in stats.messages[0]
    assert "singular" in calib.RESULTS.message(int(solution.result))


def test_a_balanced_load_on_a_free_body_converges():
    # Self-equilibrated forces: the tangent is singular but the step reproduces the load, so the
    # shifted step is a plain regularised Newton step and the solve succeeds (stretch f / k).
    solution = solve_pair([-1.0, 1.0])
    assert int(solution.result) == calib.RESULTS.successful
    x = np.asarray(solution.x)
    assert x[1] - x[0] == pytest.approx(0.5, rel=1e-9)


def test_plate_without_vertical_support_is_singular(monkeypatch):
    fem = pytest.importorskip("physics.fem")
    # fem.Model refuses such supports up front; the solver must tell by itself, so the model's
    # check is switched off here (the check is optional to this test).
    import physics.fem._model as model_module

    if hasattr(model_module, "check_supports_hold_rigid_motions"):
        monkeypatch.setattr(model_module, "check_supports_hold_rigid_motions",
                            lambda *args, **kwargs: None)
    mesh = fem.rectangle(2.0, 1.0, 6, 3)
    # Rollers on the left edge stop horizontal motion and rotation, nothing stops the plate from
    # moving down under the pressure on its top.
    model = fem.Model(mesh, fem.LinearElastic(), supports=[fem.Dirichlet("left", "x")],
                      loads=[fem.Pressure("top", 1.0)])
    solution = model.solve({"E": jnp.asarray(100.0), "nu": jnp.asarray(0.3)}, warn=False)
    assert int(solution.result) == calib.RESULTS.singular
    assert int(solution.steps) <= 3
    assert float(jnp.max(jnp.abs(solution.x))) < 1e9  # stopped before drifting off to 1e13


# -- breakdowns ----------------------------------------------------------------------------------


def test_shapes_are_checked_before_any_solve():
    # A wrong shape is the caller's error, never a failed step.
    with pytest.raises(calib.CalibValueError, match=r"right-hand side must have shape \(2,\)"):
        solve_tangent(PAIR_HESSIAN, np.ones(4), np.ones(3), method="superlu", rtol=1e-10,
                      max_iterations=10)
    with pytest.raises(calib.CalibValueError, match=r"tangent values must have shape \(4,\)"):
        solve_near(PAIR_HESSIAN, np.ones(5), np.ones(4), np.ones(2), method="superlu",
                   rtol=1e-10, max_iterations=10)
    with pytest.raises(calib.CalibValueError, match=r"tangent values must have shape \(4,\)"):
        host_solve(PAIR_HESSIAN, "superlu", 1e-10, 10, jnp.ones(3), jnp.ones(2))


def test_a_non_finite_tangent_is_a_failed_linear_solve_not_a_bad_start():
    # Every factorisation of a NaN matrix breaks down or gives NaN, shifts included.
    nan = np.full(4, np.nan)
    x, report = solve_tangent(PAIR_HESSIAN, nan, np.ones(2), method="superlu", rtol=1e-10,
                              max_iterations=10)
    assert report.status == Status.FAILED and np.all(np.isnan(x))
    assert "every factorisation" in report.message

    def broken(x, theta, f):
        return jnp.full(4, jnp.nan) * theta["k"]

    hessian = calib.SparseHessian(PAIR.indptr, PAIR.indices, broken)
    solver = calib.SparseNewton(hessian=hessian, method="superlu")
    with calib.sparse.statistics() as stats:
        solution = calib.equilibrium(pair_energy, jnp.zeros(2), {"k": jnp.asarray(2.0)},
                                     jnp.asarray([-1.0, 1.0]), solver=solver, warn=False)
        jax.block_until_ready(solution.x)
    assert int(solution.result) == calib.RESULTS.linear_solve_failed
    assert "sparse linear solve failed" in calib.RESULTS.message(int(solution.result))
    assert stats.failures >= 1 and np.all(np.isfinite(np.asarray(solution.x)))


def test_solve_near_reports_a_breakdown_instead_of_raising():
    # Inside a host callback an exception is undefined behaviour: NaN and a status instead.
    FACTOR_CACHE.clear()
    with calib.sparse.statistics() as stats:
        x, report = solve_near(PAIR_HESSIAN, np.full(4, np.nan), np.ones(4), np.ones(2),
                               method="superlu", rtol=1e-10, max_iterations=10)
    assert report.status == Status.FAILED and np.all(np.isnan(x))
    assert stats.failures == 1 and stats.messages


# -- AMG-CG stopped at its iteration limit ---------------------------------------------------------

CHAIN_N = 3000
CHAIN = _tridiagonal(CHAIN_N)


def chain_energy(x, theta):
    d = jnp.diff(jnp.concatenate([jnp.zeros(1, x.dtype), x]))
    return jnp.sum(theta["k"] * d**2 / 2) - 1e-3 * jnp.sum(x)


def chain_values(x, theta):
    # Bond i joins x_{i-1} and x_i (x_{-1} = 0 clamped): diagonal 2k (k at the free end), -k off it.
    k = theta["k"]
    n = x.shape[0]
    diagonal = jnp.full(n, 2 * k).at[-1].set(k)
    off = jnp.full(n - 1, -k)
    rows = [jnp.stack([diagonal[0], off[0]])]
    middle = jnp.stack([off[:-1], diagonal[1:-1], off[1:]], axis=1).reshape(-1)
    return jnp.concatenate(rows + [middle, jnp.stack([off[-1], diagonal[-1]])])


CHAIN_HESSIAN = calib.SparseHessian(CHAIN.indptr, CHAIN.indices, chain_values)


@functools.cache
def starved_amg(max_steps):
    """Newton with AMG-CG limited to 2 iterations per solve (it needs about 6 for 1e-12)."""
    return calib.SparseNewton(hessian=CHAIN_HESSIAN, method="amg", linear_rtol=1e-12,
                              max_linear_steps=2, max_steps=max_steps)


def chain_loss(k, max_steps):
    solution = calib.equilibrium(chain_energy, jnp.zeros(CHAIN_N), {"k": k},
                                 solver=starved_amg(max_steps), warn=False)
    return jnp.sum(solution.x ** 2), solution.result


def test_amg_values_match_the_energy():
    x = jnp.asarray(np.random.default_rng(0).normal(size=CHAIN_N))
    theta = {"k": jnp.asarray(1.5)}
    v = jnp.asarray(np.random.default_rng(1).normal(size=CHAIN_N))
    hvp = jax.jvp(jax.grad(chain_energy), (x, theta), (v, {"k": jnp.zeros(())}))[1]
    np.testing.assert_allclose(CHAIN_HESSIAN.matvec(chain_values(x, theta), v), hvp, rtol=1e-12)


def test_unconverged_amg_is_reported():
    # A single Newton step of inexact solves: the solve did not converge because the linear solve
    # did not, and says so (not "raise max_steps").
    with calib.sparse.statistics() as stats:
        _, result = jax.jit(chain_loss, static_argnums=1)(jnp.asarray(1.0), 1)
        jax.block_until_ready(result)
    assert int(result) == calib.RESULTS.linear_solve_failed
    assert stats.krylov_unconverged >= 1 and stats.krylov_iterations >= 2


def test_unconverged_amg_in_the_adjoint_is_counted():
    # Inexact Newton steps still converge. The adjoint's AMG-CG on the tangent at the solution
    # stops at its limit too: the statistics count it, and the outer adjoint CG checks its true
    # residual (an inexact preconditioner may keep it just above its tolerance: then it warns).
    loss = jax.jit(chain_loss, static_argnums=1)
    with calib.sparse.statistics() as forward:
        jax.block_until_ready(loss(jnp.asarray(1.0), 50))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", calib.NonConvergenceWarning)
        with calib.sparse.statistics() as stats, calib.record_adjoints() as log:
            (value, result), grad = jax.jit(jax.value_and_grad(chain_loss, has_aux=True),
                                            static_argnums=1)(jnp.asarray(1.0), 50)
            jax.block_until_ready(grad)
    assert int(result) == calib.RESULTS.successful
    assert forward.krylov_unconverged >= 1
    assert stats.krylov_unconverged > forward.krylov_unconverged  # the adjoint's own
    assert len(log) == 1 and float(log[-1].residual) < 1e-8
    # The linear chain: x = K^{-1} f / k, so sum x^2 scales as 1/k^2 and its derivative is -2 J/k.
    np.testing.assert_allclose(float(grad), -2.0 * float(value), rtol=1e-8)
