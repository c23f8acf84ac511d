r"""Plug-and-play ADMM with a CNN denoiser, unrolled and trained end to end, against TV-ADMM.

Deblurring (``--task deblur``: a Gaussian PSF of width ``--psf-width`` pixels, circular, and white
noise of standard deviation ``--noise``) or denoising (``--task denoise``) of grayscale images in
[0, 1], each method an ADMM run for the same number ``K`` of iterations (``--iterations``), each
iteration a layer (the algorithms and their maths: :mod:`experiments.sparse_recovery.admm`):

* ``tv``: TV-ADMM for :math:`\tfrac12\|Hx - y\|^2 + \lambda\,\mathrm{TV}(x)`, with
  :math:`(\lambda, \rho)` chosen by a grid search;
* ``pnp``: PnP-ADMM with a small residual CNN denoiser pre-trained for Gaussian denoising at
  ``--denoiser-sigma`` (``--pretrain-steps`` Adam steps on random patches) and plugged in as it is,
  one :math:`\rho` for every layer chosen by a grid search;
* ``unrolled``: the same network unrolled for ``K`` layers, per-layer penalties :math:`\rho_k`
  and the denoiser weights trained end to end (``--train-steps`` Adam steps on the mean squared
  error of the last layer's output), started from ``pnp``.

The grid searches maximise the mean PSNR on ``--tune-patches`` crops of ``--tune-size`` pixels of
the training images (degraded the same way). As a reference, not a method, ``tv`` and ``pnp`` are
also run with the values of the same grids that are best on the test images themselves
(``tv_oracle``, ``pnp_oracle``): what the baselines could reach if tuning transferred perfectly.

Training patches (``--patch`` pixels square, random flips and quarter turns) come from the
scikit-image sample images astronaut, chelsea, coffee, rocket, clock, brick, page, moon and
text (colour ones converted to gray); the methods are compared on the held-out camera and coins,
each downscaled by ``--scale`` and centre-cropped to ``--test-size`` pixels (the images are bundled
with scikit-image; nothing is downloaded). Reported: the mean PSNR (dB, peak 1) over the test
images of the degraded input and of every method, per layer, and the time of each training
phase. The CNN runs in ``--dtype`` (float32 by default: XLA's CPU convolutions are an order of
magnitude slower in float64; the tests check the gradients in float64). Output under ``--out``:
``pnp_admm.txt``, ``pnp_admm.nc``, ``pnp_admm.png``. Run as ``calib pnp-admm`` or ``python
experiments/pnp_admm.py``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from experiments._figures import enable_x64, finish, two_panels

# Photographs, a texture, documents and a surface; not grass and gravel, whose noise-like texture
# dominated the training loss and made the learned prior worse on the test photographs.
TRAIN_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "clock", "brick", "page", "moon",
                "text")
TEST_IMAGES = ("camera", "coins")
METHODS = ("tv", "pnp", "unrolled")
# The two baselines once more with their parameters tuned on the test images themselves: an upper
# bound on what tuning could give them, to tell a better prior from a better choice of lam and rho.
ORACLES = ("tv_oracle", "pnp_oracle")
LABELS = {"input": "degraded input", "tv": "TV-ADMM (tuned)",
          "pnp": "PnP-ADMM, pre-trained denoiser", "unrolled": "PnP-ADMM unrolled, trained",
          "tv_oracle": "TV-ADMM, oracle lam, rho", "pnp_oracle": "PnP pre-trained, oracle rho"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib pnp-admm", description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("deblur", "denoise"), default="deblur")
    parser.add_argument("--psf-width", type=float, default=1.6,
                        help="std of the Gaussian PSF in pixels, deblur only (default 1.6)")
    parser.add_argument("--noise", type=float, default=None,
                        help="noise std (default 0.02 for deblur, 0.1 for denoise)")
    parser.add_argument("--denoiser-sigma", type=float, default=None,
                        help="noise std the denoiser is pre-trained for (default: 2.5 x --noise "
                             "for deblur, --noise for denoise)")
    parser.add_argument("--iterations", type=int, default=8, help="ADMM layers K (default 8)")
    parser.add_argument("--channels", type=int, default=16, help="CNN width (default 16)")
    parser.add_argument("--depth", type=int, default=4, help="CNN conv layers (default 4)")
    parser.add_argument("--patch", type=int, default=32, help="training patch size (default 32)")
    parser.add_argument("--patches", type=int, default=2000,
                        help="training patches drawn from the training images (default 2000)")
    parser.add_argument("--tune-patches", type=int, default=16,
                        help="crops of the training images for the grid searches (default 16)")
    parser.add_argument("--tune-size", type=int, default=80,
                        help="side of those crops (default 80: nearer the test images than the "
                             "training patches)")
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--pretrain-batch", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam rate of the pre-training (default 1e-3)")
    parser.add_argument("--unrolled-learning-rate", type=float, default=1e-3,
                        help="Adam rate of the denoiser weights in end-to-end training "
                             "(default 1e-3)")
    parser.add_argument("--rho-learning-rate", type=float, default=3e-2,
                        help="Adam rate of log rho_k in end-to-end training (default 3e-2)")
    parser.add_argument("--scale", type=int, default=2,
                        help="integer downscaling of every image (default 2)")
    parser.add_argument("--test-size", type=int, default=128,
                        help="side of the centre crop of each test image (default 128)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/pnp_admm"))
    args = parser.parse_args(argv)
    if args.noise is None:
        args.noise = 0.02 if args.task == "deblur" else 0.1
    if args.denoiser_sigma is None:
        args.denoiser_sigma = 2.5 * args.noise if args.task == "deblur" else args.noise
    if args.noise <= 0 or args.denoiser_sigma <= 0 or args.psf_width < 0:
        parser.error("--noise and --denoiser-sigma must be positive, --psf-width non-negative")
    if args.iterations < 1 or args.channels < 1 or args.depth < 2 or args.scale < 1:
        parser.error("--iterations >= 1, --channels >= 1, --depth >= 2 and --scale >= 1")
    if min(args.patch, args.test_size, args.tune_size) < 4:
        parser.error("--patch, --tune-size and --test-size must be at least 4")
    if args.patches < 1 or args.tune_patches < 1:
        parser.error("--patches and --tune-patches must be positive")
    if min(args.pretrain_steps, args.pretrain_batch, args.train_steps, args.train_batch) < 1:
        parser.error("the step counts and batch sizes must be positive")
    return args


def _jax():
    return enable_x64()


def gray_image(name: str, scale: int) -> np.ndarray:
    """A scikit-image sample image in gray, float64 in [0, 1], block-averaged by ``scale``."""
    try:
        import skimage.data
        from skimage.color import rgb2gray
        from skimage.transform import downscale_local_mean
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit("pnp-admm needs scikit-image (its bundled sample images): pip install "
                         "scikit-image") from error
    image = np.asarray(getattr(skimage.data, name)())
    image = rgb2gray(image[..., :3]) if image.ndim == 3 else image / 255.0
    return downscale_local_mean(image, (scale, scale)) if scale > 1 else image


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` pixels (the whole image side if it is smaller)."""
    rows, cols = image.shape
    size_r, size_c = min(size, rows), min(size, cols)
    top, left = (rows - size_r) // 2, (cols - size_c) // 2
    return image[top:top + size_r, left:left + size_c]


