"""A small nonlinear system shared by the batching and sharding tests.

A chain of ``N = 8`` unknowns, clamped at one end, with bond stiffnesses ``k`` (shape ``(N,)``), a
quartic bond term of strength ``c`` (scalar), a unit on-site spring and external forces ``f``
(shape ``(N,)``):

.. math:: E(x, \\theta) = \\sum_i \\tfrac{k_i}{2} d_i^2 + \\tfrac{c}{4} d_i^4 + \\tfrac12 \\|x\\|^2 - f\\cdot x,
          \\qquad d = \\mathrm{diff}([0, x]).

It is strictly convex for ``c >= 0`` (Hessian eigenvalues about 1 ... 5 at ``x = 0``), so every
solver finds the same unique minimum from every start, and its Hessian is tridiagonal, so the same
energy also runs with :class:`calib.SparseNewton`. Everything here is a module-level object, so
every call passes the same function objects to ``calib.equilibrium`` (no recompilation), and
constants are numpy arrays, so importing this module creates no JAX array before float64 is on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

import calib

N = 8
B = 4

_PATTERN = sp.diags([np.ones(N - 1), np.ones(N), np.ones(N - 1)], [-1, 0, 1], format="csr")
_PATTERN.sort_indices()
_ROWS = np.repeat(np.arange(N), np.diff(_PATTERN.indptr))

# Loss weights: a loss that is nonlinear in x and not aligned with any Hessian eigenvector.
WEIGHTS = np.array([0.7, -1.1, 0.4, 1.6, -0.3, 0.9, -0.8, 0.5])

# (force scale, quartic strength) of the B members of the theta batch.
_SCALES = ((1.0, 0.5), (1.3, 0.8), (0.7, 0.2), (1.2, 0.6))


def energy(x, theta):
    d = jnp.diff(jnp.concatenate([jnp.zeros(1, x.dtype), x]))
    bonds = theta["k"] * d**2 / 2 + theta["c"] * d**4 / 4
    return jnp.sum(bonds) + 0.5 * jnp.sum(x**2) - theta["f"] @ x


def _hessian_values(x, theta):
    return jax.hessian(energy)(x, theta)[_ROWS, _PATTERN.indices]


HESSIAN = calib.SparseHessian(_PATTERN.indptr, _PATTERN.indices, _hessian_values)


def make_theta(force_scale: float = 1.0, quartic: float = 0.5, stiffness_shift: float = 0.0):
    """One parameter set; strongly typed float64 leaves (not weak Python floats)."""
    return {
        "k": jnp.asarray(np.linspace(0.8, 1.2, N) + stiffness_shift),
        "c": jnp.asarray(np.float64(quartic)),
        "f": jnp.asarray(force_scale * np.linspace(-0.5, 1.0, N)),
    }


def theta_members():
    """The B parameter sets of the theta batch, as a list of unbatched pytrees."""
    return [make_theta(s, c, 0.1 * i) for i, (s, c) in enumerate(_SCALES)]


def x0_members():
    """B different starting states (all lead to the same minimum: the energy is convex)."""
    rng = np.random.default_rng(20240611)
    return [jnp.asarray(0.5 * rng.normal(size=N)) for _ in range(B)]


def stack(members):
    """Stack a list of equal pytrees along a new leading (batch) axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)


def loss_of_solution(sol):
    """A scalar of the equilibrium that uses both its state and its energy."""
    x = sol.x
    return jnp.asarray(WEIGHTS) @ x + jnp.sum(jnp.sin(x) ** 2) + sol.energy
