"""Small test systems with closed-form or independently computable equilibria.

Energies are module-level functions so that every test passes the *same* function object to
``calib.equilibrium`` (it is a static argument of an internal ``jit``: a fresh lambda per call would
recompile). Constants are numpy arrays, converted lazily, so importing this module creates no JAX
array before ``jax_enable_x64`` is set in ``tests/conftest.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# ----------------------------------------------------------------------------------------------
# Quadratic: E = 1/2 x^T A(theta) x - b(theta)^T x,  A = M0 + diag(k),  b = f.
# ----------------------------------------------------------------------------------------------
QUAD_N = 4
_rng = np.random.default_rng(1234)
_q = _rng.normal(size=(QUAD_N, QUAD_N))
QUAD_M0 = _q @ _q.T / QUAD_N + np.eye(QUAD_N)


def quad_theta():
    return {"k": jnp.array([1.0, 2.0, 0.5, 1.5]), "f": jnp.array([1.0, -1.0, 0.5, 2.0])}


def quad_energy(x, theta):
    a = jnp.asarray(QUAD_M0) + jnp.diag(theta["k"])
    return 0.5 * x @ a @ x - theta["f"] @ x


def quad_matrix(theta) -> np.ndarray:
    return QUAD_M0 + np.diag(np.asarray(theta["k"]))


def quad_solution(theta) -> np.ndarray:
    """x* = A^{-1} b."""
    return np.linalg.solve(quad_matrix(theta), np.asarray(theta["f"]))


def quad_jacobian(theta) -> dict:
    """dx*/dk_j = -A^{-1} e_j x*_j  and  dx*/df = A^{-1}, as (n, n) arrays (output index first)."""
    a_inv = np.linalg.inv(quad_matrix(theta))
    x = quad_solution(theta)
    return {"k": -a_inv * x[None, :], "f": a_inv}


def quad_hessian_eigenvalues(theta) -> np.ndarray:
    return np.linalg.eigvalsh(quad_matrix(theta))


# ----------------------------------------------------------------------------------------------
# Nonlinear: a 1D Morse chain of 6 atoms, both ends pinned, pulled by constant external forces.
# The state is the 4 free positions; theta = {D, a, r0}.
# ----------------------------------------------------------------------------------------------
MORSE_LENGTH = 5.3  # position of the right pinned atom (the left one is at 0)
MORSE_FORCE = np.array([0.3, -0.2, 0.5, 0.1])  # external force on each free atom


def morse_theta():
    # Strongly typed float64 scalars (not weak-typed Python floats), so that the perturbed copies
    # made by central_difference hit the same jit cache entry.
    return {name: jnp.asarray(np.float64(v)) for name, v in (("D", 1.2), ("a", 1.3), ("r0", 1.0))}


def morse_energy(x, theta):
    positions = jnp.concatenate([jnp.zeros(1), x, jnp.full((1,), MORSE_LENGTH)])
    r = jnp.diff(positions)
    bonds = theta["D"] * (1.0 - jnp.exp(-theta["a"] * (r - theta["r0"]))) ** 2
    return jnp.sum(bonds) - jnp.asarray(MORSE_FORCE) @ x


def morse_x0():
    return jnp.linspace(0.0, MORSE_LENGTH, 6)[1:-1]


MORSE_WEIGHTS = np.array([0.7, -1.1, 0.4, 1.6])


def morse_loss_of_x(x):
    """A scalar loss of the equilibrium, nonlinear in x."""
    return jnp.sum(jnp.asarray(MORSE_WEIGHTS) * x) + jnp.sum(jnp.sin(x) ** 2)


# ----------------------------------------------------------------------------------------------
# Zero modes: a periodic 1D ring of N particles (positions (N, 1)), nearest-neighbour springs with
# stiffness k_i and rest length r0_i, minimum image in a box of length L. Translation-invariant, so
# the Hessian (a weighted cycle-graph Laplacian) has the uniform translation as null vector.
# Closed form: the gaps d_i sum to L; minimising sum k_i (d_i - r0_i)^2 / 2 under that constraint
# gives d_i = r0_i + lambda / k_i with lambda = (L - sum r0) / sum(1/k).
# ----------------------------------------------------------------------------------------------
RING_N = 5
RING_BOX = 6.0


def ring_theta():
    return {"k": jnp.array([1.0, 2.0, 1.5, 0.7, 1.2]), "r0": jnp.array([1.0, 1.3, 0.9, 1.1, 1.2])}


def ring_x0():
    i = np.arange(RING_N, dtype=float)
    return jnp.asarray((i * RING_BOX / RING_N + 0.05 * np.sin(i))[:, None])


def ring_gaps(x):
    d = jnp.roll(x[:, 0], -1) - x[:, 0]
    return d - RING_BOX * jnp.round(d / RING_BOX)


def ring_energy(x, theta):
    return 0.5 * jnp.sum(theta["k"] * (ring_gaps(x) - theta["r0"]) ** 2)


def ring_gaps_closed_form(theta):
    lam = (RING_BOX - jnp.sum(theta["r0"])) / jnp.sum(1.0 / theta["k"])
    return theta["r0"] + lam / theta["k"]


def ring_centered_closed_form(theta):
    """Equilibrium positions with zero mean (the representative orthogonal to translations)."""
    d = ring_gaps_closed_form(theta)
    x = jnp.concatenate([jnp.zeros(1), jnp.cumsum(d)[:-1]])
    return x - jnp.mean(x)


def ring_hessian(theta) -> np.ndarray:
    """The weighted cycle-graph Laplacian (independent of x)."""
    k = np.asarray(theta["k"])
    h = np.zeros((RING_N, RING_N))
    for i in range(RING_N):
        j = (i + 1) % RING_N
        h[i, i] += k[i]
        h[j, j] += k[i]
        h[i, j] -= k[i]
        h[j, i] -= k[i]
    return h


def central_difference(f, theta, h=1e-5):
    """Central finite-difference gradient of a scalar f over a dict of float arrays."""
    out = {}
    for name, value in theta.items():
        value = np.asarray(value, dtype=float)
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            step = h * max(1.0, abs(value[idx]))
            plus, minus = value.copy(), value.copy()
            plus[idx] += step
            minus[idx] -= step
            tp, tm = dict(theta), dict(theta)
            tp[name], tm[name] = jnp.asarray(plus), jnp.asarray(minus)
            grad[idx] = (float(f(tp)) - float(f(tm))) / (2 * step)
        out[name] = grad
    return out


def max_rel_err(a, b):
    a = np.concatenate([np.ravel(np.asarray(v)) for v in jax.tree.leaves(a)])
    b = np.concatenate([np.ravel(np.asarray(v)) for v in jax.tree.leaves(b)])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
