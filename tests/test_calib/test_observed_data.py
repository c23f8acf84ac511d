"""The data layer: units, uncertainties and conditions of observed datasets, and their error messages.

Every bad input has its own test, which checks that the message names the dataset, the variable or
value at fault and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from calib import CalibKeyError, CalibTypeError, CalibValueError
from calib.data import (Observation, ObservedDataset, conversion, from_csv, load, prepare,
                        prepare_all, ureg)

DOCS_DATA = Path(__file__).resolve().parents[2] / "docs" / "data"


def elastic(**attrs) -> xr.Dataset:
    """Two elastic constants of three metals with per-value uncertainties, in GPa."""
    ds = xr.Dataset(
        {"C11": ("metal", [176.2, 114.3, 261.2], {"units": "GPa"}),
         "C11_sigma": ("metal", [2.0, 0.6, 3.0], {"units": "GPa"}),
         "C12": ("metal", [124.9, 61.9, 150.8], {"units": "GPa", "sigma": 1.5})},
        coords={"metal": ["Cu", "Al", "Ni"]}, attrs={"name": "elastic"})
    ds.attrs.update(attrs)
    return ds


def curve(n: int = 5) -> xr.Dataset:
    strain = np.linspace(0.01, 0.05, n)
    return xr.Dataset({"stress": ("strain", 200.0 * strain, {"units": "MPa", "sigma": 0.5})},
                      coords={"strain": ("strain", strain, {"units": "1"})},
                      attrs={"name": "curve"})


def message(excinfo) -> str:
    return str(excinfo.value)


# --- units ---------------------------------------------------------------------------------------

def test_registry_parses_the_usual_units():
    for units in ("eV", "angstrom", "GPa", "kPa", "eV/angstrom**3", "dimensionless", "1"):
        ureg.parse_units(units)
    assert ureg.parse_units("1").dimensionless


def test_conversion_gpa_to_ev_per_cubic_angstrom():
    scale, offset = conversion("GPa", "eV/angstrom**3", what="test")
    assert offset == 0.0
    # pint uses the exact SI elementary charge (1 eV/angstrom**3 = 160.2176634 GPa); the physics
    # modules' EV_PER_A3_IN_GPA (CODATA 2014) differs by 5e-9 relative.
    assert scale == pytest.approx(1 / 160.2176634, rel=1e-12)
    assert conversion("kPa", "Pa", what="test") == (pytest.approx(1000.0), 0.0)


def test_conversion_affine_units():
    scale, offset = conversion("degC", "K", what="test")
    assert scale == pytest.approx(1.0) and offset == pytest.approx(273.15)
    scale, offset = conversion("degC", "degF", what="test")
    assert scale * 100 + offset == pytest.approx(212.0)


def test_conversion_unknown_units_names_the_string_and_what():
    with pytest.raises(CalibValueError) as excinfo:
        conversion("gigapascalz", "GPa", what="dataset 'lattice', variable 'a'")
    text = message(excinfo)
    assert "dataset 'lattice', variable 'a'" in text and "'gigapascalz'" in text
    assert "'eV/angstrom**3'" in text  # an example of a string that works


def test_conversion_incompatible_dimensions_gives_both():
    with pytest.raises(CalibValueError) as excinfo:
        conversion("m", "GPa", what="dataset 'elastic', variable 'C11'")
    text = message(excinfo)
    assert "dataset 'elastic', variable 'C11'" in text
    assert "[length]" in text and "[mass]/[length]/[time]**2" in text and "pressure" in text


def test_conversion_rejects_non_strings():
    with pytest.raises(CalibTypeError, match="units must be a string"):
        conversion(3.0, "GPa", what="x")


# --- prepare: the good cases ---------------------------------------------------------------------

def test_prepare_reads_values_sigma_units_and_conditions():
    obs = prepare(elastic())
    assert isinstance(obs, ObservedDataset) and obs.name == "elastic"
    assert list(obs.observations) == ["C11", "C12"]  # C11_sigma is an uncertainty, not observed
    c11 = obs.observations["C11"]
    assert isinstance(c11, Observation) and c11.dataset == "elastic"
    np.testing.assert_array_equal(c11.values, [176.2, 114.3, 261.2])
    np.testing.assert_array_equal(c11.sigma, [2.0, 0.6, 3.0])
    assert c11.values.dtype == np.float64 and c11.sigma.dtype == np.float64
    assert c11.units == "GPa" and c11.dims == ("metal",) and c11.sigma_source == "variable 'C11_sigma'"
    c12 = obs.observations["C12"]
    np.testing.assert_array_equal(c12.sigma, [1.5, 1.5, 1.5])
    assert c12.sigma_source == "attribute sigma"
    np.testing.assert_array_equal(obs.conditions["metal"], ["Cu", "Al", "Ni"])
    assert obs.condition_units == {"metal": None}
    assert obs.size == 6 and obs.weight == 1.0 and obs.relative_sigma is False
    assert isinstance(obs.source, xr.Dataset)


def test_prepared_arrays_are_read_only_copies():
    ds = elastic()
    obs = prepare(ds)
    c11 = obs.observations["C11"]
    for array in (c11.values, c11.sigma, obs.conditions["metal"]):
        with pytest.raises(ValueError):
            array[0] = 0.0
    ds["C11"][0] = 0.0  # the user's dataset stays writable, and the observation keeps its values
    ds["C11_sigma"][0] = 1.0
    assert c11.values[0] == 176.2 and c11.sigma[0] == 2.0


def test_numeric_coordinates_become_float64_with_units():
    ds = curve()
    ds = ds.assign_coords(temperature=300)  # an int scalar coordinate, without units
    obs = prepare(ds)
    assert obs.conditions["strain"].dtype == np.float64
    assert obs.conditions["temperature"].dtype == np.float64 and obs.conditions["temperature"].shape == ()
    assert obs.condition_units == {"strain": "1", "temperature": None}


def test_integer_data_become_float64():
    ds = xr.Dataset({"count": ("x", np.array([1, 2, 3]), {"units": "1", "sigma": 1})})
    obs = prepare(ds)
    assert obs.name == "data"  # no name attribute
    assert obs.observations["count"].values.dtype == np.float64


def test_ancillary_variables_take_precedence_over_name_and_attribute():
    ds = curve()
    ds["stress_err"] = ("strain", np.full(5, 0.2), {"units": "MPa"})
    ds["stress_sigma"] = ("strain", np.full(5, 9.0), {"units": "MPa"})
    ds["stress"].attrs["ancillary_variables"] = "stress_err"
    obs = prepare(ds)
    assert list(obs.observations) == ["stress"]  # neither uncertainty is observed
    stress = obs.observations["stress"]
    assert stress.sigma_source == "ancillary_variables 'stress_err'"
    np.testing.assert_array_equal(stress.sigma, 0.2)


def test_sigma_variable_takes_precedence_over_attribute():
    ds = curve()
    ds["stress_sigma"] = ("strain", np.full(5, 0.7), {"units": "MPa"})
    stress = prepare(ds).observations["stress"]
    assert stress.sigma_source == "variable 'stress_sigma'"
    np.testing.assert_array_equal(stress.sigma, 0.7)


def test_ancillary_list_picks_the_standard_error():
    ds = curve()
    del ds["stress"].attrs["sigma"]
    ds["stress_flag"] = ("strain", np.zeros(5), {"flag_meanings": "ok"})
    ds["stress_se"] = ("strain", np.full(5, 0.3), {"standard_name": "stress standard_error"})
    ds["stress"].attrs["ancillary_variables"] = "stress_flag stress_se"
    stress = prepare(ds).observations["stress"]
    assert stress.sigma_source == "ancillary_variables 'stress_se'"
    np.testing.assert_array_equal(stress.sigma, 0.3)


def test_ancillary_list_without_standard_name_takes_the_first():
    ds = curve()
    ds["a"] = ("strain", np.full(5, 0.4))
    ds["b"] = ("strain", np.full(5, 0.9))
    ds["stress"].attrs["ancillary_variables"] = "a b"
    obs = prepare(ds)
    assert list(obs.observations) == ["stress"]
    np.testing.assert_array_equal(obs.observations["stress"].sigma, 0.4)


def test_uncertainty_in_other_units_is_converted():
    ds = curve()
    ds["stress_sigma"] = ("strain", np.full(5, 500.0), {"units": "kPa"})
    np.testing.assert_allclose(prepare(ds).observations["stress"].sigma, 0.5)


def test_uncertainty_without_units_has_the_variables_units():
    ds = curve()
    ds["stress_sigma"] = ("strain", np.full(5, 2.0))
    np.testing.assert_array_equal(prepare(ds).observations["stress"].sigma, 2.0)


def test_sigma_attribute_in_sigma_units():
    ds = curve()
    ds["stress"].attrs["sigma_units"] = "kPa"
    ds["stress"].attrs["sigma"] = 250.0
    np.testing.assert_allclose(prepare(ds).observations["stress"].sigma, 0.25)


def test_lower_dimensional_uncertainty_broadcasts():
    ds = xr.Dataset({"E": (("sample", "T"), np.arange(6.0).reshape(2, 3) + 1, {"units": "eV"}),
                     "E_sigma": ("T", [0.1, 0.2, 0.3], {"units": "eV"})},
                    coords={"sample": ["a", "b"], "T": ("T", [100.0, 200.0, 300.0], {"units": "K"})})
    e = prepare(ds).observations["E"]
    assert e.sigma.shape == (2, 3)
    np.testing.assert_array_equal(e.sigma, [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    scalar = ds.assign(E_sigma=((), 0.05))
    np.testing.assert_array_equal(prepare(scalar).observations["E"].sigma, np.full((2, 3), 0.05))


def test_uncertainty_with_transposed_dims_is_aligned():
    values = np.arange(6.0).reshape(2, 3) + 1
    ds = xr.Dataset({"E": (("a", "b"), values, {"units": "eV"}),
                     "E_sigma": (("b", "a"), 0.1 * values.T, {"units": "eV"})})
    e = prepare(ds).observations["E"]
    np.testing.assert_allclose(e.sigma, 0.1 * values)


def test_relative_weights_give_unit_sigma():
    ds = curve()
    del ds["stress"].attrs["sigma"]
    obs = prepare(ds, relative_weights=True)
    stress = obs.observations["stress"]
    assert obs.relative_sigma is True and stress.sigma_source == "relative"
    np.testing.assert_array_equal(stress.sigma, np.ones(5))


def test_relative_weights_keep_given_sigma():
    obs = prepare(curve(), relative_weights=True)
    assert obs.relative_sigma is True
    assert obs.observations["stress"].sigma_source == "attribute sigma"


def test_variables_selects_a_subset():
    obs = prepare(elastic(), variables=["C12"])
    assert list(obs.observations) == ["C12"]
    assert list(prepare(elastic(), variables="C11").observations) == ["C11"]


def test_weight_and_name_arguments():
    obs = prepare(elastic(), name="mine", weight=2)
    assert obs.name == "mine" and obs.weight == 2.0 and isinstance(obs.weight, float)
    assert obs.observations["C11"].dataset == "mine"


def test_prepare_accepts_a_path(tmp_path):
    path = tmp_path / "elastic_file.nc"
    unnamed = elastic()
    del unnamed.attrs["name"]
    unnamed.to_netcdf(path, engine="h5netcdf")
    obs = prepare(path)
    assert obs.name == "elastic_file"  # no name attribute: the file's stem
    assert prepare(str(path), name="x").name == "x"


def test_bundled_fcc_metals_prepare():
    from physics.atomistic import load_fcc_metals

    obs = prepare(load_fcc_metals(), name="fcc")
    assert "C11" in obs.observations and not any(k.endswith("_sigma") for k in obs.observations)
    assert all(o.sigma_source.startswith("ancillary_variables") for o in obs.observations.values())


# --- prepare: bad input, one test each ----------------------------------------------------------

def test_not_a_dataset():
    with pytest.raises(CalibTypeError, match="xarray.Dataset") as excinfo:
        prepare({"a": 1})
    assert "dict" in message(excinfo)
    with pytest.raises(CalibTypeError, match=r"to_dataset"):
        prepare(xr.DataArray([1.0], dims="x"))


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_weight_value(weight):
    with pytest.raises(CalibValueError) as excinfo:
        prepare(elastic(), weight=weight)
    text = message(excinfo)
    assert "'elastic'" in text and repr(float(weight)) in text and "weight=1.0" in text


@pytest.mark.parametrize("weight", ["2", True, None])
def test_bad_weight_type(weight):
    with pytest.raises(CalibTypeError, match=r"dataset 'elastic': weight must be a number"):
        prepare(elastic(), weight=weight)


def test_bad_name():
    with pytest.raises(CalibTypeError, match="name must be a non-empty string"):
        prepare(elastic(), name="")
    with pytest.raises(CalibValueError, match=r"'name' attribute is 3.*name='\.\.\.'"):
        prepare(elastic(name=3))


def test_missing_units():
    ds = elastic()
    del ds["C11"].attrs["units"]
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "dataset 'elastic': variable 'C11' has no 'units'" in text
    assert "ds['C11'].attrs['units'] = 'angstrom'" in text and "'dimensionless'" in text


def test_units_that_do_not_parse():
    ds = elastic()
    ds["C11"].attrs["units"] = "gigapascals per furlong^"
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "dataset 'elastic': variable 'C11'" in text and "'gigapascals per furlong^'" in text
    assert "'eV/angstrom**3'" in text


def test_empty_units():
    ds = elastic()
    ds["C11"].attrs["units"] = ""
    with pytest.raises(CalibValueError, match=r"variable 'C11'.*units '' is empty; write '1'"):
        prepare(ds)


def test_units_of_the_wrong_type():
    ds = elastic()
    ds["C11"].attrs["units"] = 1.0
    with pytest.raises(CalibTypeError, match=r"variable 'C11': units must be a string.*1\.0"):
        prepare(ds)


def test_uncertainty_of_the_wrong_dimension():
    ds = elastic()
    ds["C11_sigma"].attrs["units"] = "m"
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    assert message(excinfo) == (
        "dataset 'elastic': variable 'C11' has units 'GPa' but its uncertainty 'C11_sigma' has units "
        "'m' (dimension [length] vs [mass]/[length]/[time]**2); give the uncertainty in units of "
        "pressure, e.g. 'GPa'")


def test_sigma_units_of_the_wrong_dimension():
    ds = elastic()
    ds["C12"].attrs["sigma_units"] = "eV"
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "variable 'C12' has units 'GPa'" in text and "sigma_units='eV'" in text
    assert "units of pressure" in text


def test_uncertainty_units_that_do_not_parse():
    ds = elastic()
    ds["C11_sigma"].attrs["units"] = "gpa"
    with pytest.raises(CalibValueError, match=r"variable 'C11': its uncertainty 'C11_sigma'.*'gpa'"):
        prepare(ds)


def test_no_uncertainty():
    ds = elastic()
    del ds["C12"].attrs["sigma"]
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "dataset 'elastic': variable 'C12' has no uncertainty" in text
    assert "'C12_sigma'" in text and "attrs['sigma']" in text
    assert "relative_weights=True" in text and "reduced chi^2" in text


def test_ancillary_variable_that_does_not_exist():
    ds = elastic()
    ds["C11"].attrs["ancillary_variables"] = "C11_err"
    with pytest.raises(CalibKeyError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "dataset 'elastic': variable 'C11'" in text and "'C11_err'" in text
    assert "add the uncertainty variable or correct the attribute" in text


def test_ancillary_variables_not_a_string():
    ds = elastic()
    ds["C11"].attrs["ancillary_variables"] = 5
    with pytest.raises(CalibTypeError, match=r"variable 'C11' has ancillary_variables=5.*'C11_sigma'"):
        prepare(ds)


def test_uncertainty_that_does_not_broadcast():
    ds = elastic()
    ds["C11_sigma"] = (("metal", "run"), np.ones((3, 2)))
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "variable 'C11' has dims ('metal',)" in text and "('metal', 'run')" in text
    assert "give the uncertainty along ('metal',)" in text


def test_non_numeric_uncertainty():
    ds = elastic()
    ds["C11_sigma"] = ("metal", ["a", "b", "c"])
    with pytest.raises(CalibValueError, match=r"variable 'C11': its uncertainty 'C11_sigma' is not numeric"):
        prepare(ds)


def test_sigma_attribute_not_a_number():
    ds = elastic()
    ds["C12"].attrs["sigma"] = "1.5"
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "variable 'C12' has sigma='1.5'" in text and "'C12_sigma'" in text


def test_nan_in_data_names_count_and_coordinate():
    ds = curve()
    ds["stress"][[1, 3]] = np.nan
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "dataset 'curve': variable 'stress' has 2 NaN/inf value(s) out of 5" in text
    assert "strain=0.02" in text and "dropna" in text


def test_inf_in_data_of_a_dimension_without_coordinate():
    ds = xr.Dataset({"E": (("point",), [1.0, np.inf], {"units": "eV", "sigma": 0.1})})
    with pytest.raises(CalibValueError, match=r"variable 'E' has 1 NaN/inf .*point index 1"):
        prepare(ds)


def test_nan_on_a_point_dimension_shows_every_condition():
    ds = xr.Dataset({"E": ("point", [1.0, np.nan], {"units": "eV", "sigma": 0.1})},
                    coords={"T": ("point", [300.0, 400.0]), "sample": ("point", ["a", "b"])})
    with pytest.raises(CalibValueError, match=r"at T=400, sample='b'"):
        prepare(ds)


def test_nan_in_sigma():
    ds = elastic()
    ds["C11_sigma"][2] = np.nan
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "variable 'C11': its uncertainty (variable 'C11_sigma') has 1 NaN/inf" in text
    assert "metal='Ni'" in text and "finite standard deviation > 0" in text


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_non_positive_sigma(bad):
    ds = elastic()
    ds["C11_sigma"][0] = bad
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "1 zero or negative value(s)" in text and f"({bad!r})" in text and "metal='Cu'" in text


def test_non_positive_sigma_attribute():
    ds = elastic()
    ds["C12"].attrs["sigma"] = 0
    with pytest.raises(CalibValueError, match=r"'C12': its uncertainty \(attribute sigma\) has 3 zero"):
        prepare(ds)


def test_non_numeric_data_variable():
    ds = elastic()
    ds["note"] = ("metal", ["x", "y", "z"])
    with pytest.raises(CalibValueError) as excinfo:
        prepare(ds)
    text = message(excinfo)
    assert "dataset 'elastic'" in text and "['note']" in text and "not numeric" in text
    assert "variables=['C11', 'C12']" in text
    assert list(prepare(ds, variables=["C11", "C12"]).observations) == ["C11", "C12"]


def test_non_numeric_selected_variable():
    ds = elastic()
    ds["note"] = ("metal", ["x", "y", "z"])
    with pytest.raises(CalibValueError, match=r"variable 'note' is not numeric.*leave it out"):
        prepare(ds, variables=["C11", "note"])


def test_unknown_selected_variable():
    with pytest.raises(CalibKeyError) as excinfo:
        prepare(elastic(), variables=["C44"])
    text = message(excinfo)
    assert "dataset 'elastic'" in text and "['C44']" in text and "['C11', 'C11_sigma', 'C12']" in text


def test_duplicate_selected_variable():
    with pytest.raises(CalibValueError, match="names a variable twice"):
        prepare(elastic(), variables=["C11", "C11"])


def test_no_observed_variables():
    ds = xr.Dataset(coords={"x": [1.0, 2.0]}, attrs={"name": "empty"})
    with pytest.raises(CalibValueError, match=r"dataset 'empty' has no data variables to observe"):
        prepare(ds)


def test_coordinate_units_that_do_not_parse():
    ds = curve()
    ds["strain"].attrs["units"] = "percentt"
    with pytest.raises(CalibValueError, match=r"dataset 'curve': coordinate 'strain'.*'percentt'"):
        prepare(ds)


def test_coordinate_with_nan():
    ds = curve().assign_coords(strain=("strain", [0.01, np.nan, 0.03, 0.04, 0.05]))
    with pytest.raises(CalibValueError, match=r"coordinate 'strain' has 1 NaN/inf .*index \(1,\)"):
        prepare(ds)


def test_relative_weights_must_be_bool():
    with pytest.raises(CalibTypeError, match="relative_weights must be True or False"):
        prepare(elastic(), relative_weights="yes")


# --- prepare_all ---------------------------------------------------------------------------------

def test_prepare_all_forms():
    assert [d.name for d in prepare_all(elastic())] == ["elastic"]
    both = prepare_all([elastic(), curve()], weights=[1.0, 3.0])
    assert [d.name for d in both] == ["elastic", "curve"] and [d.weight for d in both] == [1.0, 3.0]
    by_name = prepare_all({"a": elastic(), "b": elastic()}, weights={"b": 2.0})
    assert [(d.name, d.weight) for d in by_name] == [("a", 1.0), ("b", 2.0)]
    # The same variable name in two datasets is fine: observations are namespaced by dataset.
    assert [d.observations["C11"].dataset for d in by_name] == ["a", "b"]
    assert [d.weight for d in prepare_all([elastic(), curve()], weights=0.5)] == [0.5, 0.5]


def test_prepare_all_relative_weights():
    ds = curve()
    del ds["stress"].attrs["sigma"]
    (obs,) = prepare_all([ds], relative_weights=True)
    assert obs.relative_sigma


def test_prepare_all_paths(tmp_path):
    path = tmp_path / "one.nc"
    unnamed = curve()
    del unnamed.attrs["name"]
    unnamed.to_netcdf(path, engine="h5netcdf")
    (obs,) = prepare_all([path], weights={"one": 2.0})
    assert obs.name == "one" and obs.weight == 2.0


def test_prepare_all_duplicate_names():
    with pytest.raises(CalibValueError) as excinfo:
        prepare_all([elastic(), elastic()])
    text = message(excinfo)
    assert "named 'elastic'" in text and "ds.attrs['name']" in text and "dict" in text


def test_prepare_all_wrong_number_of_weights():
    with pytest.raises(CalibValueError, match=r"3 weights for 2 datasets \(\['elastic', 'curve'\]\)"):
        prepare_all([elastic(), curve()], weights=[1.0, 2.0, 3.0])


def test_prepare_all_unknown_weight_names():
    with pytest.raises(CalibKeyError, match=r"weights names \['elstic'\].*\['elastic', 'curve'\]"):
        prepare_all([elastic(), curve()], weights={"elstic": 2.0})


def test_prepare_all_bad_weight_names_the_dataset():
    with pytest.raises(CalibValueError, match=r"dataset 'curve': weight must be finite and > 0, got -1.0"):
        prepare_all([elastic(), curve()], weights=[1.0, -1.0])


def test_prepare_all_bad_input():
    with pytest.raises(CalibTypeError, match="prepare_all: data must be"):
        prepare_all(3)
    with pytest.raises(CalibValueError, match="no datasets"):
        prepare_all([])
    with pytest.raises(CalibTypeError, match="each dataset must be"):
        prepare_all([elastic(), 3])
    with pytest.raises(CalibTypeError, match="keys of a dict"):
        prepare_all({1: elastic()})


# --- load ----------------------------------------------------------------------------------------

def test_load_round_trip_is_in_memory(tmp_path):
    path = tmp_path / "e.nc"
    elastic().to_netcdf(path, engine="h5netcdf")
    ds = load(path)
    path.unlink()  # the file is closed and the data are in memory
    xr.testing.assert_identical(ds, elastic())


def test_load_missing_file(tmp_path):
    path = tmp_path / "nothing.nc"
    with pytest.raises(CalibValueError) as excinfo:
        load(path)
    assert str(path) in message(excinfo) and "does not exist" in message(excinfo)


def test_load_not_netcdf(tmp_path):
    path = tmp_path / "table.nc"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CalibValueError) as excinfo:
        load(path)
    text = message(excinfo)
    assert str(path) in text and "NetCDF-4" in text and "from_csv" in text


def test_load_not_a_path():
    with pytest.raises(CalibTypeError, match="path must be a str or os.PathLike"):
        load(3)


# --- from_csv ------------------------------------------------------------------------------------

def write(tmp_path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_from_csv_one_coordinate_and_sigma_column(tmp_path):
    path = write(tmp_path, "# a comment\nstrain,stress,stress_sigma\n0.01,2.0,0.1\n0.02,4.1,0.1\n")
    ds = from_csv(path, units={"strain": "1", "stress": "MPa"}, coords=["strain"])
    assert ds.stress.dims == ("strain",) and ds.attrs["name"] == "table"
    assert ds.stress.attrs == {"units": "MPa", "ancillary_variables": "stress_sigma"}
    assert ds.stress_sigma.attrs["units"] == "MPa" and ds.strain.attrs["units"] == "1"
    assert ds.attrs["source"] == "table.csv"  # the file's name only, never its directory
    obs = prepare(ds)
    assert obs.observations["stress"].sigma_source == "ancillary_variables 'stress_sigma'"
    np.testing.assert_array_equal(obs.conditions["strain"], [0.01, 0.02])


def test_from_csv_several_coordinates_make_points(tmp_path):
    path = write(tmp_path, "T,P,V,V_err\n300,0,10.0,0.1\n300,1,9.9,0.1\n400,0,10.2,0.2\n")
    ds = from_csv(path, units={"T": "K", "P": "GPa", "V": "angstrom**3", "V_err": "nm**3"},
                  coords=["T", "P"], sigma={"V": "V_err"}, name="eos")
    assert ds.V.dims == ("point",) and set(ds.coords) == {"T", "P"} and "V_err" not in ds
    assert ds.V_sigma.attrs["units"] == "nm**3" and ds.attrs["name"] == "eos"
    obs = prepare(ds)
    np.testing.assert_allclose(obs.observations["V"].sigma, [100.0, 100.0, 200.0])
    assert obs.condition_units == {"T": "K", "P": "GPa"}


def test_from_csv_sigma_number_and_label_coordinate(tmp_path):
    path = write(tmp_path, "metal,a\nCu,3.61\nAl,4.05\n")
    ds = from_csv(path, units={"a": "angstrom"}, coords="metal", sigma={"a": 0.01})
    assert ds.a.attrs["sigma"] == 0.01 and "units" not in ds.metal.attrs
    obs = prepare(ds)
    np.testing.assert_array_equal(obs.conditions["metal"], ["Cu", "Al"])
    np.testing.assert_array_equal(obs.observations["a"].sigma, [0.01, 0.01])


def test_from_csv_empty_cell_is_reported_by_prepare(tmp_path):
    path = write(tmp_path, "x,y\n1,2.0\n2,\n")
    ds = from_csv(path, units={"y": "eV"}, coords=["x"], sigma={"y": 0.1})
    with pytest.raises(CalibValueError, match=r"variable 'y' has 1 NaN/inf .* at x=2"):
        prepare(ds)


def test_from_csv_missing_units(tmp_path):
    path = write(tmp_path, "strain,stress,load\n0.01,2.0,5\n")
    with pytest.raises(CalibValueError) as excinfo:
        from_csv(path, units={"stress": "MPa"}, coords=["strain"])
    text = message(excinfo)
    assert "from_csv('table.csv')" in text and "['load']" in text and "units={'load': '...'}" in text


def test_from_csv_units_for_unknown_column(tmp_path):
    path = write(tmp_path, "strain,stress\n0.01,2.0\n")
    with pytest.raises(CalibKeyError, match=r"units names column\(s\) \['stres'\].*\['strain', 'stress'\]"):
        from_csv(path, units={"stres": "MPa"}, coords=["strain"])


def test_from_csv_units_that_do_not_parse(tmp_path):
    path = write(tmp_path, "strain,stress\n0.01,2.0\n")
    with pytest.raises(CalibValueError, match=r"column 'stress'.*'Mpaa'"):
        from_csv(path, units={"stress": "Mpaa"}, coords=["strain"], sigma={"stress": 1.0})


def test_from_csv_missing_coordinate_column(tmp_path):
    path = write(tmp_path, "strain,stress\n0.01,2.0\n")
    match = r"coordinate column\(s\) \['temperature'\] .*\['strain', 'stress'\]"
    with pytest.raises(CalibKeyError, match=match):
        from_csv(path, units={"stress": "MPa"}, coords=["temperature"])


def test_from_csv_non_numeric_value(tmp_path):
    path = write(tmp_path, "strain,stress\n0.01,2.0\n0.02,n/a?\n")
    with pytest.raises(CalibValueError) as excinfo:
        from_csv(path, units={"stress": "MPa"}, coords=["strain"])
    text = message(excinfo)
    assert "column 'stress', data row 2" in text and "'n/a?'" in text and "not a number" in text


def test_from_csv_empty_file(tmp_path):
    with pytest.raises(CalibValueError, match=r"from_csv\('empty.csv'\): the file is empty"):
        from_csv(write(tmp_path, "", "empty.csv"), units={}, coords=["x"])


def test_from_csv_header_only(tmp_path):
    with pytest.raises(CalibValueError, match=r"has a header \(\['x', 'y'\]\) but no rows"):
        from_csv(write(tmp_path, "x,y\n"), units={"y": "eV"}, coords=["x"])


def test_from_csv_missing_file(tmp_path):
    with pytest.raises(CalibValueError, match=re.escape(str(tmp_path / "no.csv"))):
        from_csv(tmp_path / "no.csv", units={}, coords=["x"])


def test_from_csv_conflicting_sigma(tmp_path):
    path = write(tmp_path, "x,y,y_sigma,y_err\n1,2.0,0.1,0.2\n")
    with pytest.raises(CalibValueError, match=r"column 'y_sigma' and sigma\['y'\] = 'y_err' both"):
        from_csv(path, units={"y": "eV"}, coords=["x"], sigma={"y": "y_err"})


def test_from_csv_bad_sigma_entries(tmp_path):
    path = write(tmp_path, "x,y\n1,2.0\n")
    with pytest.raises(CalibKeyError, match=r"sigma names 'z'.*\['y'\]"):
        from_csv(path, units={"y": "eV"}, coords=["x"], sigma={"z": 0.1})
    with pytest.raises(CalibKeyError, match=r"sigma\['y'\] = 'q' is not a column"):
        from_csv(path, units={"y": "eV"}, coords=["x"], sigma={"y": "q"})
    with pytest.raises(CalibValueError, match=r"sigma\['y'\] = -1.0; a standard deviation must be"):
        from_csv(path, units={"y": "eV"}, coords=["x"], sigma={"y": -1.0})
    with pytest.raises(CalibTypeError, match=r"sigma\['y'\] = \[0.1\]"):
        from_csv(path, units={"y": "eV"}, coords=["x"], sigma={"y": [0.1]})


def test_from_csv_bad_arguments(tmp_path):
    path = write(tmp_path, "x,y\n1,2.0\n")
    with pytest.raises(CalibTypeError, match="units must be a dict"):
        from_csv(path, units=["eV"], coords=["x"])
    with pytest.raises(CalibTypeError, match="coords must be a list of column names"):
        from_csv(path, units={"y": "eV"}, coords=[1])
    with pytest.raises(CalibValueError, match="no observed columns"):
        from_csv(path, units={}, coords=["x", "y"])


# --- the example file of the documentation --------------------------------------------------------

def test_example_file_matches_its_csv():
    ds = load(DOCS_DATA / "example_stress_strain.nc")
    obs = prepare(ds)
    assert obs.name == "stress_strain" and obs.size == 10
    stress = obs.observations["stress"]
    assert stress.units == "MPa" and stress.sigma_source == "ancillary_variables 'stress_sigma'"
    again = from_csv(DOCS_DATA / "example_stress_strain.csv", units={"strain": "1", "stress": "MPa"},
                     coords=["strain"])
    np.testing.assert_array_equal(again.stress.values, stress.values)
    np.testing.assert_array_equal(again.stress_sigma.values, stress.sigma)


def test_documentation_example_runs(monkeypatch, capsys):
    page = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "data_conventions.md"
    blocks = re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", page.read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    assert blocks
    monkeypatch.chdir(page.parents[2])  # the page's paths start at the repository root
    exec(compile("\n".join(blocks), str(page), "exec"), {"__name__": "__main__"})
    assert "stress_strain 10 MPa ancillary_variables 'stress_sigma'" in capsys.readouterr().out
