r"""Fit a Morse pair potential and an embedded-atom potential to measured fcc-metal properties.

For each metal of the bundled dataset (``physics.atomistic.load_fcc_metals``: Cu, Al, Ni):

- **Morse** (D, α, r0) against the lattice constant, cohesive energy and bulk modulus; every
  prediction comes from a zero-pressure relaxation of the conventional cell inside the fit.
- **EAM**, Sutton–Chen with a free embedding exponent (five free parameters ε, c, n, m, s; see
  :class:`SuttonChenPower`) against the lattice constant, cohesive energy, C11, C12, C44 and the
  relaxed vacancy formation energy, all from one :func:`physics.atomistic.crystal_properties`
  call: the zero-pressure cell, the relaxed-ion elastic constants and the relaxed vacancy.

Every residual's Jacobian is exact: ``calib.fit`` differentiates through each relaxation by the
implicit function theorem. The bulk modulus is left out of the EAM fit because the dataset derives
it from C11 and C12 (fitting all three would count the same measurement twice); it is still
predicted and compared.

A pair potential at equilibrium obeys the Cauchy relation C12 = C44 (every atom is a centre of
inversion and the energy is a sum over pairs), while the measured Cauchy pressures C12 − C44 of
the three metals are 43, 30 and 19 GPa: :func:`compare` prints the numbers.

Command line::

    python experiments/demo_metals.py --metals Cu Al Ni --potentials morse eam --out results/metals
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys
import time
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import calib
from physics.atomistic import (EV_PER_A3_IN_GPA, MORSE_CU, SUTTON_CHEN, Morse, SuttonChen,
                               bulk_modulus, cohesive_energy, crystal_properties, fcc,
                               lattice_constant, load_fcc_metals, neighbour_list, potential_energy,
                               vacancy_formation_energy, voigt_to_tensor)

METALS = ("Cu", "Al", "Ni")
POTENTIALS = ("morse", "eam")
MORSE_VARIABLES = ("lattice_constant", "cohesive_energy", "bulk_modulus")
EAM_VARIABLES = ("lattice_constant", "cohesive_energy", "C11", "C12", "C44",
                 "vacancy_formation_energy")
PROPERTIES = ("lattice_constant", "cohesive_energy", "bulk_modulus", "C11", "C12", "C44",
              "vacancy_formation_energy")
SHORT = {"lattice_constant": "a0", "cohesive_energy": "Ec", "bulk_modulus": "B", "C11": "C11",
         "C12": "C12", "C44": "C44", "vacancy_formation_energy": "Ev"}

MORSE_START = {
    "Cu": dict(MORSE_CU),
    "Al": {"D": 0.2703, "alpha": 1.1646, "r0": 3.253},
    "Ni": {"D": 0.4205, "alpha": 1.4199, "r0": 2.780},
}
"""Starting Morse parameters: Girifalco & Weizer, Phys. Rev. 114, 687 (1959), Table I (D in eV,
alpha in 1/Å, r0 in Å); the Cu set is the package's ``MORSE_CU``."""

VACANCY_CELLS = 3
"""Supercell of the vacancy, in conventional cells per side (3: 107 atoms)."""


@dataclasses.dataclass(frozen=True)
class SuttonChenPower(SuttonChen):
    r"""Sutton–Chen with a free embedding exponent :math:`s`:

    .. math:: E = \varepsilon\Big[\tfrac12\sum_i\sum_{j\ne i}\Big(\frac{a}{r_{ij}}\Big)^n
              - c\sum_i \rho_i^{\,s}\Big], \qquad \rho_i = \sum_{j\ne i}\Big(\frac{a}{r_{ij}}\Big)^m .

    ``s = 1/2`` is Sutton & Chen's potential (the second-moment approximation of tight binding);
    ``s`` sets the curvature of the embedding function, which is what the Cauchy pressure
    C12 − C44 and the vacancy formation energy measure. In Sutton–Chen the length ``a`` is not
    identifiable apart from ε and c (the energy depends on ε aⁿ and ε c a^{ms} only), so the fit
    holds ``a`` at the published value and frees the other five.
    """

    parameters = ("epsilon", "a", "c", "n", "m", "s")

    def constraints(self, theta):
        from physics.atomistic._potential import positive  # the same words as the base class
        return super().constraints(theta) + (positive(theta, "s", "the embedding exponent"),)

    def embedding(self, rho, theta):
        inside = rho > 0
        power = jnp.where(inside, jnp.where(inside, rho, 1.0) ** theta["s"], 0.0)
        return -theta["epsilon"] * theta["c"] * power


