r"""Benchmark: exact Jacobians through the equilibria against the finite-difference baseline.

Potential-fitting codes (atomicrex, potfit, KLIFF) and most geotechnical back-analysis tools fit
parameters with a least-squares optimiser whose Jacobian comes from finite differences over the
forward relaxations: every column costs one more relaxation of every structure (two with central
differences). ``calib.fit`` differentiates through each equilibrium by the implicit function
theorem instead: ``jax.jacfwd`` costs one tangent linear solve per parameter at the converged
state, and no further relaxation.

For each problem (``--problems``), from the same start, with the same bounds and the same
tolerances (``ftol = xtol = gtol``, ``--tol``), measured in one run:

* **exact**: scipy's trust-region reflective method with the exact Jacobian, the loop of
  ``calib.fit(..., optimizer="trf")``: every point is evaluated by the fit's compiled
  ``jacobian`` program (the residuals and their ``jax.jacfwd`` Jacobian through every implicit
  equilibrium, in one call);
* **FD**: ``scipy.optimize.least_squares(method="trf", jac="2-point")`` (and ``"3-point"`` with
  ``--fd 2-point 3-point``) whose ``fun`` is the fit's compiled residual-only ``value`` program
  (the same objective, the same forward relaxations, the same convergence gating).

Both run on the evaluator ``calib.fit`` builds (same datasets, parameter space with native
bounds, objective). Reported for each: inner solves (solve events counted by the evaluator, a
batched solve once), program evaluations, outer iterations (accepted steps: scipy's Jacobian
evaluations after the start), inner solver steps, wall time of the optimiser after compilation
(each program is compiled ahead of time and called once untimed; compile time reported apart), and
the final χ²; then the ratios FD / exact and the χ² difference |Δχ²| / max(χ², 1) (relative, or
absolute where χ² < 1: χ² is in units of σ², so a difference far below 1 means nothing; an
exactly determined fit ends at χ² ≈ 0). Targets: >= 5x fewer inner solves, >= 3x less wall time,
χ² equal to 1e-6.

Problems (the model, data and parameter builders of ``experiments/demo_metals.py`` and
``experiments/demo_geomechanics.py``):

* ``morse``: Cu Morse (D, α, r0) against a0, Ec, B: three zero-pressure relaxations (cheap);
* ``eam``: Cu Sutton–Chen EAM with a free embedding exponent (five free parameters) against a0,
  Ec, C11, C12, C44 and the relaxed vacancy formation energy (``--vacancy-cells``; minutes);
* ``footing``: strip footing on two HAR layers, four stiffness factors against settlements at
  six sensors and four loads (fitted mesh ``--footing-cells``, data mesh ``--footing-data-cells``);
* ``springs`` (not in the default set): the spring chain below with ``--spring-groups``
  stiffnesses, the cheapest to compile.

**Scaling with the number of parameters** (``--parameters 1 2 5 10 20``): a chain of
``--springs`` nonlinear springs, fixed at one end and pulled at the other at four loads, spring
``j`` of stiffness ``k[g(j)]`` with ``P`` groups (``E = sum 1/2 k s^2 + 1/4 b s^4 - F x_N``); the
residuals are all node displacements. After compilation, ``--repeat`` timings (median) of one
exact Jacobian (the fit's ``jacobian`` program: residuals and Jacobian) against a 2-point FD
Jacobian (``P + 1`` calls of the ``value`` program, i.e. relaxations, the residuals at the point
included) and a central one (``2P + 1``); the ratios and the growth
exponents (slope of log time against log P, least squares over the P measured).

Output: the table printed and written to ``bench_calibration.txt``, the numbers in
``bench_calibration.nc`` and the scaling plot ``bench_calibration_scaling.png`` under ``--out``.

Run as ``calib bench-calibration [options]`` or ``python experiments/bench_calibration.py
[options]``; ``--quick`` (a 2³ vacancy cell, a 6x6 footing) takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import sys
import time

import numpy as np

PROBLEMS = ("morse", "footing", "eam", "springs")
DEFAULT_PROBLEMS = ("morse", "footing", "eam")
FD_SCHEMES = ("2-point", "3-point")
SPRING_LOADS = (0.5, 1.5, 2.5, 4.0)      # N
SPRING_B = 0.5                           # N/mm³, held fixed
SPRING_SIGMA = 0.01                      # mm
TARGETS = {"solves": 5.0, "wall": 3.0, "chi2": 1e-6}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib bench-calibration",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="*", choices=PROBLEMS, default=list(DEFAULT_PROBLEMS),
                        help="fits to compare (default morse footing eam; springs: the chain of "
                             "the scaling part with --spring-groups parameters, the cheapest; "
                             "none: scaling only)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a 2^3 vacancy cell, a 6x6 footing fitted to 12x12 data")
    parser.add_argument("--vacancy-cells", type=int, default=None,
                        help="EAM vacancy supercell, conventional cells per side (default 3; "
                             "2 with --quick)")
    parser.add_argument("--footing-cells", type=int, default=None,
                        help="cells per side of the fitted footing mesh, a multiple of 6 "
                             "(default 12; 6 with --quick)")
    parser.add_argument("--footing-data-cells", type=int, default=None,
                        help="cells per side of the mesh the footing data come from, a multiple "
                             "of 6 (default twice --footing-cells)")
    parser.add_argument("--fd", nargs="+", choices=FD_SCHEMES, default=["2-point"],
                        help="finite-difference schemes of the baseline (default 2-point)")
    parser.add_argument("--tol", type=float, default=1e-10,
                        help="ftol = xtol = gtol of both optimisers (default 1e-10, calib.fit's)")
    parser.add_argument("--max-iterations", type=int, default=200,
                        help="outer iteration budget of both (default 200; scipy's max_nfev is "
                             "10x this + 10)")
    parser.add_argument("--parameters", type=int, nargs="*", default=[1, 2, 5, 10, 20],
                        help="parameter counts P of the scaling measurement (default 1 2 5 10 20; "
                             "none skips it)")
    parser.add_argument("--springs", type=int, default=40,
                        help="springs of the scaling chain, at least max(P) (default 40)")
    parser.add_argument("--spring-groups", type=int, default=5,
                        help="parameters of the 'springs' fit (default 5)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed Jacobians per P in the scaling (median; default 5)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="directory for bench_calibration.nc/.txt/_scaling.png")
    args = parser.parse_args(argv)
    if args.vacancy_cells is None:
        args.vacancy_cells = 2 if args.quick else 3
    if args.footing_cells is None:
        args.footing_cells = 6 if args.quick else 12
    if args.footing_data_cells is None:
        args.footing_data_cells = 2 * args.footing_cells
    if args.footing_cells % 6 or args.footing_data_cells % 6 or args.footing_cells < 6:
        parser.error("--footing-cells and --footing-data-cells must be positive multiples of 6 "
                     "(the 1 m footing edge of the 6 m section must be a cell edge)")
    if args.vacancy_cells < 2:
        parser.error(f"--vacancy-cells must be at least 2, got {args.vacancy_cells}")
    if any(p < 1 for p in args.parameters):
        parser.error(f"--parameters must be positive, got {args.parameters}")
    if args.spring_groups < 1 or args.springs < args.spring_groups:
        parser.error(f"--spring-groups must be in 1..--springs, got {args.spring_groups}")
    if args.parameters and args.springs < max(args.parameters):
        parser.error(f"--springs ({args.springs}) must be at least max(--parameters) "
                     f"({max(args.parameters)})")
    if args.repeat < 1 or args.max_iterations < 1 or not args.tol > 0:
        parser.error("--repeat and --max-iterations must be positive, --tol > 0")
    if not args.problems and not args.parameters:
        parser.error("nothing to run: give --problems or --parameters")
    args.fd = list(dict.fromkeys(args.fd))
    return args


# -- problems ----------------------------------------------------------------------------------


def morse_problem(args):
    from experiments import demo_metals as metals

    return {"name": "morse", "label": "Cu Morse (3 relaxations)",
            "model": metals.morse_model("Cu"),
            "data": metals.metal_data("Cu", metals.MORSE_VARIABLES),
            "parameters": metals.morse_parameters("Cu")}


def eam_problem(args):
    from experiments import demo_metals as metals

    cells = args.vacancy_cells
    return {"name": "eam", "label": f"Cu EAM, vacancy {cells}^3 cells",
            "model": metals.eam_model("Cu", vacancy_cells=cells),
            "data": metals.metal_data("Cu", metals.EAM_VARIABLES),
            "parameters": metals.eam_parameters("Cu")}


def footing_data(cells: int):
    """The footing demo's synthetic settlements (mm; same truth, loads, sensors, noise and seed as
    ``demo_geomechanics.footing_data``) computed on a ``cells`` x ``cells`` P2 mesh."""
    import jax
    import jax.numpy as jnp
    import xarray as xr

    from experiments import demo_geomechanics as geo

    fine = geo.Footing(cells)
    theta = jax.tree_util.tree_map(jnp.asarray, geo.FOOTING_TRUTH)
    loads = np.asarray(geo.FOOTING_LOADS)
    s = 1e3 * np.asarray(jax.jit(fine.settlements)(theta, jnp.asarray(loads)))
    s = s + geo.FOOTING_SIGMA * np.random.default_rng(geo.SEEDS["footing"]).standard_normal(s.shape)
    sensors = [f"x={x:g} m, depth {geo.FOOTING['depth'] - y:g} m" for x, y in geo.FOOTING_SENSORS]
    return xr.Dataset(
        {"settlement": (("load", "sensor"), s, {"units": "mm", "sigma": geo.FOOTING_SIGMA})},
        coords={"load": ("load", loads, {"units": "kPa"}), "sensor": ("sensor", sensors)},
        attrs={"name": "footing", "data_mesh": fine.grid})


def footing_problem(args):
    import calib
    from experiments import demo_geomechanics as geo

    fe = geo.Footing(args.footing_cells)
    model = calib.Model(fe, units={"settlement": "m"}, conditions={"load": "kPa"},
                        name="footing_fe")
    return {"name": "footing",
            "label": f"footing {fe.grid} ({int(fe.model.n_free)} DOFs), data "
                     f"{args.footing_data_cells}x{args.footing_data_cells}",
            "model": model, "data": footing_data(args.footing_data_cells),
            "parameters": geo.footing_parameters()}


_SPRINGS: dict = {}


def _springs(p: int, springs: int) -> dict:
    """The spring chain with ``p`` parameters and its evaluator, built once per run (the
    ``springs`` fit and the scaling point of the same size share compiled programs)."""
    if (p, springs) not in _SPRINGS:
        model, data, parameters = spring_problem(p, springs)
        _SPRINGS[(p, springs)] = {"model": model, "data": data, "parameters": parameters,
                                  "evaluator": _evaluator(model, data, parameters)}
    return _SPRINGS[(p, springs)]


def springs_problem(args):
    return {"name": "springs",
            "label": f"chain of {args.springs} springs, {args.spring_groups} stiffnesses",
            **_springs(args.spring_groups, args.springs)}


BUILDERS = {"morse": morse_problem, "eam": eam_problem, "footing": footing_problem,
            "springs": springs_problem}


def _evaluator(model, data, parameters):
    """The evaluator ``calib.fit`` builds for ``optimizer="trf"``: the same datasets, parameter
    space (bounds native, identity transforms) and objective."""
    from calib.data import prepare_all
    from calib.fit._evaluate import Evaluator
    from calib.objective import Objective
    from calib.parameters import ParameterSpace

    space = ParameterSpace(parameters, bounds_native=True)
    objective = Objective(model, prepare_all(data), space)
    return Evaluator(objective)


# -- the fits ----------------------------------------------------------------------------------


def run_least_squares(problem, args, scheme: str) -> dict:
    """scipy ``least_squares(method="trf")`` on the fit's compiled programs: with ``scheme =
    "exact"`` each point is evaluated by the ``jacobian`` program (residuals and their jacfwd
    Jacobian through every implicit equilibrium in one call; the Jacobian scipy asks for next is
    that one, exactly as ``calib.fit(optimizer="trf")`` does), else by the residual-only ``value``
    program with scipy's finite differences ``jac=scheme``. Each program is compiled ahead of time
    and called once untimed; the wall time is the optimiser's alone."""
    from scipy.optimize import least_squares

    evaluator = problem["evaluator"]
    objective, space = evaluator.objective, evaluator.objective.space
    m = objective.n_data + objective.n_prior
    z0 = space.z0()
    lower, upper = space.native_bounds()
    kind = "jacobian" if scheme == "exact" else "value"
    before = evaluator.compile_seconds
    evaluator.compile(kind, z0)
    compile_s = evaluator.compile_seconds - before
    t0 = time.perf_counter()
    evaluator.evaluate(kind, z0)       # the first call of a program pays one-off set-up costs
    warm_up_s = time.perf_counter() - t0
    evaluator.statistics.update({k: 0 for k in evaluator.statistics})
    last = {}

    def fun(z):
        evaluation = evaluator.evaluate(kind, z)
        last["evaluation"] = evaluation
        return evaluation.all_residuals if evaluation.ok else np.full(m, np.nan)

    def jac(z):
        evaluation = last.get("evaluation")
        if evaluation is None or not np.array_equal(evaluation.z, z):
            evaluation = evaluator.evaluate(kind, z)
        return evaluation.jacobian

    t0 = time.perf_counter()
    solution = least_squares(fun, np.clip(z0, lower, upper),
                             jac=jac if scheme == "exact" else scheme, bounds=(lower, upper),
                             method="trf", ftol=args.tol, xtol=args.tol, gtol=args.tol,
                             x_scale=1.0, max_nfev=10 * args.max_iterations + 10)
    run_s = time.perf_counter() - t0
    stats = dict(evaluator.statistics)
    final = evaluator.evaluate("value", solution.x) if scheme != "exact" else \
        evaluator.evaluate("jacobian", solution.x)      # not counted: the χ² of the answer
    values = {k: np.asarray(v) for k, v in space.values(solution.x).items()}
    return {"method": "exact" if scheme == "exact" else f"fd {scheme}",
            "chi2": float(final.residuals @ final.residuals),
            "solves": int(stats["solves"]), "evaluations": int(stats["evaluations"]),
            "jacobians": int(solution.njev), "iterations": int(solution.njev) - 1,
            "inner_steps": int(stats["inner_steps"]), "tangent_solves": int(stats["adjoint_solves"]),
            "failed_evaluations": int(stats["failed_evaluations"]), "run_s": run_s,
            "compile_s": compile_s, "warm_up_s": warm_up_s,
            "success": bool(solution.status > 0 and final.ok), "message": str(solution.message),
            "values": {n: float(np.ravel(values[n.split("[")[0]])[_index(n)])
                       for n in space.free_names}}


