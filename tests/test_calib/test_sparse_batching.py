"""SparseNewton under ``jax.vmap``: the same gradients as one member at a time, and no more
factorisations than the members need (the host sees the batch in one call, the cache holds every
member's factorisation, finished members cost nothing).

The system is a nonlinear spring chain with a tridiagonal tangent (values written by hand, so that
compiling stays cheap); the members differ in their linear stiffness ``k``, so no two members ever
share a tangent and every factorisation of a batch is one the members also need alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import calib
from calib.sparse import FACTOR_CACHE

N = 30
_PATTERN = sp.diags([np.ones(N - 1), np.ones(N), np.ones(N - 1)], [-1, 0, 1], format="csr")
_PATTERN.sort_indices()
FORCES = np.linspace(0.1, 1.0, N) * 0.3
STIFFNESS = np.array([1.0, 1.5, 2.5, 4.0])  # one per member, B = 4
C = 0.5


def energy(x, theta, forces):
    d = jnp.diff(jnp.concatenate([jnp.zeros(1, x.dtype), x]))
    return jnp.sum(theta["k"] * d**2 / 2 + theta["c"] * d**4 / 4) - jnp.vdot(forces, x)


def values(x, theta, forces):
    """CSR values of the tridiagonal tangent: bond i (between x_{i-1} and x_i, x_{-1} = 0) has
    stiffness k + 3 c d_i^2."""
    d = jnp.diff(jnp.concatenate([jnp.zeros(1, x.dtype), x]))
    bond = theta["k"] + 3 * theta["c"] * d**2
    diagonal = bond + jnp.concatenate([bond[1:], jnp.zeros(1, x.dtype)])
    off = -bond[1:]
    middle = jnp.stack([off[:-1], diagonal[1:-1], off[1:]], axis=1).reshape(-1)
    return jnp.concatenate([jnp.stack([diagonal[0], off[0]]), middle,
                            jnp.stack([off[-1], diagonal[-1]])])


HESSIAN = calib.SparseHessian(_PATTERN.indptr, _PATTERN.indices, values)
SOLVER = calib.SparseNewton(hessian=HESSIAN, method="superlu")


def loss(k):
    theta = {"k": k, "c": jnp.asarray(C)}
    solution = calib.equilibrium(energy, jnp.zeros(N), theta, jnp.asarray(FORCES), solver=SOLVER)
    return jnp.sum(solution.x ** 2)


forward = jax.jit(loss)
gradient = jax.jit(jax.grad(loss))
batched_forward = jax.jit(jax.vmap(loss))
batched_gradient = jax.jit(jax.vmap(jax.grad(loss)))


def counted(function, *args):
    """``(value, cache misses, statistics)`` of one call, from an empty cache."""
    FACTOR_CACHE.clear()
    with calib.sparse.statistics() as stats:
        value = jax.block_until_ready(function(*args))
    return value, stats.cache_misses, stats


@pytest.fixture(scope="module")
def alone():
    """Each member on its own: values, gradients and their cache misses."""
    rows = [(counted(forward, jnp.asarray(k)), counted(gradient, jnp.asarray(k)))
            for k in STIFFNESS]
    return {"value": np.array([f[0] for f, _ in rows]), "grad": np.array([g[0] for _, g in rows]),
            "forward_misses": [f[1] for f, _ in rows], "grad_misses": [g[1] for _, g in rows]}


def test_values_match_the_energy():
    x = jnp.asarray(np.random.default_rng(0).normal(size=N)) * 0.3
    theta = {"k": jnp.asarray(1.5), "c": jnp.asarray(C)}
    dense = np.asarray(jax.hessian(energy)(x, theta, jnp.asarray(FORCES)))
    np.testing.assert_allclose(HESSIAN.dense(x, theta, jnp.asarray(FORCES)), dense, rtol=1e-13)


def test_batched_gradients_equal_the_unbatched_ones(alone):
    ks = jnp.asarray(STIFFNESS)
    np.testing.assert_allclose(batched_forward(ks), alone["value"], rtol=1e-13)
    np.testing.assert_allclose(batched_gradient(ks), alone["grad"], rtol=1e-12)


def test_a_batch_factorises_what_its_members_need_and_no_more(alone):
    # Before, a cache of two entries keyed by the values thrashed under vmap: every adjoint CG
    # iteration of every member re-factorised. Now the gradient costs no factorisation beyond the
    # forward's, batched or not, and a batch of 4 costs what its 4 members cost alone.
    ks = jnp.asarray(STIFFNESS)
    assert alone["grad_misses"] == alone["forward_misses"]
    _, forward_misses, stats = counted(batched_forward, ks)
    assert forward_misses == sum(alone["forward_misses"])
    assert stats.factorisations == forward_misses and stats.skipped > 0  # members converge apart
    _, grad_misses, stats = counted(batched_gradient, ks)
    assert grad_misses == sum(alone["grad_misses"])
    assert stats.cache_hits >= len(STIFFNESS)  # the adjoint preconditioner, every member


def test_single_member_batch_costs_one_solve(alone):
    value, misses, _ = counted(batched_gradient, jnp.asarray(STIFFNESS[:1]))
    np.testing.assert_allclose(value, alone["grad"][:1], rtol=1e-12)
    assert misses == alone["grad_misses"][0]


def test_cache_grows_with_the_batch_and_shrinks_back():
    counted(batched_forward, jnp.asarray(STIFFNESS))
    # Every member's last factorisation is still there for the adjoint.
    assert FACTOR_CACHE.limit == 2 * len(STIFFNESS) and len(FACTOR_CACHE) >= len(STIFFNESS)
    counted(forward, jnp.asarray(1.0))
    assert FACTOR_CACHE.limit == FACTOR_CACHE.capacity and len(FACTOR_CACHE) <= 2

