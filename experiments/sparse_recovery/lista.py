r"""Learned ISTA: each iteration is a layer whose matrices and thresholds are trained, untied.

All four networks are :math:`K` layers of a thresholded gradient iteration and differ in what
each layer :math:`k = 0, \dots, K-1` may learn (``x_0 = 0``; :math:`\eta` the soft threshold).
With the coupling weight :math:`W = A/L` and thresholds :math:`\lambda/L` an untrained network *is*
ISTA; by default they start from the analytic weight of ALISTA (:func:`analytic_weight`) and a
geometric threshold schedule, and every weight and threshold is then trained, untied:

* :class:`LISTA` (Gregor & LeCun, ICML 2010): :math:`x_{k+1} = \eta_{\theta_k}(W^1_k y +
  W^2_k x_k)` with :math:`W^1_k \in \mathbb R^{n\times m}`, :math:`W^2_k \in \mathbb R^{n\times n}`
  free (ISTA: :math:`W^1 = A^\top/L`, :math:`W^2 = I - A^\top A/L`);
* :class:`LISTACP` (Chen et al., NeurIPS 2018, "coupled"): :math:`x_{k+1} = \eta_{\theta_k}(x_k +
  W_k^\top(y - Ax_k))`, the weight coupling :math:`W^2_k = I - W_k^\top A` that their Theorem 1
  shows is necessary for convergence, with :math:`W_k \in \mathbb R^{m\times n}`; their
  Theorem 2: with suitable :math:`W_k, \theta_k` the error decays *linearly*,
  :math:`\|x_k - x\| \le C e^{-ck}` to the true sparse :math:`x` (noiseless), where ISTA
  converges to the lasso solution, biased by :math:`\lambda`, and only sublinearly in general;
* :class:`LISTACP` with ``support_selection`` (LISTA-CPSS): in layer :math:`k` the largest
  :math:`p_k` per cent of the entries by magnitude pass the threshold unshrunk (they are trusted
  to be in the support), :math:`p_k = \min(k\,p, p_{max})`;
* :class:`GroupLISTA`: for group-sparse signals, :math:`x_{k+1} = \eta^{G}_{\theta_k}(x_k +
  B_k W^\top (y - Ax_k))` with the group soft threshold and :math:`B_k` block diagonal along the
  known groups (a learned per-group metric on a fixed coupling weight :math:`W`; group ISTA:
  :math:`B = I`, :math:`W = A/L`), :math:`n g` weights a layer where LISTA-CP has :math:`n m`.

The networks are equinox modules (pytrees ``jax.grad`` differentiates directly); a call on
``y`` ``(batch, m)`` returns every layer's output, ``(K + 1, batch, n)``, so the NMSE per layer is
one reduction. :func:`train` fits them with Adam on fresh signals every step (the infinite-data
regime of the papers).
"""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .proximal import group_soft_threshold, soft_threshold


def _stack(value: jax.Array, layers: int) -> jax.Array:
    return jnp.broadcast_to(value, (layers, *jnp.shape(value))).copy()


def analytic_weight(A: jax.Array) -> jax.Array:
    r"""The weight of ALISTA (Liu, Chen, Wang & Yin, ICLR 2019), ``(m, n)``: the :math:`W` of
    smallest :math:`\|W^\top A\|_F` with :math:`\mathrm{diag}(W^\top A) = 1`, the generalised
    mutual coherence. Column by column it is a constrained least-norm problem with the closed form
    :math:`w_i = (AA^\top)^{-1}a_i / (a_i^\top (AA^\top)^{-1} a_i)`. Used to *initialise* the
    trained weights: from it a few hundred Adam steps reach what ISTA-initialised training
    reaches only after tens of thousands (Chen et al. trained stage by stage for that)."""
    G = jnp.linalg.solve(A @ A.T, A)
    return G / jnp.sum(G * A, axis=0)


def geometric_thresholds(layers: int, first: float, ratio: float, dtype=jnp.float64) -> jax.Array:
    r"""Initial thresholds :math:`\theta_k = \theta_0 r^k`, ``(layers,)``: large while the estimate
    is poor, shrinking as it improves (what trained LISTA thresholds look like)."""
    return jnp.asarray(first * ratio ** jnp.arange(layers), dtype)