def random_patches(images, count: int, size: int, rng) -> np.ndarray:
    """``count`` random ``size`` x ``size`` crops ``(count, size, size)``, images chosen uniformly,
    each flipped and turned by a random quarter turn (the prior is isotropic)."""
    out = np.empty((count, size, size))
    for n in range(count):
        image = images[rng.integers(len(images))]
        i, j = rng.integers(image.shape[0] - size + 1), rng.integers(image.shape[1] - size + 1)
        patch = np.rot90(image[i:i + size, j:j + size], rng.integers(4))
        out[n] = patch[:, ::-1] if rng.integers(2) else patch
    return out


def data(args) -> dict:
    """Training patches, the grid-search pairs and the test images, as arrays of ``args.dtype``."""
    import jax.numpy as jnp

    rng = np.random.default_rng(args.seed)
    train = [gray_image(name, args.scale) for name in TRAIN_IMAGES]
    test = np.stack([centre_crop(gray_image(name, args.scale), args.test_size)
                     for name in TEST_IMAGES])
    if test.shape[1] != test.shape[2]:
        raise SystemExit(f"--test-size {args.test_size} is larger than a test image")
    patches = random_patches(train, args.patches, args.patch, rng)
    if min(min(image.shape) for image in train) < max(args.patch, args.tune_size):
        raise SystemExit("--patch or --tune-size is larger than a training image")
    tune = random_patches(train, args.tune_patches, args.tune_size, rng)
    return {name: jnp.asarray(value, args.dtype) for name, value in
            (("patches", patches), ("tune", tune), ("test", test))}