def metal_data(metal: str, variables: Iterable[str] = PROPERTIES) -> xr.Dataset:
    """The measured ``variables`` of ``metal`` (``"Cu"``, ``"Al"``, ``"Ni"``), each with its
    ``<name>_sigma`` and attributes (units, sources), as a dataset of scalars named ``metal``."""
    full = load_fcc_metals()
    if metal not in full["metal"].values:
        raise ValueError(f"metal must be one of {list(full['metal'].values)}, got {metal!r}")
    names = [n for v in variables for n in (v, f"{v}_sigma")]
    data = full[names].sel(metal=metal).drop_vars("metal")
    data.attrs = {"name": metal, "title": f"measured properties of fcc {metal}",
                  "references": full.attrs.get("references", "")}
    return data


def _guess(metal: str) -> float:
    """The starting lattice constant (Å): the measured one, where the neighbour lists are built."""
    return float(load_fcc_metals()["lattice_constant"].sel(metal=metal))


def morse_parameters(metal: str) -> list[calib.Parameter]:
    start = MORSE_START[metal]
    return [calib.Parameter("D", start["D"], bounds=(0.05, 2.0), units="eV",
                            description="well depth"),
            calib.Parameter("alpha", start["alpha"], bounds=(0.5, 3.0), units="1/angstrom",
                            description="inverse width of the well"),
            calib.Parameter("r0", start["r0"], bounds=(2.0, 4.0), units="angstrom",
                            description="position of the minimum")]


def morse_model(metal: str, potential: Morse | None = None):
    """``model(theta, conditions)`` predicting a0 (Å), Ec (eV) and B (GPa) of ``metal``.

    The three property functions each start from the zero-pressure cell; inside the fit they are
    traced into one compiled program (measured: one combined call is no faster to compile)."""
    potential = Morse() if potential is None else potential
    guess = _guess(metal)

    def model(theta, conditions):
        return {"lattice_constant": lattice_constant(potential, theta, "fcc", guess),
                "cohesive_energy": cohesive_energy(potential, theta, "fcc", guess),
                "bulk_modulus": bulk_modulus(potential, theta, "fcc", guess)}

    return calib.Model(model, units={"lattice_constant": "angstrom", "cohesive_energy": "eV",
                                     "bulk_modulus": "GPa"}, name=f"morse_{metal}")


def fit_morse(metal: str = "Cu", **fit_options) -> calib.FitResult:
    """Fit Morse D, α, r0 of ``metal`` to its a0, Ec and B (three data, three parameters)."""
    options = {"progress": False, **fit_options}
    return calib.fit(morse_model(metal), metal_data(metal, MORSE_VARIABLES),
                     morse_parameters(metal), **options)


def eam_parameters(metal: str) -> list[calib.Parameter]:
    start = SUTTON_CHEN[metal]
    return [calib.Parameter("epsilon", start["epsilon"], bounds=(1e-4, 1.0), units="eV",
                            description="energy scale"),
            calib.Parameter("a", start["a"], units="angstrom", fixed=True,
                            description="length scale (not identifiable apart from epsilon, c)"),
            calib.Parameter("c", start["c"], bounds=(1.0, 500.0), units="",
                            description="strength of the embedding term"),
            calib.Parameter("n", start["n"], bounds=(4.0, 20.0), units="",
                            description="repulsive exponent"),
            calib.Parameter("m", start["m"], bounds=(2.0, 14.0), units="",
                            description="density exponent"),
            calib.Parameter("s", 0.5, bounds=(0.1, 0.95), units="",
                            description="embedding exponent (1/2: Sutton-Chen)")]