class LISTA(eqx.Module):
    r"""Gregor & LeCun's LISTA, untied: ``W1`` ``(K, n, m)``, ``W2`` ``(K, n, n)``, ``theta``
    ``(K,)``; started from :math:`W^1 = W^\top`, :math:`W^2 = I - W^\top A` for a coupling
    weight :math:`W` (default :func:`analytic_weight`; ``A / L`` gives ISTA)."""

    W1: jax.Array
    W2: jax.Array
    theta: jax.Array

    fixed_fields = ()

    def __init__(self, A: jax.Array, thresholds: jax.Array, weight: jax.Array | None = None):
        W = analytic_weight(A) if weight is None else weight
        layers = len(thresholds)
        self.W1 = _stack(W.T, layers)
        self.W2 = _stack(jnp.eye(A.shape[1], dtype=A.dtype) - W.T @ A, layers)
        self.theta = jnp.asarray(thresholds, A.dtype)

    def __call__(self, y: jax.Array) -> jax.Array:
        x = jnp.zeros((y.shape[0], self.W1.shape[1]), y.dtype)
        outputs = [x]
        for W1, W2, theta in zip(self.W1, self.W2, self.theta):
            x = soft_threshold(y @ W1.T + x @ W2.T, jnp.maximum(theta, 0.0))
            outputs.append(x)
        return jnp.stack(outputs)


def support_selected_threshold(u: jax.Array, theta, keep: int) -> jax.Array:
    """Soft threshold except for each row's ``keep`` largest magnitudes, which pass unshrunk if
    they exceed ``theta`` (the support selection of LISTA-CPSS). ``u``: ``(batch, n)``."""
    if keep == 0:
        return soft_threshold(u, theta)
    magnitude = jnp.abs(u)
    # The selection is a discrete choice: no gradient flows through which entries were picked.
    cutoff = jax.lax.stop_gradient(jax.lax.top_k(magnitude, keep)[0][:, -1:])
    trusted = (magnitude >= cutoff) & (magnitude > theta)
    return jnp.where(trusted, u, soft_threshold(u, theta))


class LISTACP(eqx.Module):
    """LISTA-CP, optionally with support selection (LISTA-CPSS): ``W`` ``(K, m, n)`` (started from
    the coupling weight, default :func:`analytic_weight`), ``theta`` ``(K,)``; ``A`` is fixed.
    ``group_size`` switches the elementwise threshold for the group one (the structure in the
    prox only, every weight still full)."""

    W: jax.Array
    theta: jax.Array
    A: jax.Array
    keep: tuple[int, ...] = eqx.field(static=True)
    group_size: int | None = eqx.field(static=True)

    fixed_fields = ("A",)

    def __init__(self, A: jax.Array, thresholds: jax.Array, weight: jax.Array | None = None,
                 support_selection: bool = False, percent_step: float = 1.2,
                 percent_max: float = 13.0, group_size: int | None = None):
        W = analytic_weight(A) if weight is None else weight
        layers, n = len(thresholds), A.shape[1]
        if group_size is not None and support_selection:
            raise ValueError("LISTACP: support selection is elementwise; it cannot be combined "
                             "with group_size")
        self.W = _stack(W, layers)
        self.theta = jnp.asarray(thresholds, A.dtype)
        self.A = A
        self.group_size = group_size
        self.keep = tuple(
            int(n * min((k + 1) * percent_step, percent_max) / 100.0) if support_selection else 0
            for k in range(layers))

    def __call__(self, y: jax.Array) -> jax.Array:
        A = self.A
        x = jnp.zeros((y.shape[0], A.shape[1]), y.dtype)
        outputs = [x]
        for W, theta, keep in zip(self.W, self.theta, self.keep):
            u = x + (y - x @ A.T) @ W
            if self.group_size is None:
                x = support_selected_threshold(u, jnp.maximum(theta, 0.0), keep)
            else:
                x = group_soft_threshold(u, jnp.maximum(theta, 0.0), self.group_size)
            outputs.append(x)
        return jnp.stack(outputs)


