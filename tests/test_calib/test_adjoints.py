"""Every adjoint mode approaches the implicit derivative as its step/term count K grows.

On the quadratic system (Hessian eigenvalues 2.0 ... 6.2) with fixed-step gradient descent (step
alpha = 0.2, contraction factor max |1 - alpha lambda| ~ 0.6 per step) the unrolled derivative
error decays like 0.6^K; the Neumann series with its default step 1/lambda_max like
(1 - lambda_min/lambda_max)^K ~ 0.68^K.
The reference is the closed-form derivative, not the code's own implicit gradient. Gradients are
of the scalar loss c . x* (one backward pass: much cheaper to compile than a full jacrev).
"""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib_systems import (QUAD_N, max_rel_err, morse_energy, morse_loss_of_x, morse_theta,
                           morse_x0, quad_energy, quad_jacobian, quad_matrix, quad_solution,
                           quad_theta)

ALPHA = 0.2
GD = calib.GradientDescent(step_size=ALPHA, tol=1e-12, max_steps=2000)
KS = (10, 20, 60)
# Loss weights with a large component along the slowest Hessian mode (eigenvalue ~2.0, eigenvector
# ~[0.69, 0.16, -0.71, -0.07]), so the truncation error of every mode shows in the loss.
C = np.array([1.0, 0.3, -1.0, 0.2])


def _expected(jacobian):
    return {name: C @ block for name, block in jacobian.items()}


def _grad_fn(adjoint, solver, x0):
    def loss(theta):
        return jnp.asarray(C) @ calib.equilibrium(quad_energy, x0, theta, solver=solver,
                                                  adjoint=adjoint).x
    return jax.grad(loss)


def _quietly(fn, *args):
    # Few unrolled steps do not reach the force tolerance: that is reported (and expected here).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", calib.NonConvergenceWarning)
        return jax.block_until_ready(fn(*args))


@functools.lru_cache(maxsize=None)
def _grad(adjoint, solver=GD, start=None):
    """d(c . x*)/dtheta on the quadratic, from x0 = 0 or from the exact solution."""
    theta = quad_theta()
    x0 = jnp.zeros(QUAD_N) if start is None else jnp.asarray(quad_solution(theta))
    return _quietly(jax.jit(_grad_fn(adjoint, solver, x0)), theta)


@functools.lru_cache(maxsize=None)
def _grads_over_k(mode):
    """The gradients for every K in KS, compiled as one program (cheaper than one per K)."""
    make = MODES[mode]
    fns = [_grad_fn(make(k), GD, jnp.zeros(QUAD_N)) for k in KS]
    return _quietly(jax.jit(lambda t: [fn(t) for fn in fns]), quad_theta())


MODES = {
    "Unrolled": calib.Unrolled,
    "Truncated": lambda k: calib.Truncated(steps=k, backprop=k),
    "Checkpointed": calib.Checkpointed,
    "Neumann": calib.Neumann,  # default step: 1 / lambda_max by Lanczos
}


def _error(adjoint, **kw):
    return max_rel_err(_grad(adjoint, **kw), _expected(quad_jacobian(quad_theta())))


def _assert_same(a, b, rtol=1e-12):
    for name in ("k", "f"):
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=rtol, err_msg=name)


def test_implicit_is_exact():
    assert _error(calib.Implicit()) < 1e-11


@pytest.mark.parametrize("mode", [
    m if m in ("Unrolled", "Neumann") else pytest.param(m, marks=pytest.mark.benchmark) for m in MODES])
def test_converges_to_implicit_as_k_grows(mode):
    expected = _expected(quad_jacobian(quad_theta()))
    errors = [max_rel_err(g, expected) for g in _grads_over_k(mode)]
    assert errors[0] > 1e-3  # few steps: visibly biased, so the test can tell K apart
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 1e-9, errors


