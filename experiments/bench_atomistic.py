"""Benchmark: atomistic relaxation and implicit gradients of a relaxed property, against ASE.

Fcc Morse copper (Girifalco & Weizer's ``MORSE_CU``, smooth cutoff switched off between 5.5 and
6.5 Å; the same function as ASE's ``MorsePotential(epsilon=D, r0=r0, rho0=alpha*r0,
rcut1=5.5/r0, rcut2=6.5/r0)``), measured side by side in one run:

(1) relaxation of a ``cells``³ supercell with one vacancy and a small seeded rattle:
    ``physics.atomistic.relax`` with ``calib.LBFGS`` and ``calib.FIRE`` (compile time apart; run
    time = median of warm calls, neighbour-list build included) against ASE's optimisers on ASE's
    calculator, at the same force tolerance. ASE stops on the per-atom force norm
    ``max_i |F_i| <= fmax``, calib on the largest component, so ours runs with
    ``tol = fmax / sqrt(3)`` (at least as strict); both final structures are then re-evaluated with
    the *same* evaluator (ASE's calculator) for their largest per-atom force norm and energy.
    ASE's ``LBFGS`` runs too, as ASE's practical quasi-Newton method at large N: ``BFGSLineSearch``
    keeps a dense 3N x 3N inverse Hessian (O((3N)³) work per update) and is skipped when that would
    not fit in ``--ase-max-memory-gb``. An ASE run stopped by ``--ase-max-steps`` or
    ``--ase-max-seconds`` reports its time per step and a total EXTRAPOLATED to the number of steps
    our solver of the same kind needed (FIRE for FIRE, L-BFGS otherwise), marked as such;
(2) value-and-grad (implicit) of the constant-volume vacancy formation energy with respect to
    θ = {D, alpha, r0}, against the forward evaluation alone, after warm-up, both under ``jax.jit``
    (neighbour lists built once, at trace time) and eagerly (lists rebuilt on every call); plus the
    gradient against a central finite difference at the smallest size;
(3) scaling of the value-and-grad time with the number of atoms: exponent of a least-squares fit of
    log time against log N.

"compile s" is the lowering and XLA compilation inside the first call (JAX's monitoring events;
tracing is not included), "run s" the median of ``--repeats`` later calls. Timings on a loaded
machine are noisy; compare the ratios measured in one run. Run as
``calib bench-atomistic [options]`` or ``python experiments/bench_atomistic.py [options]``; small
sizes (``--cells 6 --scaling-cells 4 5 6``) take a few minutes, the defaults (~4,000 and ~32,000
atoms, ASE included) much longer.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pathlib
import sys
import time

import numpy as np

LATTICE_CONSTANT = 3.615  # Å, the starting guess of a0 and the lattice of the relaxed crystals
CUTOFF, ONSET = 6.5, 5.5  # Å, the smooth switch of the Morse potential (ASE: rcut2, rcut1 × r0)
ASE_OPTIMIZERS = ("FIRE", "BFGSLineSearch", "LBFGS")
THETA_NAMES = ("D", "alpha", "r0")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib bench-atomistic", description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10, 20],
                        help="fcc supercells (4 cells³ atoms, one removed) for parts 1 and 2 "
                             "(default 10 20: ~4,000 and ~32,000 atoms)")
    parser.add_argument("--scaling-cells", type=int, nargs="*", default=[6, 8, 10, 13, 16, 20],
                        help="supercells of the scaling fit, part 3 (default 6 8 10 13 16 20: "
                             "~860 to ~32,000 atoms; none skips the part)")
    parser.add_argument("--fmax", type=float, default=1e-3,
                        help="force tolerance of part 1: ASE's largest per-atom force norm, eV/Å "
                             "(ours: largest component <= fmax/sqrt(3)); default 1e-3, tight enough "
                             "that the final energies of all optimisers agree to ~1e-8 eV/atom")
    parser.add_argument("--rattle", type=float, default=0.05,
                        help="standard deviation of the seeded start displacement, Å (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rattle (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed warm runs per case (default 3)")
    parser.add_argument("--solvers", nargs="+", default=["LBFGS", "FIRE"], choices=["LBFGS", "FIRE"],
                        help="calib solvers of part 1 (default both)")
    parser.add_argument("--skip-ase", action="store_true", help="skip the ASE runs of part 1")
    parser.add_argument("--ase-optimizers", nargs="+", default=list(ASE_OPTIMIZERS),
                        choices=ASE_OPTIMIZERS, help="ASE optimisers (default: all three)")
    parser.add_argument("--ase-max-steps", type=int, default=2000,
                        help="most steps of one ASE relaxation; beyond, its time is extrapolated "
                             "(default 2000)")
    parser.add_argument("--ase-max-seconds", type=float, default=1800.0,
                        help="wall-clock limit of one ASE relaxation, s; beyond, its time is "
                             "extrapolated (default 1800)")
    parser.add_argument("--ase-max-memory-gb", type=float, default=16.0,
                        help="skip BFGSLineSearch when its dense 3N x 3N matrices would need more "
                             "than this, GB (default 16)")
    parser.add_argument("--grad-modes", nargs="+", default=["jit", "eager"], choices=["jit", "eager"],
                        help="how part 2 calls the vacancy formation energy (default both)")
    parser.add_argument("--fd-params", nargs="*", default=["alpha"], choices=THETA_NAMES,
                        help="parameters checked against central finite differences (default alpha)")
    parser.add_argument("--fd-step", type=float, default=1e-5,
                        help="relative finite-difference step (default 1e-5)")
    parser.add_argument("--count-steps", action=argparse.BooleanOptionalAction, default=True,
                        help="part 3: also count the L-BFGS steps of each vacancy relaxation (one "
                             "more compilation per size; default on)")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3], choices=[1, 2, 3],
                        help="which parts to run (default 1 2 3)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="write the results here: JSON if the name ends in .json, else CSV")
    args = parser.parse_args(argv)
    for name in ("cells", "scaling_cells"):
        if any(c < 1 for c in getattr(args, name)):
            parser.error(f"--{name.replace('_', '-')}: supercells must be positive integers")
    if args.fmax <= 0 or args.repeats < 1 or args.ase_max_steps < 1:
        parser.error("--fmax, --repeats and --ase-max-steps must be positive")
    return args


# -- helpers ---------------------------------------------------------------------------------------


def fit_exponent(n_atoms, seconds) -> float:
    """Least-squares slope of log(seconds) against log(n_atoms); NaN with fewer than two sizes."""
    n, t = np.asarray(n_atoms, float), np.asarray(seconds, float)
    if len(np.unique(n)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def vacancy_crystal(cells: int, rattle: float, seed: int):
    """Fcc Cu supercell at 3.615 Å with atom 0 removed and every atom displaced by a seeded
    Gaussian of standard deviation ``rattle`` (Å) per component."""
    from physics.atomistic import fcc, remove_atom

    crystal = remove_atom(fcc(LATTICE_CONSTANT, cells, symbol="Cu"), 0)
    noise = np.random.default_rng(seed).standard_normal(crystal.positions.shape)
    return crystal.replace(positions=crystal.positions + rattle * noise)


def ase_calculator(theta):
    """ASE's Morse calculator with the parameters and cutoff switch of ours."""
    from ase.calculators.morse import MorsePotential

    d, alpha, r0 = (float(theta[k]) for k in THETA_NAMES)
    return MorsePotential(epsilon=d, r0=r0, rho0=alpha * r0, rcut1=ONSET / r0, rcut2=CUTOFF / r0)


