"""Benchmark: atomistic relaxations against LAMMPS, and the cost of one force evaluation.

Fcc Cu with one vacancy and a seeded rattle, relaxed at fixed cell from the same start by LAMMPS
(``min_style cg``, one core) and by ``physics.atomistic.relax`` (preconditioned L-BFGS), in one
run. Potentials (``--potentials``):

- ``morse``: Girifalco & Weizer's Morse Cu (``MORSE_CU``), cutoff 6.5 Å, energy shifted to 0 there
  (LAMMPS ``pair_style morse`` + ``pair_modify shift yes``; ours ``Morse(truncation="shifted")``);
- ``eam``: Sutton–Chen Cu (``SUTTON_CHEN["Cu"]``, smooth switch 5.85–6.5 Å) tabulated into a
  DYNAMO setfl file that both read (LAMMPS ``pair_style eam/alloy``; ours ``TabulatedEAM`` with
  LAMMPS's interpolation, from :func:`read_eam_setfl`);
- ``sutton-chen``: the analytic Sutton–Chen of ours against the same LAMMPS table.

Both stop at the largest per-atom force norm ``--fmax`` (LAMMPS ``min_modify norm max``; ours at
``tol = fmax / sqrt(3)`` on components, at least as strict). Times: LAMMPS's ``minimize`` (its
neighbour lists included); ours the median of ``--repeats`` warm ``relax`` calls (compilation
apart, list build included). Each side runs in a process of its own: LAMMPS on one core, ours on
the cores of ``--calib-cores`` (0: all; JAX's CPU backend uses every core it may).

The per-evaluation breakdown (``--breakdown``) times, at the start structure, one energy, one
energy and forces, the staleness guard and the list's geometry alone, for the explicit-force
kernel (``potential_energy``) and for reverse-mode autodiff of the site energies (the algorithm
used before, kept for potentials of other forms), against LAMMPS's own pair and neighbour times
per force evaluation. Run as ``calib bench-lammps [options]`` or
``python experiments/bench_lammps.py``; LAMMPS is the optional extra ``lammps`` (the module
``experiments._lammps`` says what else it needs). Without it the LAMMPS columns are skipped with a
message, and the rest still runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

LATTICE_CONSTANT = 3.615  # Å
CUTOFF = 6.5  # Å
POTENTIALS = ("morse", "eam", "sutton-chen")
# The setfl grid of the tabulated Sutton-Chen: r up to the cutoff, rho well past the bulk's ~100.
TABLE = {"n_rho": 2001, "d_rho": 0.15, "n_r": 2001, "d_r": CUTOFF / 2000}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib bench-lammps", description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10, 20],
                        help="fcc supercells, 4 cells³ - 1 atoms (default 10 20: 3,999 and 31,999)")
    parser.add_argument("--potentials", nargs="+", default=["morse", "eam"], choices=POTENTIALS,
                        help="default morse eam")
    parser.add_argument("--fmax", type=float, default=1e-3,
                        help="largest per-atom force norm at the end, eV/Å (default 1e-3)")
    parser.add_argument("--rattle", type=float, default=0.05,
                        help="standard deviation of the seeded start displacement, Å (default 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skin", type=float, default=1.0, help="neighbour skin, Å, both codes (1.0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed warm relaxations (default 3)")
    parser.add_argument("--calib-cores", type=int, nargs="+", default=[0],
                        help="cores our side may use, one process each; 0 = all (default 0)")
    parser.add_argument("--breakdown", action=argparse.BooleanOptionalAction, default=True,
                        help="time the parts of one evaluation (default on)")
    parser.add_argument("--autodiff-max-atoms", type=int, default=40000,
                        help="skip the autodiff breakdown above this many atoms (its memory)")
    parser.add_argument("--skip-lammps", action="store_true")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write the results as JSON")
    parser.add_argument("--worker", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any(c < 1 for c in args.cells):
        parser.error("--cells: supercells must be positive integers")
    if args.fmax <= 0 or args.repeats < 1 or args.skin < 0:
        parser.error("--fmax and --repeats must be positive, --skin non-negative")
    if any(c < 0 or c > (os.cpu_count() or 1) for c in args.calib_cores):
        parser.error(f"--calib-cores: between 0 and {os.cpu_count()} (0 = all)")
    return args


# -- the shared set-up ----------------------------------------------------------------------------


def vacancy_crystal(cells: int, rattle: float, seed: int):
    """Fcc Cu at 3.615 Å, atom 0 removed, every atom moved by a seeded Gaussian (Å), wrapped into
    the cell (LAMMPS keeps atoms inside its box)."""
    from physics.atomistic import fcc, remove_atom

    crystal = remove_atom(fcc(LATTICE_CONSTANT, cells, symbol="Cu"), 0)
    noise = np.random.default_rng(seed).standard_normal(crystal.positions.shape)
    positions = crystal.positions + rattle * noise
    cell = crystal.cell
    fractional = np.mod(positions @ np.linalg.inv(cell), 1.0)
    return crystal.replace(positions=fractional @ cell)


def write_table(directory: pathlib.Path) -> pathlib.Path:
    """The tabulated Sutton-Chen Cu as a setfl file (written once per run)."""
    from physics.atomistic import SUTTON_CHEN, SuttonChen, tabulate_eam, write_eam_setfl

    path = directory / "sutton_chen_cu.eam.alloy"
    potential, tables = tabulate_eam(SuttonChen(cutoff=CUTOFF), SUTTON_CHEN["Cu"], symbol="Cu",
                                     mass=63.546, lattice_constant=3.61, lattice_type="fcc",
                                     **TABLE)
    write_eam_setfl(path, potential, tables, comments=["Sutton-Chen Cu (1990), smooth switch "
                                                       f"{0.9 * CUTOFF:g}-{CUTOFF:g} A"])
    return path


def ours(name: str, table: pathlib.Path):
    """``(potential, theta)`` of ours for ``name``."""
    import jax.numpy as jnp

    from physics.atomistic import MORSE_CU, SUTTON_CHEN, Morse, SuttonChen, read_eam_setfl

    if name == "morse":
        return Morse(cutoff=CUTOFF, truncation="shifted"), {k: jnp.asarray(v) for k, v in MORSE_CU.items()}
    if name == "sutton-chen":
        return SuttonChen(cutoff=CUTOFF), {k: jnp.asarray(v) for k, v in SUTTON_CHEN["Cu"].items()}
    potential, theta = read_eam_setfl(table)
    return potential, {k: jnp.asarray(v) for k, v in theta.items()}


def lammps_potential(name: str, table: pathlib.Path) -> dict:
    from physics.atomistic import MORSE_CU

    if name == "morse":
        return {"style": "morse", "cutoff": CUTOFF, **MORSE_CU}
    return {"style": "eam/alloy", "file": str(table), "elements": ["Cu"]}


# -- our side, in a worker process ----------------------------------------------------------------


def counting(potential, counter: list):
    """A copy of ``potential`` that counts its evaluations (energy, or energy and forces) in
    ``counter[0]`` through a host callback: for one untimed relaxation."""
    import jax

    base = type(potential)

    def radial_terms(self, theta):
        jax.debug.callback(lambda: counter.__setitem__(0, counter[0] + 1))
        return base.radial_terms(self, theta)

    cls = dataclasses.dataclass(frozen=True)(type(f"Counting{base.__name__}", (base,),
                                                  {"radial_terms": radial_terms}))
    return cls(**{f.name: getattr(potential, f.name) for f in dataclasses.fields(potential)
                  if f.init})


def breakdown(potential, theta, structure, neighbours, repeats: int, autodiff: bool) -> dict:
    """Milliseconds of the parts of one evaluation at the start structure (fastest of a few)."""
    import jax
    import jax.numpy as jnp

    from experiments._measure import time_calls
    from physics.atomistic import neighbours_valid, potential_energy, site_energies
    from physics.atomistic._radial import _block_geometry, _map_rows

    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    n, capacity = neighbours.index.shape

    def geometry(p, c, nb):
        x, vectors = p.T, nb.images @ c

        def block(start, size):
            *_, r, inside = _block_geometry(x, vectors, nb, start, size, potential.cutoff)
            return jnp.sum(jnp.where(inside, r, 0.0), axis=1)

        return jnp.sum(_map_rows(block, n, capacity))

    parts = {
        "energy": jax.jit(lambda p, c, th, nb: potential_energy(potential, p, c, th, nb)),
        "energy_and_forces": jax.jit(jax.value_and_grad(
            lambda p, c, th, nb: potential_energy(potential, p, c, th, nb))),
        "geometry": jax.jit(lambda p, c, th, nb: geometry(p, c, nb)),
        "guard": jax.jit(lambda p, c, th, nb: neighbours_valid(nb, p, c)),
    }
    if autodiff:
        parts["autodiff_energy_and_forces"] = jax.jit(jax.value_and_grad(
            lambda p, c, th, nb: jnp.sum(site_energies(potential, p, c, th, nb))))
    times = {}
    for key, fn in parts.items():
        timing = time_calls(fn, positions, cell, theta, neighbours, repeats=max(5, 3 * repeats))
        times[f"{key}_ms"] = 1e3 * timing["min_s"]
    if autodiff:
        e_new, f_new = parts["energy_and_forces"](positions, cell, theta, neighbours)
        e_old, f_old = parts["autodiff_energy_and_forces"](positions, cell, theta, neighbours)
        times["autodiff_force_difference"] = float(jnp.max(jnp.abs(f_new - f_old)))
        times["autodiff_energy_difference"] = float(e_new - e_old)
    return times


def worker(request: dict) -> dict:
    """Our side of one (potential, size): list build, breakdown, relaxation, counted evaluations."""
    import time

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import calib
    from experiments._measure import time_calls
    from physics.atomistic import neighbour_list, potential_energy, relax

    potential, theta = ours(request["potential"], pathlib.Path(request["table"]))
    structure = vacancy_crystal(request["cells"], request["rattle"], request["seed"])
    t0 = time.perf_counter()
    neighbours = neighbour_list(structure, potential.cutoff, request["skin"])
    list_s = time.perf_counter() - t0
    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)
    start = float(potential_energy(potential, positions, cell, theta, neighbours))
    out = {"n_atoms": structure.n_atoms, "capacity": neighbours.capacity, "list_s": list_s,
           "start_energy": start, "backend": jax.default_backend(),
           "cores": len(os.sched_getaffinity(0))}
    if request["breakdown"]:
        out["breakdown"] = breakdown(potential, theta, structure, neighbours, request["repeats"],
                                     structure.n_atoms <= request["autodiff_max_atoms"])
    solver = calib.LBFGS(tol=request["fmax"] / math.sqrt(3.0))

    def run():
        # The list is built inside, as a user's relax(potential, theta, structure) does.
        return relax(potential, theta, structure, solver=solver, skin=request["skin"])

    timing = time_calls(run, repeats=request["repeats"])
    relaxed = timing["value"]
    counter = [0]
    counted = relax(counting(potential, counter), theta, structure, solver=solver,
                    skin=request["skin"])
    jax.block_until_ready(counted.energy)
    final_neighbours = neighbour_list(structure.replace(positions=np.asarray(relaxed.positions)),
                                      potential.cutoff, request["skin"])
    forces = -jax.grad(lambda p: potential_energy(potential, p, cell, theta, final_neighbours))(
        relaxed.positions)
    out.update(seconds=timing["run_s"], min_seconds=timing["min_s"],
               compile_s=timing["compile_s"], steps=int(relaxed.solution.steps),
               evaluations=counter[0], converged=bool(relaxed.solution.converged),
               final_energy=float(relaxed.energy),
               max_force_norm=float(jnp.max(jnp.linalg.norm(forces, axis=1))))
    return out


def run_worker(request: dict, cores: int) -> dict:
    """:func:`worker` in a child process on ``cores`` cores (0: all)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "request.json"
        path.write_text(json.dumps(request))
        command = [sys.executable, "-m", "experiments.bench_lammps", "--worker", str(path)]
        if cores:
            command = ["taskset", "-c", ",".join(str(c) for c in range(cores))] + command
        done = subprocess.run(command, capture_output=True, text=True, timeout=7200)
        if done.returncode != 0:
            raise RuntimeError(f"the calib worker failed:\n{done.stderr[-3000:]}")
        return json.loads((pathlib.Path(tmp) / "answer.json").read_text())