@pytest.mark.parametrize("mode", ["Truncated", "Checkpointed"])
def test_equals_unrolled_for_the_same_k(mode):
    # Truncated with backprop = steps differentiates every step, like Unrolled; Checkpointed
    # recomputes segments (default: ceil(sqrt(K)) of K // that many steps, plus the remainder,
    # so K = 10, 20, 60 give remainders 2, 0, 4) but must give the same numbers.
    for k, got, want in zip(KS, _grads_over_k(mode), _grads_over_k("Unrolled")):
        _assert_same(got, want)


def test_truncated_converges_with_backprop_length():
    # 80 steps in total; differentiating only the last T of them gives a bias ~0.6^T.
    fns = [_grad_fn(calib.Truncated(steps=80, backprop=t), GD, jnp.zeros(QUAD_N)) for t in (10, 30)]
    grads = _quietly(jax.jit(lambda th: [fn(th) for fn in fns]), quad_theta())
    errors = [max_rel_err(g, _expected(quad_jacobian(quad_theta()))) for g in grads]
    assert errors[0] > 1e-3 and errors[1] < 1e-5 and errors[1] < errors[0] * 1e-2, errors


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_checkpointed_equals_unrolled_with_adaptive_solver_state():
    # FIRE carries adaptive velocity, time step and mixing through the segments; 15 steps in
    # 4 segments of 3 leaves a remainder of 3 steps.
    fire, x0 = calib.FIRE(tol=1e-12), jnp.zeros(QUAD_N)
    checkpointed = _grad_fn(calib.Checkpointed(steps=15, checkpoints=4), fire, x0)
    unrolled = _grad_fn(calib.Unrolled(steps=15), fire, x0)
    got, want = _quietly(jax.jit(lambda t: (checkpointed(t), unrolled(t))), quad_theta())
    _assert_same(got, want)


def test_neumann_equals_gradient_descent_backprop_from_the_solution():
    # Theory (calib/adjoint/_implicit.py): K gradient-descent steps of size alpha started at x*
    # have derivative -alpha sum_{j<K} (I - alpha H)^j d_theta g, which is what Neumann(K, alpha)
    # computes. For the quadratic d_theta g is [diag(x*) for k, -I for f].
    k = 7
    theta = quad_theta()
    a, x = quad_matrix(theta), quad_solution(theta)
    series = sum(np.linalg.matrix_power(np.eye(QUAD_N) - ALPHA * a, j) for j in range(k)) * ALPHA
    expected = _expected({"k": -series * x[None, :], "f": series})

    neumann = _grad(calib.Neumann(terms=k, step=ALPHA), solver=calib.LBFGS(tol=1e-12))
    unrolled_gd = _grad(calib.Unrolled(steps=k), start="solution")
    _assert_same(neumann, expected, rtol=1e-12)
    _assert_same(unrolled_gd, expected, rtol=1e-12)
    # ...and K = 7 is far from converged, so this is not the implicit gradient in disguise.
    assert max_rel_err(neumann, _expected(quad_jacobian(theta))) > 1e-2


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_neumann_equals_gradient_descent_backprop_nonlinear():
    # Same identity on the Morse chain (the Hessian depends on x): GD steps started at a converged
    # x* stay there to round-off, so backprop through them is the Neumann series at x*.
    theta, k, alpha = morse_theta(), 6, 0.1  # lambda_max ~ 12.9 < 2 / alpha

    def grad(adjoint, solver, x0):
        def loss(t):
            x = calib.equilibrium(morse_energy, x0, t, solver=solver, adjoint=adjoint).x
            return morse_loss_of_x(x), x
        return jax.jit(jax.grad(loss, has_aux=True))(theta)

    neumann, x_star = grad(calib.Neumann(terms=k, step=alpha), calib.LBFGS(tol=1e-13), morse_x0())
    # K = 6 steps are a truncated derivative on purpose: no IFT-residual check (it would warn).
    unrolled, x_end = grad(calib.Unrolled(steps=k, check=False),
                           calib.GradientDescent(step_size=alpha, tol=1e-12), x_star)
    np.testing.assert_allclose(x_end, x_star, rtol=0, atol=1e-13)
    assert min(abs(float(v)) for v in neumann.values()) > 1e-2
    assert max_rel_err(unrolled, neumann) < 1e-11
