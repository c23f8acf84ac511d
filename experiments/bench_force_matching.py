r"""Benchmark: force-matching objective and gradient on 10 … 10,000 configurations, 1 … 4 devices,
and 2 processes.

For each number of configurations ``C`` (the EMT Cu generator's configurations, 32–256 atoms,
labelled by ASE's EMT and cached as extended XYZ under ``--data``), and each way of running (one
device; ``D`` forced host devices; 2 processes joined on loopback), a fresh Python process:

1. builds the :class:`physics.atomistic.ForceMatching` model (host neighbour lists in parallel,
   size buckets; no cache, so the set-up time is the real one);
2. compiles the objective-and-gradient program (the one ``calib.fit`` runs for L-BFGS-B and optax),
   and reports the compile time and how many bucket functions were traced;
3. times ``--repeats`` evaluations of it (median), after one untimed warm-up call.

Printed, with the baseline (one device) measured in the same run:

- the scaling exponent of the evaluation time in ``C`` (a least-squares slope of log time against
  log C over the sizes ≥ 100; target ≤ 1.05);
- the speed-up over one device and the parallel efficiency ``t_1 / (D t_D)``;
- the host set-up time against one evaluation.

``--fit`` then runs ``experiments/force_matching.py``: the EAM fitted to the bundled EMT set
(energies, forces, stresses, lattice constant, elastic constants, vacancy energy), with held-out
errors. On a GPU (when JAX sees one) the single-device runs use it; the forced-device runs are CPU.

Command line::

    python experiments/bench_force_matching.py --sizes 10 100 1000 10000 --devices 1 2 4 --processes 2
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4],
                        help="forced host device counts (1 is the baseline)")
    parser.add_argument("--processes", type=int, default=2,
                        help="also run with this many processes of one device each (0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=4,
                        help="configurations per batched step (4 kept the working set in cache best)")
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path("results/force_matching_data"),
                        help="folder where the labelled configurations are cached")
    parser.add_argument("--fit", action="store_true", help="also run the EAM fit to the EMT set")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-devices", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-distributed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("sizes", "devices"):
        if any(v < 1 for v in getattr(args, name)):
            parser.error(f"--{name} must be positive, got {getattr(args, name)}")
    if 1 not in args.devices:
        parser.error("--devices must include 1, the baseline")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    return args


def dataset_file(folder: pathlib.Path, count: int) -> pathlib.Path:
    """The cached extended-XYZ file of ``count`` EMT-labelled configurations (written if absent)."""
    path = folder / f"cu_emt_{count}.extxyz"
    if not path.exists():
        from physics.atomistic.data.make_cu_emt_training_set import write_training_set
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        temporary = path.with_suffix(".tmp.extxyz")
        write_training_set(temporary, count)
        os.replace(temporary, path)
        print(f"labelled {count} configurations with EMT in {time.perf_counter() - start:.0f} s "
              f"({path})", flush=True)
    return path


def worker(args) -> int:
    """One process's measurements, as JSON on stdout (process 0)."""
    import calib
    if args.worker_distributed:
        calib.initialize_distributed(local_devices=args.worker_devices)
    elif args.worker_devices is not None:
        calib.force_cpu_devices(args.worker_devices)
    import jax
    jax.config.update("jax_enable_x64", True)
    from calib.data import prepare_all
    from calib.fit._evaluate import Evaluator
    from calib.objective import Objective
    from calib.parameters import ParameterSpace
    from experiments.demo_metals import SuttonChenPower
    from experiments.force_matching import parameters
    from physics.atomistic import ForceMatching, read_training_set, select_configurations

    largest = read_training_set(dataset_file(args.data, max(args.sizes)))
    rows = []
    for count in sorted(args.sizes):
        ds = select_configurations(largest, np.arange(count))
        start = time.perf_counter()
        model = ForceMatching(SuttonChenPower(cutoff=5.5), ds, chunk=args.chunk)
        setup = time.perf_counter() - start
        objective = Objective(model, prepare_all(ds), ParameterSpace(parameters(), bounds_native=True))
        evaluator = Evaluator(objective)
        z = objective.space.z0()
        traces = model.traces
        evaluator.compile("gradient", z)
        evaluator.evaluate("gradient", z)            # warm-up: first-call allocations
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            evaluation = evaluator.evaluate("gradient", z)
            times.append(time.perf_counter() - start)
        rows.append({"configurations": count, "atoms": int(ds.sizes["atom"]),
                     "setup_seconds": setup, "neighbour_seconds": model.setup["neighbour_seconds"],
                     "compile_seconds": evaluator.compile_seconds, "traces": model.traces - traces,
                     "buckets": len(model.buckets), "padding": model.layout.padding_fraction,
                     "seconds": float(np.median(times)), "loss": evaluation.loss,
                     "gradient": evaluation.gradient.tolist()})
    if jax.process_index() == 0:
        print("RESULT " + json.dumps({"devices": jax.device_count(), "processes": jax.process_count(),
                                      "backend": jax.default_backend(), "rows": rows}), flush=True)
    return 0


