r"""ADMM for imaging (experiments/sparse_recovery/admm.py) and the PnP-ADMM experiment
(experiments/pnp_admm.py): the Fourier-space operators are the matrices they claim to be, TV-ADMM
minimises its objective, the gradient of the unrolled network is the true one, and the experiment
trains and writes its files at a tiny size."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.sparse_recovery import admm


def _random(seed, shape):
    """Standard normal test data from NumPy (eager JAX would compile every small operation)."""
    return np.random.default_rng(seed).standard_normal(shape)


def test_blur_adjoint_and_data_step_solve_the_normal_equations():
    # An asymmetric PSF on a non-square grid with an odd width: a Gaussian is symmetric, so it
    # could not tell H from H^T, and an odd W checks the irfft2 size.
    rows, cols = 12, 9
    psf = np.random.default_rng(0).uniform(size=(rows, cols)) ** 4
    psf = psf / psf.sum()
    x, y, w = _random(1, (3, rows, cols)), _random(2, (3, rows, cols)), _random(3, (3, rows, cols))
    rhos = jnp.array([1e-3, 0.7, 50.0])

    @jax.jit
    def compute(psf, x, y, w, rhos):
        otf = admm.transfer(psf)
        solutions = jax.vmap(lambda rho: admm.data_step(y, w, rho, otf))(rhos)
        residuals = (admm.blur_adjoint(admm.blur(solutions, otf) - y, otf)
                     + rhos[:, None, None, None] * (solutions - w))
        rights = admm.blur_adjoint(y, otf) + rhos[:, None, None, None] * w
        return (admm.blur(x, otf), admm.blur(y, otf), admm.blur_adjoint(y, otf), residuals,
                rights)

    hx, hy, hty, residuals, rights = map(np.asarray, compute(psf, x, y, w, rhos))
    # (h * x)_ij = sum_mn h_mn x_{i-m, j-n}, periodic.
    direct = sum(psf[m, n] * np.roll(x, (m, n), axis=(1, 2))
                 for m in range(rows) for n in range(cols))
    np.testing.assert_allclose(hx, direct, rtol=0, atol=1e-13)

    # Dot-product test <Hx, y> = <x, H^T y>, and H^T is not H for this PSF.
    lhs = np.vdot(hx, y)
    assert abs(lhs - np.vdot(x, hty)) <= 1e-13 * abs(lhs)
    assert abs(np.vdot(x, hy) - lhs) > 1e-3 * abs(lhs)

    # (H^T H + rho I) x = H^T y + rho w, to round-off, for a small, a moderate and a large rho.
    for residual, right in zip(residuals, rights):
        assert np.max(np.abs(residual)) <= 1e-12 * np.max(np.abs(right))


def test_finite_differences_adjoint_and_fourier_symbol():
    x, z = _random(4, (2, 7, 10)), _random(5, (2, 2, 7, 10))

    @jax.jit
    def compute(x, z):
        via_fourier = jnp.fft.irfft2(admm.difference_symbol((7, 10)) * jnp.fft.rfft2(x),
                                     s=(7, 10))
        return (admm.gradient(x), admm.gradient_adjoint(z),
                admm.gradient_adjoint(admm.gradient(x)), via_fourier)

    dx, dtz, dtdx, via_fourier = map(np.asarray, compute(x, z))
    lhs = np.vdot(dx, z)
    assert abs(lhs - np.vdot(x, dtz)) <= 1e-13 * abs(lhs)
    np.testing.assert_allclose(dtdx, via_fourier, rtol=0, atol=1e-12)


def test_tv_admm_denoises_a_noisy_constant_to_its_mean():
    # With the identity PSF and lam large, the minimiser of 1/2|x - y|^2 + lam TV(x) is the
    # constant mean(y): TV(const) = 0 and the mean minimises the data term among constants.
    y = 0.5 + 0.1 * _random(6, (2, 8, 8))
    x = jax.jit(lambda y: admm.tv_admm(y, admm.transfer(admm.gaussian_psf((8, 8), 0.0)), 5.0,
                                       1.0, 400)[-1])(y)
    mean = np.mean(y, axis=(1, 2), keepdims=True)
    assert np.max(np.abs(np.asarray(x) - mean)) < 1e-8
    assert np.max(np.abs(y - mean)) > 0.1


def test_tv_admm_denoising_matches_chambolles_dual_projection():
    # An independent solver of the same problem, min 1/2|x - y|^2 + lam TV(x) (Chambolle, J. Math.
    # Imaging Vis. 20, 2004): projected gradient on the dual, max over |p_ij|_2 <= 1 of
    # -1/2|y - lam D^T p|^2, x = y - lam D^T p. The per-pixel disc, not a box: an anisotropic TV
    # (a per-component soft threshold in TV-ADMM) lands 0.1 away.
    rng = np.random.default_rng(9)
    clean = np.zeros((1, 12, 12))
    clean[:, 3:9, 2:7] = 1.0
    clean[:, 6:11, 5:10] += 0.5
    y = clean + 0.1 * rng.standard_normal(clean.shape)
    lam = 0.15

    @jax.jit
    def compute(y):
        def step(p, _):
            # Step 1/L with L = lam^2 |D|^2 <= 8 lam^2.
            p = p + admm.gradient(y - lam * admm.gradient_adjoint(p)) / (8 * lam)
            return p / jnp.maximum(1.0, jnp.sqrt(jnp.sum(p**2, axis=-3, keepdims=True))), None

        p = jax.lax.scan(step, jnp.zeros((1, 2, 12, 12)), None, length=50_000)[0]
        otf = admm.transfer(admm.gaussian_psf((12, 12), 0.0))
        return y - lam * admm.gradient_adjoint(p), admm.tv_admm(y, otf, lam, 1.0, 2000)[-1]

    reference, x = map(np.asarray, compute(y))
    np.testing.assert_allclose(x, reference, rtol=0, atol=1e-4)


def test_tv_admm_decreases_the_objective_to_the_minimiser_independent_of_rho():
    # A blurred, noisy piecewise-constant image (a bright rectangle). The Gaussian's transfer
    # function is positive, so the objective is strictly convex: one minimiser, which runs with
    # different penalties must both approach (a mild blur: ADMM's rate falls with min |h^|).
    clean = np.zeros((1, 16, 16))
    clean[:, 4:11, 5:13] = 1.0
    lam = 0.05

    @jax.jit
    def compute(clean):
        otf = admm.transfer(admm.gaussian_psf((16, 16), 0.7))
        y = admm.degrade(clean, otf, 0.05, jax.random.PRNGKey(7))
        xs = admm.tv_admm(y, otf, lam, 0.3, 2000)
        other = admm.tv_admm(y, otf, lam, 1.0, 2000)[-1]
        objective = admm.tv_objective(xs, y, otf, lam)[:, 0]           # (iterations,)
        return (y, xs[-1], other, objective, admm.tv_objective(other, y, otf, lam)[0],
                admm.tv_objective(y, y, otf, lam)[0])

    y, last, other, objective, other_objective, start = map(np.asarray, compute(clean))
    np.testing.assert_allclose(last, other, rtol=0, atol=1e-4)
    best = min(objective[-1], other_objective)
    gaps = objective[[0, 9, 99, 999]] - best
    # (Not at every layer: ADMM is not a descent method in the objective.)
    assert objective[-1] < 0.9 * start
    assert np.all(gaps >= -1e-9) and np.all(np.diff(gaps) < 0) and gaps[-1] < 1e-4 * best
    assert float(admm.psnr(last, clean)[0]) > float(admm.psnr(y, clean)[0]) + 3.0


def test_unrolled_pnp_gradient_matches_central_differences():
    rng = np.random.default_rng(8)
    clean, noise = rng.uniform(size=(2, 8, 8)), 0.05 * rng.standard_normal((2, 8, 8))
    denoiser = eqx.filter_jit(lambda key: admm.Denoiser(key, 4, 3, jnp.float64))(
        jax.random.PRNGKey(8))
    # A last layer of full size, so that the denoiser is far from the identity.
    denoiser = eqx.tree_at(lambda d: d.weights[-1], denoiser, 10.0 * denoiser.weights[-1])
    model = admm.UnrolledPnP(jnp.log(jnp.array([0.2, 0.5, 1.3])), denoiser)

    @eqx.filter_jit
    @eqx.filter_value_and_grad
    def loss(model):
        otf = admm.transfer(admm.gaussian_psf((8, 8), 1.0))
        y = admm.blur(clean, otf) + noise
        return jnp.mean((model(y, otf) - clean) ** 2)

    _, grads = loss(model)            # one compiled program gives the gradient and every value

    def largest(where):
        """The entry of a weight array with the largest gradient (a live, not a dead, ReLU)."""
        g = np.abs(np.asarray(where(grads)))
        return where, np.unravel_index(np.argmax(g), g.shape)

    def value(where, index, step):
        array = np.array(where(model))
        array[index] += step
        return float(loss(eqx.tree_at(where, model, jnp.asarray(array)))[0])

    probes = [(lambda m: m.log_rho, (i,)) for i in range(3)]
    probes += [largest(lambda m: m.denoiser.weights[1]), largest(lambda m: m.denoiser.biases[0])]
    h = 1e-6
    for where, index in probes:
        numeric = (value(where, index, h) - value(where, index, -h)) / (2 * h)
        analytic = float(where(grads)[index])
        assert abs(analytic) > 1e-8                      # a probe that the loss depends on
        assert abs(analytic - numeric) <= 1e-6 * abs(analytic), (index, analytic, numeric)


def test_experiment_trains_and_writes_its_files(tmp_path):
    pytest.importorskip("skimage")
    import xarray as xr

    from experiments import pnp_admm

    args = pnp_admm.parse_args([
        "--scale", "4", "--test-size", "32", "--patch", "16", "--patches", "64",
        "--tune-patches", "8", "--tune-size", "16", "--pretrain-steps", "20",
        "--pretrain-batch", "4", "--train-steps", "20", "--train-batch", "4", "--channels", "4",
        "--depth", "2", "--iterations", "2", "--out", str(tmp_path)])
    result = pnp_admm.run(args)
    # End-to-end training starts from the tuned pre-trained network and must not make it worse
    # on the training patches; TV-ADMM must beat the degraded input.
    assert result["tune_mse"]["unrolled"] < result["tune_mse"]["pnp"]
    assert np.mean(result["psnr"]["tv"]) > np.mean(result["psnr_input"])
    assert np.all(np.isfinite(result["train_loss"])) and result["rho_trained"].shape == (2,)
    pnp_admm.save(result, args)
    for name in ("pnp_admm.png", "pnp_admm.nc", "pnp_admm.txt"):
        assert (tmp_path / name).stat().st_size > 0
    with xr.open_dataset(tmp_path / "pnp_admm.nc", engine="h5netcdf") as saved:
        assert saved["psnr"].attrs["units"] == "dB"
        assert saved["psnr_layer"].shape == (5, 2)     # 3 methods, 2 oracles; 2 layers
        np.testing.assert_allclose(saved["psnr"].sel(estimate="unrolled"),
                                   result["psnr"]["unrolled"])
    with pytest.raises(SystemExit):
        pnp_admm.parse_args(["--iterations", "0"])
