r"""Approximate message passing (AMP) for sparse recovery, and its state evolution.

AMP (Donoho, Maleki & Montanari, PNAS 106, 2009) is ISTA with unit step plus one term. From
:math:`x^0 = 0`, :math:`z^0 = y`:

.. math::
    x^{t+1} &= \eta\bigl(x^t + A^\top z^t;\ \tau_t\bigr), \\
    z^{t+1} &= y - A x^{t+1} + \frac{1}{\delta}\, z^t \,
               \bigl\langle \eta'\bigl(x^t + A^\top z^t; \tau_t\bigr) \bigr\rangle,

with :math:`\delta = m/n` and :math:`\langle\cdot\rangle` the mean over entries; for the soft
threshold :math:`\langle\eta'\rangle` is the fraction of non-zeros of :math:`x^{t+1}`. The last
term, the Onsager correction, cancels the correlation between the residual and the past iterates,
so that for i.i.d. Gaussian :math:`A` (entries :math:`\mathcal N(0, 1/m)`) and large :math:`n` the
pseudo-data :math:`x^t + A^\top z^t` is distributed as :math:`x + \sigma_t Z`,
:math:`Z \sim \mathcal N(0, 1)` entrywise, with :math:`\sigma_t` given by the scalar *state
evolution* (Bayati & Montanari, IEEE Trans. Inf. Theory 57, 2011)

.. math::
    \sigma_0^2 = \sigma_w^2 + \frac{\mathbb E X^2}{\delta}, \qquad
    \sigma_{t+1}^2 = \sigma_w^2 + \frac{1}{\delta}\,
                     \mathbb E\bigl[(\eta(X + \sigma_t Z; \alpha\sigma_t) - X)^2\bigr],

and the per-entry error :math:`\|x^{t+1} - x\|^2/n \to \mathbb E[(\eta(X + \sigma_t Z;
\alpha\sigma_t) - X)^2]`. Here :math:`X` is Bernoulli–Gaussian (0 with probability
:math:`1-\varepsilon`, else :math:`\mathcal N(0, 1)`), :math:`\tau_t = \alpha\sigma_t`, and the
expectation has a closed form in :math:`\Phi` and :math:`\varphi` (:func:`soft_threshold_mse`).
Without the Onsager term the pseudo-data is not Gaussian around :math:`x` and the recursion
predicts nothing; ISTA (step :math:`1/L`) converges to the same lasso solution, but slowly and off
the predicted path.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

from .proximal import soft_threshold


def _tail_moments(a):
    r""":math:`\int_a^\infty t^k \varphi(t)\,dt` for :math:`k = 0, 1, 2`."""
    upper = norm.cdf(-a)
    density = norm.pdf(a)
    return upper, density, a * density + upper


def soft_threshold_mse(sigma, tau, sparsity):
    r""":math:`\mathbb E[(\eta(X + \sigma Z; \tau) - X)^2]` for Bernoulli–Gaussian :math:`X`.

    Zero entries (probability :math:`1-\varepsilon`): :math:`2\sigma^2[(1+b^2)\Phi(-b) -
    b\varphi(b)]`, :math:`b = \tau/\sigma`. Gaussian entries: with :math:`U = X + \sigma Z \sim
    \mathcal N(0, s^2)`, :math:`s^2 = 1+\sigma^2`, :math:`X \mid U \sim \mathcal N(U/s^2,
    \sigma^2/s^2)`, so the error is :math:`\sigma^2/s^2 + \mathbb E_U[(\eta(U) - U/s^2)^2]`,
    integrated piecewise over :math:`|U| > \tau` and :math:`|U| \le \tau`.
    """
    b = tau / sigma
    p0, p1, p2 = _tail_moments(b)
    zero = 2.0 * sigma**2 * (p2 - 2.0 * b * p1 + b**2 * p0)
    s = jnp.sqrt(1.0 + sigma**2)
    c = sigma**2 / s**2  # the slope of eta(U) - U / s^2 = c U - tau for U > tau
    a = tau / s
    q0, q1, q2 = _tail_moments(a)
    outside = 2.0 * (c**2 * s**2 * q2 - 2.0 * c * s * tau * q1 + tau**2 * q0)
    inside = ((1.0 - 2.0 * q0) - 2.0 * a * q1) / s**2
    return (1.0 - sparsity) * zero + sparsity * (c + outside + inside)


def state_evolution(iterations: int, *, delta: float, sparsity: float, alpha: float,
                    noise_variance: float = 0.0):
    r"""The predicted :math:`\sigma_t^2` (``iterations + 1``) and per-entry MSE of
    :math:`x^{t}` (``iterations + 1``; :math:`t = 0`: :math:`\mathbb E X^2 = \varepsilon`)."""

    def step(variance, _):
        mse = soft_threshold_mse(jnp.sqrt(variance), alpha * jnp.sqrt(variance), sparsity)
        return noise_variance + mse / delta, (variance, mse)

    initial = noise_variance + sparsity / delta
    _, (variances, mses) = jax.lax.scan(step, jnp.asarray(initial, jnp.float64), None,
                                        length=iterations)
    return (jnp.concatenate([variances, jnp.asarray([noise_variance + mses[-1] / delta])]),
            jnp.concatenate([jnp.asarray([sparsity], mses.dtype), mses]))


def best_alpha(*, delta: float, sparsity: float, noise_variance: float = 0.0,
               iterations: int = 200, grid=None):
    """The threshold multiplier with the smallest state-evolution MSE after ``iterations``."""
    grid = jnp.linspace(0.5, 3.5, 121) if grid is None else jnp.asarray(grid)
    final = jax.vmap(lambda a: state_evolution(iterations, delta=delta, sparsity=sparsity,
                                               alpha=a, noise_variance=noise_variance)[1][-1])(grid)
    return float(grid[jnp.argmin(final)])


def amp(A, y, iterations: int, *, alpha=None, thresholds=None, onsager: bool = True):
    r"""``iterations`` AMP steps from zero, batched over signals.

    ``A``: ``(m, n)``; ``y``: ``(batch, m)``. The threshold of step :math:`t` is either given,
    ``thresholds`` ``(iterations,)``, or estimated from the residual,
    :math:`\tau_t = \alpha\,\|z^t\|/\sqrt m` per signal (the practical AMP: :math:`\|z^t\|^2/m
    \to \sigma_t^2`). ``onsager=False`` drops the correction (unit-step iterative thresholding).
    Returns the iterates ``(iterations + 1, batch, n)`` and the thresholds used
    ``(iterations, batch)``.
    """
    if (alpha is None) == (thresholds is None):
        raise ValueError("amp: give exactly one of alpha (thresholds from the residual) and "
                         "thresholds (one per iteration)")
    m, n = A.shape
    x0 = jnp.zeros((y.shape[0], n), y.dtype)
    given = jnp.zeros((iterations,), y.dtype) if thresholds is None else jnp.asarray(thresholds)

    def layer(carry, tau_given):
        x, z = carry
        if thresholds is None:
            tau = alpha * jnp.sqrt(jnp.mean(z**2, axis=-1, keepdims=True))
        else:
            tau = jnp.broadcast_to(tau_given, (y.shape[0], 1))
        x_next = soft_threshold(x + z @ A, tau)
        correction = (n / m) * jnp.mean(x_next != 0, axis=-1, keepdims=True) * z
        z_next = y - x_next @ A.T + (correction if onsager else 0.0)
        return (x_next, z_next), (x_next, tau[:, 0])

    _, (xs, taus) = jax.lax.scan(layer, (x0, y), given)
    return jnp.concatenate([x0[None], xs]), taus


def lasso_penalty(alpha_sigma, x, m: int):
    r"""The lasso :math:`\lambda` whose solution is AMP's fixed point (Donoho, Maleki & Montanari
    2009; Bayati & Montanari 2012): :math:`\lambda = \tau_\infty (1 - \|x_\infty\|_0/m)`."""
    return alpha_sigma * (1.0 - jnp.sum(x != 0, axis=-1) / m)