def _index(name: str) -> int:
    return int(name.split("[")[1].rstrip("]")) if "[" in name else 0


def compare(problem, args) -> list[dict]:
    """The exact run and each FD run of one problem, with the ratios FD / exact on the FD rows.
    All share one evaluator (each compiles only the program it uses)."""
    if "evaluator" not in problem:
        problem["evaluator"] = _evaluator(problem["model"], problem["data"], problem["parameters"])
    exact = run_least_squares(problem, args, "exact")
    rows = [exact]
    for scheme in args.fd:
        fd = run_least_squares(problem, args, scheme)
        fd["solve_ratio"] = fd["solves"] / exact["solves"]
        fd["wall_ratio"] = fd["run_s"] / exact["run_s"]
        fd["iteration_ratio"] = fd["iterations"] / max(exact["iterations"], 1)
        fd["step_ratio"] = fd["inner_steps"] / max(exact["inner_steps"], 1)
        fd["chi2_relative"] = abs(fd["chi2"] - exact["chi2"]) / max(abs(exact["chi2"]), 1.0)
        fd["max_parameter_relative"] = max(
            abs(fd["values"][n] - v) / abs(v) if v else abs(fd["values"][n])
            for n, v in exact["values"].items())
        rows.append(fd)
    for row in rows:
        row["problem"], row["label"] = problem["name"], problem["label"]
        row["n_parameters"], row["n_data"] = len(exact["values"]), _n_data(problem)
    return rows


