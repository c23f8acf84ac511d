"""Benchmark: finite-element equilibria and their implicit gradients, from 10^4 to 10^6 unknowns.

A strip footing on layered soil in plane strain: half of a 20 m wide, 10 m deep section (symmetry
at x = 0), a uniform pressure on the top surface under the half-footing 0 <= x <= 1 m, rollers on
both sides, the bottom fixed; a 3 m "sand" layer over "clay" (``physics.fem.assign_layers``), each
with its own material parameters. The objective is a calibration misfit: the settlements of a few
surface points against synthetic measurements (the computed ones times fixed factors 1 ± 5 %),
``J = 1/2 sum((s_i - d_i) / 1 mm)^2``, and its gradient is taken with respect to *every* material
parameter of both layers.

For each size (free DOFs, ``--dofs``), measured side by side after compilation (reported apart):

* forward: ``Model.solve`` (``calib.SparseNewton``: Newton on the assembled tangent, factorised on
  the host; ``--method``), time T_f;
* forward + gradient: ``jax.value_and_grad`` of the misfit with ``calib.Implicit()``, whose
  adjoint CG is preconditioned with the cached factorisation of the last Newton tangent (AMG: CG
  on the tangent at the solution with the cached hierarchy), time T_fg; the ratio T_fg / T_f
  (target <= 1.2), the adjoint iterations, and the factorisations and cache hits of the call;
* the matrix-free baseline: ``calib.Implicit(linear_solver=calib.CG(max_steps=...),
  precondition=False)``, plain CG on JAX Hessian-vector products (no factorisation reused), time
  and ratio, CG iterations and residual (``calib.record_adjoints``), and the largest relative
  difference of its gradient from the preconditioned one; skipped above ``--cg-max-dofs``;
* the time growth exponents of T_f and T_fg between the smallest and the largest size (target
  <= 1.3), and the peak resident memory of the process after each size.

Then a 3D box footing (quarter of a 2 m x 2 m square footing on a 8 m x 8 m x 4 m block, same
layers) at ``--box-dofs`` with ``--box-method`` (default AMG): forward, forward + gradient, ratio.

Each function is compiled ahead of time ("compile s": tracing, lowering and XLA compilation) and
called once untimed; then ``--repeat`` rounds each time one forward and one gradient call
(alternately, since the load of a shared machine drifts) and the fastest of each is reported. The
CG baseline is timed ``--cg-repeat`` times without a warm-up. Every timed call starts with an empty
factorisation cache (``calib.sparse.FACTOR_CACHE.clear()``), so no call reuses a factorisation of
an earlier one; the host work of each call (factorisations, cache hits, host seconds, Krylov
iterations) comes from :func:`calib.sparse.statistics`. ``--breakdown`` also splits the times into
host factorisations, all host sparse solves (factorisations included) and the rest (JAX: assembly
of the tangent, energies and gradients of the line search, Hessian-vector products). The peak
resident memory is
the process's (``getrusage``), so it never decreases from one size to the next. Timings on a
shared machine are noisy: compare the ratios of one run; on a loaded machine, OpenBLAS with more
threads than free cores can make SuperLU and pyamg much slower (``OPENBLAS_NUM_THREADS=1``).

``--batch 1 4 16`` also measures ``jax.vmap`` of the forward solve and of the value and gradient
over B parameter sets (member i has every parameter times ``1 + 0.1 i / B``, so no two members
share a tangent) on the plane-strain problem at ``--batch-dofs``: the time per member as a ratio
to B = 1 (target: about 1, a batch costs B single solves) and the factorisations per member
(forward and forward + gradient: the adjoint adds none).

Run as ``calib bench-fem [options]`` or ``python experiments/bench_fem.py [options]``; small
sizes (``--dofs 1e4 3e4 --box-dofs 0``) take a minute, the defaults (up to 10^6 DOFs) much longer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import sys
import time

import numpy as np

MATERIALS = ("har", "neo-hookean", "linear")
METHODS = ("auto", "superlu", "amg")

# Geometry (m): half-width and depth of the plane-strain section, half-width of the footing, depth
# of the interface between the two layers.
WIDTH, DEPTH, FOOTING, SAND = 10.0, 10.0, 1.0, 3.0
BOX_SIDE, BOX_DEPTH = 4.0, 4.0   # quarter box: 4 m x 4 m in plan, 4 m deep; footing quarter 1 x 1
OBSERVE_X = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)          # surface points with a "measurement"
OBSERVE_BOX = ((0.0, 0.0), (0.5, 0.5), (1.0, 0.0), (1.0, 1.0), (2.0, 0.0), (2.0, 2.0))
FACTORS = (1.05, 0.95)           # synthetic data: computed settlement times these, alternately
SIGMA = 1e-3                     # m, the measurement scale of the misfit
# Environment variables that set the BLAS threads of SuperLU's and pyamg's dense kernels (on a
# loaded machine, OpenBLAS with more threads than free cores can be 10-100 times slower).
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# Parameters per layer (kPa, kN/m³): a medium sand over a softer clay.
PARAMETERS = {
    "har": {"sand": {"k": 150.0, "g": 100.0, "n": 0.5, "p_a": 100.0, "p0": 50.0},
            "clay": {"k": 80.0, "g": 40.0, "n": 0.6, "p_a": 100.0, "p0": 120.0}},
    "neo-hookean": {"sand": {"mu": 8000.0, "lam": 12000.0},
                    "clay": {"mu": 4000.0, "lam": 16000.0}},
    "linear": {"sand": {"E": 20000.0, "nu": 0.25}, "clay": {"E": 10000.0, "nu": 0.35}},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib bench-fem", description=__doc__.split("\n")[0])
    parser.add_argument("--dofs", type=float, nargs="*", default=[1e4, 1e5, 1e6],
                        help="plane-strain sizes, free DOFs (default 1e4 1e5 1e6; the mesh gets "
                             "as close as its grid allows; none skips the plane-strain part)")
    parser.add_argument("--material", choices=MATERIALS, default="har",
                        help="Houlsby-Amorosi-Rojas soil (default), neo-Hookean or linear elastic")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="linear solver of the Newton steps (default auto: SuperLU below "
                             "--amg-threshold DOFs, AMG-preconditioned CG above)")
    parser.add_argument("--amg-threshold", type=int, default=200_000,
                        help="size from which --method auto uses AMG (default 200000)")
    parser.add_argument("--pressure", type=float, default=100.0,
                        help="footing pressure, kPa (default 100)")
    parser.add_argument("--unit-weight", type=float, default=0.0,
                        help="gravity: unit weight of the soil, kN/m³ (default 0: no gravity)")
    parser.add_argument("--load-steps", type=int, default=1, help="load increments (default 1)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="timed calls per measurement after the warm-up; the minimum is "
                             "reported (default 2)")
    parser.add_argument("--cg-max-dofs", type=float, default=2e5,
                        help="run the matrix-free CG baseline only up to this size (default 2e5; "
                             "0 skips it)")
    parser.add_argument("--cg-max-steps", type=int, default=20_000,
                        help="iteration cap of the baseline CG (default 20000)")
    parser.add_argument("--cg-repeat", type=int, default=1,
                        help="timed calls of the CG baseline, after no warm-up (it is compiled "
                             "ahead of time; default 1)")
    parser.add_argument("--box-dofs", type=float, default=1e5,
                        help="size of the 3D box footing, free DOFs (default 1e5; 0 skips it)")
    parser.add_argument("--box-method", choices=METHODS, default="amg",
                        help="linear solver of the 3D case (default amg)")
    parser.add_argument("--batch", type=int, nargs="*", default=[],
                        help="batch sizes B of the jax.vmap measurement (e.g. 1 4 16; B = 1, the "
                             "baseline, is always measured; default none)")
    parser.add_argument("--batch-dofs", type=float, default=2e3,
                        help="plane-strain size of the batch measurement, free DOFs (default 2e3)")
    parser.add_argument("--breakdown", action="store_true",
                        help="split forward times into host factorisation, host solves and JAX")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="directory for bench_fem.nc (xarray, dimension 'size') and "
                             "bench_fem.json")
    args = parser.parse_args(argv)
    if any(d < 50 for d in args.dofs) or (0 < args.box_dofs < 50) or args.batch_dofs < 50:
        parser.error("sizes must be at least 50 DOFs")
    if any(b < 1 for b in args.batch):
        parser.error(f"--batch sizes must be positive integers, got {args.batch}")
    if not args.dofs and args.box_dofs <= 0 and not args.batch:
        parser.error("nothing to run: give --dofs sizes, a positive --box-dofs or --batch sizes")
    if args.repeat < 1 or args.cg_repeat < 1 or args.load_steps < 1 or args.cg_max_steps < 1:
        parser.error("--repeat, --cg-repeat, --load-steps and --cg-max-steps must be positive")
    return args


# -- problems ----------------------------------------------------------------------------------


def grid_2d(dofs: float) -> tuple[int, int]:
    """``(nx, ny)`` with ``2 nx ny`` free DOFs (the count of this problem) close to ``dofs``; ``nx``
    a multiple of 10, so that the footing edge (x = 1 m of 10 m) is a node line."""
    nx = max(10, 10 * round(math.sqrt(dofs / 2) / 10))
    return nx, max(2, round(dofs / (2 * nx)))


def grid_box(dofs: float) -> int:
    """Cells per edge ``n`` (a multiple of 4, so that the footing edge at 1 m of 4 m is a node
    plane) with ``n (n + 1) (3n - 1)`` free DOFs closest to ``dofs``."""
    candidates = np.arange(4, 4 * int(round(dofs ** (1 / 3))) + 8, 4)
    free = candidates * (candidates + 1) * (3 * candidates - 1)
    return int(candidates[np.argmin(np.abs(np.log(free / dofs)))])


@dataclasses.dataclass
class Problem:
    name: str
    model: object
    theta: dict
    observe: np.ndarray        # node ids whose settlement is "measured"
    grid: str
    setup: dict                # seconds of each construction step


def _materials(kind: str):
    from physics import fem

    material = {"har": fem.HoulsbyAmorosiRojas(), "neo-hookean": fem.NeoHookean(),
                "linear": fem.LinearElastic()}[kind]
    return {"sand": material, "clay": material}


def _theta(kind: str):
    import jax.numpy as jnp

    return {layer: {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}
            for layer, values in PARAMETERS[kind].items()}


def _finish(name, model, theta, observe, grid, setup):
    """Build the pattern and the sparse Hessian now, timing each (they are cached properties)."""
    t0 = time.perf_counter()
    model.pattern
    setup["pattern_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.hessian
    setup["hessian_s"] = time.perf_counter() - t0
    return Problem(name, model, theta, observe, grid, setup)


def strip_footing(dofs: float, args) -> Problem:
    """The plane-strain strip footing of the module docstring, at about ``dofs`` free DOFs."""
    from physics import fem

    nx, ny = grid_2d(dofs)
    setup = {}
    t0 = time.perf_counter()
    mesh = fem.rectangle(WIDTH, DEPTH, nx, ny)
    mesh = fem.assign_layers(mesh, [DEPTH - SAND], ["clay", "sand"])
    mesh = mesh.with_boundaries_where(
        "footing", lambda x: np.isclose(x[:, 1], DEPTH) & (x[:, 0] <= FOOTING + 1e-9))
    setup["mesh_s"] = time.perf_counter() - t0
    loads = [fem.Pressure("footing", args.pressure)]
    if args.unit_weight > 0:
        loads.append(fem.gravity(args.unit_weight, 2))
    t0 = time.perf_counter()
    model = fem.Model(mesh, _materials(args.material),
                      supports=[fem.Dirichlet("bottom", "all"), fem.Dirichlet("left", "x"),
                                fem.Dirichlet("right", "x")], loads=loads)
    setup["model_s"] = time.perf_counter() - t0
    top = mesh.boundary_nodes("top")
    observe = np.array([top[np.argmin(np.abs(mesh.points[top, 0] - x))] for x in OBSERVE_X])
    return _finish("plane strain", model, _theta(args.material), observe, f"{nx}x{ny}", setup)


def box_footing(dofs: float, args) -> Problem:
    """A quarter of a square footing on the layered block, tetrahedra, at about ``dofs`` DOFs."""
    from physics import fem

    n = grid_box(dofs)
    setup = {}
    t0 = time.perf_counter()
    mesh = fem.box(BOX_SIDE, BOX_SIDE, BOX_DEPTH, n, n, n)
    mesh = fem.assign_layers(mesh, [BOX_DEPTH - SAND], ["clay", "sand"])
    mesh = mesh.with_boundaries_where(
        "footing", lambda x: np.isclose(x[:, 2], BOX_DEPTH) & (x[:, 0] <= FOOTING + 1e-9)
        & (x[:, 1] <= FOOTING + 1e-9))
    setup["mesh_s"] = time.perf_counter() - t0
    loads = [fem.Pressure("footing", args.pressure)]
    if args.unit_weight > 0:
        loads.append(fem.gravity(args.unit_weight, 3))
    t0 = time.perf_counter()
    model = fem.Model(mesh, _materials(args.material),
                      supports=[fem.Dirichlet("zmin", "all"), fem.Dirichlet("xmin", "x"),
                                fem.Dirichlet("xmax", "x"), fem.Dirichlet("ymin", "y"),
                                fem.Dirichlet("ymax", "y")], loads=loads)
    setup["model_s"] = time.perf_counter() - t0
    top = mesh.boundary_nodes("zmax")
    observe = np.array([top[np.argmin(np.linalg.norm(mesh.points[top, :2] - np.asarray(p), axis=1))]
                        for p in OBSERVE_BOX])
    return _finish("3d box", model, _theta(args.material), observe, f"{n}x{n}x{n}", setup)


# -- measuring ---------------------------------------------------------------------------------


def timed_call(compiled, args) -> dict:
    """One call of ``compiled(*args)`` with an empty factorisation cache: its seconds, value,
    adjoint records and the host work of the call (:func:`calib.sparse.statistics`): cache hits
    and misses (a miss is a factorisation), host factorisation and solve seconds, Krylov
    iterations."""
    import calib
    from experiments._measure import timed

    calib.sparse.FACTOR_CACHE.clear()
    with calib.sparse.statistics() as stats, calib.record_adjoints() as log:
        seconds, value = timed(compiled, *args)
    return {"s": seconds, "value": value, "adjoints": list(log), "hits": stats.cache_hits,
            "misses": stats.cache_misses, "factor_s": stats.factor_seconds,
            "host_solve_s": stats.host_seconds, "krylov": stats.krylov_iterations}


def _adjoint_stats(run) -> tuple[int, float, bool]:
    """(iterations, largest relative residual, all converged) of a call's adjoint solves."""
    records = run["adjoints"]
    if not records:
        return -1, float("nan"), False
    return (int(sum(np.max(r.iterations) for r in records)),
            float(max(np.max(r.residual) for r in records)),
            all(bool(np.all(r.converged)) for r in records))