def ase_atoms(structure, positions=None):
    from ase import Atoms

    positions = structure.positions if positions is None else np.asarray(positions)
    return Atoms(f"Cu{structure.n_atoms}", positions=positions, cell=structure.cell, pbc=structure.pbc)


def evaluate(structure, positions, theta) -> tuple[float, float]:
    """The common evaluator of part 1 (a fresh ASE calculator): ``(energy eV, max_i |F_i| eV/Å)``."""
    atoms = ase_atoms(structure, positions)
    atoms.calc = ase_calculator(theta)
    forces = atoms.get_forces()
    return float(atoms.get_potential_energy()), float(np.max(np.linalg.norm(forces, axis=1)))


def ours_like(rows, ase_name: str) -> str:
    """Our solver of the same kind as an ASE optimiser (FIRE for FIRE, L-BFGS for the
    quasi-Newton ones), or the one that ran."""
    wanted = "calib FIRE" if ase_name == "FIRE" else "calib LBFGS"
    return wanted if wanted in rows else next(k for k in rows if k.startswith("calib"))


def dense_bfgs_bytes(n_atoms: int) -> float:
    """Peak memory of ASE's BFGSLineSearch update, about five dense (3N)² float64 matrices
    (H, the identity, A1, A2 and a product)."""
    return 5.0 * 8.0 * (3 * n_atoms) ** 2


