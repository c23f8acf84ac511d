r"""AMP against its state evolution, and ISTA against the same prediction, as n grows.

For each signal length ``n`` in ``--sizes`` (``m = delta n`` measurements, Gaussian :math:`A`
with entries :math:`\mathcal N(0, 1/m)`, Bernoulli–Gaussian :math:`x` with sparsity ``--sparsity``,
white noise at ``--snr-db``), ``--trials`` independent problems are solved by AMP with the
Onsager term and thresholds :math:`\tau_t = \alpha\|z^t\|/\sqrt m` (:math:`\alpha` the
state-evolution optimum unless ``--alpha`` is given), and by ISTA (step :math:`1/L`) on the lasso
whose solution is AMP's fixed point (:math:`\lambda = \tau_\infty(1 - \|x_\infty\|_0/m)`).
Each per-iteration MSE :math:`\|x^t - x\|^2/n` is compared with the state-evolution prediction
(:mod:`experiments.sparse_recovery.amp`, closed form).

Reported: per ``n``, the mean over iterations 1..T of the relative gap
:math:`|\overline{\mathrm{MSE}}_t - \mathrm{SE}_t|/\mathrm{SE}_t` of the MSE averaged over the
trials, for AMP and for ISTA, the spread of single trials about the prediction (which shrinks
about as :math:`n^{-1/2}`, the fluctuation of an average of n terms), and the fitted exponent of
AMP's gap against ``n``; ISTA's gap does not shrink, because without the Onsager term the pseudo-data is not
:math:`x + \sigma_t Z`. The MSE of the lasso solution checks
that AMP's fixed point (after ``--fixed-point-iterations``) is that solution, solved by
:func:`experiments.sparse_recovery.proximal.lasso` (``calib.fixed_point``): ISTA heads there too,
only not along the predicted path. Output under ``--out``: ``amp.txt``,
``amp.nc``, ``amp.png``. Run as ``calib amp`` or ``python experiments/amp_state_evolution.py``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from experiments._figures import enable_x64, finish, two_panels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib amp", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000],
                        help="signal lengths n (default 500 1000 2000 4000)")
    parser.add_argument("--delta", type=float, default=0.5, help="m / n (default 0.5)")
    parser.add_argument("--sparsity", type=float, default=0.1)
    parser.add_argument("--snr-db", type=float, default=40.0)
    parser.add_argument("--alpha", type=float, default=None,
                        help="threshold multiplier (default: the state-evolution optimum)")
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--fixed-point-iterations", type=int, default=200,
                        help="AMP iterations to its fixed point (default 200)")
    parser.add_argument("--trials", type=int, default=10, help="problems per n (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/amp"))
    args = parser.parse_args(argv)
    if min(args.sizes) < 10 or args.trials < 1 or args.iterations < 1 or args.fixed_point_iterations < 1:
        parser.error("--sizes must be at least 10; --trials, --iterations, --fixed-point-iterations >= 1")
    if not 0 < args.delta <= 1 or not 0 < args.sparsity < 1:
        parser.error(f"--delta must lie in (0, 1] and --sparsity in (0, 1), got {args.delta} "
                     f"and {args.sparsity}")
    if args.alpha is not None and args.alpha <= 0:
        parser.error(f"--alpha must be positive, got {args.alpha}")
    return args


def noise_variance(args) -> float:
    r""":math:`\sigma_w^2` for the SNR: :math:`\mathbb E\|Ax\|^2/m = \varepsilon/\delta`."""
    return args.sparsity / args.delta * 10.0 ** (-args.snr_db / 10.0)


def prediction(args, alpha):
    """State-evolution MSE per iteration, ``(iterations + 1,)``."""
    from experiments.sparse_recovery import amp

    _, mse = amp.state_evolution(args.iterations, delta=args.delta, sparsity=args.sparsity,
                                 alpha=alpha, noise_variance=noise_variance(args))
    return np.asarray(mse)


def _compiled(iterations: int, fixed_point_iterations: int, alpha: float):
    import jax
    import jax.numpy as jnp

    from experiments.sparse_recovery import amp, proximal

    @jax.jit
    def solve(A, x, y):
        # AMP runs on to its fixed point; the first `iterations` are the path compared with the
        # state evolution, the last gives the lasso penalty whose solution that fixed point is.
        xs, taus = amp.amp(A, y, max(iterations, fixed_point_iterations), alpha=alpha)
        # Each signal's lasso has its own lambda (a column: the thresholds broadcast per row).
        lam = amp.lasso_penalty(taus[-1], xs[-1], A.shape[0])[:, None]
        per_entry = lambda x_hat: jnp.mean((x_hat - x) ** 2, axis=-1)  # noqa: E731
        ista_errors = proximal.ista(A, y, lam, iterations, record=per_entry)
        # Started from AMP's fixed point, the lasso solve takes few steps if the calibrated
        # lambda is right, and moves away from it (to the lasso's own solution) if it is not.
        lasso = per_entry(proximal.lasso(A, y, lam, x0=xs[-1]))
        errors = per_entry(xs)
        return errors[:iterations + 1], ista_errors, lasso, errors[-1]

    return solve


def run(args) -> dict:
    jax = enable_x64()
    from experiments.sparse_recovery import amp, problems

    alpha = args.alpha if args.alpha is not None else amp.best_alpha(
        delta=args.delta, sparsity=args.sparsity, noise_variance=noise_variance(args))
    se = prediction(args, alpha)
    solve = _compiled(args.iterations, args.fixed_point_iterations, alpha)
    key = jax.random.PRNGKey(args.seed)
    result = {"alpha": alpha, "se": se, "sizes": args.sizes, "amp": [], "ista": [],
              "lasso": [], "amp_fixed_point": []}
    sigma = np.sqrt(noise_variance(args))
    for n in args.sizes:
        m = int(round(args.delta * n))
        amp_runs, ista_runs, lasso, fixed = [], [], [], []
        for _ in range(args.trials):
            key, matrix_key, signal_key, noise_key = jax.random.split(key, 4)
            A = problems.gaussian_matrix(matrix_key, m, n)
            x = problems.bernoulli_gaussian(signal_key, 1, n, args.sparsity)
            y = x @ A.T + sigma * jax.random.normal(noise_key, (1, m))
            errors, ista_errors, lasso_error, fixed_error = solve(A, x, y)
            amp_runs.append(np.asarray(errors)[:, 0])
            ista_runs.append(np.asarray(ista_errors)[:, 0])
            lasso.append(float(lasso_error[0]))
            fixed.append(float(fixed_error[0]))
        result["amp"].append(np.stack(amp_runs))
        result["ista"].append(np.stack(ista_runs))
        result["lasso"].append(np.asarray(lasso))
        result["amp_fixed_point"].append(np.asarray(fixed))
        print(f"  ... n = {n}: {args.trials} problems", flush=True)
    for name in ("amp", "ista"):
        result[f"{name}_gap"] = np.asarray([relative_gap(runs, se) for runs in result[name]])
    result["amp_spread"] = np.asarray([spread(runs, se) for runs in result["amp"]])
    result["exponent"] = float(np.polyfit(np.log(args.sizes), np.log(result["amp_gap"]), 1)[0])
    return result


def relative_gap(runs: np.ndarray, se: np.ndarray) -> float:
    """The mean over iterations 1..T of ``|mean MSE_t - SE_t| / SE_t``, the MSE averaged over the
    problems (``runs``: ``(trials, T + 1)``). State evolution predicts the expected error; one
    problem's error scatters about it, the more so the smaller its error (``spread``)."""
    return float(np.mean(np.abs(runs[:, 1:].mean(axis=0) - se[1:]) / se[1:]))