def _n_data(problem) -> int:
    return int(sum(np.size(v) for k, v in problem["data"].data_vars.items()
                   if not k.endswith("_sigma")))


# -- scaling with the number of parameters ---------------------------------------------------


def spring_energy(x, theta, load, groups):
    """Chain of springs in series, fixed at node 0, tip force ``load`` (N; x in mm)."""
    import jax.numpy as jnp

    s = jnp.diff(x, prepend=0.0)
    k = theta["k"][groups]
    return jnp.sum(0.5 * k * s ** 2 + 0.25 * theta["b"] * s ** 4) - load * x[-1]


def spring_problem(p: int, springs: int):
    """Model, data (all node displacements at four loads; exact equilibria plus noise) and
    parameters (``k``, a vector of ``p`` group stiffnesses, and ``b`` held fixed)."""
    import jax
    import jax.numpy as jnp
    import xarray as xr

    import calib

    groups = np.arange(springs) * p // springs
    truth = 1.0 + 0.5 * np.sin(1.0 + np.arange(p))            # N/mm

    def model(theta, conditions):
        def nodes(load):
            return calib.equilibrium(spring_energy, jnp.zeros(springs), theta, load,
                                     jnp.asarray(groups)).x
        return {"u": jax.vmap(nodes)(conditions["load"])}

    loads = np.asarray(SPRING_LOADS)
    # Every spring carries the load: k s + b s^3 = F, solved by Newton; x is the cumulative sum.
    k = truth[groups][None, :]
    s = np.broadcast_to(loads[:, None] / k, (loads.size, springs)).copy()
    for _ in range(50):
        s -= (k * s + SPRING_B * s ** 3 - loads[:, None]) / (k + 3 * SPRING_B * s ** 2)
    u = np.cumsum(s, axis=1)
    u = u + SPRING_SIGMA * np.random.default_rng(p).standard_normal(u.shape)
    data = xr.Dataset({"u": (("load", "node"), u, {"units": "mm", "sigma": SPRING_SIGMA})},
                      coords={"load": ("load", loads, {"units": "N"}),
                              "node": ("node", np.arange(1, springs + 1))},
                      attrs={"name": f"springs_{p}"})
    parameters = [calib.Parameter("k", np.full(p, 1.2), bounds=(0.05, 20.0), units="N/mm"),
                  calib.Parameter("b", SPRING_B, units="N/mm**3", fixed=True)]
    return model, data, parameters


