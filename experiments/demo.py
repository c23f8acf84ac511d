"""``calib demo``: the calibration demos on real and synthetic data, in one command.

Runs, by default,

- the interatomic potentials of fcc metals fitted to measured properties (Morse and EAM, with
  relaxations inside the fit; ``experiments/demo_metals.py``),
- the Houlsby–Amorosi–Rojas element tests and the borehole fit of E and ν
  (``experiments/demo_geomechanics.py``),

writes each fit's NetCDF result, text report and plots under ``--out`` (default ``results/``), and
prints one summary table: each parameter's value ± σ and how well each fit matches its data.
``--footing`` adds the strip footing on two soil layers, ``--sampling`` the posterior sampling
(NUTS and emcee; the optional ``sampling`` extra). The gradient comparison stays available as
``calib compare-gradients``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time


def _fit_results(summaries) -> dict:
    """``{name: FitResult}`` from a sub-demo's return value (summaries that hold a ``result``)."""
    from calib import FitResult

    found = {}
    for name, value in (summaries or {}).items():
        name = "_".join(map(str, name)) if isinstance(name, tuple) else str(name)
        if isinstance(getattr(value, "result", None), FitResult):
            found[name] = value.result
        elif isinstance(value, FitResult):
            found[name] = value
        elif isinstance(value, dict):
            if isinstance(value.get("result"), FitResult):
                found[name] = value["result"]
            else:
                found.update({f"{name}/{k}": v for k, v in _fit_results(value).items()})
    return found


def summary_table(results: dict) -> str:
    """One line per fitted parameter (value ± σ) and one per fit (χ²/dof, the largest normalised
    residual and where), for every fit."""
    lines = [f"{'fit':<28} {'parameter':<16} {'value':>14} {'± σ':>12}  units",
             "-" * 80]
    for name, result in results.items():
        for parameter, value, se in zip(result.free_names, result.values[
                [result.parameter_names.index(n) for n in result.free_names]],
                result.standard_errors):
            units = result.units[result.parameter_names.index(parameter)] or ""
            lines.append(f"{name:<28} {parameter:<16} {value:>14.6g} {se:>12.3g}  {units}")
        worst, where = 0.0, ""
        for dataset in result.datasets:
            for variable in dataset.variables.values():
                residual = (variable.predicted - variable.observed) / variable.sigma
                if residual.size and abs(residual).max() > worst:
                    worst, where = float(abs(residual).max()), f"{dataset.name}.{variable.name}"
        per_dof = result.chi2 / result.dof if result.dof > 0 else float("nan")
        status = "ok" if result.success else f"NOT CONVERGED: {result.message}"
        lines.append(f"{name:<28} {'(fit)':<16} chi2/dof {per_dof:>8.3g}, max |r|/σ {worst:.2g} "
                     f"({where}); {result.compile_seconds:.0f} s compile + "
                     f"{result.run_seconds:.0f} s run; {status}")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results"),
                        help="output folder (default results/)")
    parser.add_argument("--metals", nargs="*", default=None, choices=("Cu", "Al", "Ni"),
                        help="metals of the potential fits (default: Cu)")
    parser.add_argument("--footing", action="store_true", help="also fit the strip footing")
    parser.add_argument("--sampling", action="store_true",
                        help="also sample posteriors with NUTS and emcee (needs the sampling extra)")
    parser.add_argument("--quick", action="store_true", help="smaller problems (a smoke test)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    args = parse_args(argv)
    from experiments import demo_geomechanics, demo_metals

    started = time.perf_counter()
    results, timings = {}, {}
    # Copper by default: one metal's Morse and EAM fits take minutes; --metals Cu Al Ni for all.
    stages = [("metals", lambda: demo_metals.run(
                  args.out / "metals", metals=args.metals or ("Cu",), quick=args.quick)),
              ("geomechanics", lambda: demo_geomechanics.run(
                  args.out / "geomechanics",
                  which=("element", "borehole") + (("footing",) if args.footing else ()),
                  quick=args.quick))]
    if args.sampling:
        from experiments import sample_posterior
        stages.append(("sampling", lambda: sample_posterior.run(args.out / "sampling",
                                                                quick=args.quick)))
    for stage, run in stages:
        print(f"== {stage}", flush=True)
        begun = time.perf_counter()
        summaries = run()
        timings[stage] = time.perf_counter() - begun
        results.update({f"{stage}/{k}": v for k, v in _fit_results(summaries).items()})
    table = summary_table(results)
    total = time.perf_counter() - started
    footer = "; ".join(f"{stage} {seconds:.0f} s" for stage, seconds in timings.items())
    text = f"{table}\n\ntotal {total:.0f} s ({footer})\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.txt").write_text(text)
    print("\n" + text + f"results, reports and plots under {args.out}/")
    return 0 if all(r.success for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