def _flat(tree) -> dict:
    return {f"{layer}.{name}": float(value) for layer, values in tree.items()
            for name, value in values.items()}


def max_relative_difference(a: dict, b: dict) -> float:
    """Largest ``|a_i - b_i| / |a_i|`` over the parameters (``|a_i|`` floored at 1e-12 max|a|)."""
    fa, fb = _flat(a), _flat(b)
    scale = 1e-12 * max(abs(v) for v in fa.values())
    return max(abs(fa[k] - fb[k]) / max(abs(fa[k]), scale) for k in fa)


def measure(problem: Problem, method: str, args, *, cg: bool) -> dict:
    """Forward, forward + implicit gradient and (if ``cg``) the matrix-free baseline, one size."""
    import jax
    import jax.numpy as jnp

    import calib
    from experiments._measure import compile_ahead, fastest, peak_rss_gb

    model, theta = problem.model, problem.theta
    loading = model.loading()
    newton = model.newton(method=method, amg_threshold=args.amg_threshold)
    resolved = newton.resolved_method
    steps = args.load_steps
    observe = jnp.asarray(problem.observe)

    def solve(th, load, adjoint=None):
        return model.solve(th, load, steps=steps, solver=newton, adjoint=adjoint)

    def settlements(solution, load):
        return -model.displacement(solution.x, load)[observe, -1]

    def forward(th, load):
        solution = solve(th, load)
        return settlements(solution, load), solution.steps, solution.result, solution.max_force

    row = {"case": problem.name, "grid": problem.grid, "dofs": model.n_free,
           "cells": model.mesh.n_cells, "nnz": model.hessian.nnz, "method": resolved,
           **problem.setup}
    row["setup_s"] = sum(problem.setup.values())

    # Forward, compiled ahead; its warm-up call gives the synthetic measurements.
    fwd, row["compile_forward_s"] = compile_ahead(forward, theta, loading)
    s = np.asarray(timed_call(fwd, (theta, loading))["value"][0])
    data = jnp.asarray(s * np.resize(FACTORS, len(problem.observe)))

    def misfit(th, load, measured, adjoint):
        residual = (settlements(solve(th, load, adjoint), load) - measured) / SIGMA
        return 0.5 * jnp.sum(residual ** 2)

    # Forward + implicit gradient (CG preconditioned by the last Newton factorisation).
    implicit = calib.Implicit()
    grad, row["compile_grad_s"] = compile_ahead(
        jax.value_and_grad(lambda th, load, d: misfit(th, load, d, implicit)), theta, loading, data)
    timed_call(grad, (theta, loading, data))  # warm-up

    # Timed calls, forward and gradient alternately (the load of a shared machine drifts).
    forward_runs, grad_runs = [], []
    for _ in range(args.repeat):
        forward_runs.append(timed_call(fwd, (theta, loading)))
        grad_runs.append(timed_call(grad, (theta, loading, data)))
    run = fastest(forward_runs)
    s, newton_steps, result, max_force = run["value"]
    row.update(forward_s=run["s"], newton_steps=int(newton_steps), result=int(result),
               max_force=float(max_force), factorisations=run["misses"],
               settlement_mm=1e3 * float(s[0]))
    if args.breakdown:
        row.update(forward_factor_s=run["factor_s"], forward_host_s=run["host_solve_s"],
                   forward_jax_s=run["s"] - run["host_solve_s"], forward_krylov=run["krylov"])
    run = fastest(grad_runs)
    row["misfit"], gradient = float(run["value"][0]), run["value"][1]
    row.update(grad_s=run["s"], ratio=run["s"] / row["forward_s"],
               grad_factorisations=run["misses"], grad_cache_hits=run["hits"])
    if args.breakdown:
        row.update(grad_factor_s=run["factor_s"], grad_host_s=run["host_solve_s"],
                   grad_jax_s=run["s"] - run["host_solve_s"], grad_krylov=run["krylov"])
    row["adjoint_iterations"], row["adjoint_residual"], row["adjoint_converged"] = \
        _adjoint_stats(run)
    row["gradient"] = _flat(gradient)

    # Matrix-free baseline: plain CG on Hessian-vector products.
    if cg:
        baseline = calib.Implicit(linear_solver=calib.CG(max_steps=args.cg_max_steps),
                                  precondition=False)
        grad_cg, row["compile_cg_s"] = compile_ahead(
            jax.value_and_grad(lambda th, load, d: misfit(th, load, d, baseline)), theta,
            loading, data)
        run = fastest([timed_call(grad_cg, (theta, loading, data))
                       for _ in range(args.cg_repeat)])
        row.update(cg_grad_s=run["s"], cg_ratio=run["s"] / row["forward_s"])
        row["cg_iterations"], row["cg_residual"], row["cg_converged"] = _adjoint_stats(run)
        row["cg_gradient_difference"] = max_relative_difference(gradient, run["value"][1])
    row["peak_rss_gb"] = peak_rss_gb()
    return row


