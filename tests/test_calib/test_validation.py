"""Invalid options fail early, with the error type and a message that names the offending option."""

import jax.numpy as jnp
import pytest

import calib
from calib_systems import QUAD_N, quad_energy, quad_theta


@pytest.mark.parametrize("make, match", [
    (lambda: calib.LBFGS(tol=-1), r"LBFGS: tol must be a finite positive number, got -1"),
    (lambda: calib.LBFGS(tol=float("nan")), r"LBFGS: tol"),
    (lambda: calib.LBFGS(history=0), r"LBFGS: history must be a positive integer"),
    (lambda: calib.LBFGS(armijo=0.7), r"LBFGS: armijo must lie in \(0, 0.5\)"),
    (lambda: calib.FIRE(max_steps=0), r"FIRE: max_steps must be a positive integer, got 0"),
    (lambda: calib.FIRE(max_steps=2.5), r"FIRE: max_steps must be a positive integer"),
    (lambda: calib.FIRE(f_dec=1.5), r"FIRE: need f_dec < 1 < f_inc"),
    (lambda: calib.FIRE(dt_start=2.0, dt_max=1.0), r"FIRE: dt_start=2.0 exceeds dt_max=1.0"),
    (lambda: calib.GradientDescent(step_size=0), r"GradientDescent: step_size must be a finite positive"),
    (lambda: calib.NewtonCG(eta=0.3), r"NewtonCG: eta must lie in \[0, 0.25\)"),
    (lambda: calib.NewtonCG(initial_radius=200.0), r"NewtonCG: initial_radius=200.0 exceeds max_radius"),
    (lambda: calib.Truncated(steps=5, backprop=10), r"Truncated: backprop=10 exceeds steps=5"),
    (lambda: calib.Unrolled(steps=0), r"Unrolled: steps must be a positive integer, got 0"),
    (lambda: calib.Checkpointed(steps=4, checkpoints=8), r"Checkpointed: checkpoints=8 exceeds steps=4"),
    (lambda: calib.Neumann(terms=0), r"NeumannSeries: terms must be a positive integer"),
    (lambda: calib.Neumann(step=-0.1), r"NeumannSeries: step must be a finite positive"),
    (lambda: calib.CG(tol=0), r"CG: tol must be a finite positive number, got 0"),
    (lambda: calib.MINRES(max_steps=-3), r"MINRES: max_steps must be a positive integer"),
    (lambda: calib.Dense(method="qr"), r"Dense: method must be 'lu' or 'cholesky', got 'qr'"),
], ids=["lbfgs-tol", "lbfgs-nan-tol", "lbfgs-history", "lbfgs-armijo", "fire-max_steps",
        "fire-fractional-max_steps", "fire-f_dec", "fire-dt", "gd-step_size", "newton-eta",
        "newton-radius", "truncated-backprop", "unrolled-steps", "checkpointed-checkpoints",
        "neumann-terms", "neumann-step", "cg-tol", "minres-max_steps", "dense-method"])
def test_option_values_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_boolean_is_not_a_count():
    with pytest.raises(ValueError, match=r"max_steps must be a positive integer, got True"):
        calib.LBFGS(max_steps=True)


def test_linear_solver_must_be_an_object():
    with pytest.raises(TypeError, match=r"Implicit: linear_solver must be a linear solver.*'cg'"):
        calib.Implicit(linear_solver="cg")


def test_integer_state_is_rejected():
    with pytest.raises(TypeError, match=r"x0 has dtype int.*floating point"):
        calib.equilibrium(quad_energy, jnp.zeros(QUAD_N, dtype=jnp.int32), quad_theta())


def test_integer_leaf_of_a_pytree_state_is_named():
    with pytest.raises(TypeError, match=r"x0\['b'\] has dtype int"):
        calib.equilibrium(lambda x, t: jnp.sum(x["a"] ** 2), {"a": jnp.zeros(2), "b": jnp.zeros(2, int)},
                          None)


def test_empty_state_is_rejected():
    with pytest.raises(ValueError, match=r"x0 is empty"):
        calib.equilibrium(quad_energy, {}, quad_theta())


def test_energy_must_be_callable():
    with pytest.raises(TypeError, match=r"energy must be a callable.*got str"):
        calib.equilibrium("quad_energy", jnp.zeros(QUAD_N), quad_theta())


def vector_energy(x, theta):
    return 0.5 * x**2


def test_energy_must_return_a_scalar():
    with pytest.raises(TypeError, match=r"energy must return a scalar, got shape \(4,\)"):
        calib.equilibrium(vector_energy, jnp.zeros(QUAD_N), quad_theta())


@pytest.mark.parametrize("solver", ["lbfgs", calib.LBFGS], ids=["string", "class"])
def test_solver_must_be_a_solver_object(solver):
    with pytest.raises(TypeError, match=r"solver must be a solver object"):
        calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), quad_theta(), solver=solver)


def test_adjoint_must_be_an_adjoint_object():
    with pytest.raises(TypeError, match=r"adjoint must be an adjoint object.*'implicit'"):
        calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), quad_theta(), adjoint="implicit")


def test_stability_iterations_must_be_positive():
    with pytest.raises(ValueError, match=r"stability_iterations must be a positive int, got 0"):
        calib.equilibrium(quad_energy, jnp.zeros(QUAD_N), quad_theta(), check_stability=True,
                          stability_iterations=0)