def operators(args, dtype):
    """Transfer functions ``(training patch, grid-search crop, test image)``: the same PSF on the
    three grid sizes."""
    jax = _jax()

    from experiments.sparse_recovery import admm

    width = args.psf_width if args.task == "deblur" else 0.0
    # One compiled program (eagerly, every small array operation would compile on its own).
    return jax.jit(lambda: tuple(admm.transfer(admm.gaussian_psf((n, n), width, dtype))
                                 for n in (args.patch, args.tune_size, args.test_size)))()


def grids(args):
    """The grid-search values: TV's lam and rho, PnP's rho (all relative to the data term
    ``1/2 |Hx - y|^2``; ``rho ~ noise^2 / denoiser-sigma^2`` for PnP)."""
    rho_centre = args.noise**2 / args.denoiser_sigma**2
    return {"tv_lam": args.noise * np.geomspace(0.03, 3.0, 9),
            "tv_rho": np.geomspace(0.001, 3.0, 8),
            "pnp_rho": rho_centre * np.geomspace(0.1, 10.0, 11)}


def evaluate(y, clean, otf, tv_settings: dict, models: dict, iterations: int) -> dict:
    """Every method on ``y`` ``(batch, H, W)`` in one compiled program: per method the iterates
    ``(K, batch, H, W)`` (as NumPy). ``tv_settings``: name -> ``(lam, rho)``; ``models``: name ->
    :class:`UnrolledPnP`."""
    import equinox as eqx

    from experiments.sparse_recovery import admm

    @eqx.filter_jit
    def run_all(y, otf, models):
        out = {name: admm.tv_admm(y, otf, lam, rho, iterations)
               for name, (lam, rho) in tv_settings.items()}
        return out | {name: model.iterates(y, otf) for name, model in models.items()}

    return {name: np.asarray(x) for name, x in run_all(y, otf, models).items()}


def _psnr(estimate, clean) -> np.ndarray:
    """PSNR in dB over the last two axes, in NumPy (admm.psnr)."""
    return -10.0 * np.log10(np.mean((estimate - clean) ** 2, axis=(-2, -1)))


def run(args) -> dict:
    """The whole experiment: pre-train, tune, train end to end, evaluate. A dict of results."""
    jax = _jax()
    import equinox as eqx
    import jax.numpy as jnp

    from experiments.sparse_recovery import admm

    arrays = data(args)
    dtype = arrays["test"].dtype
    otf_patch, otf_tune, otf_test = operators(args, dtype)
    key = jax.random.PRNGKey(args.seed)
    k_init, k_pre, k_tune, k_train, k_test = jax.random.split(key, 5)
    y_tune, y_test = jax.jit(lambda tune, test: (
        admm.degrade(tune, otf_tune, args.noise, k_tune),
        admm.degrade(test, otf_test, args.noise, k_test)))(arrays["tune"], arrays["test"])
    clean, values, times = arrays["test"], grids(args), {}

    started = time.perf_counter()
    denoiser = eqx.filter_jit(lambda key: admm.Denoiser(key, args.channels, args.depth, dtype))(
        k_init)
    denoiser, pretrain_loss = admm.pretrain_denoiser(
        denoiser, arrays["patches"], args.denoiser_sigma, args.pretrain_steps,
        args.pretrain_batch, args.learning_rate, k_pre)
    times["pretrain_s"] = time.perf_counter() - started

    started = time.perf_counter()
    lam, tv_rho, tv_grid = admm.tune_tv(y_tune, arrays["tune"], otf_tune, values["tv_lam"],
                                        values["tv_rho"], args.iterations)
    pnp_rho, pnp_grid = admm.tune_rho(y_tune, arrays["tune"], otf_tune, denoiser,
                                      values["pnp_rho"], args.iterations)
    times["tune_s"] = time.perf_counter() - started

    def constant(rho):
        return admm.UnrolledPnP(jnp.full(args.iterations, np.log(rho), dtype), denoiser)

    model = constant(pnp_rho)
    started = time.perf_counter()
    trained, train_loss = admm.train_unrolled(
        model, arrays["patches"], otf_patch, args.noise, args.train_steps, args.train_batch,
        args.unrolled_learning_rate, args.rho_learning_rate, k_train)
    times["train_s"] = time.perf_counter() - started

    oracle = admm.tune_tv(y_test, clean, otf_test, values["tv_lam"], values["tv_rho"],
                          args.iterations)[:2]
    pnp_rho_oracle = admm.tune_rho(y_test, clean, otf_test, denoiser, values["pnp_rho"],
                                   args.iterations)[0]
    iterates = evaluate(y_test, clean, otf_test, {"tv": (lam, tv_rho), "tv_oracle": oracle},
                        {"pnp": model, "unrolled": trained, "pnp_oracle": constant(pnp_rho_oracle)},
                        args.iterations)
    on_tune = evaluate(y_tune, arrays["tune"], otf_tune, {}, {"pnp": model, "unrolled": trained},
                       args.iterations)
    clean, tune_clean = np.asarray(clean), np.asarray(arrays["tune"])
    return {"clean": clean, "degraded": np.asarray(y_test),
            "estimates": {m: x[-1] for m, x in iterates.items()},
            "psnr_input": _psnr(np.asarray(y_test), clean),
            "psnr": {m: _psnr(x[-1], clean) for m, x in iterates.items()},
            "psnr_layer": {m: np.mean(_psnr(x, clean), axis=1) for m, x in iterates.items()},
            "lam": lam, "tv_rho": tv_rho, "pnp_rho": pnp_rho, "grids": values,
            "oracle": {"tv_lam": oracle[0], "tv_rho": oracle[1], "pnp_rho": pnp_rho_oracle},
            "tv_grid": np.asarray(tv_grid), "pnp_grid": np.asarray(pnp_grid),
            "rho_trained": np.asarray(jnp.exp(trained.log_rho)),
            "pretrain_loss": np.asarray(pretrain_loss), "train_loss": np.asarray(train_loss),
            "tune_mse": {m: float(np.mean((x[-1] - tune_clean) ** 2)) for m, x in on_tune.items()},
            "times": times}