def member_scales(size: int) -> np.ndarray:
    """Parameter factors of the members of a batch of ``size``: ``1 + 0.1 i / size``."""
    return 1.0 + 0.1 * np.arange(size) / size


def measure_batch(problem: Problem, method: str, args) -> list[dict]:
    """Forward and value-and-gradient of the misfit under ``jax.vmap`` over B parameter sets, for
    each B of ``--batch`` (and B = 1): seconds per call and per member, factorisations."""
    import jax
    import jax.numpy as jnp

    import calib
    from experiments._measure import compile_ahead, fastest

    model, theta = problem.model, problem.theta
    newton = model.newton(method=method, amg_threshold=args.amg_threshold)
    observe = jnp.asarray(problem.observe)
    implicit = calib.Implicit()

    def settlements(th, load, adjoint=None):
        solution = model.solve(th, load, steps=args.load_steps, solver=newton, adjoint=adjoint)
        return -model.displacement(solution.x, load)[observe, -1], solution

    def forward(th, load):
        s, solution = settlements(th, load)
        return s, solution.steps, solution.result

    def misfit(th, load, measured):
        s, _ = settlements(th, load, implicit)
        return 0.5 * jnp.sum(((s - measured) / SIGMA) ** 2)

    loading = model.loading()
    rows, data = [], None
    for size in sorted({1, *args.batch}):
        members = jax.tree.map(lambda v: v * jnp.asarray(member_scales(size), v.dtype), theta)
        fwd, compile_f = compile_ahead(jax.vmap(forward, in_axes=(0, None)), members, loading)
        warm = timed_call(fwd, (members, loading))
        if data is None:  # B = 1 comes first: its member is theta itself
            data = jnp.asarray(np.asarray(warm["value"][0][0]) * np.resize(FACTORS, len(observe)))
        grad, compile_g = compile_ahead(jax.vmap(jax.value_and_grad(misfit), in_axes=(0, None, None)),
                                        members, loading, data)
        timed_call(grad, (members, loading, data))  # warm-up
        forward_runs, grad_runs = [], []
        for _ in range(args.repeat):
            forward_runs.append(timed_call(fwd, (members, loading)))
            grad_runs.append(timed_call(grad, (members, loading, data)))
        f, g = fastest(forward_runs), fastest(grad_runs)
        _, steps, results = f["value"]
        rows.append({"batch": size, "dofs": model.n_free, "method": newton.resolved_method,
                     "forward_s": f["s"], "grad_s": g["s"], "forward_member_s": f["s"] / size,
                     "grad_member_s": g["s"] / size, "compile_forward_s": compile_f,
                     "compile_grad_s": compile_g, "newton_steps": int(np.sum(steps)),
                     "all_successful": bool(np.all(np.asarray(results) == 0)),
                     "forward_factorisations": f["misses"], "grad_factorisations": g["misses"],
                     "grad_cache_hits": g["hits"], "forward_host_s": f["host_solve_s"],
                     "grad_host_s": g["host_solve_s"]})
    base = rows[0]
    for row in rows:
        row["forward_ratio"] = row["forward_member_s"] / base["forward_member_s"]
        row["grad_ratio"] = row["grad_member_s"] / base["grad_member_s"]
    return rows