def run_ase(structure, theta, name: str, fmax: float, max_steps: int, max_seconds: float):
    """One ASE relaxation; stops at ``fmax``, ``max_steps`` or ``max_seconds``."""
    from ase import optimize

    atoms = ase_atoms(structure)
    atoms.calc = ase_calculator(theta)
    optimizer = getattr(optimize, name)(atoms, logfile=None)
    converged = False
    t0 = time.perf_counter()
    for converged in optimizer.irun(fmax=fmax, steps=max_steps):
        if converged or time.perf_counter() - t0 > max_seconds:
            break
    seconds = time.perf_counter() - t0
    steps = int(optimizer.nsteps)
    return {"time_s": seconds, "steps": steps, "converged": bool(converged),
            "per_step_s": seconds / max(steps, 1), "positions": atoms.get_positions()}


# -- the three parts -------------------------------------------------------------------------------


def part_relaxation(args, potential, theta, records):
    import jax.numpy as jnp

    import calib
    from experiments._measure import time_calls
    from physics.atomistic import neighbour_list, potential_energy, relax

    tol = args.fmax / math.sqrt(3.0)
    print(f"\n(1) relaxation of fcc Cu Morse with one vacancy, rattle {args.rattle} Å (seed {args.seed});"
          f" ASE fmax {args.fmax:g} eV/Å on |F_i|, ours tol {tol:.3g} eV/Å on components")
    summary = {}
    for cells in args.cells:
        structure = vacancy_crystal(cells, args.rattle, args.seed)
        n = structure.n_atoms
        t0 = time.perf_counter()
        neighbours = neighbour_list(structure, potential.cutoff, 1.0)
        list_s = time.perf_counter() - t0
        e_ours = float(potential_energy(potential, jnp.asarray(structure.positions),
                                        jnp.asarray(structure.cell), theta, neighbours))
        e_ase, f_start = evaluate(structure, structure.positions, theta)
        print(f"\n  {n} atoms ({cells}³ cells), {neighbours.capacity} list columns, neighbour list "
              f"{list_s:.2f} s; at the start E = {e_ase:.4f} eV (ours - ASE: {e_ours - e_ase:+.1e} "
              f"eV), max|F_i| {f_start:.3f} eV/Å")
        rows = {}
        for name in args.solvers:
            solver = getattr(calib, name)(tol=tol)
            timing = time_calls(lambda s=solver: relax(potential, theta, structure, solver=s),
                                repeats=args.repeats)
            relaxed = timing["value"]
            energy, fnorm = evaluate(structure, np.asarray(relaxed.positions), theta)
            rows[f"calib {name}"] = {
                "package": "calib", "optimizer": name, "steps": int(relaxed.solution.steps),
                "converged": bool(relaxed.solution.converged), "compile_s": timing["compile_s"],
                "time_s": timing["run_s"], "min_time_s": timing["min_s"],
                "first_call_s": timing["first_s"], "extrapolated": False,
                "energy_eV": energy, "max_force_norm": fnorm}
        if not args.skip_ase:
            for name in args.ase_optimizers:
                key = f"ASE {name}"
                if name == "BFGSLineSearch" and dense_bfgs_bytes(n) > args.ase_max_memory_gb * 1e9:
                    gb = dense_bfgs_bytes(n) / 1e9
                    print(f"  {key}: skipped, its dense 3N x 3N matrices need ~{gb:.0f} GB "
                          f"(> --ase-max-memory-gb {args.ase_max_memory_gb:g})")
                    rows[key] = {"package": "ase", "optimizer": name, "skipped": f"needs ~{gb:.0f} GB"}
                    continue
                result = run_ase(structure, theta, name, args.fmax, args.ase_max_steps,
                                 args.ase_max_seconds)
                energy, fnorm = evaluate(structure, result["positions"], theta)
                row = {"package": "ase", "optimizer": name, "steps": result["steps"],
                       "converged": result["converged"], "compile_s": 0.0,
                       "time_s": result["time_s"], "per_step_s": result["per_step_s"],
                       "extrapolated": False, "energy_eV": energy, "max_force_norm": fnorm}
                if not result["converged"]:
                    # Not converged within the limits: the measured time is a lower bound; estimate
                    # the total from the steps our solver of the same kind needed (at least the
                    # steps already taken).
                    like = ours_like(rows, name)
                    estimate = max(rows[like]["steps"], result["steps"])
                    row.update(measured_s=result["time_s"], extrapolated=True, estimated_steps=estimate,
                               estimate_basis=f"the steps of {like} here" if estimate > result["steps"]
                               else "the steps taken: a lower bound",
                               time_s=result["per_step_s"] * estimate)
                rows[key] = row
        first = f"calib {args.solvers[0]}"
        reference = rows[first]["energy_eV"]
        print(f"  relaxation energy E(start) - E({first}) = {e_ase - reference:.4f} eV; max|F_i| and "
              "E of every final structure from the same evaluator (ASE's calculator)")
        print(f"  {'method':22s} {'steps':>6s} {'compile s':>10s} {'run s':>10s} "
              f"{'max|F_i| eV/Å':>14s} {'E - E(' + first + ') eV':>22s} {'per atom':>9s}  converged")
        for key, row in rows.items():
            if "skipped" in row:
                print(f"  {key:22s} skipped ({row['skipped']})")
                continue
            mark = "*" if row["extrapolated"] else " "
            difference = row["energy_eV"] - reference
            print(f"  {key:22s} {row['steps']:6d} {row['compile_s']:10.2f} {row['time_s']:10.3f}{mark}"
                  f"{row['max_force_norm']:14.2e} {difference:+22.2e} {difference / n:+9.1e}  "
                  f"{row['converged']}")
            if row["extrapolated"]:
                print(f"  {'':22s} * EXTRAPOLATED: not converged when stopped after {row['steps']} "
                      f"steps / {row['measured_s']:.1f} s; {row['per_step_s']:.3f} s/step x "
                      f"{row['estimated_steps']} steps ({row['estimate_basis']})")
            records.append({"part": 1, "cells": cells, "n_atoms": n, "method": key,
                            "energy_minus_reference_eV": row["energy_eV"] - reference,
                            "start_energy_eV": e_ase, "start_energy_ours_minus_ase_eV": e_ours - e_ase,
                            "fmax_target": args.fmax,
                            "meets_fmax": bool(row["max_force_norm"] <= args.fmax), **row})
        ours_best = min(rows[f"calib {k}"]["time_s"] for k in args.solvers)
        ase_rows = {k: r for k, r in rows.items() if k.startswith("ASE") and "skipped" not in r}
        speedups = {}
        for key, row in ase_rows.items():
            speedups[key] = row["time_s"] / ours_best
            like = ours_like(rows, row["optimizer"])
            note = ""
            if row["extrapolated"]:
                note = (" (ASE time extrapolated)" if row["estimated_steps"] > row["steps"]
                        else " (ASE stopped unconverged: a lower bound)")
            print(f"  speed-up vs {key}: {row['time_s'] / ours_best:8.1f}x against our fastest, "
                  f"{row['time_s'] / rows[like]['time_s']:8.1f}x against {like}{note}")
        if ase_rows:
            fastest = min(ase_rows, key=lambda k: ase_rows[k]["time_s"])
            speedups["fastest ASE"] = ase_rows[fastest]["time_s"] / ours_best
            print(f"  speed-up, fastest ASE ({fastest}) / fastest calib: "
                  f"{speedups['fastest ASE']:.1f}x (target >= 10 at ~4,000 atoms)")
        summary[n] = speedups
    return summary


