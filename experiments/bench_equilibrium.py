"""Benchmark: solvers and the implicit adjoint on the vacancy crystal, against jaxopt and optimistix.

Measured side by side in one run, medians of ``--repeats`` runs after a warm-up (compile time
reported separately), on the problem of ``compare_gradients`` (fcc Cu Morse, one vacancy):

(a) Implicit value-and-grad time / forward solve time, per solver;
(b) forward and value-and-grad times against ``jaxopt.LBFGS(implicit_diff=True)`` and
    ``optimistix.minimise(optx.LBFGS, adjoint=ImplicitAdjoint())`` on the same energy, start and
    force tolerance (jaxopt stops on the Euclidean gradient norm, optimistix on a Cauchy criterion
    of steps; the final max |force| of each is printed so the comparison is honest);
(c) peak memory (XLA's plan) of Implicit with 100 and 10,000 solver steps, and of Unrolled;
(d) the Implicit gradient against central finite differences.

jaxopt and optimistix are optional (``pip install -e .[bench]``); rows for a missing one are skipped.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib bench-equilibrium", description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=4, help="fcc cells per edge (default 4: 255 atoms)")
    parser.add_argument("--rattle", type=float, default=0.05, help="start displacement, Å (default 0.05)")
    parser.add_argument("--tol", type=float, default=1e-8, help="force tolerance, eV/Å (default 1e-8)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs after a warm-up (default 7)")
    parser.add_argument("--memory-steps", type=int, nargs=2, default=[100, 10_000],
                        help="solver step counts for the memory comparison (default 100 10000)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    import calib
    from experiments._measure import compile_and_time, compiled_memory
    from experiments._vacancy import vacancy_problem

    problem = vacancy_problem(cells=args.cells, rattle=args.rattle)
    energy, x0, theta = problem.energy, problem.x0, problem.theta
    print(f"problem: fcc Cu Morse, {problem.n_atoms} atoms ({3 * problem.n_atoms} DOF), tol {args.tol:g} eV/Å, "
          f"backend {jax.default_backend()}, {args.repeats} timed runs")
    grad_e = jax.jit(jax.grad(energy))

    def post(x):
        return jnp.sum((x - problem.x_ref) ** 2)

    def report(name, fwd, vg, x):
        force = np.asarray(grad_e(x, theta))
        rows.append((name, fwd["median_s"], vg["median_s"] if vg else np.nan))
        vg_s = f"{vg['median_s']:8.4f}" if vg else "     n/a"
        ratio = f"{vg['median_s'] / fwd['median_s']:6.2f}" if vg else "   n/a"
        print(f"{name:34s} forward {fwd['median_s']:8.4f} s  value+grad {vg_s} s  ratio {ratio}  "
              f"max|F| {np.abs(force).max():.1e}  ‖F‖ {np.linalg.norm(force):.1e}  "
              f"compile {fwd['compile_s']:.1f}+{vg['compile_s'] if vg else 0:.1f} s")

    rows = []
    implicit = calib.Implicit(nullspace="translations")
    ours = {}
    for solver in (calib.LBFGS(tol=args.tol), calib.FIRE(tol=args.tol), calib.NewtonCG(tol=args.tol)):
        def forward(th, s=solver):
            return calib.equilibrium(energy, x0, th, solver=s, adjoint=implicit).x

        def loss(th, s=solver):
            sol = calib.equilibrium(energy, x0, th, solver=s, adjoint=implicit)
            return sol.energy + 0.5 * post(sol.x)

        fwd = compile_and_time(forward, theta, repeats=args.repeats)
        vg = compile_and_time(jax.value_and_grad(loss), theta, repeats=args.repeats)
        name = f"calib {type(solver).__name__} + Implicit"
        report(name, fwd, vg, fwd["value"])
        ours[name] = (fwd["median_s"], vg["median_s"], vg["value"])

    others = {}
    try:
        import jaxopt

        jsolver = jaxopt.LBFGS(fun=energy, tol=args.tol, maxiter=100_000, implicit_diff=True)

        def jloss(th):
            x = jsolver.run(x0, th).params
            return energy(x, th) + 0.5 * post(x)

        fwd = compile_and_time(lambda th: jsolver.run(x0, th).params, theta, repeats=args.repeats)
        vg = compile_and_time(jax.value_and_grad(jloss), theta, repeats=args.repeats)
        report("jaxopt LBFGS(implicit_diff=True)", fwd, vg, fwd["value"])
        others["jaxopt"] = (fwd["median_s"], vg["median_s"])
    except ImportError:
        print("jaxopt not installed: skipped (pip install -e .[bench])")
    try:
        import optimistix as optx

        osolver = optx.LBFGS(rtol=0.0, atol=args.tol)

        def ominimise(th):
            return optx.minimise(lambda x, a: energy(x, a), osolver, x0, args=th, max_steps=100_000,
                                 adjoint=optx.ImplicitAdjoint(), throw=False).value

        def oloss(th):
            x = ominimise(th)
            return energy(x, th) + 0.5 * post(x)

        fwd = compile_and_time(ominimise, theta, repeats=args.repeats)
        vg = compile_and_time(jax.value_and_grad(oloss), theta, repeats=args.repeats)
        report("optimistix LBFGS + ImplicitAdjoint", fwd, vg, fwd["value"])
        others["optimistix"] = (fwd["median_s"], vg["median_s"])
    except ImportError:
        print("optimistix not installed: skipped (pip install -e .[bench])")

    print("\n(a) Implicit value-and-grad / forward (target <= 1.3):")
    for name, (f, v, _) in ours.items():
        print(f"    {name:34s} {v / f:.2f}")
    best_fwd = min(f for f, _, _ in ours.values())
    best_vg = min(v for _, v, _ in ours.values())
    for other, (f, v) in others.items():
        print(f"(b) fastest calib forward / {other} forward = {best_fwd / f:.2f}; "
              f"fastest calib value+grad / {other} value+grad = {best_vg / v:.2f} (target <= 1.0)")

    # (c) memory as a function of the number of solver steps.
    lo, hi = args.memory_steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", calib.NonConvergenceWarning)
        memory = {}
        for steps in (lo, hi):
            # tol far below reach: the solve runs exactly `steps` gradient-descent steps.
            gd = calib.GradientDescent(step_size=0.03, tol=1e-300, max_steps=steps)
            # check=False: time the bare baselines, without their IFT-residual probe.
            for adjoint in (implicit, calib.Unrolled(steps=steps, check=False),
                            calib.Checkpointed(steps=steps, check=False)):
                def loss_k(th, s=gd, a=adjoint):
                    sol = calib.equilibrium(energy, x0, th, solver=s, adjoint=a)
                    return sol.energy + 0.5 * post(sol.x)

                memory[type(adjoint).__name__, steps] = compiled_memory(jax.value_and_grad(loss_k), theta)
    print(f"\n(c) peak memory of value-and-grad (XLA plan) at {lo} and {hi} solver steps:")
    for name in ("Implicit", "Unrolled", "Checkpointed"):
        a, b = memory[name, lo], memory[name, hi]
        print(f"    {name:12s} {a / 1e6:12.1f} MB -> {b / 1e6:12.1f} MB   ratio {b / a:8.2f}"
              + ("   (target <= 1.1)" if name == "Implicit" else ""))

    # (d) finite differences.
    lbfgs_vg = ours["calib LBFGS + Implicit"][2]
    loss_jit = jax.jit(lambda th: problem.loss(th, calib.LBFGS(tol=args.tol), implicit)[0])
    errors = []
    for k in sorted(theta):
        h = 1e-5 * abs(float(theta[k]))
        fd = (float(loss_jit({**theta, k: theta[k] + h})) - float(loss_jit({**theta, k: theta[k] - h}))) / (2 * h)
        errors.append(abs(float(lbfgs_vg[1][k]) - fd) / abs(fd))
        print(f"(d) dL/d{k}: implicit {float(lbfgs_vg[1][k]):.10e}  central FD {fd:.10e}  rel. error {errors[-1]:.1e}")
    print(f"    largest relative error {max(errors):.1e} (target <= 1e-6)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
