"""The bundled fcc-metals dataset: CF metadata, uncertainties, plausible values, reproducible file."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import physics.atomistic
from physics.atomistic import load_fcc_metals

SCRIPT = Path(physics.atomistic.__file__).parent / "data" / "make_fcc_metals.py"

# Plausible ranges (units as in the file), wide enough for any sane experimental value.
RANGES = {
    "lattice_constant": ("angstrom", {"Cu": (3.59, 3.63), "Al": (4.02, 4.06), "Ni": (3.50, 3.54)}),
    "cohesive_energy": ("eV", {"Cu": (3.3, 3.7), "Al": (3.2, 3.6), "Ni": (4.2, 4.7)}),
    "bulk_modulus": ("GPa", {"Cu": (130, 150), "Al": (70, 85), "Ni": (175, 200)}),
    "C11": ("GPa", {"Cu": (160, 185), "Al": (100, 120), "Ni": (240, 270)}),
    "C12": ("GPa", {"Cu": (115, 130), "Al": (55, 68), "Ni": (140, 165)}),
    "C44": ("GPa", {"Cu": (70, 90), "Al": (25, 35), "Ni": (110, 140)}),
    "vacancy_formation_energy": ("eV", {"Cu": (1.0, 1.5), "Al": (0.5, 0.8), "Ni": (1.4, 2.0)}),
}


@pytest.fixture(scope="module")
def ds():
    return load_fcc_metals()


def _values(ds):
    return [name for name in ds.data_vars if not name.endswith("_sigma")]


def test_file_loads_with_metal_dimension(ds):
    assert isinstance(ds, xr.Dataset)
    assert list(ds["metal"].values) == ["Cu", "Al", "Ni"]
    assert sorted(_values(ds)) == sorted(RANGES)
    for key in ("title", "references", "history"):
        assert ds.attrs[key]
    assert ds.attrs["Conventions"] == "CF-1.8"


def test_every_variable_has_units_source_temperature_and_a_sigma(ds):
    for name in _values(ds):
        attrs = ds[name].attrs
        assert attrs["units"] == RANGES[name][0], name
        assert attrs["long_name"] and attrs["source"] and attrs["temperature_note"], name
        for metal in ("Cu:", "Al:", "Ni:"):
            assert metal in attrs["source"], (name, metal)
        assert attrs["ancillary_variables"] == f"{name}_sigma"
        sigma = ds[attrs["ancillary_variables"]]
        assert sigma.dims == ds[name].dims and sigma.attrs["units"] == attrs["units"]
        assert np.all(sigma.values > 0) and np.all(sigma.values < 0.1 * ds[name].values), name
        temperature = float(attrs["temperature_K"])
        assert math.isnan(temperature) or 0.0 <= temperature <= 300.0


def test_reference_temperatures(ds):
    assert ds["lattice_constant"].attrs["temperature_K"] == pytest.approx(298.0)
    for name in ("cohesive_energy", "bulk_modulus", "C11", "C12", "C44"):
        assert ds[name].attrs["temperature_K"] == 0.0, name
    assert math.isnan(ds["vacancy_formation_energy"].attrs["temperature_K"])


@pytest.mark.parametrize("name", sorted(RANGES))
def test_values_in_plausible_ranges(ds, name):
    for metal, (low, high) in RANGES[name][1].items():
        assert low < float(ds[name].sel(metal=metal)) < high, (name, metal)


def test_cohesive_energy_positive_and_elastic_stability(ds):
    assert np.all(ds["cohesive_energy"] > 0)
    # Born stability of a cubic crystal: C11 > |C12|, C11 + 2 C12 > 0, C44 > 0.
    assert np.all(ds["C11"] > abs(ds["C12"])) and np.all(ds["C44"] > 0)


def test_bulk_modulus_is_voigt_average_of_the_same_elastic_constants(ds):
    expected = (ds["C11"] + 2 * ds["C12"]) / 3
    np.testing.assert_allclose(ds["bulk_modulus"], expected, atol=0.005 + 1e-9)
    assert "(C11 + 2 C12)/3" in ds["bulk_modulus"].attrs["source"]


@pytest.mark.skipif(not SCRIPT.exists(), reason="the generating script ships only with the sources")
def test_script_regenerates_an_identical_dataset(tmp_path, ds):
    spec = importlib.util.spec_from_file_location("make_fcc_metals", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.write(tmp_path / "fcc_metals.nc")
    xr.testing.assert_identical(xr.load_dataset(path, engine="h5netcdf"), ds)