def part_gradient(args, potential, theta, records, cache):
    print("\n(2) vacancy formation energy (constant volume) and its implicit gradient in "
          "θ = {D, alpha, r0}, after warm-up")
    print(f"  {'atoms':>6s} {'mode':6s} {'forward s':>10s} {'value+grad s':>13s} {'ratio':>6s} "
          f"{'compile s (fwd, v+g)':>21s}  E_v eV")
    ratios = {}
    for cells in args.cells:
        for mode in args.grad_modes:
            fwd = measure(cache, "forward", mode, cells, potential, theta, args.repeats)
            vg = measure(cache, "value_and_grad", mode, cells, potential, theta, args.repeats)
            n = 4 * cells ** 3 - 1
            ratio = vg["run_s"] / fwd["run_s"]
            ratios[f"{n} {mode}"] = ratio
            value = float(fwd["value"])
            print(f"  {n:6d} {mode:6s} {fwd['run_s']:10.3f} {vg['run_s']:13.3f} {ratio:6.2f} "
                  f"{fwd['compile_s']:10.1f} {vg['compile_s']:10.1f}  {value:.6f}")
            records.append({"part": 2, "cells": cells, "n_atoms": n, "method": mode,
                            "forward_s": fwd["run_s"], "value_and_grad_s": vg["run_s"],
                            "forward_min_s": fwd["min_s"], "value_and_grad_min_s": vg["min_s"],
                            "ratio": ratio, "forward_compile_s": fwd["compile_s"],
                            "value_and_grad_compile_s": vg["compile_s"], "vacancy_energy_eV": value,
                            **{f"grad_{k}": float(vg["value"][1][k]) for k in THETA_NAMES}})
    print("  ratio value+grad / forward: " + ", ".join(f"{k}: {r:.2f}" for k, r in ratios.items())
          + " (target <= 1.3)")

    # Central finite differences at the smallest size.
    cells = min(args.cells)
    mode = "jit" if "jit" in args.grad_modes else "eager"
    forward = function(cache, "forward", mode, cells, potential)
    gradient = measure(cache, "value_and_grad", mode, cells, potential, theta, args.repeats)["value"][1]
    errors = {}
    for name in args.fd_params:
        h = args.fd_step * abs(float(theta[name]))
        plus = float(forward({**theta, name: theta[name] + h}))
        minus = float(forward({**theta, name: theta[name] - h}))
        fd = (plus - minus) / (2 * h)
        implicit = float(gradient[name])
        errors[name] = abs(implicit - fd) / abs(fd)
        print(f"  dE_v/d{name} at {4 * cells ** 3 - 1} atoms: implicit {implicit:.10e}, central FD "
              f"{fd:.10e} (step {h:.1e}), relative error {errors[name]:.1e}")
        records.append({"part": 2, "cells": cells, "n_atoms": 4 * cells ** 3 - 1,
                        "method": f"finite difference d/d{name}", "implicit": implicit,
                        "finite_difference": fd, "relative_error": errors[name]})
    return {"ratios": ratios, "fd_relative_errors": errors}