def print_batch(rows):
    first = rows[0]
    print(f"\n  jax.vmap over B parameter sets, plane strain {first['dofs']} DOFs, "
          f"{first['method']}: seconds per member, and as a ratio to B = 1 (target ~1)")
    print(f"  {'B':>4s} {'T_f/B s':>9s} {'ratio':>6s} {'T_fg/B s':>9s} {'ratio':>6s} "
          f"{'Newton/B':>8s} {'fact f/B':>8s} {'fact fg/B':>9s} {'hits fg':>7s} {'host fg s':>9s} "
          f"{'compile f':>9s} {'fg':>6s}  all ok")
    for r in rows:
        b = r["batch"]
        print(f"  {b:4d} {r['forward_member_s']:9.4f} {r['forward_ratio']:6.2f} "
              f"{r['grad_member_s']:9.4f} {r['grad_ratio']:6.2f} {r['newton_steps'] / b:8.2f} "
              f"{r['forward_factorisations'] / b:8.2f} {r['grad_factorisations'] / b:9.2f} "
              f"{r['grad_cache_hits']:7d} {r['grad_host_s']:9.3f} {r['compile_forward_s']:9.1f} "
              f"{r['compile_grad_s']:6.1f}  {r['all_successful']}")


def growth_exponent(dofs, seconds) -> float:
    """Slope of log(seconds) against log(dofs) between the smallest and the largest size (NaN
    with fewer than two distinct sizes)."""
    if len(dofs) == 0:
        return float("nan")
    order = np.argsort(dofs)
    lo, hi = order[0], order[-1]
    if dofs[hi] == dofs[lo]:
        return float("nan")
    return float(math.log(seconds[hi] / seconds[lo]) / math.log(dofs[hi] / dofs[lo]))


