r"""Fit an embedded-atom potential to the bundled Cu EMT training set, on one or many devices.

The potential is Sutton–Chen with a free embedding exponent (``SuttonChenPower`` of
``experiments/demo_metals.py``, cutoff 5.5 Å), plus a per-atom reference energy ``e0``. Its data:

- the energies per atom, force components and (periodic configurations) stresses of the training
  configurations (:class:`physics.atomistic.ForceMatching`), and, unless ``--no-properties``,
- EMT's relaxed crystal properties: lattice constant, cohesive energy, C11, C12, C44 and the
  relaxed vacancy formation energy (:func:`physics.atomistic.crystal_properties`, each one an
  equilibrium differentiated by the implicit function theorem inside the same fit).

Every fifth configuration is held out; the script reports the RMSE of the energy per atom and of
the force components on the held-out configurations, for the published Sutton–Chen Cu parameters
and for the fit.

Devices and processes: ``--devices N`` splits the CPU into N devices; ``--distributed`` joins JAX's
distributed runtime (settings from ``CALIB_COORDINATOR``, ``CALIB_NUM_PROCESSES``,
``CALIB_PROCESS_ID``, or a SLURM launch): run the same command once per process. The configurations
are sharded over all devices of all processes; every process computes the same fit.

Command line::

    python experiments/force_matching.py --out results/force_matching
    CALIB_COORDINATOR=127.0.0.1:12345 CALIB_NUM_PROCESSES=2 CALIB_PROCESS_ID=0 \
        python experiments/force_matching.py --distributed --no-properties &   # and PROCESS_ID=1
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configurations", type=int, default=None,
                        help="use the first N configurations of the bundled set (default all)")
    parser.add_argument("--no-properties", action="store_true",
                        help="fit the configurations only, without the relaxed crystal properties")
    parser.add_argument("--optimizer", default="trf", help="calib.fit optimizer (trf, lm, lbfgsb…)")
    parser.add_argument("--max-iterations", type=int, default=100)
    parser.add_argument("--cutoff", type=float, default=5.5, help="potential cutoff, Å")
    parser.add_argument("--buckets", type=int, default=4, help="at most this many size buckets")
    parser.add_argument("--devices", type=int, default=None,
                        help="split the CPU into this many devices (before JAX starts)")
    parser.add_argument("--distributed", action="store_true",
                        help="join the distributed runtime (CALIB_* variables or SLURM)")
    parser.add_argument("--no-errors", action="store_true",
                        help="skip the held-out error table (the distributed tests need only the fit)")
    parser.add_argument("--json", type=pathlib.Path, default=None,
                        help="write the start's objective and gradient and the fit to this file")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="folder for the result (NetCDF) and the parity plot")
    args = parser.parse_args(argv)
    if args.configurations is not None and args.configurations < 5:
        parser.error(f"--configurations must be at least 5 (one is held out of every 5), got "
                     f"{args.configurations}")
    if args.devices is not None and args.devices < 1:
        parser.error(f"--devices must be >= 1, got {args.devices}")
    return args


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    import calib
    if args.distributed:
        calib.initialize_distributed(local_devices=args.devices)
    elif args.devices is not None:
        calib.force_cpu_devices(args.devices)
    import jax
    jax.config.update("jax_enable_x64", True)

    summary = run(args)
    if jax.process_index() == 0:
        print_summary(summary)
        if args.json is not None:
            args.json.write_text(json.dumps(summary, indent=1))
    return 0


def parameters(with_reference_energy: bool = True):
    import calib
    from physics.atomistic import SUTTON_CHEN
    start = SUTTON_CHEN["Cu"]
    out = [calib.Parameter("epsilon", start["epsilon"], bounds=(1e-4, 1.0), units="eV"),
           calib.Parameter("a", start["a"], units="angstrom", fixed=True),
           calib.Parameter("c", start["c"], bounds=(1.0, 500.0)),
           calib.Parameter("n", start["n"], bounds=(4.0, 20.0)),
           calib.Parameter("m", start["m"], bounds=(2.0, 14.0)),
           calib.Parameter("s", 0.5, bounds=(0.1, 0.95))]
    if with_reference_energy:
        out.append(calib.Parameter("e0", 3.5, units="eV",
                                   description="EMT's energy zero against the potential's, per atom"))
    return out


def split(ds):
    """Training and held-out configurations (every fifth held out)."""
    import numpy as np
    from physics.atomistic import select_configurations
    index = np.arange(ds.sizes["configuration"])
    return select_configurations(ds, index % 5 != 4), select_configurations(ds, index % 5 == 4)


def errors(model, theta, ds) -> dict:
    """RMSE of the energy per atom (meV) and of the force components (eV/Å)."""
    import jax.numpy as jnp
    import numpy as np
    from calib.fit import to_host
    predicted = model.predict({k: jnp.asarray(v) for k, v in theta.items()})
    energy = to_host(predicted["energy_per_atom"]) - np.asarray(ds["energy_per_atom"])
    forces = to_host(predicted["forces"]) - np.asarray(ds["forces"])
    return {"energy_rmse_meV": float(1e3 * np.sqrt(np.mean(energy ** 2))),
            "force_rmse_eV_per_A": float(np.sqrt(np.mean(forces ** 2)))}


def run(args) -> dict:
    import jax
    import numpy as np
    import calib
    from experiments.demo_metals import SuttonChenPower
    from physics.atomistic import (ForceMatching, crystal_properties, load_cu_emt_properties,
                                   load_cu_emt_training_set, select_configurations)

    full = load_cu_emt_training_set()
    if args.configurations is not None:
        full = select_configurations(full, np.arange(min(args.configurations, full.sizes["configuration"])))
    train, held_out = split(full)
    train.attrs["name"] = "cu_emt_train"
    potential = SuttonChenPower(cutoff=args.cutoff)
    started = time.perf_counter()
    model = ForceMatching(potential, train, max_buckets=args.buckets)
    test_model = None if args.no_errors else ForceMatching(potential, held_out,
                                                           max_buckets=args.buckets)
    setup = time.perf_counter() - started
    data, models = {"cu_emt_train": train}, {"cu_emt_train": model}
    if not args.no_properties:
        crystal = load_cu_emt_properties()
        guess = float(crystal["lattice_constant"])

        def properties(theta, conditions):
            values = crystal_properties(potential, theta, "fcc", guess, vacancy_cells=3)
            return {k: values[k] for k in crystal.data_vars if not k.endswith("_sigma")}

        data["cu_emt_crystal"] = crystal
        models["cu_emt_crystal"] = calib.Model(properties, name="crystal_properties", units={
            "lattice_constant": "angstrom", "cohesive_energy": "eV", "C11": "GPa", "C12": "GPa",
            "C44": "GPa", "vacancy_formation_energy": "eV"})
    specs = parameters()
    start_theta = {p.name: p.value for p in specs}

    # The objective and its gradient at the start: what the distributed tests compare.
    from calib.data import prepare_all
    from calib.fit._evaluate import Evaluator
    from calib.objective import Objective
    from calib.parameters import ParameterSpace
    objective = Objective(models, prepare_all(data), ParameterSpace(specs, bounds_native=True))
    first = Evaluator(objective).evaluate("gradient", objective.space.z0())

    result = calib.fit(models, data, specs, optimizer=args.optimizer,
                       max_iterations=args.max_iterations, progress=False)
    # The published parameters with the reference energy that best aligns them with the data.
    published = None if args.no_errors else {**start_theta, "e0": _best_offset(model, start_theta, train)}
    summary = {
        "devices": jax.device_count(), "processes": jax.process_count(),
        "configurations": {"train": int(train.sizes["configuration"]),
                           "held_out": int(held_out.sizes["configuration"])},
        "buckets": model.report(), "setup_seconds": setup,
        "start": {"loss": first.loss, "gradient": first.gradient.tolist()},
        "fit": {"theta": {k: float(np.asarray(v)) for k, v in result.theta.items()},
                "chi2": float(result.chi2) if hasattr(result, "chi2") else None,
                "evaluations": int(result.n_evaluations), "success": bool(result.success),
                "message": str(result.message), "compile_seconds": float(result.compile_seconds),
                "run_seconds": float(result.run_seconds)},
        "traces": model.traces,
        "errors": {} if args.no_errors else {"published": {"train": errors(model, published, train),
                                 "held_out": errors(test_model, published, held_out)},
                   "fitted": {"train": errors(model, result.theta, train),
                              "held_out": errors(test_model, result.theta, held_out)}},
    }
    if not args.no_properties:
        summary["properties"] = {d.name: {k: {"observed": float(np.ravel(v.observed)[0]),
                                              "predicted": float(np.ravel(v.predicted)[0])}
                                          for k, v in d.variables.items()}
                                 for d in result.datasets if d.name == "cu_emt_crystal"}
    if args.out is not None and jax.process_index() == 0 and test_model is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result.save(args.out / "force_matching_fit.nc")
        parity_plot(test_model, result.theta, held_out, args.out / "force_matching_parity.png")
    return summary


def _best_offset(model, theta, ds) -> float:
    """The reference energy that best aligns a potential's energies with the data (a fair
    baseline for parameters that were never fitted to EMT's zero of energy)."""
    import jax.numpy as jnp
    import numpy as np
    from calib.fit import to_host
    predicted = to_host(model.predict({k: jnp.asarray(v) for k, v in {**theta, "e0": 0.0}.items()})
                        ["energy_per_atom"])
    return float(np.mean(np.asarray(ds["energy_per_atom"]) - predicted))


