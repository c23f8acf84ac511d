"""Write ``fcc_metals.nc``: measured properties of fcc Cu, Al and Ni, with uncertainties and citations.

Every number in the file is typed in this script, next to its citation; the script only arranges
them (and derives the bulk modulus from the elastic constants) into a CF-1.8 netCDF file. It writes
no timestamp, so running it again gives an identical dataset.

Run from the repository root::

    python physics/atomistic/data/make_fcc_metals.py            # rewrites the packaged file
    python physics/atomistic/data/make_fcc_metals.py out.nc     # writes elsewhere

Uncertainties (``<name>_sigma``) are one standard uncertainty as judged here: the larger of the
source's stated error and the spread between independent determinations, as each variable's
``comment`` explains. They are meant for weighting a calibration, not as metrology.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import xarray as xr

METALS = ("Cu", "Al", "Ni")

FILE = Path(__file__).with_name("fcc_metals.nc")

# Full citations, by short key.
REFERENCES = {
    "straumanis1969": "M. E. Straumanis and L. S. Yu, 'Lattice parameters, densities, expansion "
                      "coefficients and perfection of structure of Cu and of Cu-In alpha phase', "
                      "Acta Crystallographica A25, 676-682 (1969): a(25 C) = 3.61491 A.",
    "swanson1953": "H. E. Swanson and E. Tatge, Standard X-ray Diffraction Powder Patterns, National "
                   "Bureau of Standards Circular 539, Vol. I (1953): Al 4.0494 A (25 C), "
                   "Ni 3.5238 A (26 C).",
    "kittel2005": "C. Kittel, Introduction to Solid State Physics, 8th ed. (Wiley, Hoboken, 2005), "
                  "Chapter 3, Table 1, 'Cohesive energies' (energy to separate the solid at 0 K and "
                  "1 atm into neutral free atoms in their ground state; data from L. Brewer): "
                  "Cu 336 kJ/mol = 3.49 eV/atom, Al 327 kJ/mol = 3.39 eV/atom, "
                  "Ni 428 kJ/mol = 4.44 eV/atom.",
    "codata1989": "J. D. Cox, D. D. Wagman and V. A. Medvedev, CODATA Key Values for Thermodynamics "
                  "(Hemisphere, New York, 1989): Al(g) enthalpy of formation 330.0 +/- 4.0 kJ/mol at "
                  "298.15 K; with H(298.15 K) - H(0) = 6.919 (gas) and 4.540 (crystal) kJ/mol this is "
                  "327.6 +/- 4.0 kJ/mol = 3.395 +/- 0.041 eV/atom at 0 K.",
    "overton1955": "W. C. Overton Jr. and J. Gaffney, 'Temperature variation of the elastic constants "
                   "of cubic elements. I. Copper', Physical Review 98, 969-977 (1955), "
                   "doi:10.1103/PhysRev.98.969: ultrasonic pulse-echo (10 MHz), 4.2-300 K, "
                   "extrapolated to 0 K: C11 = 1.7620, C12 = 1.2494, C44 = 0.8177 (1e12 dyn/cm2).",
    "kamm1964": "G. N. Kamm and G. A. Alers, 'Low-temperature elastic moduli of aluminum', Journal of "
                "Applied Physics 35, 327-330 (1964), doi:10.1063/1.1713309: ultrasonic, 4.2-300 K; "
                "0 K: C11 = 114.3, C12 = 61.9, C44 = 31.6 GPa.",
    "alers1960": "G. A. Alers, J. R. Neighbours and H. Sato, 'Temperature dependent magnetic "
                 "contributions to the high field elastic constants of nickel and an Fe-Ni alloy', "
                 "Journal of Physics and Chemistry of Solids 13, 40-55 (1960), "
                 "doi:10.1016/0022-3697(60)90125-6: pulse-echo in a saturating magnetic field, "
                 "0-760 K; 0 K: C11 = 2.612, C12 = 1.508, C44 = 1.317 (1e12 dyn/cm2).",
    "ehrhart1991": "P. Ehrhart, 'Properties and interactions of atomic defects in metals and alloys', "
                   "in Landolt-Boernstein, New Series III/25, Atomic Defects in Metals, ed. "
                   "H. Ullmaier (Springer, Berlin, 1991), Chapter 2: recommended monovacancy formation "
                   "enthalpies Cu 1.28 +/- 0.05 eV, Al 0.67 +/- 0.03 eV, Ni 1.79 +/- 0.05 eV.",
    "fluss1978": "M. J. Fluss, L. C. Smedskjaer, M. K. Chason, D. G. Legnini and R. W. Siegel, "
                 "'Measurements of the vacancy formation enthalpy in aluminum using positron "
                 "annihilation spectroscopy', Physical Review B 17, 3444-3455 (1978), "
                 "doi:10.1103/PhysRevB.17.3444: 0.66 +/- 0.02 eV.",
    "wycisk1978": "W. Wycisk and M. Feller-Kniepmeier, Journal of Nuclear Materials 69-70, 616-619 "
                  "(1978): quenched-in resistivity of high-purity Ni, 1.79 +/- 0.05 eV (the value "
                  "Ehrhart 1991 recommends).",
    "gong2018": "Y. Gong, B. Grabowski, A. Glensk, F. Koermann, J. Neugebauer and R. C. Reed, "
                "'Temperature dependence of the Gibbs energy of vacancy formation of fcc Ni', "
                "Physical Review B 97, 214106 (2018), doi:10.1103/PhysRevB.97.214106: the measured "
                "high-temperature enthalpies include anharmonic contributions that a static 0 K "
                "calculation lacks.",
}

# name: attributes, then per metal (value, sigma) and the reference keys behind it.
QUANTITIES = {
    "lattice_constant": dict(
        long_name="cubic lattice constant",
        units="angstrom",
        temperature_K=298.0,
        temperature_note="room temperature (25 C for Cu and Al, 26 C for Ni); the 0 K lattice "
                         "constants are about 0.2-0.4 % smaller (thermal contraction)",
        comment="X-ray diffraction on high-purity metal. sigma covers the spread between "
                "room-temperature determinations and the 1 K difference in their temperatures; it "
                "does not cover the room-temperature to 0 K difference.",
        data={"Cu": (3.6149, 0.0005), "Al": (4.0495, 0.0005), "Ni": (3.5238, 0.0005)},
        refs={"Cu": ["straumanis1969"], "Al": ["swanson1953"], "Ni": ["swanson1953"]},
    ),
    "cohesive_energy": dict(
        long_name="cohesive energy per atom (energy to separate the crystal into free neutral atoms, "
                  "positive)",
        units="eV",
        temperature_K=0.0,
        temperature_note="0 K and 1 atm (sublimation enthalpy at 298 K corrected to 0 K)",
        comment="Per atom. sigma: CODATA uncertainty for Al; for Cu and Ni the spread between "
                "thermochemical compilations (about 1-2 kJ/mol for Cu, 5 kJ/mol for Ni).",
        data={"Cu": (3.49, 0.02), "Al": (3.39, 0.04), "Ni": (4.44, 0.05)},
        refs={"Cu": ["kittel2005"], "Al": ["kittel2005", "codata1989"], "Ni": ["kittel2005"]},
    ),
    "C11": dict(
        long_name="elastic constant C11 (adiabatic, single crystal, cubic axes)",
        units="GPa",
        temperature_K=0.0,
        temperature_note="extrapolated to 0 K from ultrasonic measurements down to 4.2 K",
        comment="sigma: spread between independent single-crystal measurements at room temperature "
                "(about 1 %), larger than the quoted precision of the single study.",
        data={"Cu": (176.20, 2.0), "Al": (114.3, 0.6), "Ni": (261.2, 3.0)},
        refs={"Cu": ["overton1955"], "Al": ["kamm1964"], "Ni": ["alers1960"]},
    ),
    "C12": dict(
        long_name="elastic constant C12 (adiabatic, single crystal, cubic axes)",
        units="GPa",
        temperature_K=0.0,
        temperature_note="extrapolated to 0 K from ultrasonic measurements down to 4.2 K",
        comment="sigma: spread between independent single-crystal measurements at room temperature; "
                "C12 of Ni differs by about 3 % between laboratories.",
        data={"Cu": (124.94, 1.5), "Al": (61.9, 0.6), "Ni": (150.8, 5.0)},
        refs={"Cu": ["overton1955"], "Al": ["kamm1964"], "Ni": ["alers1960"]},
    ),
    "C44": dict(
        long_name="elastic constant C44 (adiabatic, single crystal, cubic axes)",
        units="GPa",
        temperature_K=0.0,
        temperature_note="extrapolated to 0 K from ultrasonic measurements down to 4.2 K",
        comment="sigma: spread between independent single-crystal measurements at room "
                "temperature. Ni was measured magnetically saturated; in a demagnetised crystal "
                "the Delta-E effect lowers C44 by several per cent.",
        data={"Cu": (81.77, 0.5), "Al": (31.6, 0.3), "Ni": (131.7, 1.5)},
        refs={"Cu": ["overton1955"], "Al": ["kamm1964"], "Ni": ["alers1960"]},
    ),
    "vacancy_formation_energy": dict(
        long_name="monovacancy formation energy (enthalpy)",
        units="eV",
        temperature_K=math.nan,
        temperature_note="no single temperature: Arrhenius enthalpies from equilibrium vacancy "
                         "concentrations at high temperature (roughly 0.6-1.0 of the melting "
                         "point); conventionally compared with static 0 K formation energies",
        comment="sigma: stated errors for Cu and Al; for Ni the spread between the quenching value "
                "1.79 eV and positron-annihilation estimates near 1.6 eV (value taken at the middle). "
                "High-temperature enthalpies exceed static 0 K formation energies by anharmonic "
                "contributions (for Ni see [gong2018] in the global references).",
        data={"Cu": (1.28, 0.05), "Al": (0.67, 0.03), "Ni": (1.7, 0.1)},
        refs={"Cu": ["ehrhart1991"], "Al": ["ehrhart1991", "fluss1978"],
              "Ni": ["ehrhart1991", "wycisk1978"]},
    ),
}

ORDER = ("lattice_constant", "cohesive_energy", "bulk_modulus", "C11", "C12", "C44",
         "vacancy_formation_energy")


def _source(refs: dict[str, list[str]]) -> str:
    return "; ".join(f"{m}: " + " ".join(REFERENCES[k] for k in refs[m]) for m in METALS)


def _bulk_modulus() -> dict:
    """B = (C11 + 2 C12)/3 from the same elastic constants; sigma assumes independent errors."""
    c11, c12 = QUANTITIES["C11"]["data"], QUANTITIES["C12"]["data"]
    data = {m: (round((c11[m][0] + 2 * c12[m][0]) / 3, 2),
                round(math.hypot(c11[m][1], 2 * c12[m][1]) / 3, 1)) for m in METALS}
    return dict(
        long_name="bulk modulus (adiabatic)",
        units="GPa",
        temperature_K=0.0,
        temperature_note="0 K, from the 0 K elastic constants",
        comment="Derived, not measured separately: B = (C11 + 2 C12)/3 from the C11 and C12 in this "
                "file, rounded to 0.01 GPa; sigma propagated from theirs assuming independent errors.",
        data=data,
        refs=QUANTITIES["C11"]["refs"],
        derived=True,
    )


def build_dataset() -> xr.Dataset:
    """The dataset, from the values and citations above."""
    quantities = dict(QUANTITIES, bulk_modulus=_bulk_modulus())
    variables = {}
    for name in ORDER:
        q = quantities[name]
        source = _source(q["refs"])
        if q.get("derived"):
            source = ("Computed as B = (C11 + 2 C12)/3 from the elastic constants of this file, "
                      "which come from: " + source)
        value = np.array([q["data"][m][0] for m in METALS], dtype=float)
        sigma = np.array([q["data"][m][1] for m in METALS], dtype=float)
        variables[name] = ("metal", value, {
            "long_name": q["long_name"], "units": q["units"],
            "ancillary_variables": f"{name}_sigma", "source": source,
            "temperature_K": q["temperature_K"], "temperature_note": q["temperature_note"],
            "comment": q["comment"],
        })
        variables[f"{name}_sigma"] = ("metal", sigma, {
            "long_name": f"standard uncertainty of {name}", "units": q["units"],
            "comment": f"one standard uncertainty of {name}; see the comment of {name}",
        })
    metal = xr.DataArray(list(METALS), dims="metal", attrs={"long_name": "metal (chemical symbol)"})
    references = "\n".join(f"[{k}] {v}" for k, v in REFERENCES.items())
    return xr.Dataset(variables, coords={"metal": metal}, attrs={
        "title": "Measured properties of fcc Cu, Al and Ni for calibrating interatomic potentials",
        "Conventions": "CF-1.8",
        "summary": "Lattice constant (room temperature), cohesive energy, bulk modulus and elastic "
                   "constants (0 K) and vacancy formation energy of fcc Cu, Al and Ni, each with a "
                   "standard uncertainty (<name>_sigma, named by ancillary_variables), a source "
                   "and the temperature it refers to (temperature_K, temperature_note).",
        "references": references,
        "history": "Written by physics/atomistic/data/make_fcc_metals.py from the values and "
                   "citations typed in that script (no timestamp, so the file is reproducible).",
    })


def write(path: str | Path = FILE) -> Path:
    """Write the dataset as netCDF-4 (h5netcdf engine) to ``path`` and return the path."""
    path = Path(path)
    build_dataset().to_netcdf(path, engine="h5netcdf")
    return path


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    print(write(argv[0] if argv else FILE))


if __name__ == "__main__":
    main()