def _fd_jacobian(evaluator, z, scheme: str) -> np.ndarray:
    """scipy's FD Jacobian (relative steps, as ``least_squares`` takes them) over the value
    program, with the residuals at ``z`` (which the exact program returns along with its
    Jacobian): P + 1 relaxations (2-point) or 2P + 1 (3-point), counted in
    ``evaluator.statistics``."""
    from scipy.optimize._numdiff import approx_derivative

    def fun(v):
        return evaluator.evaluate("value", v).all_residuals

    return approx_derivative(fun, z, method=scheme, f0=fun(z))


def measure_scaling(p: int, args) -> dict:
    evaluator = _springs(p, args.springs)["evaluator"]
    z = evaluator.objective.space.z0()
    start = evaluator.compile_seconds          # > 0 when the springs fit compiled them already
    evaluator.compile("jacobian", z)
    compile_exact = evaluator.compile_seconds - start
    evaluator.compile("value", z)
    compile_value = evaluator.compile_seconds - start - compile_exact
    row = {"n_parameters": p, "compile_exact_s": compile_exact, "compile_value_s": compile_value}
    exact = evaluator.evaluate("jacobian", z)           # one untimed call of each
    _fd_jacobian(evaluator, z, "2-point")
    jacobians = {"exact": exact.jacobian}
    for kind in ("exact", "2-point", "3-point"):
        times = []
        before = dict(evaluator.statistics)
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            if kind == "exact":
                jacobians[kind] = evaluator.evaluate("jacobian", z).jacobian
            else:
                jacobians[kind] = _fd_jacobian(evaluator, z, kind)
            times.append(time.perf_counter() - t0)
        key = "exact" if kind == "exact" else "fd2" if kind == "2-point" else "fd3"
        row[f"{key}_s"] = statistics.median(times)
        row[f"{key}_solves"] = (evaluator.statistics["solves"] - before["solves"]) / args.repeat
        row[f"{key}_inner_steps"] = (evaluator.statistics["inner_steps"]
                                     - before["inner_steps"]) / args.repeat
    scale = np.max(np.abs(jacobians["exact"]))
    row["fd2_ratio"] = row["fd2_s"] / row["exact_s"]
    row["fd3_ratio"] = row["fd3_s"] / row["exact_s"]
    row["fd2_error"] = float(np.max(np.abs(jacobians["2-point"] - jacobians["exact"])) / scale)
    row["fd3_error"] = float(np.max(np.abs(jacobians["3-point"] - jacobians["exact"])) / scale)
    return row