def _launch(args, extra, env_extra=None):
    command = [sys.executable, str(HERE / "bench_force_matching.py"), "--worker",
               "--sizes", *map(str, args.sizes), "--repeats", str(args.repeats),
               "--chunk", str(args.chunk), "--data", str(args.data), *extra]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), **(env_extra or {})}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _result(process, label):
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{output[-4000:]}")
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exponent(rows) -> float:
    """Least-squares slope of log time against log C over the sizes >= 100 (all if fewer than 2)."""
    use = [r for r in rows if r["configurations"] >= 100] or rows
    if len(use) < 2:
        return float("nan")
    x = np.log([r["configurations"] for r in use])
    y = np.log([r["seconds"] for r in use])
    return float(np.polyfit(x, y, 1)[0])


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.worker:
        return worker(args)
    dataset_file(args.data, max(args.sizes))        # label once, before the timed runs
    runs = {}
    for devices in args.devices:                     # one at a time: they share the cores
        label = f"{devices} device{'s' if devices > 1 else ''}"
        runs[label] = _result(_launch(args, ["--worker-devices", str(devices)]), label)
    if args.processes > 1:
        port = _free_port()
        label = f"{args.processes} processes"
        group = [_launch(args, ["--worker-distributed"], {
            "CALIB_COORDINATOR": f"127.0.0.1:{port}", "CALIB_NUM_PROCESSES": str(args.processes),
            "CALIB_PROCESS_ID": str(rank)}) for rank in range(args.processes)]
        results = [_result(p, f"{label}, rank {k}") for k, p in enumerate(group)]
        runs[label] = results[0]
    report(runs)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=1))
    if args.fit:
        from experiments import force_matching
        force_matching.main(["--out", "results/force_matching"])
    return 0


def report(runs: dict) -> None:
    baseline = runs["1 device"]["rows"]
    print(f"\nobjective + gradient, SuttonChenPower EAM (cutoff 5.5 Å), backend "
          f"{runs['1 device']['backend']}; baseline: 1 device, same run")
    print(f"{'configurations':>14}{'atoms':>9}{'buckets':>8}{'padding':>8}{'traces':>7}"
          f"{'set-up s':>9}{'compile s':>10}{'eval s':>9}{'set-up/eval':>12}")
    for r in baseline:
        print(f"{r['configurations']:>14}{r['atoms']:>9}{r['buckets']:>8}{100 * r['padding']:>7.1f}%"
              f"{r['traces']:>7}{r['setup_seconds']:>9.2f}{r['compile_seconds']:>10.1f}"
              f"{r['seconds']:>9.3f}{r['setup_seconds'] / r['seconds']:>12.2f}")
    print(f"\n{'run':>14}{'exponent':>9}" + "".join(f"{'C=' + str(r['configurations']):>22}"
                                               for r in baseline))
    print(f"{'':>23}" + "".join(f"{'s, speed-up, eff.':>22}" for _ in baseline))
    for label, run in runs.items():
        count = run["devices"]
        cells = []
        for r, b in zip(run["rows"], baseline):
            speedup = b["seconds"] / r["seconds"]
            cells.append(f"{r['seconds']:>9.3f} {speedup:>5.2f}x {speedup / count:>5.2f}")
            agree = abs(r["loss"] / b["loss"] - 1)
            if agree > 1e-10:
                print(f"  warning: {label} objective differs from 1 device by {agree:.1e}")
        print(f"{label:>14}{exponent(run['rows']):>9.3f}" + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    raise SystemExit(main())
