r"""Posterior sampling of two calibrations: NUTS (exact gradients through the relaxations) against
emcee (gradient-free), both against the Laplace (Gauss–Newton) approximation of ``calib.fit``.

- ``morse_cu``: the Morse potential of copper (D, α, r0), broad Gaussian priors (20 %) around
  Girifalco & Weizer's values (``physics.atomistic.MORSE_CU``), fitted to the measured lattice
  constant, cohesive energy and bulk modulus of Cu (``physics/atomistic/data/fcc_metals.nc``, with
  their σ). Every evaluation relaxes the fcc cell three times (one per property function).
- ``borehole``: E and ν of a plane-strain thick cylinder (the FE model and the synthetic Lamé data
  of ``experiments/demo_geomechanics.py``, coarse mesh), bounded parameters with flat priors.

For each problem: one fit (the Laplace approximation at the MAP), then NUTS and emcee on the same
log density, both started at the MAP; the table gives posterior mean ± sd next to the Laplace
ones, R-hat, bulk ESS, ESS per second (compilation excluded; warm-up / burn-in included) and ESS
per inner solve (solves counted from the solve reports). Everything is written under ``out``:
``<problem>_nuts.nc``, ``<problem>_emcee.nc`` (ArviZ groups ``posterior`` and ``sample_stats``),
``<problem>_corner.png``, ``<problem>_trace_nuts.png``, ``<problem>_trace_emcee.png`` and
``summary.json``.

Run as ``python experiments/sample_posterior.py [--problems morse_cu borehole] [--quick]
[--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

PROBLEMS = ("morse_cu", "borehole")
PRIOR_FRACTION = 0.2        # Morse priors: N(value, (0.2 value)^2)
GUESS = 3.62                # Å, the cell the Morse properties start from (a0 stays within 1 %)
SETTINGS = {
    # quick, full
    "nuts": {True: dict(num_warmup=150, num_samples=200, chains=2),
             False: dict(num_warmup=300, num_samples=500, chains=4)},
    "emcee": {True: dict(walkers=8, steps=600, burn=200),
              False: dict(walkers=16, steps=2000, burn=500)},
}


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


# ---- problems ------------------------------------------------------------------------------------

def morse_cu_problem():
    """``(model, data, parameters)`` of the Morse Cu posterior."""
    import calib
    import jax.numpy as jnp  # noqa: F401  (after x64)
    import xarray as xr
    from physics.atomistic import (MORSE_CU, Morse, bulk_modulus, cohesive_energy,
                                   lattice_constant)

    path = pathlib.Path(__file__).resolve().parent.parent / "physics" / "atomistic" / "data" / "fcc_metals.nc"
    keep = [f"{v}{s}" for v in ("lattice_constant", "cohesive_energy", "bulk_modulus") for s in ("", "_sigma")]
    with xr.open_dataset(path) as ds:
        data = ds[keep].sel(metal="Cu").drop_vars("metal").load()
    data.attrs = {"name": "Cu", "title": "Cu: lattice constant, cohesive energy, bulk modulus"}
    potential = Morse()

    def model(theta, conditions):
        return {"lattice_constant": lattice_constant(potential, theta, "fcc", GUESS),
                "cohesive_energy": cohesive_energy(potential, theta, "fcc", GUESS),
                "bulk_modulus": bulk_modulus(potential, theta, "fcc", GUESS)}

    units = {"D": "eV", "alpha": "1/angstrom", "r0": "angstrom"}
    parameters = [calib.Parameter(k, v, bounds=(0.0, None), units=units[k],
                                  prior=(v, PRIOR_FRACTION * v)) for k, v in MORSE_CU.items()]
    return calib.Model(model, name="morse_cu"), data, parameters


def borehole_problem(quick=True):
    """``(model, data, parameters)`` of the borehole posterior (coarse FE mesh)."""
    import calib

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from experiments import demo_geomechanics as geo

    fe = geo.Borehole(*geo.BOREHOLE_MESH[True])
    model = calib.Model(fe, units={"u_r": "m"}, conditions={"pressure": "kPa"}, name="borehole_fe")
    return model, geo.borehole_data(), geo.borehole_parameters(geo.BOREHOLE_TRUTH)


# ---- one problem ---------------------------------------------------------------------------------

def _start(posterior, laplace, walkers, seed):
    """The MAP in z, an emcee ensemble scattered around it by 0.5 Laplace sd (in z), and the
    Laplace covariance in z."""
    z_map = posterior.to_unconstrained(dict(zip(laplace.names, laplace.mean)))
    derivative = np.abs(np.asarray(posterior.space.derivative(z_map)))
    sd_z = laplace.sd / derivative
    covariance_z = laplace.covariance / np.outer(derivative, derivative)
    rng = np.random.default_rng(seed)
    return z_map, z_map + 0.5 * sd_z * rng.standard_normal((walkers, z_map.size)), covariance_z


def sample_problem(name, model, data, parameters, out, quick, seed=0, verbose=True):
    import calib
    from calib import sampling

    started = time.perf_counter()
    fit = calib.fit(model, data, parameters, progress=False)
    laplace = sampling.laplace(fit)
    if verbose:
        print(f"[{name}] fit: {dict(zip(laplace.names, np.round(laplace.mean, 6)))} "
              f"± {np.round(laplace.sd, 6)} (compile {fit.compile_seconds:.1f} s, run "
              f"{fit.run_seconds:.2f} s)", flush=True)
    posterior = sampling.log_posterior(model, data, parameters)
    settings = {k: dict(v[quick]) for k, v in SETTINGS.items()}
    z_map, ensemble, covariance_z = _start(posterior, laplace, settings["emcee"]["walkers"], seed)
    sd_z = np.sqrt(np.diag(covariance_z))
    # NUTS moves u, z = z_map + L u with L L^T the Laplace covariance in z: the posterior is then
    # near the unit scale, where the adaptation's regularised mass matrix and first step size
    # make sense (each leapfrog step costs a relaxation and an adjoint solve).
    nuts = sampling.nuts(posterior, init=z_map, init_scale=float(0.5 * np.min(sd_z)), seed=seed,
                         precondition=covariance_z, chunk=100, progress=verbose,
                         **settings["nuts"])
    if verbose:
        print(f"[{name}] nuts: compile {nuts.attrs['compile_seconds']:.1f} s, run "
              f"{nuts.attrs['run_seconds']:.1f} s", flush=True)
    ensemble_ds = sampling.emcee(posterior, init=ensemble, seed=seed + 1, **settings["emcee"])
    if verbose:
        print(f"[{name}] emcee: compile {ensemble_ds.attrs['compile_seconds']:.1f} s, run "
              f"{ensemble_ds.attrs['run_seconds']:.1f} s", flush=True)
    samples = {"nuts": nuts, "emcee": ensemble_ds}
    rows = sampling.compare(samples, laplace)
    table = sampling.format_table(rows)
    if verbose:
        print(table, flush=True)
    files = []
    if out is not None:
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for label, ds in samples.items():
            files.append(str(sampling.to_netcdf(ds, out / f"{name}_{label}.nc")))
            fig = sampling.trace_plot(ds, title=f"{name}: {label}")
            fig.savefig(out / f"{name}_trace_{label}.png", dpi=90)
            files.append(str(out / f"{name}_trace_{label}.png"))
        fig = sampling.corner_plot(samples, laplace, title=f"{name}: posterior vs Laplace")
        fig.savefig(out / f"{name}_corner.png", dpi=90)
        files.append(str(out / f"{name}_corner.png"))
    costs = {}
    for label, ds in samples.items():
        a = ds.attrs
        costs[label] = {k: (float(a[k]) if isinstance(a[k], (int, float, np.number)) else a[k])
                        for k in ("compile_seconds", "run_seconds", "n_logdensity_evaluations",
                                  "n_gradient_evaluations", "n_inner_solves", "failed_inner_solves",
                                  "failed_draws", "ess_bulk_min", "rhat_max", "ess_per_second",
                                  "ess_per_inner_solve", "chains", "draws") if k in a}
    ratio = {"ess_per_second": costs["nuts"]["ess_per_second"] / costs["emcee"]["ess_per_second"],
             "ess_per_inner_solve": costs["nuts"]["ess_per_inner_solve"]
             / costs["emcee"]["ess_per_inner_solve"]}
    if verbose:
        print(f"[{name}] NUTS / emcee: ESS per second x{ratio['ess_per_second']:.2f}, ESS per "
              f"inner solve x{ratio['ess_per_inner_solve']:.2f}; total {time.perf_counter() - started:.0f} s",
              flush=True)
    return {"rows": rows, "table": table, "costs": costs, "nuts_over_emcee": ratio,
            "laplace": {"names": list(laplace.names), "mean": laplace.mean.tolist(),
                        "sd": laplace.sd.tolist()},
            "fit": {"compile_seconds": fit.compile_seconds, "run_seconds": fit.run_seconds,
                    "chi2": fit.chi2},
            "settings": settings, "files": files}


def run(out="results/sample_posterior", problems=("morse_cu",), quick=False, verbose=True) -> dict:
    """Sample each problem with NUTS and emcee; return ``{problem: summary}`` (and write
    ``summary.json`` and the files under ``out`` unless it is None)."""
    _jax()
    import calib

    calib.enable_compilation_cache()
    unknown = [p for p in problems if p not in PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem {unknown[0]!r}; choose from {', '.join(PROBLEMS)}")
    builders = {"morse_cu": morse_cu_problem, "borehole": lambda: borehole_problem(quick)}
    results = {}
    for name in problems:
        model, data, parameters = builders[name]()
        results[name] = sample_problem(name, model, data, parameters, out, quick, verbose=verbose)
    if out is not None:
        path = pathlib.Path(out) / "summary.json"
        path.write_text(json.dumps(results, indent=1, default=float))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=["morse_cu"], choices=PROBLEMS)
    parser.add_argument("--quick", action="store_true", help="fewer chains and draws")
    parser.add_argument("--out", default="results/sample_posterior")
    args = parser.parse_args(argv)
    run(args.out, tuple(args.problems), quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