def part_scaling(args, potential, theta, records, cache):
    print("\n(3) scaling of relax + implicit gradient (jit value_and_grad of the vacancy formation "
          "energy) with N")
    print(f"  {'cells':>5s} {'atoms':>6s} {'value+grad s':>13s} {'µs/atom':>9s} {'compile s':>10s}"
          + (f" {'L-BFGS steps':>13s} {'ms/step':>8s}" if args.count_steps else ""))
    sizes, seconds, steps = [], [], []
    for cells in args.scaling_cells:
        vg = measure(cache, "value_and_grad", "jit", cells, potential, theta, args.repeats)
        n = 4 * cells ** 3 - 1
        sizes.append(n)
        seconds.append(vg["run_s"])
        record = {"part": 3, "cells": cells, "n_atoms": n, "method": "jit value_and_grad",
                  "value_and_grad_s": vg["run_s"], "value_and_grad_min_s": vg["min_s"],
                  "compile_s": vg["compile_s"]}
        line = f"  {cells:5d} {n:6d} {vg['run_s']:13.3f} {1e6 * vg['run_s'] / n:9.1f} {vg['compile_s']:10.1f}"
        if args.count_steps:
            steps.append(vacancy_relaxation_steps(potential, theta, cells))
            record["relaxation_steps"] = steps[-1]
            line += f" {steps[-1]:13d} {1e3 * vg['run_s'] / steps[-1]:8.2f}"
        print(line)
        records.append(record)
    exponent = fit_exponent(sizes, seconds)
    print(f"  fitted exponent: time ~ N^{exponent:.2f} (target <= 1.2)"
          + ("" if len(set(sizes)) > 1 else "  (needs two sizes or more)"))
    result = {"exponent": exponent, "n_atoms": sizes, "seconds": seconds}
    if steps:
        # Time = steps x cost per step: which of the two grows faster than N?
        result.update(steps=steps, steps_exponent=fit_exponent(sizes, steps),
                      per_step_exponent=fit_exponent(sizes, np.divide(seconds, steps)))
        print(f"  of which: L-BFGS steps of the vacancy relaxation ~ N^{result['steps_exponent']:.2f}, "
              f"time per step ~ N^{result['per_step_exponent']:.2f}")
    records.append({"part": 3, "method": "fitted exponent", "exponent": exponent,
                    "n_sizes": len(set(sizes)), **{k: result[k] for k in ("steps_exponent",
                                                                          "per_step_exponent")
                                                    if k in result}})
    return result


