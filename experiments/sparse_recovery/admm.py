r"""ADMM for imaging as a stack of layers: TV-ADMM, and plug-and-play ADMM with a CNN prior.

The forward model is a circular blur with additive white noise,

.. math:: y = h \circledast x + \varepsilon, \qquad \varepsilon \sim \mathcal N(0, \sigma^2 I),

images ``(batch, H, W)`` with values in ``[0, 1]`` (no units; intensities), the point-spread
function :math:`h` a Gaussian of width ``s`` pixels wrapped around the periodic grid (``s = 0``:
the identity, i.e. denoising). Circular convolution is diagonal in the discrete Fourier basis,
:math:`H = F^{-1}\operatorname{diag}(\hat h)F`, so :math:`H^\top = F^{-1}\operatorname{diag}(\bar
{\hat h})F` and every quadratic sub-problem below is one division in Fourier space (``rfft2``
over the last two axes, the transfer function :math:`\hat h` of shape ``(H, W // 2 + 1)``).

**Data step** (the prox of the data term, exact):

.. math:: \operatorname{prox}(w, \rho) = \arg\min_x \tfrac12\|Hx - y\|^2 + \tfrac\rho2\|x - w\|^2
          = F^{-1}\Bigl[\frac{\bar{\hat h}\,\hat y + \rho\,\hat w}{|\hat h|^2 + \rho}\Bigr].

**TV-ADMM** (Goldstein & Osher, SIAM J. Imaging Sci. 2, 2009: split Bregman, which is ADMM with
the scaled dual :math:`u`) for :math:`\min_x \tfrac12\|Hx - y\|^2 + \lambda\,\mathrm{TV}(x)` with
the isotropic :math:`\mathrm{TV}(x) = \sum_{ij}\|(Dx)_{ij}\|_2`, :math:`D` the periodic forward
differences (a 2-vector per pixel, ``(batch, 2, H, W)``), split :math:`z = Dx`. One layer:

.. math:: x_{k+1} &= F^{-1}\Bigl[\frac{\bar{\hat h}\,\hat y + \rho\,\widehat{D^\top(z_k - u_k)}}
                    {|\hat h|^2 + \rho\,|\hat d|^2}\Bigr], \qquad
                    |\hat d|^2 = 4\sin^2\tfrac{\pi k_1}{H} + 4\sin^2\tfrac{\pi k_2}{W}, \\
          z_{k+1} &= \mathcal S_{\lambda/\rho}(D x_{k+1} + u_k), \qquad
                    \mathcal S_\tau(a)_{ij} = a_{ij}\max\bigl(1 - \tau/\|a_{ij}\|_2,\ 0\bigr), \\
          u_{k+1} &= u_k + D x_{k+1} - z_{k+1},

the second line the group soft threshold, the prox of :math:`\tfrac\lambda\rho\sum\|\cdot\|_2`.

**PnP-ADMM** (Venkatakrishnan, Bouman & Wohlberg, GlobalSIP 2013; Chan, Wang & Elgendy, IEEE
Trans. Comput. Imaging 3, 2017) replaces the prox of the prior by a denoiser :math:`\mathcal D`.
One layer, with a penalty :math:`\rho_k` of its own:

.. math:: x_{k+1} = \operatorname{prox}(v_k - u_k, \rho_k), \qquad
          v_{k+1} = \mathcal D(x_{k+1} + u_k), \qquad u_{k+1} = u_k + x_{k+1} - v_{k+1}.

With a MAP denoiser for noise variance :math:`\sigma_d^2` this is ADMM on
:math:`\tfrac12\|Hx-y\|^2 + \rho\sigma_d^2\,\phi(x)`; :math:`\rho` sets how strongly the prior
pulls. The denoiser here is a small residual CNN (DnCNN-like; Zhang, Zuo, Gu & Zhang, "Learning
deep CNN denoiser prior for image restoration", CVPR 2017), pre-trained for Gaussian denoising at
one noise level. Unrolling ``K`` layers gives a network whose parameters are the penalties
:math:`\rho_1..\rho_K` (``rho_k = exp(log_rho_k)``, positive) and the denoiser weights (shared by
all layers); it is trained end to end by backpropagation through every data step and denoiser
call on (degraded, clean) pairs. The estimate of a ``K``-layer PnP network is :math:`v_K`, the last
denoiser output; that of TV-ADMM is :math:`x_K`.

Everything is pure JAX, batched along the leading axis, jit-able, and keeps the dtype of its
inputs (float32 or float64).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

# --------------------------------------------------------------------------- blur operator


def gaussian_psf(shape, width: float, dtype=jnp.float64) -> jax.Array:
    r"""A Gaussian point-spread function :math:`h_{ij} \propto \exp(-(d_i^2 + d_j^2) / 2s^2)`
    of width ``s = width`` pixels, centred at pixel ``(0, 0)`` of the periodic grid ``shape =
    (H, W)`` (:math:`d_i = \min(i, H - i)`) and summing to 1; ``width = 0`` is the identity."""
    if width == 0:
        return jnp.zeros(shape, dtype).at[0, 0].set(1.0)
    rows, cols = shape
    di = jnp.minimum(jnp.arange(rows), rows - jnp.arange(rows)).astype(dtype)
    dj = jnp.minimum(jnp.arange(cols), cols - jnp.arange(cols)).astype(dtype)
    psf = jnp.exp(-(di[:, None] ** 2 + dj[None, :] ** 2) / (2.0 * width**2))
    return psf / jnp.sum(psf)


def transfer(psf: jax.Array) -> jax.Array:
    r"""The transfer function :math:`\hat h = \mathrm{rfft2}(h)`, ``(H, W // 2 + 1)`` complex, of a
    PSF ``(H, W)`` whose pixel ``(0, 0)`` is the centre of the blur."""
    return jnp.fft.rfft2(psf)


def _apply(x: jax.Array, symbol: jax.Array) -> jax.Array:
    """Multiply ``x`` ``(..., H, W)`` by a Fourier symbol ``(H, W // 2 + 1)``."""
    return jnp.fft.irfft2(jnp.fft.rfft2(x) * symbol, s=x.shape[-2:])


def blur(x: jax.Array, otf: jax.Array) -> jax.Array:
    r""":math:`Hx = h \circledast x` (circular), ``x``: ``(batch, H, W)``."""
    return _apply(x, otf)


def blur_adjoint(x: jax.Array, otf: jax.Array) -> jax.Array:
    r""":math:`H^\top x` (correlation with :math:`h`: the conjugate symbol)."""
    return _apply(x, jnp.conj(otf))


def degrade(clean: jax.Array, otf: jax.Array, sigma, key) -> jax.Array:
    r""":math:`y = Hx + \sigma\varepsilon`, a fresh standard normal :math:`\varepsilon` drawn
    from ``key``."""
    return blur(clean, otf) + sigma * jax.random.normal(key, clean.shape, clean.dtype)


def data_step(y: jax.Array, w: jax.Array, rho, otf: jax.Array) -> jax.Array:
    r""":math:`\arg\min_x \tfrac12\|Hx - y\|^2 + \tfrac\rho2\|x - w\|^2`, exactly: the normal
    equations :math:`(H^\top H + \rho I)x = H^\top y + \rho w` are diagonal in Fourier space.
    ``y``, ``w``: ``(batch, H, W)``; ``rho > 0`` a scalar."""
    rho = jnp.asarray(rho, y.dtype)      # a float64 rho must not promote a float32 image
    numerator = jnp.conj(otf) * jnp.fft.rfft2(y) + rho * jnp.fft.rfft2(w)
    return jnp.fft.irfft2(numerator / (jnp.abs(otf) ** 2 + rho), s=y.shape[-2:])


# --------------------------------------------------------------------------- total variation


def gradient(x: jax.Array) -> jax.Array:
    r"""Periodic forward differences :math:`Dx`: ``(batch, H, W) -> (batch, 2, H, W)``, channel 0
    along the columns (:math:`x_{i,j+1} - x_{ij}`), channel 1 along the rows."""
    return jnp.stack([jnp.roll(x, -1, axis=-1) - x, jnp.roll(x, -1, axis=-2) - x], axis=-3)


def gradient_adjoint(z: jax.Array) -> jax.Array:
    r""":math:`D^\top z` (minus the backward-difference divergence): ``(batch, 2, H, W) -> (batch,
    H, W)``."""
    across, down = z[..., 0, :, :], z[..., 1, :, :]
    return (jnp.roll(across, 1, axis=-1) - across) + (jnp.roll(down, 1, axis=-2) - down)


def difference_symbol(shape, dtype=jnp.float64) -> jax.Array:
    r"""The Fourier symbol of :math:`D^\top D` on the ``rfft2`` grid, :math:`4\sin^2(\pi k_1/H) +
    4\sin^2(\pi k_2/W)`, ``(H, W // 2 + 1)``."""
    rows, cols = shape
    k1 = jnp.arange(rows, dtype=dtype)[:, None]
    k2 = jnp.arange(cols // 2 + 1, dtype=dtype)[None, :]
    return 4.0 * jnp.sin(jnp.pi * k1 / rows) ** 2 + 4.0 * jnp.sin(jnp.pi * k2 / cols) ** 2


def _safe_norm(a: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
    """``(|a|, |a| with zeros replaced by 1)``; the second keeps gradients finite at ``a = 0``."""
    squared = jnp.sum(a**2, axis=axis, keepdims=True)
    positive = squared > 0
    safe = jnp.sqrt(jnp.where(positive, squared, 1.0))
    return jnp.where(positive, safe, 0.0), safe


def total_variation(x: jax.Array) -> jax.Array:
    r"""Isotropic :math:`\mathrm{TV}(x) = \sum_{ij}\|(Dx)_{ij}\|_2` per image, ``(batch,)``."""
    norm, _ = _safe_norm(gradient(x), axis=-3)
    return jnp.sum(norm, axis=(-3, -2, -1))


def group_soft_threshold(a: jax.Array, tau) -> jax.Array:
    r"""Per-pixel 2-vector shrinkage :math:`a_{ij}\max(1 - \tau/\|a_{ij}\|_2, 0)` of ``a``
    ``(batch, 2, H, W)``: the prox of :math:`\tau\sum_{ij}\|a_{ij}\|_2`."""
    _, safe = _safe_norm(a, axis=-3)
    return a * jnp.maximum(1.0 - tau / safe, 0.0)


def tv_objective(x, y, otf, lam) -> jax.Array:
    r""":math:`\tfrac12\|Hx - y\|^2 + \lambda\,\mathrm{TV}(x)` per image, ``(batch,)``."""
    return 0.5 * jnp.sum((blur(x, otf) - y) ** 2, axis=(-2, -1)) + lam * total_variation(x)


def tv_admm(y: jax.Array, otf: jax.Array, lam, rho, iterations: int) -> jax.Array:
    r"""``iterations`` layers of TV-ADMM (module docstring) from :math:`z_0 = u_0 = 0`;
    every iterate :math:`x_1..x_K`, ``(iterations, batch, H, W)``. ``lam``, ``rho``: positive
    scalars. The x-update's denominator :math:`|\hat h|^2 + \rho|\hat d|^2` is positive because
    the PSF sums to 1 (:math:`\hat h(0) = 1`) and :math:`|\hat d|^2 > 0` elsewhere."""
    lam, rho = jnp.asarray(lam, y.dtype), jnp.asarray(rho, y.dtype)
    denominator = jnp.abs(otf) ** 2 + rho * difference_symbol(y.shape[-2:], y.dtype)
    data = jnp.conj(otf) * jnp.fft.rfft2(y)

    def layer(carry, _):
        z, u = carry
        right = data + rho * jnp.fft.rfft2(gradient_adjoint(z - u))
        x = jnp.fft.irfft2(right / denominator, s=y.shape[-2:])
        dx = gradient(x)
        z = group_soft_threshold(dx + u, lam / rho)
        return (z, u + dx - z), x

    # z_0 = 0 makes the first layer a Tikhonov (gradient-penalty) solve; z_0 = Dy would make it
    # return y itself when denoising, a wasted layer.
    z0 = jnp.zeros(y.shape[:-2] + (2,) + y.shape[-2:], y.dtype)
    _, xs = jax.lax.scan(layer, (z0, z0), None, length=iterations)
    return xs


# --------------------------------------------------------------------------- CNN denoiser


def _circular_conv(h: jax.Array, weight: jax.Array, bias: jax.Array) -> jax.Array:
    """3x3 convolution with periodic padding (the blur is periodic too, so the image has no edge):
    ``h`` ``(batch, C_in, H, W)``, ``weight`` ``(C_out, C_in, 3, 3)``."""
    padded = jnp.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="wrap")
    out = jax.lax.conv_general_dilated(padded, weight, (1, 1), "VALID",
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out + bias[:, None, None]


class Denoiser(eqx.Module):
    r"""A residual CNN denoiser :math:`\mathcal D(x) = x - R(x)` (DnCNN-like): ``depth`` 3x3
    convolutions (1 -> ``channels`` -> ... -> 1), ReLU between them, periodic padding; the network
    :math:`R` predicts the noise. Maps ``(batch, H, W)`` to ``(batch, H, W)``, any ``H``, ``W``.

    He-normal weights; the last layer is scaled by 0.1 so that the untrained denoiser is close to
    the identity (then PnP-ADMM starts near the plain least-squares iteration, not at noise)."""

    weights: tuple
    biases: tuple

    def __init__(self, key, channels: int = 16, depth: int = 4, dtype=jnp.float64):
        if depth < 2 or channels < 1:
            raise ValueError(f"Denoiser: depth >= 2 and channels >= 1, got {depth}, {channels}")
        sizes = [1] + [channels] * (depth - 1) + [1]
        keys = jax.random.split(key, depth)
        weights = []
        for i, k in enumerate(keys):
            std = jnp.sqrt(2.0 / (9 * sizes[i])) * (0.1 if i == depth - 1 else 1.0)
            weights.append(std * jax.random.normal(k, (sizes[i + 1], sizes[i], 3, 3), dtype))
        self.weights = tuple(weights)
        self.biases = tuple(jnp.zeros(n, dtype) for n in sizes[1:])

    def residual(self, x: jax.Array) -> jax.Array:
        """The predicted noise :math:`R(x)`, ``(batch, H, W)``."""
        h = x[:, None]
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = _circular_conv(h, weight, bias)
            if i < len(self.weights) - 1:
                h = jax.nn.relu(h)
        return h[:, 0]

    def __call__(self, x: jax.Array) -> jax.Array:
        return x - self.residual(x)


def _adam_loop(loss, params, optimiser, patches, batch: int, steps: int, key):
    """``steps`` optimiser steps on ``loss(params, clean, noise_key)``, each on ``batch`` patches
    drawn at random from ``patches`` ``(n, P, P)`` and a noise key of its own. Returns ``(params,
    the loss of every step (steps,) as NumPy)``."""
    state = optimiser.init(eqx.filter(params, eqx.is_array))

    @eqx.filter_jit
    def update(params, state, step):
        # The step's keys from the step number: no array of keys to index step by step.
        pick, noise = jax.random.split(jax.random.fold_in(key, step))
        clean = patches[jax.random.randint(pick, (batch,), 0, patches.shape[0])]
        value, grads = eqx.filter_value_and_grad(loss)(params, clean, noise)
        updates, state = optimiser.update(grads, state, params)
        return eqx.apply_updates(params, updates), state, value

    losses = []
    for step in range(steps):
        params, state, value = update(params, state, jnp.asarray(step))
        losses.append(value)
    return params, np.asarray(jax.device_get(losses))


def pretrain_denoiser(denoiser: Denoiser, patches, sigma: float, steps: int, batch: int,
                      learning_rate: float, key) -> tuple[Denoiser, np.ndarray]:
    r"""Gaussian denoising: Adam on :math:`\mathbb E\,\|\mathcal D(x + \sigma\varepsilon) - x\|^2`
    (mean over pixels) for ``steps`` steps, each on ``batch`` patches drawn from ``patches``
    ``(n, P, P)`` (clean, in [0, 1]) with fresh noise. Returns the denoiser and the loss of every
    step, ``(steps,)``; the learning rate decays to a tenth along a cosine."""
    optimiser = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.1))

    def loss(denoiser, clean, key):
        noisy = clean + sigma * jax.random.normal(key, clean.shape, clean.dtype)
        return jnp.mean((denoiser(noisy) - clean) ** 2)

    return _adam_loop(loss, denoiser, optimiser, patches, batch, steps, key)


# --------------------------------------------------------------------------- PnP-ADMM


def pnp_admm(y: jax.Array, otf: jax.Array, denoiser, rhos: jax.Array) -> jax.Array:
    r"""PnP-ADMM unrolled for ``K = len(rhos)`` layers (module docstring), layer ``k`` with penalty
    ``rhos[k]``, from :math:`v_0 = y`, :math:`u_0 = 0`; every denoiser output :math:`v_1..v_K`,
    ``(K, batch, H, W)``. ``denoiser``: any callable ``(batch, H, W) -> (batch, H, W)``."""

    def layer(carry, rho):
        v, u = carry
        x = data_step(y, v - u, rho, otf)
        v = denoiser(x + u)
        return (v, u + x - v), v

    # Unrolled in the compiled program too: XLA's CPU backend runs the convolutions (and their
    # transposes) of a rolled loop about 5x slower than those of straight-line code.
    _, vs = jax.lax.scan(layer, (y, jnp.zeros_like(y)), jnp.asarray(rhos, y.dtype), unroll=True)
    return vs


class UnrolledPnP(eqx.Module):
    r"""The unrolled PnP-ADMM network: ``K`` penalties :math:`\rho_k = \exp(\texttt{log\_rho}_k)`
    and one denoiser shared by the layers. ``__call__(y, otf)`` is :math:`v_K`, ``(batch, H, W)``;
    :meth:`iterates` all of :math:`v_1..v_K`."""

    log_rho: jax.Array
    denoiser: Denoiser

    def iterates(self, y, otf):
        return pnp_admm(y, otf, self.denoiser, jnp.exp(self.log_rho))

    def __call__(self, y, otf):
        return self.iterates(y, otf)[-1]


def train_unrolled(model: UnrolledPnP, patches, otf, sigma: float, steps: int, batch: int,
                   learning_rate: float, rho_learning_rate: float,
                   key) -> tuple[UnrolledPnP, np.ndarray]:
    r"""End-to-end training of the unrolled network: Adam on the mean squared error
    :math:`\|v_K(Hx + \sigma\varepsilon) - x\|^2` (mean over pixels) over clean ``patches`` ``(n, P,
    P)`` degraded afresh at every step with the transfer function ``otf`` ``(P, P // 2 + 1)``.
    ``log_rho`` gets a learning rate of its own (it is a log, O(1) per unit; the weights are
    O(0.1)). Returns the model and the loss of every step, ``(steps,)``."""
    labels = UnrolledPnP(log_rho="rho", denoiser=jax.tree.map(lambda _: "net", model.denoiser))
    schedule = optax.cosine_decay_schedule(1.0, steps, alpha=0.1)
    optimiser = optax.multi_transform(
        {"rho": optax.adam(lambda i: rho_learning_rate * schedule(i)),
         "net": optax.adam(lambda i: learning_rate * schedule(i))},
        lambda _: labels)        # a function: the model is callable and would be taken as one

    def loss(model, clean, key):
        return jnp.mean((model(degrade(clean, otf, sigma, key), otf) - clean) ** 2)

    return _adam_loop(loss, model, optimiser, patches, batch, steps, key)


# --------------------------------------------------------------------------- tuning and metrics


def psnr(estimate: jax.Array, clean: jax.Array) -> jax.Array:
    r"""Peak signal-to-noise ratio in dB for images in [0, 1] (peak 1), :math:`-10\log_{10}
    \mathrm{MSE}`, per image: ``(..., H, W) -> (...)``. Not clipped to [0, 1]."""
    return -10.0 * jnp.log10(jnp.mean((estimate - clean) ** 2, axis=(-2, -1)))


def tune_tv(y, clean, otf, lams, rhos, iterations: int) -> tuple[float, float, np.ndarray]:
    r"""Grid search of TV-ADMM's :math:`(\lambda, \rho)` for the mean PSNR of :math:`x_K` on
    ``(y, clean)`` ``(batch, H, W)``. Returns ``(lam, rho, mean PSNR (len(lams), len(rhos)))``."""
    run = jax.jit(lambda lam, rho: jnp.mean(psnr(tv_admm(y, otf, lam, rho, iterations)[-1],
                                                 clean)))
    grid = np.array([[float(run(lam, rho)) for rho in rhos] for lam in lams])
    i, j = np.unravel_index(np.nanargmax(grid), grid.shape)
    return float(lams[i]), float(rhos[j]), grid


def tune_rho(y, clean, otf, denoiser, rhos, iterations: int) -> tuple[float, np.ndarray]:
    r"""Grid search of one penalty :math:`\rho` shared by all ``iterations`` PnP-ADMM layers with a
    fixed denoiser, for the mean PSNR of :math:`v_K`. Returns ``(rho, mean PSNR (len(rhos),))``."""
    run = eqx.filter_jit(lambda denoiser, rho: jnp.mean(psnr(
        pnp_admm(y, otf, denoiser, jnp.full(iterations, rho, y.dtype))[-1], clean)))
    grid = np.array([float(run(denoiser, np.asarray(rho, y.dtype))) for rho in rhos])
    return float(rhos[int(np.nanargmax(grid))]), grid