def growth_exponent(p, seconds) -> float:
    """Least-squares slope of log(seconds) against log(P) (NaN with fewer than two distinct P)."""
    p, seconds = np.asarray(p, float), np.asarray(seconds, float)
    if len(set(p.tolist())) < 2:
        return float("nan")
    return float(np.polyfit(np.log(p), np.log(seconds), 1)[0])


# -- output ------------------------------------------------------------------------------------

FIT_KEYS = {"chi2": "1", "solves": "1", "evaluations": "1", "jacobians": "1", "iterations": "1",
            "inner_steps": "1", "tangent_solves": "1", "failed_evaluations": "1", "run_s": "s",
            "compile_s": "s", "warm_up_s": "s", "success": "1", "solve_ratio": "1",
            "wall_ratio": "1", "iteration_ratio": "1", "step_ratio": "1", "chi2_relative": "1",
            "max_parameter_relative": "1", "n_parameters": "1", "n_data": "1"}
FIT_DESCRIPTIONS = {
    "solves": "inner solve events (a batched solve counts once)",
    "evaluations": "evaluations of the compiled objective program",
    "iterations": "accepted outer iterations (Jacobian evaluations after the start)",
    "inner_steps": "inner solver steps of all solves",
    "tangent_solves": "linear (tangent) solves behind the exact Jacobians",
    "run_s": "wall time after compilation", "compile_s": "compilation of the programs",
    "solve_ratio": "solves / solves of the exact run", "wall_ratio": "run_s / run_s of the exact run",
    "iteration_ratio": "iterations / iterations of the exact run",
    "chi2_relative": "|chi2 - chi2 of the exact run| / max(chi2 of the exact run, 1)",
    "warm_up_s": "first (untimed) call of the compiled program",
    "max_parameter_relative": "largest relative difference of a fitted parameter from the exact run"}
