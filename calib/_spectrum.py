"""Extreme eigenvalues of a symmetric operator by Lanczos, and null-space projections."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax
from ._errors import CalibValueError


def lanczos_extremes(matvec: Callable, n: int, dtype, iterations: int = 50, basis=None, seed: int = 0):
    r"""Smallest and largest Ritz values of a symmetric operator after ``iterations`` Lanczos steps.

    Lanczos (1950) with full re-orthogonalisation; ``basis`` (shape ``(n, k)``, orthonormal columns)
    spans directions to leave out (known zero modes), so the estimates are those of the operator
    restricted to the orthogonal complement. The Ritz values bracket the spectrum from inside:
    :math:`\lambda_{min} \le \theta_{min}` and :math:`\theta_{max} \le \lambda_{max}`, and the extreme
    ones converge first (exact when ``iterations >= n``).

    Returns:
        ``(theta_min, theta_max)``, scalars of ``dtype``.
    """
    k = min(int(iterations), n)

    def project(v):
        if basis is None:
            return v
        return v - basis @ (basis.T @ v)

    v0 = project(jax.random.normal(jax.random.PRNGKey(seed), (n,), dtype))
    v0 = v0 / jnp.linalg.norm(v0)
    tiny = jnp.finfo(dtype).eps

    def body(i, c):
        vecs, alphas, betas, v, v_prev, beta_prev, alive = c
        vecs = vecs.at[i].set(v)
        w = project(matvec(v))
        a = jnp.vdot(v, w)
        w = w - a * v - beta_prev * v_prev
        for _ in range(2):  # full re-orthogonalisation, twice is enough (Parlett)
            w = project(w - vecs.T @ (vecs @ w))
        b = jnp.linalg.norm(w)
        # After an invariant subspace is found the rest of T is padding that copies alpha_0, a value
        # inside the spectrum, so it cannot move the extreme Ritz values.
        alphas = alphas.at[i].set(jnp.where(alive, a, alphas[0]))
        betas = betas.at[i].set(jnp.where(alive, b, 0.0))
        alive = alive & (b > tiny * (jnp.abs(a) + 1.0))
        v_next = jnp.where(alive, w / jnp.where(b > 0, b, 1.0), jnp.zeros_like(w))
        return vecs, alphas, betas, v_next, v, jnp.where(alive, b, 0.0), alive

    zero = jnp.zeros((), dtype)
    init = (jnp.zeros((k, n), dtype), jnp.zeros((k,), dtype), jnp.zeros((k,), dtype), v0,
            jnp.zeros_like(v0), zero, jnp.asarray(True))
    _, alphas, betas, *_ = lax.fori_loop(0, k, body, init)
    tridiagonal = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    ritz = jnp.linalg.eigvalsh(tridiagonal)
    return ritz[0], ritz[-1]


def orthonormal_columns(modes: jax.Array, n: int, where: str) -> jax.Array:
    """Orthonormal basis, shape ``(n, k)``, of the rows of ``modes`` (shape ``(k, n)``)."""
    modes = jnp.asarray(modes)
    if modes.ndim == 1:
        modes = modes[None]
    if modes.ndim != 2 or modes.shape[1] != n:
        raise CalibValueError(
            f"{where}: a null-space basis must have shape (k, {n}) (k modes of the flattened state "
            f"of size {n}), got shape {tuple(modes.shape)}")
    q, _ = jnp.linalg.qr(modes.T)
    return q


def translation_modes(x) -> jax.Array:
    """Rigid translations of a state made of position arrays, shape ``(d, n_flat)``.

    ``x`` is an array of shape ``(N, d)`` (or a pytree whose leaves are all ``(N_i, d)``); mode ``j``
    moves every point by the unit vector along axis ``j``. These are the zero modes of the Hessian of
    any translation-invariant energy (a periodic crystal, a free cluster).
    """
    leaves = jax.tree.leaves(x)
    dims = {leaf.shape[-1] for leaf in leaves if jnp.ndim(leaf) == 2}
    if len(dims) != 1 or any(jnp.ndim(leaf) != 2 for leaf in leaves):
        shapes = [tuple(jnp.shape(leaf)) for leaf in leaves]
        raise CalibValueError(
            "translation_modes: the state must be an array of positions of shape (N, d) or a pytree "
            f"of such arrays with one d, got leaf shapes {shapes}; pass your own nullspace= callable")
    (d,) = dims
    modes = []
    for j in range(d):
        unit = jax.tree.map(lambda leaf: jnp.zeros_like(leaf).at[:, j].set(1.0), x)
        modes.append(jax.flatten_util.ravel_pytree(unit)[0])
    return jnp.stack(modes)