def vacancy_relaxation_steps(potential, theta, cells: int) -> int:
    """Solver steps of the vacancy relaxation inside ``vacancy_formation_energy`` (the same
    relaxation, repeated eagerly: the function itself returns only the energy)."""
    from physics.atomistic import fcc, lattice_constant, relax, remove_atom

    scale = float(lattice_constant(potential, theta, "fcc", LATTICE_CONSTANT)) / LATTICE_CONSTANT
    defect = remove_atom(fcc(LATTICE_CONSTANT, cells), 0)
    relaxed = relax(potential, theta, defect, reference_positions=defect.positions * scale,
                    reference_cell=defect.cell * scale)
    return int(relaxed.solution.steps)


def function(cache, kind, mode, cells, potential):
    """The vacancy formation energy (``kind="forward"``) or its value and gradient, for ``cells``,
    jitted or eager; cached so every size compiles once per run."""
    key = ("fn", kind, mode, cells)
    if key not in cache:
        import jax

        from physics.atomistic import vacancy_formation_energy

        def forward(th):
            return vacancy_formation_energy(potential, th, "fcc", LATTICE_CONSTANT, cells,
                                            condition="constant_volume")

        fn = forward if kind == "forward" else jax.value_and_grad(forward)
        cache[key] = jax.jit(fn) if mode == "jit" else fn
    return cache[key]


def measure(cache, kind, mode, cells, potential, theta, repeats):
    from experiments._measure import time_calls

    key = ("timing", kind, mode, cells)
    if key not in cache:
        cache[key] = time_calls(function(cache, kind, mode, cells, potential), theta, repeats=repeats)
    return cache[key]


# -- output ----------------------------------------------------------------------------------------


def write_results(path: pathlib.Path, config, environment, records, summary):
    from experiments._measure import jsonable

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"config": config, "environment": environment, "summary": summary,
                                    "records": records}, indent=2, default=jsonable) + "\n")
        return
    columns = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(records)


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from physics.atomistic import MORSE_CU, Morse

    potential = Morse(cutoff=CUTOFF, onset=ONSET)
    theta = {k: jnp.asarray(MORSE_CU[k], jnp.float64) for k in THETA_NAMES}
    from experiments._measure import environment as measure_environment

    environment = measure_environment()
    try:
        import ase

        environment["ase"] = ase.__version__
    except ImportError:
        if 1 in args.parts:
            print("ase is not installed (pip install ase): part 1 needs it", file=sys.stderr)
            return 2
    print(f"bench-atomistic: Morse Cu {MORSE_CU}, cutoff {ONSET}-{CUTOFF} Å, backend "
          f"{environment['backend']}, {args.repeats} timed runs after a warm-up")
    records, summary, cache = [], {}, {}
    if 1 in args.parts:
        summary["speedup_vs_ase"] = part_relaxation(args, potential, theta, records)
    if 2 in args.parts:
        summary["gradient"] = part_gradient(args, potential, theta, records, cache)
    if 3 in args.parts and args.scaling_cells:
        summary["scaling"] = part_scaling(args, potential, theta, records, cache)
    if args.out is not None:
        write_results(args.out, vars(args), environment, records, summary)
        print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