# -- output ------------------------------------------------------------------------------------

UNITS = {
    "dofs": "1", "cells": "1", "nnz": "1", "setup_s": "s", "mesh_s": "s", "model_s": "s",
    "pattern_s": "s", "hessian_s": "s", "compile_forward_s": "s", "compile_grad_s": "s",
    "compile_cg_s": "s", "forward_s": "s", "grad_s": "s", "ratio": "1", "cg_grad_s": "s",
    "cg_ratio": "1", "newton_steps": "1", "result": "1",
    "max_force": "kN (kN/m in plane strain)",
    "factorisations": "1", "grad_factorisations": "1", "grad_cache_hits": "1",
    "settlement_mm": "mm", "misfit": "1", "adjoint_iterations": "1", "adjoint_residual": "1",
    "cg_iterations": "1", "cg_residual": "1", "cg_gradient_difference": "1",
    "peak_rss_gb": "GB", "forward_factor_s": "s", "forward_host_s": "s", "forward_jax_s": "s",
    "forward_krylov": "1", "grad_factor_s": "s", "grad_host_s": "s", "grad_jax_s": "s",
    "grad_krylov": "1",
}
DESCRIPTIONS = {
    "dofs": "free degrees of freedom", "forward_s": "forward solve, fastest call",
    "grad_s": "value and implicit gradient (factorisation-preconditioned CG), fastest call",
    "ratio": "grad_s / forward_s", "cg_grad_s": "value and gradient, matrix-free plain CG adjoint",
    "cg_ratio": "cg_grad_s / forward_s",
    "peak_rss_gb": "peak resident memory of the process so far",
    "adjoint_iterations": "CG iterations of the preconditioned adjoint solve",
    "cg_iterations": "CG iterations of the matrix-free adjoint solve",
    "cg_gradient_difference": "largest relative difference between the two gradients",
    "forward_factor_s": "host factorisations (or AMG set-ups) inside forward_s",
    "forward_host_s": "all host tangent solves inside forward_s (factorisations included)",
    "forward_jax_s": "forward_s - forward_host_s: JAX assembly, energies, gradients",
    "setup_s": "mesh, model, sparsity pattern and SparseHessian construction",
}