SCALING_KEYS = ("exact_s", "fd2_s", "fd3_s", "fd2_ratio", "fd3_ratio", "exact_solves",
                "fd2_solves", "fd3_solves", "exact_inner_steps", "fd2_inner_steps",
                "fd3_inner_steps", "fd2_error", "fd3_error", "compile_exact_s", "compile_value_s")


def to_dataset(fit_rows, scaling_rows, summary, config, environment):
    import xarray as xr

    data, coords = {}, {}
    if fit_rows:
        coords["run"] = np.arange(len(fit_rows))
        for key, units in FIT_KEYS.items():
            values = [float(r.get(key, np.nan)) for r in fit_rows]
            attrs = {"units": units}
            if key in FIT_DESCRIPTIONS:
                attrs["description"] = FIT_DESCRIPTIONS[key]
            data[key] = ("run", np.asarray(values, dtype=float), attrs)
        for key in ("problem", "method", "label", "message"):
            data[key] = ("run", np.asarray([r[key] for r in fit_rows], dtype=str))
    if scaling_rows:
        coords["parameter_count"] = np.asarray([r["n_parameters"] for r in scaling_rows])
        for key in SCALING_KEYS:
            units = "s" if key.endswith("_s") else "1"
            data[f"scaling_{key}"] = ("parameter_count",
                                      np.asarray([r[key] for r in scaling_rows], dtype=float),
                                      {"units": units})
    attrs = {"title": "calib bench-calibration",
             **{f"config_{k}": json.dumps(v, default=str) for k, v in config.items()},
             **{f"env_{k}": str(v) for k, v in environment.items()},
             **{k: float(v) for k, v in summary.items()}}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def plot_scaling(path: pathlib.Path, rows, summary) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = [r["n_parameters"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.loglog(p, [r["exact_s"] for r in rows], "o-",
                label=f"exact jacfwd (~P^{summary['exact_exponent']:.2f})")
    left.loglog(p, [r["fd2_s"] for r in rows], "s-",
                label=f"FD 2-point, P+1 solves (~P^{summary['fd2_exponent']:.2f})")
    left.loglog(p, [r["fd3_s"] for r in rows], "^-",
                label=f"FD central, 2P+1 solves (~P^{summary['fd3_exponent']:.2f})")
    left.set_xlabel("parameters P")
    left.set_ylabel("one Jacobian, s (median)")
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    right.semilogx(p, [r["fd2_ratio"] for r in rows], "s-", label="FD 2-point / exact")
    right.semilogx(p, [r["fd3_ratio"] for r in rows], "^-", label="FD central / exact")
    right.axhline(1.0, color="grey", lw=0.8)
    right.set_xlabel("parameters P")
    right.set_ylabel("time ratio")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle("cost of one Jacobian through the equilibria")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(value, spec: str, width: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}s}"
    return f"{value:{width}{spec}}"


def format_fits(rows) -> list[str]:
    lines = [f"  {'problem':8s} {'method':11s} {'chi2':>13s} {'solves':>7s} {'evals':>6s} "
             f"{'iter':>5s} {'steps':>8s} {'run s':>8s} {'compile s':>9s} {'ok':>3s} | "
             f"{'solves':>7s} {'wall':>6s} {'iter':>5s} {'chi2 rel':>9s} {'param rel':>9s}"]
    lines.append(f"  {'':8s} {'':11s} {'':>13s} {'':>7s} {'':>6s} {'':>5s} {'':>8s} {'':>8s} "
                 f"{'':>9s} {'':>3s} | {'FD / exact':^40s}")
    for r in rows:
        lines.append(
            f"  {r['problem']:8s} {r['method']:11s} {r['chi2']:13.8g} {r['solves']:7d} "
            f"{r['evaluations']:6d} {r['iterations']:5d} {r['inner_steps']:8d} {r['run_s']:8.2f} "
            f"{r['compile_s']:9.1f} {'yes' if r['success'] else 'no':>3s} | "
            f"{_fmt(r.get('solve_ratio'), '.2f', 7)} {_fmt(r.get('wall_ratio'), '.2f', 6)} "
            f"{_fmt(r.get('iteration_ratio'), '.2f', 5)} {_fmt(r.get('chi2_relative'), '.1e', 9)} "
            f"{_fmt(r.get('max_parameter_relative'), '.1e', 9)}")
    return lines


def format_scaling(rows, summary) -> list[str]:
    lines = [f"  {'P':>3s} {'exact s':>9s} {'FD2 s':>9s} {'FD3 s':>9s} {'FD2/ex':>7s} "
             f"{'FD3/ex':>7s} | {'solves ex':>9s} {'FD2':>5s} {'FD3':>5s} | {'FD2 err':>8s} "
             f"{'FD3 err':>8s} | {'compile s':>9s}"]
    for r in rows:
        lines.append(
            f"  {r['n_parameters']:3d} {r['exact_s']:9.4f} {r['fd2_s']:9.4f} {r['fd3_s']:9.4f} "
            f"{r['fd2_ratio']:7.2f} {r['fd3_ratio']:7.2f} | {r['exact_solves']:9.0f} "
            f"{r['fd2_solves']:5.0f} {r['fd3_solves']:5.0f} | {r['fd2_error']:8.1e} "
            f"{r['fd3_error']:8.1e} | {r['compile_exact_s'] + r['compile_value_s']:9.1f}")
    lines.append(f"  growth exponents (time ~ P^k, least squares over P): exact "
                 f"{summary['exact_exponent']:.2f}, FD 2-point {summary['fd2_exponent']:.2f}, "
                 f"FD central {summary['fd3_exponent']:.2f}")
    return lines


def targets(fit_rows) -> list[str]:
    lines = []
    for r in fit_rows:
        if "solve_ratio" not in r:
            continue
        met = (r["solve_ratio"] >= TARGETS["solves"], r["wall_ratio"] >= TARGETS["wall"],
               r["chi2_relative"] <= TARGETS["chi2"])
        lines.append(f"  {r['problem']} vs {r['method']}: inner solves {r['solve_ratio']:.1f}x "
                     f"({'met' if met[0] else 'not met'}, target >= {TARGETS['solves']:g}x), "
                     f"wall time {r['wall_ratio']:.1f}x ({'met' if met[1] else 'not met'}, target "
                     f">= {TARGETS['wall']:g}x), chi2 relative difference "
                     f"{r['chi2_relative']:.1e} ({'met' if met[2] else 'not met'}, target <= "
                     f"{TARGETS['chi2']:g})")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    from experiments._measure import environment as measure_environment

    environment = measure_environment()
    print(f"bench-calibration: exact jacfwd Jacobian (calib.fit's trf loop) vs scipy least_squares "
          f"with FD Jacobians ({', '.join(args.fd)}) on the same compiled forward relaxations; "
          f"ftol = xtol = gtol = {args.tol:g}; backend {environment['backend']}", flush=True)
    fit_rows = []
    for name in args.problems:
        problem = BUILDERS[name](args)
        print(f"  ... {problem['label']}", flush=True)
        fit_rows += compare(problem, args)
    scaling_rows = []
    for p in sorted(set(args.parameters)):
        print(f"  ... scaling: {p} parameter(s), {args.springs} springs", flush=True)
        scaling_rows.append(measure_scaling(p, args))

    summary, lines = {}, []
    if fit_rows:
        lines += ["", "fits from the same start (ratios FD / exact; wall time after compilation)"]
        lines += format_fits(fit_rows) + [""] + targets(fit_rows)
        for r in fit_rows:
            if "solve_ratio" in r:
                key = f"{r['problem']}_{r['method'].replace(' ', '_').replace('-', '')}"
                summary.update({f"{key}_solve_ratio": r["solve_ratio"],
                                f"{key}_wall_ratio": r["wall_ratio"],
                                f"{key}_chi2_relative": r["chi2_relative"]})
    if scaling_rows:
        p = [r["n_parameters"] for r in scaling_rows]
        summary.update({f"{key}_exponent": growth_exponent(p, [r[f"{key}_s"] for r in scaling_rows])
                        for key in ("exact", "fd2", "fd3")})
        lines += ["", f"one Jacobian against P: chain of {args.springs} springs at "
                      f"{len(SPRING_LOADS)} loads, median of {args.repeat} after compilation"]
        lines += format_scaling(scaling_rows, summary)
    text = "\n".join(lines)
    _SPRINGS.clear()
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        config = {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in vars(args).items()}
        for r in fit_rows:
            r["values"] = json.dumps(r["values"])
        to_dataset(fit_rows, scaling_rows, summary, config, environment).to_netcdf(
            args.out / "bench_calibration.nc", engine="h5netcdf")
        (args.out / "bench_calibration.txt").write_text(text.lstrip("\n") + "\n", encoding="utf-8")
        written = ["bench_calibration.nc", "bench_calibration.txt"]
        if len(scaling_rows) > 1:
            plot_scaling(args.out / "bench_calibration_scaling.png", scaling_rows, summary)
            written.append("bench_calibration_scaling.png")
        print(f"\n  results written to {args.out}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