# -- the comparison --------------------------------------------------------------------------------


def compare(args, table: pathlib.Path, env: dict | None, workdir: pathlib.Path) -> list[dict]:
    from experiments._lammps import minimise

    records = []
    for name in args.potentials:
        for cells in args.cells:
            structure = vacancy_crystal(cells, args.rattle, args.seed)
            n = structure.n_atoms
            print(f"\n{name}, {n} atoms ({cells}³ cells, one vacancy, rattle {args.rattle} Å)")
            lammps = None
            if env is not None:
                lammps = minimise({"positions": structure.positions, "cell": structure.cell.tolist(),
                                   "potential": lammps_potential(name, table), "skin": args.skin,
                                   "fmax": args.fmax, "max_iterations": 10000},
                                  env, workdir / f"{name}_{cells}")
                print(f"  LAMMPS CG: {lammps['seconds']:.3f} s, {lammps['iterations']} iterations, "
                      f"{lammps['evaluations']} force evaluations "
                      f"({1e3 * lammps['seconds'] / lammps['evaluations']:.2f} ms each), stopped on "
                      f"{lammps['stop']}; max|F_i| {lammps['max_force_norm']:.1e} eV/Å")
            request = {"potential": name, "table": str(table), "cells": cells, "rattle": args.rattle,
                       "seed": args.seed, "skin": args.skin, "fmax": args.fmax,
                       "repeats": args.repeats, "breakdown": args.breakdown,
                       "autodiff_max_atoms": args.autodiff_max_atoms}
            for cores in args.calib_cores:
                result = run_worker(request, cores)
                label = f"calib L-BFGS ({result['backend']}, {result['cores']} cores)"
                per_eval = result["seconds"] / max(result["evaluations"], 1)
                print(f"  {label}: {result['seconds']:.3f} s (compile {result['compile_s']:.1f} s "
                      f"apart), {result['steps']} steps, {result['evaluations']} evaluations "
                      f"({1e3 * per_eval:.2f} ms each, list build {result['list_s']:.2f} s); "
                      f"max|F_i| {result['max_force_norm']:.1e} eV/Å, converged {result['converged']}")
                record = {"potential": name, "cells": cells, "n_atoms": n, "calib_cores": cores,
                          "calib": result, "lammps": None if lammps is None else
                          {k: v for k, v in lammps.items() if k not in ("positions", "forces")}}
                if lammps is not None:
                    record["ratio"] = result["seconds"] / lammps["seconds"]
                    record["per_evaluation_ratio"] = per_eval / (lammps["seconds"]
                                                                 / lammps["evaluations"])
                    record["start_energy_difference"] = result["start_energy"] - lammps["start_energy"]
                    record["final_energy_difference"] = result["final_energy"] - lammps["final_energy"]
                    print(f"  calib / LAMMPS: time {record['ratio']:.2f}, per evaluation "
                          f"{record['per_evaluation_ratio']:.2f}; energies, ours - LAMMPS: start "
                          f"{record['start_energy_difference']:+.1e} eV, final "
                          f"{record['final_energy_difference']:+.1e} eV")
                if "breakdown" in result:
                    print_breakdown(result["breakdown"], lammps)
                records.append(record)
    return records