def to_dataset(rows, summary, config, environment):
    import xarray as xr

    keys = [k for k in UNITS if any(k in r for r in rows)]
    data = {}
    for key in keys:
        values = [r.get(key, np.nan) for r in rows]
        values = [np.nan if v is None else v for v in values]
        attrs = {"units": UNITS[key]}
        if key in DESCRIPTIONS:
            attrs["description"] = DESCRIPTIONS[key]
        data[key] = ("size", np.asarray(values, dtype=float), attrs)
    for key in ("case", "grid", "method"):
        data[key] = ("size", np.asarray([r[key] for r in rows], dtype=str))
    parameters = sorted({p for r in rows for p in r.get("gradient", {})})
    data["gradient"] = (("size", "parameter"),
                        np.asarray([[r.get("gradient", {}).get(p, np.nan) for p in parameters]
                                    for r in rows]),
                        {"units": "1 / (parameter unit)",
                         "description": "d misfit / d parameter, implicit adjoint"})
    attrs = {"title": "calib bench-fem", **{f"config_{k}": json.dumps(v, default=str)
                                            for k, v in config.items()},
             **{f"env_{k}": str(v) for k, v in environment.items()},
             **{k: float(v) for k, v in summary.items()}}
    return xr.Dataset(data, coords={"size": np.arange(len(rows)), "parameter": parameters},
                      attrs=attrs)


