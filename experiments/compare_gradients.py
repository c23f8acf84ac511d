"""Implicit versus unrolled gradients on a relaxing crystal with a vacancy.

For each K in a log range this measures, against the Implicit (IFT) gradient of
L(θ) = E(x*, θ) + ½‖x* − x_ref‖², θ = (Morse D, alpha):

* the relative error of the Unrolled, Truncated, Checkpointed (K gradient-descent steps, step
  1/λ_max) and Neumann (K terms, same step) gradients,
* the median wall time of value-and-grad after a warm-up (compile time reported separately),
* the peak memory XLA plans for the compiled value-and-grad,

plus a central finite-difference check of the Implicit gradient. Writes a CSV table, a NetCDF
dataset and a PNG plot; prints the table. Run ``python experiments/compare_gradients.py --help``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

import jax
import numpy as np

METHODS = ("Unrolled", "Truncated", "Checkpointed", "Neumann")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib compare-gradients", description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=4, help="fcc conventional cells per edge (default 4: 255 atoms)")
    parser.add_argument("--rattle", type=float, default=0.05, help="random start displacement, Å (default 0.05)")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 30, 100, 300, 1000],
                        help="numbers of unrolled steps / Neumann terms (default 10 30 100 300 1000)")
    parser.add_argument("--truncate", type=int, default=20, help="Truncated: backpropagated tail T (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point after a warm-up (default 3)")
    parser.add_argument("--memory-limit-gb", type=float, default=4.0,
                        help="skip running a method whose compiled program needs more memory (default 4)")
    parser.add_argument("--fd-step", type=float, default=1e-5, help="relative finite-difference step (default 1e-5)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/compare_gradients"),
                        help="output folder (default results/compare_gradients)")
    args = parser.parse_args(argv)
    if args.cells < 4:
        parser.error(f"--cells {args.cells}: at least 4 cells are needed for the 6.5 Å Morse cutoff")
    if any(k < 1 for k in args.k) or args.truncate < 1 or args.repeats < 1:
        parser.error("--k, --truncate and --repeats must be positive")
    return args


def run(args) -> "xarray.Dataset":  # noqa: F821
    jax.config.update("jax_enable_x64", True)
    import xarray as xr

    import calib
    from experiments._measure import compile_and_time, compiled_memory
    from experiments._vacancy import vacancy_problem

    problem = vacancy_problem(cells=args.cells, rattle=args.rattle)
    theta = problem.theta
    names = sorted(theta)
    flat = lambda g: np.array([float(g[k]) for k in names])  # noqa: E731
    print(f"fcc Cu (Morse), {args.cells}^3 cells, one vacancy: {problem.n_atoms} atoms, "
          f"{3 * problem.n_atoms} degrees of freedom; theta = {names}")

    lbfgs = calib.LBFGS(tol=1e-10)
    implicit = calib.Implicit(nullspace="translations")

    def loss(th, solver, adjoint):
        return problem.loss(th, solver, adjoint)[0]

    # Reference: the implicit gradient, and its finite-difference check.
    forward = compile_and_time(lambda th: problem.loss(th, lbfgs, implicit)[1], theta, repeats=args.repeats)
    reference = compile_and_time(jax.value_and_grad(lambda th: loss(th, lbfgs, implicit)), theta,
                                 repeats=args.repeats)
    g_ref = flat(reference["value"][1])
    loss_jit = jax.jit(lambda th: loss(th, lbfgs, implicit))
    fd = []
    for k in names:
        h = args.fd_step * abs(float(theta[k]))
        up = loss_jit({**theta, k: theta[k] + h})
        down = loss_jit({**theta, k: theta[k] - h})
        fd.append(float(up - down) / (2 * h))
    fd = np.array(fd)
    fd_error = float(np.linalg.norm(g_ref - fd) / np.linalg.norm(fd))
    steps = int(forward["value"].steps)
    print(f"Implicit: {steps} L-BFGS steps; forward {forward['median_s']:.3f} s, value+grad "
          f"{reference['median_s']:.3f} s (ratio {reference['median_s'] / forward['median_s']:.2f}); "
          f"finite-difference relative error {fd_error:.2e}")

    # Unrolled baselines run gradient descent with step 1/lambda_max.
    _, lam_max = calib.stability(problem.energy, problem.x0, theta, nullspace="translations")
    step = float(0.95 / lam_max)
    ks = sorted(set(args.k))
    shape = (len(METHODS), len(ks))
    error, seconds, compile_s, memory, max_force = (np.full(shape, np.nan) for _ in range(5))
    limit = args.memory_limit_gb * 1e9
    for j, k in enumerate(ks):
        gd = calib.GradientDescent(step_size=step, max_steps=k)
        # check=False: time the bare unrolled baselines (their error is measured here directly,
        # so their own IFT-residual probe, a forward-mode pass, is not needed).
        adjoints = {
            "Unrolled": (gd, calib.Unrolled(steps=k, check=False)),
            "Truncated": (gd, calib.Truncated(steps=k, backprop=min(args.truncate, k), check=False)),
            "Checkpointed": (gd, calib.Checkpointed(steps=k, check=False)),
            "Neumann": (lbfgs, calib.Neumann(terms=k, step=step, nullspace="translations")),
        }
        for i, method in enumerate(METHODS):
            solver, adjoint = adjoints[method]
            vg = jax.value_and_grad(lambda th, s=solver, a=adjoint: loss(th, s, a))
            memory[i, j] = compiled_memory(vg, theta)
            if memory[i, j] > limit:
                print(f"  K={k:6d} {method:12s} skipped: needs {memory[i, j] / 1e9:.1f} GB "
                      f"(> --memory-limit-gb {args.memory_limit_gb})")
                continue
            with warnings.catch_warnings():
                # Unrolled runs with K below the steps needed are *meant* to stop short: their
                # convergence is recorded in the table instead of warned about.
                warnings.simplefilter("ignore", calib.NonConvergenceWarning)
                out = compile_and_time(vg, theta, repeats=args.repeats)
                sol = jax.jit(lambda th, s=solver, a=adjoint: problem.loss(th, s, a)[1])(theta)
            max_force[i, j] = float(sol.max_force)
            g = flat(out["value"][1])
            error[i, j] = np.linalg.norm(g - g_ref) / np.linalg.norm(g_ref)
            seconds[i, j], compile_s[i, j] = out["median_s"], out["compile_s"]
            print(f"  K={k:6d} {method:12s} rel. error {error[i, j]:.3e}  time {seconds[i, j]:.3f} s  "
                  f"memory {memory[i, j] / 1e6:9.1f} MB  max|F| {max_force[i, j]:.1e}")

    ds = xr.Dataset(
        {
            "relative_error": (("method", "K"), error, {"units": "1", "long_name": "‖g − g_implicit‖/‖g_implicit‖"}),
            "time": (("method", "K"), seconds, {"units": "s", "long_name": "median value-and-grad time"}),
            "compile_time": (("method", "K"), compile_s, {"units": "s"}),
            "memory": (("method", "K"), memory, {"units": "bytes", "long_name": "compiled peak memory"}),
            "max_force": (("method", "K"), max_force,
                          {"units": "eV/Å", "long_name": "max |force| of the forward state after K steps"}),
            "implicit_gradient": (("parameter",), g_ref, {"units": "eV per parameter unit"}),
            "finite_difference_gradient": (("parameter",), fd),
        },
        coords={"method": list(METHODS), "K": ks, "parameter": names},
        attrs={
            "problem": f"fcc Cu Morse, {args.cells}^3 cells, one vacancy, {problem.n_atoms} atoms",
            "implicit_forward_steps": steps,
            "implicit_forward_time_s": forward["median_s"],
            "implicit_value_and_grad_time_s": reference["median_s"],
            "implicit_memory_bytes": reference["memory_bytes"],
            "implicit_fd_relative_error": fd_error,
            "gradient_descent_step": step,
            "truncated_backprop": args.truncate,
        },
    )
    return ds


def write(ds, out: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out / "compare_gradients.nc")
    table = ds[["relative_error", "time", "compile_time", "memory", "max_force"]].to_dataframe()
    table.to_csv(out / "compare_gradients.csv")

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    panels = [("relative_error", "relative error vs Implicit", None),
              ("time", "value-and-grad time [s]", "implicit_value_and_grad_time_s"),
              ("memory", "peak memory [bytes]", "implicit_memory_bytes")]
    for ax, (var, label, implicit_attr) in zip(axes, panels):
        for method in ds.method.values:
            ax.loglog(ds.K, ds[var].sel({"method": method}), "o-", label=method)
        if implicit_attr:
            ax.axhline(ds.attrs[implicit_attr], color="k", ls="--", label="Implicit")
        else:
            ax.axhline(ds.attrs["implicit_fd_relative_error"], color="k", ls=":",
                       label="Implicit vs finite differences")
        ax.set_xlabel("K (steps or Neumann terms)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(ds.attrs["problem"])
    fig.tight_layout()
    fig.savefig(out / "compare_gradients.png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    ds = run(args)
    write(ds, args.out)
    with np.printoptions(linewidth=120):
        print(ds[["relative_error", "time", "memory"]].to_dataframe().to_string())
    print(f"wrote {args.out / 'compare_gradients.csv'}, .nc and .png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