def print_breakdown(parts: dict, lammps: dict | None):
    print("  one evaluation at the start, ms (fastest of several):")
    for key, text in (("autodiff_energy_and_forces_ms", "before: autodiff of the site energies, E + F"),
                      ("energy_and_forces_ms", "now: explicit-force kernel, E + F"),
                      ("energy_ms", "now: energy alone (pass 1)"),
                      ("geometry_ms", "now: list geometry alone (gathers, distances)"),
                      ("guard_ms", "staleness guard")):
        if key in parts:
            print(f"    {text:50s} {parts[key]:9.3f}")
    if "autodiff_energy_and_forces_ms" in parts:
        print(f"    before / now: {parts['autodiff_energy_and_forces_ms'] / parts['energy_and_forces_ms']:.2f}"
              f"x; forces agree to {parts['autodiff_force_difference']:.1e} eV/Å")
    if lammps is not None and lammps["split"]:
        split, count = lammps["split"], lammps["evaluations"]
        print(f"    LAMMPS per force evaluation: pair {1e3 * split.get('pair_s', 0) / count:.3f}, "
              f"neighbour lists {1e3 * split.get('neigh_s', 0) / count:.3f}, rest "
              f"{1e3 * sum(v for k, v in split.items() if k not in ('pair_s', 'neigh_s')) / count:.3f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        answer = worker(json.loads(args.worker.read_text()))
        args.worker.with_name("answer.json").write_text(json.dumps(answer))
        return 0
    from experiments._lammps import LammpsUnavailable, lammps_environment

    env = None
    if not args.skip_lammps:
        try:
            env = lammps_environment()
        except LammpsUnavailable as error:
            print(f"LAMMPS skipped: {error}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="calib-bench-lammps-") as tmp:
        workdir = pathlib.Path(tmp)
        table = write_table(workdir)
        print(f"bench-lammps: fcc Cu vacancy relaxations to max|F_i| <= {args.fmax:g} eV/Å, skin "
              f"{args.skin} Å; LAMMPS {'on one core' if env else 'skipped'}")
        records = compare(args, table, env, workdir)
    with_lammps = [r for r in records if "ratio" in r]
    if with_lammps:
        print("\nsummary, calib / LAMMPS time (target <= 1.0 on a CPU):")
        for r in with_lammps:
            print(f"  {r['potential']:12s} {r['n_atoms']:8d} atoms, calib cores "
                  f"{r['calib_cores'] or 'all'}: {r['ratio']:.2f} (per evaluation "
                  f"{r['per_evaluation_ratio']:.2f})")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"options": {k: str(v) for k, v in vars(args).items()},
                                        "records": records}, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