def table(result, args) -> str:
    task = (f"deblurring (Gaussian PSF, width {args.psf_width:g} px)" if args.task == "deblur"
            else "denoising")
    lines = [f"PnP-ADMM vs TV-ADMM: {task}, noise sigma {args.noise:g}, K = {args.iterations} "
             f"layers; test images {', '.join(TEST_IMAGES)} ({args.test_size} px, 1/{args.scale} "
             f"scale); CNN {args.depth} conv x {args.channels} channels, pre-trained at sigma "
             f"{args.denoiser_sigma:g}",
             f"  {'method':<34} {'PSNR dB':>8} " + " ".join(f"{n:>8}" for n in TEST_IMAGES)
             + f" {'train MSE':>10}"]
    rows = [("input", result["psnr_input"], None)]
    rows += [(m, result["psnr"][m], result["tune_mse"].get(m)) for m in METHODS]
    rows += [(m, result["psnr"][m], None) for m in ORACLES]
    for name, values, mse in rows:
        if name == ORACLES[0]:
            lines.append("  reference, tuned on the test images themselves:")
        mse_text = f"{mse:>10.2e}" if mse is not None else f"{'':>10}"
        lines.append(f"  {LABELS[name]:<34} {np.mean(values):>8.2f} "
                     + " ".join(f"{v:>8.2f}" for v in values) + f" {mse_text}")
    times, oracle = result["times"], result["oracle"]
    rho = ", ".join(f"{r:.3g}" for r in result["rho_trained"])
    lines += [f"  TV tuned: lam = {result['lam']:.3g}, rho = {result['tv_rho']:.3g}; PnP tuned "
              f"rho = {result['pnp_rho']:.3g}; trained rho_k = {rho}; oracle: lam = "
              f"{oracle['tv_lam']:.3g}, rho = {oracle['tv_rho']:.3g}, PnP rho = "
              f"{oracle['pnp_rho']:.3g}",
              f"  pre-training {args.pretrain_steps} steps: {times['pretrain_s']:.1f} s; grid "
              f"searches: {times['tune_s']:.1f} s; end-to-end training {args.train_steps} steps "
              f"(batch {args.train_batch}): {times['train_s']:.1f} s",
              "  PSNR: mean over the test images of -10 log10 MSE (peak 1, no clipping); train "
              f"MSE: on the {args.tune_patches} grid-search crops ({args.tune_size} px)"]
    return "\n".join(lines)


def _montage_axes(fig, right, rows: int, cols: int):
    """Replace the right panel by a ``rows`` x ``cols`` grid of axes in its place."""
    grid = right.get_subplotspec().subgridspec(rows, cols, wspace=0.05, hspace=0.25)
    right.remove()
    return [fig.add_subplot(grid[i, j]) for i in range(rows) for j in range(cols)]