def parity_plot(model, theta, ds, path) -> None:
    import jax.numpy as jnp
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from calib.fit import to_host
    predicted = model.predict({k: jnp.asarray(v) for k, v in theta.items()})
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, name, label in ((axes[0], "energy_per_atom", "energy per atom (eV)"),
                            (axes[1], "forces", "force component (eV/Å)")):
        y, f = np.ravel(ds[name]), np.ravel(to_host(predicted[name]))
        ax.plot(y, f, ".", ms=2 if name == "forces" else 5, alpha=0.5)
        lo, hi = min(y.min(), f.min()), max(y.max(), f.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"EMT {label}")
        ax.set_ylabel(f"fitted EAM {label}")
        rmse = np.sqrt(np.mean((f - y) ** 2))
        ax.set_title(f"held-out, RMSE {rmse * (1e3 if name == 'energy_per_atom' else 1):.3g} "
                     f"{'meV' if name == 'energy_per_atom' else 'eV/Å'}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_summary(summary: dict) -> None:
    b = summary["buckets"]
    print(f"{summary['configurations']['train']} training and {summary['configurations']['held_out']} "
          f"held-out configurations on {summary['devices']} device(s), {summary['processes']} "
          f"process(es); buckets {b['bounds']} atoms, rows {b['rows']}, padding "
          f"{100 * b['padding_fraction']:.1f} %; bucket traces {summary['traces']}")
    fit = summary["fit"]
    print(f"fit: {fit['message']} after {fit['evaluations']} evaluations; compile "
          f"{fit['compile_seconds']:.1f} s, run {fit['run_seconds']:.1f} s")
    print("theta: " + ", ".join(f"{k}={v:.6g}" for k, v in fit["theta"].items()))
    print(f"{'':12}{'E RMSE train':>14}{'E RMSE held-out':>17}{'F RMSE train':>14}"
          f"{'F RMSE held-out':>17}")
    for name, e in summary["errors"].items():
        print(f"{name:12}{e['train']['energy_rmse_meV']:>10.2f} meV{e['held_out']['energy_rmse_meV']:>13.2f} meV"
              f"{e['train']['force_rmse_eV_per_A']:>9.4f} eV/Å{e['held_out']['force_rmse_eV_per_A']:>12.4f} eV/Å")
    for dataset in summary.get("properties", {}).values():
        for k, v in dataset.items():
            print(f"  {k:26} EMT {v['observed']:10.4f}   fitted {v['predicted']:10.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
