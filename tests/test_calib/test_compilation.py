"""No needless recompilation: closures, numeric options and null-space bases are data.

Compilations are counted with ``jax.monitoring`` (one event per XLA backend compile).
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

import calib

_COMPILES = [0]


def _on_event(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


@contextlib.contextmanager
def count_compiles():
    start = _COMPILES[0]
    counter = {}
    yield counter
    counter["n"] = _COMPILES[0] - start


def chain(x, theta, data):
    return 0.5 * theta * jnp.sum((x - data) ** 2) + 0.25 * jnp.sum(x ** 4)


def test_equal_closures_and_changed_tolerances_share_one_compilation():
    data = jnp.linspace(0.0, 1.0, 7)

    def solve(i):
        # A fresh lambda each time, over a different array (a traced input, not a constant),
        # and a different tolerance (a traced option).
        shifted = data + i
        sol = calib.equilibrium(lambda x, t: chain(x, t, shifted), jnp.zeros(7), 1.0,
                                solver=calib.LBFGS(tol=10.0 ** (-6 - i)))
        return bool(sol.converged)

    assert solve(0)  # compiles once
    with count_compiles() as fresh:
        assert all(solve(i) for i in (1, 2, 3))
    assert fresh["n"] == 0


def test_closed_over_arrays_are_differentiable():
    data = jnp.linspace(0.0, 1.0, 5)

    def loss(d):
        return jnp.sum(calib.equilibrium(lambda x, t: chain(x, t, d), jnp.zeros(5), 2.0).x)

    def loss_args(d):
        return jnp.sum(calib.equilibrium(chain, jnp.zeros(5), 2.0, d).x)

    np.testing.assert_allclose(jax.grad(loss)(data), jax.grad(loss_args)(data), rtol=1e-10)


def test_nullspace_as_array_or_closure_does_not_recompile():
    def ring(x, theta):
        return 0.5 * theta * jnp.sum((jnp.roll(x, 1) - x - 0.1) ** 2) + jnp.sum(x[:2] * 0.0)

    n = 6
    basis = jnp.ones((1, n)) / np.sqrt(n)

    def grad(nullspace):
        def loss(theta):
            x = calib.equilibrium(ring, jnp.linspace(0, 1, n), theta,
                                  adjoint=calib.Implicit(nullspace=nullspace)).x
            return jnp.sum(x * jnp.arange(n))
        return jax.grad(loss)(1.0)

    def wrapped(b):
        return lambda x: b  # a fresh closure per call, made by the same code

    reference = grad(basis)
    scaled = basis * 1.0
    grad(wrapped(basis))
    with count_compiles() as count:
        np.testing.assert_allclose(grad(scaled), reference, rtol=1e-12)
        np.testing.assert_allclose(grad(wrapped(scaled)), reference, rtol=1e-12)
    assert count["n"] == 0
