"""Diagnostics that never mislead: warnings, records, saddles, IFT residuals, messages, inputs.

Each test here reproduces a way an earlier version misled its user (a warning that ignored
``warn=False``, a record that arrived after its ``with`` block, a saddle returned as a minimum, an
unrolled gradient 1 % off without a word, advice to use float64 given in float64 …).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib


def double_well(x, theta):
    """E = a x^4/4 - x^2/2 + s x + (y - 1)^2: at s = 0, (0, 1) is a saddle and (±1, 1) are minima."""
    return theta["a"] * x[0] ** 4 / 4 - x[0] ** 2 / 2 + theta["s"] * x[0] + (x[1] - 1.0) ** 2


THETA = {"a": jnp.asarray(1.0), "s": jnp.asarray(0.0)}


def _loss(adjoint=None, **kw):
    def loss(theta):
        return jnp.sum(calib.equilibrium(double_well, jnp.array([0.0, 5.0]), theta,
                                         adjoint=adjoint, **kw).x)
    return loss


# --- saddles ---------------------------------------------------------------------------------

def test_stationary_saddle_start_is_reported_by_default():
    # x = 0 of x^4/4 - x^2/2 is a maximum with zero force: the solver takes no step.
    def energy(x, theta):
        return jnp.sum(x ** 4 / 4 - theta * x ** 2 / 2)

    with pytest.warns(calib.NonConvergenceWarning, match="saddle point"):
        sol = calib.equilibrium(energy, jnp.zeros(1), 1.0)
        jax.effects_barrier()
    assert int(sol.steps) == 0 and int(sol.result) == calib.RESULTS.saddle_point
    assert float(sol.min_eigenvalue) == pytest.approx(-1.0, rel=1e-8)
    # A 2D saddle x^2 - y^2 at the origin, too.
    with pytest.warns(calib.NonConvergenceWarning, match="saddle point"):
        sol2 = calib.equilibrium(lambda x, t: x[0] ** 2 - t * x[1] ** 2, jnp.zeros(2), 1.0)
        jax.effects_barrier()
    assert int(sol2.result) == calib.RESULTS.saddle_point
    # Opting out restores the force test alone.
    assert int(calib.equilibrium(energy, jnp.zeros(1), 1.0, check_stability=False).result) == 0


def test_saddle_reached_after_steps_is_caught_by_the_adjoint_curvature_test():
    # From (0, 5) the x-force is exactly zero, so L-BFGS walks to the saddle (0, 1).
    sol = calib.equilibrium(double_well, jnp.array([0.0, 5.0]), THETA)
    assert int(sol.steps) > 0 and int(sol.result) == calib.RESULTS.successful
    with calib.record_adjoints() as log, pytest.warns(calib.NonConvergenceWarning,
                                                      match="negative curvature"):
        jax.grad(_loss())(THETA)
    assert bool(log[-1].negative_curvature) and not log[-1].exact
    with pytest.raises(jax.errors.JaxRuntimeError, match="negative curvature"):
        jax.block_until_ready(jax.grad(_loss(throw=True))(THETA))


def test_nonfinite_spectrum_is_its_own_failure():
    # |x|^1.5 has a finite gradient but an infinite curvature at 0.
    def energy(x, theta):
        return jnp.sum(theta * jnp.abs(x) ** 1.5)

    for check in (None, True):
        with pytest.warns(calib.NonConvergenceWarning, match="spectrum"):
            sol = calib.equilibrium(energy, jnp.zeros(2), 1.0, check_stability=check)
            jax.effects_barrier()
        assert int(sol.result) == calib.RESULTS.unstable_spectrum


# --- backward-pass reporting ------------------------------------------------------------------

def _one_cg_step_loss(warn):
    def loss(theta):
        sol = calib.equilibrium(double_well, jnp.array([0.7, 5.0]), theta, warn=warn,
                                adjoint=calib.Implicit(linear_solver=calib.CG(max_steps=1)))
        return jnp.sum(sol.x)
    return loss


def test_warn_false_silences_the_backward_pass_but_records_it():
    theta = {"a": jnp.asarray(1.0), "s": jnp.asarray(0.3)}
    with calib.record_adjoints() as log:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            jax.grad(_one_cg_step_loss(False))(theta)
    assert len(log) == 1 and not bool(log[0].converged)
    with pytest.warns(calib.NonConvergenceWarning, match="did not converge") as caught:
        jax.grad(_one_cg_step_loss(True))(theta)
        jax.effects_barrier()
    # The warning names this file (the line that asked for the solve), not JAX internals.
    assert caught[0].filename == __file__


def test_records_are_complete_when_the_block_ends():
    grad = jax.jit(jax.grad(_loss(adjoint=calib.Implicit(linear_solver=calib.Dense()))))
    theta = {"a": jnp.asarray(1.0), "s": jnp.asarray(0.3)}
    for _ in range(3):
        with calib.record_adjoints() as log:
            grad(theta)  # no block_until_ready: the callback may still be pending
        assert len(log) == 1 and log[0].exact


# --- unrolled derivatives -------------------------------------------------------------------

def quadratic(x, theta):
    k = jnp.arange(1.0, 7.0)
    return 0.5 * jnp.sum(theta["k"] * k * x ** 2) - jnp.sum(theta["f"] * x) + 0.1 * jnp.sum(x ** 4)


QTHETA = {"k": jnp.asarray(1.0), "f": jnp.asarray(1.0)}


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_unrolled_modes_report_their_ift_residual():
    x0 = jnp.zeros(6)
    gd = calib.GradientDescent(step_size=0.05)
    converged = calib.equilibrium(quadratic, x0, QTHETA, solver=gd, adjoint=calib.Unrolled(400),
                                  warn=False)
    assert float(converged.ift_residual) < 1e-8
    assert np.isnan(float(calib.equilibrium(quadratic, x0, QTHETA).ift_residual))
    for adjoint in (calib.Unrolled(steps=5), calib.Checkpointed(steps=5),
                    calib.Truncated(steps=50, backprop=3)):
        # Two warnings: the step limit (5 steps) and the IFT residual of their derivative.
        with pytest.warns(calib.NonConvergenceWarning) as caught:
            sol = calib.equilibrium(quadratic, x0, QTHETA, solver=gd, adjoint=adjoint, warn=True)
            jax.effects_barrier()
        assert any("IFT residual" in str(w.message) for w in caught)
        assert float(sol.ift_residual) > 1e-3
    quiet = calib.equilibrium(quadratic, x0, QTHETA, solver=gd, adjoint=calib.Unrolled(5, check=False),
                              warn=False)
    assert np.isnan(float(quiet.ift_residual))


def test_ift_residual_measures_the_gradient_error():
    # The residual is small exactly when the unrolled derivative matches the implicit one.
    gd = calib.GradientDescent(step_size=0.05)

    def grad_and_residual(adjoint):
        def loss(theta):
            sol = calib.equilibrium(quadratic, jnp.zeros(6), theta, solver=gd, adjoint=adjoint,
                                    warn=False)
            return jnp.sum(sol.x ** 2), sol.ift_residual
        return jax.grad(loss, has_aux=True)(QTHETA)

    def loss(theta):
        x = calib.equilibrium(quadratic, jnp.zeros(6), theta, solver=calib.LBFGS(tol=1e-13)).x
        return jnp.sum(x ** 2)

    exact = jax.grad(loss)(QTHETA)
    for steps in (20, 60, 400):
        grad, residual = grad_and_residual(calib.Unrolled(steps))
        error = max(abs(float(grad[k] - exact[k])) / abs(float(exact[k])) for k in exact)
        assert error < 20 * float(residual) + 1e-11


# --- messages and inputs ------------------------------------------------------------------

def test_stagnation_advice_depends_on_the_precision():
    msg64 = calib.RESULTS.message(calib.RESULTS.stagnated, np.float64)
    msg32 = calib.RESULTS.message(calib.RESULTS.stagnated, np.float32)
    assert "float64" not in msg64 and "use float64" in msg32
    for code in calib.RESULTS.codes():
        assert not calib.RESULTS.message(code).startswith("unknown result code")


def test_x0_as_a_list_of_numbers_is_an_array():
    sol = calib.equilibrium(quadratic, [0.0] * 6, QTHETA)
    ref = calib.equilibrium(quadratic, jnp.zeros(6), QTHETA)
    assert isinstance(sol.x, jax.Array) and sol.x.shape == (6,)
    np.testing.assert_allclose(sol.x, ref.x, rtol=1e-14)


def test_numbers_and_counts_are_validated_consistently():
    assert calib.LBFGS(tol=jnp.float64(1e-8)) == calib.LBFGS(tol=1e-8)
    assert calib.CG(tol=np.float32(1e-6)).tol == pytest.approx(1e-6)
    assert calib.Unrolled(steps=np.int64(10)) == calib.Unrolled(steps=10)
    for bad in (lambda: calib.Unrolled(steps=10.0), lambda: calib.LBFGS(history=5.0),
                lambda: calib.Checkpointed(steps=8, checkpoints=2.0)):
        with pytest.raises(calib.CalibValueError, match="integer"):
            bad()
    with pytest.raises(ValueError, match="tol"):  # CalibValueError is a ValueError too
        calib.LBFGS(tol=-1.0)
    with pytest.raises(calib.CalibError):
        calib.equilibrium(quadratic, jnp.zeros(6, int), QTHETA)


def test_eager_solve_warns_at_the_callers_line_without_a_callback():
    with pytest.warns(calib.NonConvergenceWarning, match="step limit") as caught:
        calib.equilibrium(quadratic, jnp.zeros(6), QTHETA, solver=calib.LBFGS(max_steps=1))
    assert caught[0].filename == __file__
    # The compiled eager solve holds no host callback (so JAX's persistent cache can keep it).
    from calib._equilibrium import _equilibrium, split_options, convert
    solver, options = split_options(calib.LBFGS(max_steps=1))
    adjoint, adjoint_options = split_options(calib.Implicit())
    text = _equilibrium.lower(convert(quadratic)[0], solver, adjoint, False, False, None, 50,
                              jnp.zeros(6), QTHETA, (), [], options, adjoint_options).as_text()
    assert "callback" not in text


def test_line_search_against_nan_energies_is_reported_as_nonfinite():
    # The energy is undefined (NaN) beyond x = 1, where it would keep decreasing: every trial step
    # past the wall is NaN. That is not round-off ("stagnated ... loosen tol"): it is non-finite.
    def walled(x, theta):
        return jnp.sum(jnp.where(x < 1.0, -theta * x, jnp.nan))

    with pytest.warns(calib.NonConvergenceWarning, match="NaN/inf"):
        sol = calib.equilibrium(walled, jnp.zeros(2), 1.0)
    assert int(sol.result) == calib.RESULTS.nonfinite and bool(jnp.all(jnp.isfinite(sol.x)))


def test_a_tangent_nobody_reads_costs_no_solve():
    # The energy at a minimum is differentiated by the envelope theorem; the state's tangents are
    # then unused, and their adjoint solves (reported by a pure callback the solution depends on)
    # are dead code. Asking for the state brings one solve per parameter back.
    def energy(x, theta):
        return 0.5 * jnp.sum(theta * (x - 1.0) ** 2) + 0.25 * jnp.sum(x ** 4)

    theta = jnp.arange(1.0, 4.0)
    with calib.record_adjoints() as unused:
        jax.block_until_ready(jax.jit(jax.jacfwd(
            lambda t: calib.equilibrium(energy, jnp.zeros(3), t).energy))(theta))
    with calib.record_adjoints() as used:
        jax.block_until_ready(jax.jit(jax.jacfwd(
            lambda t: calib.equilibrium(energy, jnp.zeros(3), t).x))(theta))
    assert len(unused) == 0
    assert len(used) == 3 and all(record.exact for record in used)