def spread(runs: np.ndarray, se: np.ndarray) -> float:
    """The mean over iterations of the problems' standard deviation about SE_t, relative."""
    return float(np.mean(runs[:, 1:].std(axis=0) / se[1:]))


def table(result, args) -> str:
    lines = [f"AMP vs state evolution: delta {args.delta:g}, sparsity {args.sparsity:g}, SNR "
             f"{args.snr_db:g} dB, alpha {result['alpha']:.3g}, {args.iterations} iterations, "
             f"{args.trials} problems per n",
             f"  {'n':>6} {'AMP gap':>9} {'spread':>7} {'ISTA gap':>9} {'ISTA/AMP':>9} "
             f"{'AMP MSE_T':>10} {'SE_T':>10} {'ISTA MSE_T':>11} {'AMP fixed pt':>12} "
             f"{'lasso MSE':>10}"]
    for i, n in enumerate(args.sizes):
        amp_gap, ista_gap = result["amp_gap"][i], result["ista_gap"][i]
        lines.append(
            f"  {n:>6} {amp_gap:>9.3f} {result['amp_spread'][i]:>7.2f} {ista_gap:>9.3f} "
            f"{ista_gap / amp_gap:>9.1f} {np.mean(result['amp'][i][:, -1]):>10.3e} "
            f"{result['se'][-1]:>10.3e} {np.mean(result['ista'][i][:, -1]):>11.3e} "
            f"{np.mean(result['amp_fixed_point'][i]):>12.3e} {np.mean(result['lasso'][i]):>10.3e}")
    lines.append(f"  AMP gap ~ n^{result['exponent']:.2f} (fitted over n); gap: mean_t |mean MSE_t - "
                 "SE_t| / SE_t, t = 1..T, the MSE averaged over the problems; spread: their "
                 "relative standard deviation about SE_t; ISTA: step 1/L on the lasso whose "
                 "solution is AMP's fixed point (lasso MSE: that solution)")
    return "\n".join(lines)