def write_results(directory: pathlib.Path, rows, summary, config, environment, batch=()):
    """``bench_fem.json`` (everything, the batch rows under ``"batch"``) and, for the size sweep,
    ``bench_fem.nc``."""
    from experiments._measure import jsonable

    directory.mkdir(parents=True, exist_ok=True)
    if rows:
        to_dataset(rows, summary, config, environment).to_netcdf(directory / "bench_fem.nc",
                                                                 engine="h5netcdf")
    (directory / "bench_fem.json").write_text(json.dumps(
        {"config": config, "environment": environment, "summary": summary, "rows": rows,
         "batch": list(batch)}, indent=2, default=jsonable) + "\n")


def _fmt(value, spec: str, width: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{width}s}"
    return f"{value:{width}{spec}}"


def print_table(rows):
    print(f"\n  {'case':12s} {'DOFs':>8s} {'grid':>11s} {'method':>7s} {'Newton':>6s} "
          f"{'T_f s':>8s} {'T_fg s':>8s} {'ratio':>6s} {'adj it':>6s} "
          f"{'T_fg CG s':>9s} {'ratio':>6s} {'CG it':>6s} {'CG resid':>8s} {'grad diff':>9s} "
          f"{'RSS GB':>6s}")
    for r in rows:
        print(f"  {r['case']:12s} {r['dofs']:8d} {r['grid']:>11s} {r['method']:>7s} "
              f"{r['newton_steps']:6d} {r['forward_s']:8.3f} {r['grad_s']:8.3f} {r['ratio']:6.2f} "
              f"{r['adjoint_iterations']:6d} {_fmt(r.get('cg_grad_s'), '.3f', 9)} "
              f"{_fmt(r.get('cg_ratio'), '.2f', 6)} {_fmt(r.get('cg_iterations'), 'd', 6)} "
              f"{_fmt(r.get('cg_residual'), '.1e', 8)} "
              f"{_fmt(r.get('cg_gradient_difference'), '.1e', 9)} {r['peak_rss_gb']:6.2f}")
    print(f"\n  {'case':12s} {'DOFs':>8s} {'setup s':>8s} {'mesh':>6s} {'model':>6s} "
          f"{'pattern':>7s} {'hess.':>6s} | {'compile f':>9s} {'fg':>6s} {'CG':>6s} | "
          f"{'settle mm':>9s} {'misfit':>8s}")
    for r in rows:
        print(f"  {r['case']:12s} {r['dofs']:8d} {r['setup_s']:8.2f} {r['mesh_s']:6.2f} "
              f"{r['model_s']:6.2f} {r['pattern_s']:7.2f} {r['hessian_s']:6.2f} | "
              f"{r['compile_forward_s']:9.1f} {r['compile_grad_s']:6.1f} "
              f"{_fmt(r.get('compile_cg_s'), '.1f', 6)} | {r['settlement_mm']:9.3f} "
              f"{r['misfit']:8.4f}")
    if any("forward_host_s" in r for r in rows):
        print("\n  time split (--breakdown): host = sparse solves on the host (factorisation "
              "included), JAX = the rest")
        print(f"  {'case':12s} {'DOFs':>8s} | {'T_f: #fact':>10s} {'factor s':>8s} {'host s':>7s} "
              f"{'JAX s':>7s} {'Krylov':>6s} | {'T_fg: #fact':>11s} {'hits':>4s} {'factor s':>8s} "
              f"{'host s':>7s} {'JAX s':>7s} {'Krylov':>6s}")
        for r in rows:
            print(f"  {r['case']:12s} {r['dofs']:8d} | {r['factorisations']:10d} "
                  f"{_fmt(r.get('forward_factor_s'), '.3f', 8)} "
                  f"{_fmt(r.get('forward_host_s'), '.3f', 7)} "
                  f"{_fmt(r.get('forward_jax_s'), '.3f', 7)} "
                  f"{_fmt(r.get('forward_krylov'), 'd', 6)} | {r['grad_factorisations']:11d} "
                  f"{r['grad_cache_hits']:4d} {_fmt(r.get('grad_factor_s'), '.3f', 8)} "
                  f"{_fmt(r.get('grad_host_s'), '.3f', 7)} {_fmt(r.get('grad_jax_s'), '.3f', 7)} "
                  f"{_fmt(r.get('grad_krylov'), 'd', 6)}")


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)

    from experiments._measure import environment as measure_environment

    environment = measure_environment(**{k: os.environ[k] for k in BLAS_THREADS
                                         if k in os.environ})
    print(f"bench-fem: {args.material} strip footing on two layers, {args.pressure:g} kPa"
          f"{f', gravity {args.unit_weight:g} kN/m³' if args.unit_weight > 0 else ''}, method "
          f"{args.method}, {args.load_steps} load step(s), backend {environment['backend']}, "
          f"min of {args.repeat} timed call(s) after a warm-up; BLAS threads: "
          + (", ".join(f"{k}={os.environ[k]}" for k in BLAS_THREADS if k in os.environ)
             or "default"))
    rows = []
    for dofs in sorted(args.dofs):
        problem = strip_footing(dofs, args)
        cg = problem.model.n_free <= args.cg_max_dofs
        print(f"  ... {problem.model!r}, grid {problem.grid}"
              f"{'' if cg else ', CG baseline skipped (--cg-max-dofs)'}", flush=True)
        rows.append(measure(problem, args.method, args, cg=cg))
        del problem
    if args.box_dofs > 0:
        problem = box_footing(args.box_dofs, args)
        cg = problem.model.n_free <= args.cg_max_dofs
        print(f"  ... {problem.model!r}, grid {problem.grid}"
              f"{'' if cg else ', CG baseline skipped (--cg-max-dofs)'}", flush=True)
        rows.append(measure(problem, args.box_method, args, cg=cg))
        del problem
    batch = []
    if args.batch:
        problem = strip_footing(args.batch_dofs, args)
        print(f"  ... batches {sorted({1, *args.batch})} of {problem.model!r}, grid {problem.grid}",
              flush=True)
        batch = measure_batch(problem, args.method, args)
        del problem
    summary = {}
    if rows:
        print_table(rows)
        summary = summarise(rows)
    if batch:
        print_batch(batch)
        largest = batch[-1]
        summary.update(batch_size=largest["batch"], batch_forward_ratio=largest["forward_ratio"],
                       batch_grad_ratio=largest["grad_ratio"])
    if args.out is not None:
        write_results(args.out, rows, summary, vars(args), environment, batch)
        print(f"\n  results written to {args.out}: bench_fem.json"
              + (" and bench_fem.nc" if rows else ""))
    return 0