def save(result, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out, height=4.8)
    layers = np.arange(args.iterations + 1)
    start = np.mean(result["psnr_input"])
    for method, style in zip(METHODS, ("s-", "^-", "o-")):
        left.plot(layers, np.concatenate([[start], result["psnr_layer"][method]]), style, ms=4,
                  label=LABELS[method])
    for method, colour in zip(ORACLES, ("C0", "C1")):
        left.plot(layers, np.concatenate([[start], result["psnr_layer"][method]]), "--",
                  color=colour, lw=1, label=LABELS[method] + " (tuned on test)")
    left.axhline(start, color="grey", lw=0.8, ls=":", label=LABELS["input"])
    left.set_xlabel("ADMM iteration (layer) k")
    left.set_ylabel(f"mean PSNR on {', '.join(TEST_IMAGES)} (dB)")
    left.legend(loc="lower right")
    left.grid(alpha=0.3)
    axes = _montage_axes(fig, right, 2, 3)
    size = min(64, args.test_size)
    top = (args.test_size - size) // 4     # a crop above the centre: the camera and the face
    window = (slice(top, top + size), slice((args.test_size - size) // 2,
                                             (args.test_size + size) // 2))
    crops = [("clean", result["clean"], None), ("degraded", result["degraded"],
                                                 result["psnr_input"])]
    crops += [(m, result["estimates"][m], result["psnr"][m]) for m in METHODS]
    names = {"clean": "clean", "degraded": "degraded", "tv": "TV", "pnp": "PnP pre-trained",
             "unrolled": "PnP trained"}
    for axis, (name, images, values) in zip(axes, crops):
        axis.imshow(images[0][window], cmap="gray", vmin=0, vmax=1)
        axis.set_title(names[name] if values is None else f"{names[name]} {values[0]:.2f} dB",
                       fontsize=8)
        axis.set_axis_off()
    last = axes[-1]
    last.plot(np.arange(1, args.iterations + 1), result["rho_trained"], "o-", ms=3,
                  color="C2", label="trained")
    last.axhline(result["pnp_rho"], color="C1", ls="--", label="grid search")
    last.set_title(r"penalty $\rho_k$ per layer k", fontsize=8)
    last.set_ylim(bottom=0)
    last.tick_params(labelsize=7)
    last.yaxis.tick_right()               # clear of the image to its left
    last.legend(fontsize=7)
    finish(plt, fig, out / "pnp_admm.png",
           f"PnP-ADMM unrolled vs TV-ADMM, {args.task}, K = {args.iterations} (crops of "
           f"{TEST_IMAGES[0]})")

    grid = result["grids"]
    solvers = METHODS + ORACLES
    dataset = xr.Dataset(
        {"psnr": (("estimate", "image"), np.stack([result["psnr_input"]]
                                                + [result["psnr"][m] for m in solvers])),
         "psnr_layer": (("solver", "layer"), np.stack([result["psnr_layer"][m]
                                                       for m in solvers])),
         "rho_trained": ("layer", result["rho_trained"]),
         "tv_grid_psnr": (("tv_lam", "tv_rho"), result["tv_grid"]),
         "pnp_grid_psnr": ("pnp_rho", result["pnp_grid"]),
         "pretrain_loss": ("pretrain_step", result["pretrain_loss"]),
         "train_loss": ("train_step", result["train_loss"])},
        coords={"estimate": ["input", *solvers], "solver": list(solvers),
                "image": list(TEST_IMAGES), "layer": np.arange(1, args.iterations + 1),
                "tv_lam": grid["tv_lam"], "tv_rho": grid["tv_rho"], "pnp_rho": grid["pnp_rho"],
                "pretrain_step": np.arange(1, args.pretrain_steps + 1),
                "train_step": np.arange(1, args.train_steps + 1)},
        attrs={"task": args.task, "noise": args.noise, "psf_width_px": args.psf_width,
               "denoiser_sigma": args.denoiser_sigma, "tv_lam": result["lam"],
               "tv_rho": result["tv_rho"], "pnp_rho": result["pnp_rho"],
               **{f"oracle_{k}": v for k, v in result["oracle"].items()},
               **{k: v for k, v in result["times"].items()}})
    for name in ("psnr", "psnr_layer", "tv_grid_psnr", "pnp_grid_psnr"):
        dataset[name].attrs["units"] = "dB"
    for name in ("pretrain_loss", "train_loss"):
        dataset[name].attrs["units"] = "1 (mean squared error of intensities in [0, 1])"
    dataset["rho_trained"].attrs["units"] = "1 (relative to the data term 1/2 |Hx - y|^2)"
    dataset.to_netcdf(out / "pnp_admm.nc", engine="h5netcdf")
    (out / "pnp_admm.txt").write_text(table(result, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"  ... pre-training the denoiser, tuning, and training {args.iterations} unrolled "
          "layers end to end", flush=True)
    result = run(args)
    print(table(result, args))
    save(result, args)
    print(f"  written to {args.out}: pnp_admm.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