def save(result, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out)
    t = np.arange(args.iterations + 1)
    largest = len(args.sizes) - 1
    for name, colour in (("amp", "C0"), ("ista", "C3")):
        runs = result[name][largest]
        left.semilogy(t, np.mean(runs, axis=0), "o", color=colour, ms=4,
                      label=f"{name.upper()}, n = {args.sizes[largest]} (mean of {args.trials})")
        left.fill_between(t, runs.min(axis=0), runs.max(axis=0), color=colour, alpha=0.2)
    left.semilogy(t, result["se"], "k-", label="state evolution")
    left.set_xlabel("iteration t")
    left.set_ylabel("MSE per entry")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    for name, colour in (("amp", "C0"), ("ista", "C3")):
        right.loglog(args.sizes, result[f"{name}_gap"], "o-", color=colour, label=name.upper())
    right.loglog(args.sizes, result["amp_spread"], "s--", color="C0", alpha=0.6,
                 label="AMP, spread of single problems")
    sizes = np.asarray(args.sizes, float)
    reference = result["amp_spread"][0] * (sizes / sizes[0]) ** -0.5
    right.loglog(sizes, reference, "k:", label="n^-1/2")
    right.set_xlabel("n")
    right.set_ylabel("gap to state evolution (relative)")
    right.legend(fontsize=8)
    right.grid(alpha=0.3, which="both")
    finish(plt, fig, out / "amp.png", f"AMP and ISTA against state evolution "
                                      f"(delta {args.delta:g}, sparsity {args.sparsity:g})")
    dataset = xr.Dataset(
        {"amp_mse": (("n", "trial", "iteration"), np.stack(result["amp"])),
         "ista_mse": (("n", "trial", "iteration"), np.stack(result["ista"])),
         "state_evolution_mse": ("iteration", result["se"]),
         "amp_gap": ("n", result["amp_gap"]), "ista_gap": ("n", result["ista_gap"]),
         "amp_spread": ("n", result["amp_spread"]),
         "amp_fixed_point_mse": (("n", "trial"), np.stack(result["amp_fixed_point"])),
         "lasso_mse": (("n", "trial"), np.stack(result["lasso"]))},
        coords={"n": args.sizes, "trial": np.arange(args.trials),
                "iteration": np.arange(args.iterations + 1)},
        attrs={"alpha": result["alpha"], "delta": args.delta, "sparsity": args.sparsity,
               "snr_db": args.snr_db, "gap_exponent": result["exponent"]})
    dataset.to_netcdf(out / "amp.nc", engine="h5netcdf")
    (out / "amp.txt").write_text(table(result, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(table(result, args))
    save(result, args)
    print(f"  written to {args.out}: amp.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