def eam_model(metal: str, potential: SuttonChenPower | None = None,
              variables: Sequence[str] = EAM_VARIABLES, vacancy_cells: int = VACANCY_CELLS):
    """``model(theta, conditions)`` predicting ``variables`` of ``metal`` from one
    :func:`crystal_properties` call (one zero-pressure cell; relaxed-ion elastic constants;
    the vacancy relaxed at constant volume in a ``vacancy_cells``³ supercell)."""
    potential = SuttonChenPower() if potential is None else potential
    guess = _guess(metal)
    variables = tuple(variables)

    def model(theta, conditions):
        properties = crystal_properties(potential, theta, "fcc", guess,
                                        vacancy_cells=vacancy_cells)
        return {name: properties[name] for name in variables}

    return calib.Model(model, name=f"eam_{metal}",
                       units={n: "angstrom" if n == "lattice_constant" else
                              "GPa" if n.startswith("C") or n == "bulk_modulus" else "eV"
                              for n in variables})


def fit_eam(metal: str = "Cu", *, include_bulk_modulus: bool = False,
            vacancy_cells: int = VACANCY_CELLS, **fit_options) -> calib.FitResult:
    """Fit the Sutton–Chen EAM with a free embedding exponent (ε, c, n, m, s) of ``metal`` to
    a0, Ec, C11, C12, C44 and the relaxed vacancy formation energy (and B, derived from C11 and
    C12 in the dataset, with ``include_bulk_modulus=True``)."""
    variables = EAM_VARIABLES + (("bulk_modulus",) if include_bulk_modulus else ())
    options = {"progress": False, **fit_options}
    return calib.fit(eam_model(metal, variables=variables, vacancy_cells=vacancy_cells),
                     metal_data(metal, variables), eam_parameters(metal), **options)


# ----------------------------------------------------------------------------------------------
# Predictions of every property at the fitted parameters, and the comparison table.