def summarise(rows) -> dict:
    """Print and return the ratios and growth exponents of the size sweep."""
    plane = [r for r in rows if r["case"] == "plane strain"]
    dofs = [r["dofs"] for r in plane]
    summary = {"forward_exponent": growth_exponent(dofs, [r["forward_s"] for r in plane]),
               "grad_exponent": growth_exponent(dofs, [r["grad_s"] for r in plane]),
               "max_ratio": max(r["ratio"] for r in rows)}
    print("\n  T_fg / T_f (implicit, factorisation-preconditioned): "
          + ", ".join(f"{r['dofs']}: {r['ratio']:.2f}" for r in rows) + "  (target <= 1.2)")
    with_cg = [r for r in rows if "cg_ratio" in r]
    if with_cg:
        print("  T_fg / T_f (matrix-free CG baseline):                "
              + ", ".join(f"{r['dofs']}: {r['cg_ratio']:.2f} ({r['cg_iterations']} it)"
                          for r in with_cg))
        summary["max_cg_gradient_difference"] = max(r["cg_gradient_difference"] for r in with_cg)
    if len(set(dofs)) > 1:
        print(f"  growth exponent {min(dofs)} -> {max(dofs)} DOFs: T_f ~ N^"
              f"{summary['forward_exponent']:.2f}, T_fg ~ N^{summary['grad_exponent']:.2f} "
              f"(target <= 1.3)")
    return summary


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
