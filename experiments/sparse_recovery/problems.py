r"""The synthetic sparse-recovery set-up of the LISTA literature, and its error measure.

Following Gregor & LeCun (ICML 2010) and Chen, Liu, Wang & Yin (NeurIPS 2018):
:math:`y = A x + w` with a Gaussian sensing matrix :math:`A \in \mathbb{R}^{m \times n}`,
:math:`A_{ij} \sim \mathcal N(0, 1/m)` (unit-norm columns on average), Bernoulli–Gaussian signals
:math:`x_i = b_i g_i`, :math:`b_i \sim \mathrm{Bernoulli}(p)`, :math:`g_i \sim \mathcal N(0, 1)`,
and white noise :math:`w` scaled to a signal-to-noise ratio
:math:`\mathrm{SNR} = 10\log_{10}(\mathbb E\|Ax\|^2 / \mathbb E\|w\|^2)` dB. Group-sparse signals
switch whole consecutive groups on together. Signals are rows: ``x`` is ``(batch, n)``, ``y`` is
``(batch, m)``, and ``y = x @ A.T + w``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gaussian_matrix(key, m: int, n: int, dtype=jnp.float64) -> jax.Array:
    r""":math:`A_{ij} \sim \mathcal N(0, 1/m)`, shape ``(m, n)``."""
    return jax.random.normal(key, (m, n), dtype) / jnp.sqrt(m)


def bernoulli_gaussian(key, batch: int, n: int, sparsity: float, dtype=jnp.float64) -> jax.Array:
    """``(batch, n)`` signals whose entries are N(0, 1) with probability ``sparsity``, else 0."""
    support_key, value_key = jax.random.split(key)
    support = jax.random.bernoulli(support_key, sparsity, (batch, n))
    return jnp.where(support, jax.random.normal(value_key, (batch, n), dtype), 0.0)


def group_sparse(key, batch: int, n: int, group_size: int, sparsity: float,
                 dtype=jnp.float64) -> jax.Array:
    """``(batch, n)`` signals made of ``n // group_size`` consecutive groups, each switched on
    (all its entries N(0, 1)) with probability ``sparsity``: the same mean number of non-zeros
    as :func:`bernoulli_gaussian`, but structured."""
    if n % group_size:
        raise ValueError(f"group_sparse: n={n} is not a multiple of group_size={group_size}")
    support_key, value_key = jax.random.split(key)
    groups = jax.random.bernoulli(support_key, sparsity, (batch, n // group_size))
    support = jnp.repeat(groups, group_size, axis=1)
    return jnp.where(support, jax.random.normal(value_key, (batch, n), dtype), 0.0)


def measure(key, A: jax.Array, x: jax.Array, snr_db: float | None) -> jax.Array:
    r"""``y = x @ A.T + w``, ``(batch, m)``; ``snr_db=None`` is noiseless. The noise variance is
    set from the batch's mean signal power, so every signal sees the same noise level."""
    clean = x @ A.T
    if snr_db is None:
        return clean
    power = jnp.mean(clean**2)
    sigma = jnp.sqrt(power / 10.0 ** (snr_db / 10.0))
    return clean + sigma * jax.random.normal(key, clean.shape, clean.dtype)


def nmse_db(x_hat: jax.Array, x: jax.Array) -> jax.Array:
    r""":math:`10\log_{10}\bigl(\sum\|\hat x - x\|^2 / \sum\|x\|^2\bigr)` over the last two axes
    (signals and entries); leading axes (iterations, layers) are kept."""
    error = jnp.sum((x_hat - x) ** 2, axis=(-2, -1))
    return 10.0 * jnp.log10(error / jnp.sum(x**2))
