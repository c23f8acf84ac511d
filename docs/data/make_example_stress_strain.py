"""Write the example dataset of the data conventions page: a uniaxial stress-strain curve.

Ten points of a smooth elastic-plastic curve (a Voce-type closed form: linear with slope E at small
strain, saturating at the yield stress),

    stress = sigma_y * tanh(E * strain / sigma_y),   E = 200 GPa, sigma_y = 250 MPa,

with Gaussian noise of a stated standard deviation (1 MPa plus 1 % of the stress) drawn with a fixed
seed. The script writes ``example_stress_strain.csv`` (the table, as a lab would send it) and reads
it back with ``calib.data.from_csv`` into ``example_stress_strain.nc``, so both files are made the
same way every time.

Run from the repository root::

    python docs/data/make_example_stress_strain.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calib.data import from_csv, prepare

HERE = Path(__file__).resolve().parent
CSV = HERE / "example_stress_strain.csv"
NETCDF = HERE / "example_stress_strain.nc"

YOUNG_MPA = 200_000.0  # E, MPa
YIELD_MPA = 250.0      # sigma_y, MPa
SEED = 20240601


def curve(strain: np.ndarray) -> np.ndarray:
    """The noise-free stress, MPa, of a strain (pure number), shape preserved."""
    return YIELD_MPA * np.tanh(YOUNG_MPA * strain / YIELD_MPA)


def main() -> None:
    strain = np.linspace(0.0005, 0.005, 10)
    stress_sigma = 1.0 + 0.01 * curve(strain)
    rng = np.random.default_rng(SEED)
    stress = curve(strain) + stress_sigma * rng.standard_normal(strain.shape)
    lines = ["# Uniaxial tension, one specimen: engineering strain (1), stress and its standard "
             "uncertainty (MPa)",
             "strain,stress,stress_sigma"]
    lines += [f"{e:.4f},{s:.2f},{u:.2f}" for e, s, u in zip(strain, stress, stress_sigma)]
    CSV.write_text("\n".join(lines) + "\n", encoding="utf-8")

    ds = from_csv(CSV, units={"strain": "1", "stress": "MPa"}, coords=["strain"],
                  name="stress_strain")
    ds.attrs["title"] = "Example uniaxial stress-strain curve (synthetic)"
    ds.attrs["comment"] = ("stress = 250 MPa * tanh(200 GPa * strain / 250 MPa) plus Gaussian noise "
                           "of standard deviation stress_sigma; written by "
                           "docs/data/make_example_stress_strain.py")
    ds["stress"].attrs["long_name"] = "engineering stress"
    ds["strain"].attrs["long_name"] = "engineering strain"
    prepare(ds)  # the file must satisfy the conventions it illustrates
    ds.to_netcdf(NETCDF, engine="h5netcdf")


if __name__ == "__main__":
    main()