class GroupLISTA(eqx.Module):
    r"""Group-sparse LISTA with block-diagonal weights: :math:`x_{k+1} = \eta^G_{\theta_k}(x_k +
    B_k W^\top (y - Ax_k))`, ``B`` ``(K, n // g, g, g)`` trained (started at the identity),
    ``theta`` ``(K,)``; the coupling weight ``W`` (default :func:`analytic_weight`) and ``A`` are
    fixed, so a layer trains :math:`n g` numbers where LISTA-CP trains :math:`n m`."""

    B: jax.Array
    theta: jax.Array
    A: jax.Array
    W: jax.Array
    group_size: int = eqx.field(static=True)

    fixed_fields = ("A", "W")

    def __init__(self, A: jax.Array, thresholds: jax.Array, group_size: int,
                 weight: jax.Array | None = None):
        n = A.shape[1]
        if n % group_size:
            raise ValueError(f"GroupLISTA: n={n} is not a multiple of group_size={group_size}")
        blocks = jnp.broadcast_to(jnp.eye(group_size, dtype=A.dtype),
                                  (n // group_size, group_size, group_size))
        self.B = _stack(blocks, len(thresholds))
        self.theta = jnp.asarray(thresholds, A.dtype)
        self.A = A
        self.W = analytic_weight(A) if weight is None else weight
        self.group_size = group_size

    def __call__(self, y: jax.Array) -> jax.Array:
        A, W = self.A, self.W
        batch, n, g = y.shape[0], A.shape[1], self.group_size
        x = jnp.zeros((batch, n), y.dtype)
        outputs = [x]
        for B, theta in zip(self.B, self.theta):
            correction = ((y - x @ A.T) @ W).reshape(batch, n // g, g)
            step = jnp.einsum("Gij,bGj->bGi", B, correction).reshape(batch, n)
            x = group_soft_threshold(x + step, jnp.maximum(theta, 0.0), g)
            outputs.append(x)
        return jnp.stack(outputs)


def _trainable(network: eqx.Module):
    """The mask of trained leaves: every floating array except the network's fixed fields (the
    sensing matrix, a fixed coupling weight)."""
    mask = jax.tree_util.tree_map(eqx.is_inexact_array, network)
    for name in network.fixed_fields:
        mask = eqx.tree_at(lambda net, name=name: getattr(net, name), mask, False)
    return mask


def parameter_count(network: eqx.Module) -> int:
    """Trained numbers in ``network`` (its fixed fields excluded)."""
    parameters, _ = eqx.partition(network, _trainable(network))
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(parameters))


def train(network: eqx.Module, sample: Callable, *, steps: int, learning_rate: float,
          threshold_learning_rate: float | None = None, key, data: tuple = (),
          progress: Callable | None = None):
    r"""Fit ``network`` by Adam on :math:`\mathbb E\|x_K - x\|^2 / \mathbb E\|x\|^2`, the last
    layer's NMSE, with a fresh batch ``(x, y) = sample(key, *data)`` every step.

    ``learning_rate`` is relative to each weight's initial root-mean-square;
    ``threshold_learning_rate`` is absolute. Both decay by a cosine to 1 % over ``steps``. ``data``
    holds the arrays the sampler needs, such as the sensing matrix: passed as arguments, the
    compiler does not fold them in as constants. Returns ``(network, losses)``, the training NMSE
    in dB per step. The sensing matrix inside a network stays fixed."""
    # Three parts: the trained leaves, the fixed arrays (the sensing matrix), and the rest. The
    # fixed arrays are arguments of the compiled step, never constants the compiler would fold.
    parameters, rest = eqx.partition(network, _trainable(network))
    fixed, static = eqx.partition(rest, eqx.is_array)
    # Adam's steps are in absolute units, and the weights live on scales that differ by orders of
    # magnitude (an analytic W has entries ~ 1/sqrt(m), a block of GroupLISTA's B is ~ I): the
    # weights' rate is relative, multiplied by each array's initial root-mean-square, so every
    # network's weights move alike. The thresholds, which must be free to fall towards zero, get
    # an absolute rate of their own.
    threshold_rate = learning_rate if threshold_learning_rate is None else threshold_learning_rate
    factors = jax.tree_util.tree_map(lambda leaf: jnp.sqrt(jnp.mean(leaf**2)), parameters)
    factors = eqx.tree_at(lambda net: net.theta, factors,
                          jnp.asarray(threshold_rate / learning_rate, network.theta.dtype))
    optimiser = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)),
        optax.stateless(lambda updates, _: jax.tree_util.tree_map(
            lambda update, factor: update * factor, updates, factors)))
    state = optimiser.init(parameters)
    del rest

    def loss(parameters, fixed, x, y):
        x_hat = eqx.combine(parameters, fixed, static)(y)[-1]
        return jnp.sum((x_hat - x) ** 2) / jnp.sum(x**2)

    @jax.jit
    def update(parameters, state, fixed, key, data):
        x, y = sample(key, *data)
        value, gradient = jax.value_and_grad(loss)(parameters, fixed, x, y)
        updates, state = optimiser.update(gradient, state, parameters)
        return optax.apply_updates(parameters, updates), state, value

    losses = []
    for step, step_key in enumerate(jax.random.split(key, steps)):
        parameters, state, value = update(parameters, state, fixed, step_key, data)
        losses.append(float(value))
        if progress is not None:
            progress(step, losses[-1])
    return eqx.combine(parameters, fixed, static), 10.0 * jnp.log10(jnp.asarray(losses))