def _born_elastic_constants(potential, theta, a0: float) -> dict[str, float]:
    r"""C11, C12, C44 (GPa) of the perfect fcc crystal at lattice constant ``a0``:
    :math:`C_{IJ} = V^{-1}\partial^2 E/\partial\varepsilon_I\partial\varepsilon_J` with the atoms
    carried affinely. In an fcc crystal every atom is a centre of inversion, so no internal
    relaxation occurs and these equal the relaxed-ion constants of ``crystal_properties``."""
    structure = fcc(a0, 1)
    neighbours = neighbour_list(structure, potential.cutoff, 1.0)
    positions, cell = jnp.asarray(structure.positions), jnp.asarray(structure.cell)

    @jax.jit
    def tensor(theta):
        def energy(v):
            deformation = jnp.eye(3) + voigt_to_tensor(v)
            return potential_energy(potential, positions @ deformation.T, cell @ deformation.T,
                                    theta, neighbours)
        return jax.hessian(energy)(jnp.zeros(6)) / structure.volume * EV_PER_A3_IN_GPA

    c = np.asarray(tensor(theta))
    return {"C11": float(np.mean(np.diag(c)[:3])),
            "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean(np.diag(c)[3:]))}


def predict(potential_name: str, metal: str, result: calib.FitResult,
            vacancy_cells: int = VACANCY_CELLS, vacancy: bool = True) -> dict[str, float]:
    """All seven properties of ``metal`` at the fitted parameters (floats, dataset units).

    The fitted properties are read off the result; the others are computed here: B of the EAM is
    (C11 + 2 C12)/3 (exact for a cubic crystal); the Morse elastic constants come from the strain
    Hessian at the fitted a0, and its relaxed vacancy energy from
    :func:`vacancy_formation_energy` (skipped, NaN, with ``vacancy=False``: it compiles a relaxation
    of its own)."""
    fitted = {name: float(np.ravel(v.predicted)[0])
              for d in result.datasets for name, v in d.variables.items()}
    theta = {k: jnp.asarray(v, dtype=float) for k, v in result.theta.items()}
    if potential_name == "eam":
        fitted.setdefault("bulk_modulus", (fitted["C11"] + 2.0 * fitted["C12"]) / 3.0)
        return {k: fitted[k] for k in PROPERTIES}
    potential = Morse()
    fitted.update(_born_elastic_constants(potential, theta, fitted["lattice_constant"]))
    if vacancy:
        fitted["vacancy_formation_energy"] = float(vacancy_formation_energy(
            potential, theta, "fcc", fitted["lattice_constant"], vacancy_cells))
    else:
        fitted["vacancy_formation_energy"] = math.nan
    return {k: fitted[k] for k in PROPERTIES}


@dataclasses.dataclass
class MetalFit:
    """One fit and what it predicts for every property."""

    metal: str
    potential: str
    result: calib.FitResult
    predicted: dict[str, float]
    fitted: tuple[str, ...]
    seconds: float


def _row(cells, widths):
    return "  ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(cells, widths)))


def _table(rows) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return [_row([str(c) for c in r], widths) for r in rows]


def compare(results: dict) -> str:
    """Side-by-side text comparison, per metal, of the measured properties and each potential's
    predictions (``results[(metal, potential)]`` is a :class:`MetalFit`)."""
    data = load_fcc_metals()
    lines: list[str] = []
    metals = list(dict.fromkeys(m for m, _ in results))
    for metal in metals:
        fits = {p: results[(metal, p)] for p in POTENTIALS if (metal, p) in results}
        lines.append(f"=== {metal} ===")
        header = ["property", "units", "data ± sigma"]
        for p in fits:
            header += [p, "(pred-data)/sigma"]
        rows = [header]
        for name in PROPERTIES:
            obs, sig = float(data[name].sel(metal=metal)), float(data[f"{name}_sigma"].sel(metal=metal))
            row = [SHORT[name], data[name].attrs["units"], f"{obs:.4g} ± {sig:.2g}"]
            for p, f in fits.items():
                value = f.predicted[name]
                mark = "" if name in f.fitted else " (not fitted)"
                row += [f"{value:.4g}", f"{(value - obs) / sig:+.2f}{mark}"]
            rows.append(row)
        cauchy = float(data["C12"].sel(metal=metal) - data["C44"].sel(metal=metal))
        cauchy_sigma = float(np.hypot(data["C12_sigma"].sel(metal=metal),
                                      data["C44_sigma"].sel(metal=metal)))
        row = ["C12-C44", "GPa", f"{cauchy:.4g} ± {cauchy_sigma:.2g}"]
        for p, f in fits.items():
            value = f.predicted["C12"] - f.predicted["C44"]
            row += [f"{value:.4g}", f"{(value - cauchy) / cauchy_sigma:+.2f} (not fitted)"]
        rows.append(row)
        lines += _table(rows)
        lines.append("")
        for p, f in fits.items():
            r = f.result
            chi2_all = sum(((f.predicted[n] - float(data[n].sel(metal=metal)))
                            / float(data[f"{n}_sigma"].sel(metal=metal))) ** 2
                           for n in PROPERTIES if n != "bulk_modulus")
            lines.append(f"{p}: success={r.success}, chi2 = {r.chi2:.4g} over {len(f.fitted)} "
                         f"fitted data, dof = {r.dof}, chi2/dof = "
                         f"{r.chi2 / r.dof if r.dof > 0 else float('nan'):.4g}; chi2 over all six "
                         f"independent data (a0, Ec, C11, C12, C44, Ev) = {chi2_all:.4g}; "
                         f"compile {r.compile_seconds:.1f} s, run {r.run_seconds:.1f} s")
            prow = [["parameter", "value", "± sigma", "units"]]
            for name, value, units, kind in zip(r.parameter_names, r.values, r.units, r.kinds):
                error = r.standard_error(name) if kind == "free" else math.nan
                prow.append([f"  {name}", f"{value:.6g}",
                             f"± {error:.3g}" if kind == "free" else f"({kind})", units or ""])
            lines += _table(prow)
            strong = _strong_correlations(r)
            if strong:
                lines.append("  correlations |rho| > 0.9: " + ", ".join(strong))
            for w in r.warnings:
                lines.append(f"  warning: {w}")
            lines.append("")
        if "morse" in fits:
            m = fits["morse"].predicted
            lines.append(f"Cauchy relation: the Morse pair potential gives C12 - C44 = "
                         f"{m['C12'] - m['C44']:.3g} GPa (C12 = {m['C12']:.4g}, C44 = "
                         f"{m['C44']:.4g} GPa): a two-body potential at equilibrium cannot break "
                         f"C12 = C44, whereas the data have C12 - C44 = {cauchy:.3g} ± "
                         f"{cauchy_sigma:.2g} GPa.")
        if "eam" in fits:
            e = fits["eam"].predicted
            lines.append(f"The EAM's embedding term gives C12 - C44 = {e['C12'] - e['C44']:.3g} GPa.")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _strong_correlations(r: calib.FitResult, threshold: float = 0.9) -> list[str]:
    names = list(r.free_names)
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            rho = r.correlation[i, j]
            if np.isfinite(rho) and abs(rho) > threshold:
                out.append(f"{names[i]}/{names[j]} {rho:+.4f}")
    return out


def summary(results: dict) -> str:
    """A short table: per fit, parameter value ± σ, and data vs fit of every fitted property."""
    rows = [["metal", "potential", "quantity", "value ± sigma / data ± sigma", "fit"]]
    data = load_fcc_metals()
    for (metal, p), f in results.items():
        r = f.result
        for name, value, kind in zip(r.parameter_names, r.values, r.kinds):
            if kind == "free":
                rows.append([metal, p, name, f"{value:.5g} ± {r.standard_error(name):.2g}", ""])
        for name in f.fitted:
            obs, sig = float(data[name].sel(metal=metal)), float(data[f"{name}_sigma"].sel(metal=metal))
            rows.append([metal, p, SHORT[name], f"{obs:.4g} ± {sig:.2g}", f"{f.predicted[name]:.4g}"])
        rows.append([metal, p, "chi2/dof", f"{r.chi2:.3g}/{r.dof}",
                     f"{r.compile_seconds:.0f} s compile + {r.run_seconds:.0f} s run"])
    return "\n".join(_table(rows)) + "\n"


# ----------------------------------------------------------------------------------------------

def run(out, metals: Sequence[str] = METALS, potentials: Sequence[str] = POTENTIALS,
        quick: bool = False, verbose: bool = True) -> dict:
    """Run the fits and write, under ``out``: ``<metal>_<potential>.nc`` (the FitResult),
    ``<metal>_<potential>.txt`` (its report), ``plots/<metal>_<potential>/`` (its plots) and
    ``comparison.txt``. ``quick`` uses a 2³ vacancy supercell and skips the plots. Returns
    ``{(metal, potential): MetalFit}``."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cells = 2 if quick else VACANCY_CELLS
    results: dict = {}
    for metal in metals:
        for p in potentials:
            if p not in POTENTIALS:
                raise ValueError(f"potential must be one of {POTENTIALS}, got {p!r}")
            started = time.perf_counter()
            if p == "morse":
                result, fitted = fit_morse(metal), MORSE_VARIABLES
            else:
                result, fitted = fit_eam(metal, vacancy_cells=cells), EAM_VARIABLES
            seconds = time.perf_counter() - started
            predicted = predict(p, metal, result, vacancy_cells=cells, vacancy=not quick)
            stem = f"{metal}_{p}"
            result.save(out / f"{stem}.nc")
            (out / f"{stem}.txt").write_text(result.report() + "\n", encoding="utf-8")
            if not quick:
                result.plot(out / "plots" / stem)
            results[(metal, p)] = MetalFit(metal, p, result, predicted, fitted, seconds)
            if verbose:
                print(f"{stem}: success={result.success}, chi2={result.chi2:.4g}, "
                      f"compile {result.compile_seconds:.1f} s, run {result.run_seconds:.1f} s",
                      flush=True)
    text = compare(results)
    (out / "comparison.txt").write_text(text, encoding="utf-8")
    (out / "summary.txt").write_text(summary(results), encoding="utf-8")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    jax.config.update("jax_enable_x64", True)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metals", nargs="+", default=["Cu"], choices=METALS,
                        help="default Cu (each metal takes about 5 min on 2 cores)")
    parser.add_argument("--potentials", nargs="+", default=list(POTENTIALS), choices=POTENTIALS)
    parser.add_argument("--out", default="results/metals")
    parser.add_argument("--quick", action="store_true",
                        help="a smaller vacancy supercell and no plots (for tests)")
    args = parser.parse_args(argv)
    calib.enable_compilation_cache()
    results = run(args.out, args.metals, args.potentials, quick=args.quick)
    print()
    print(compare(results))
    print(summary(results))
    return 0 if all(f.result.success for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
