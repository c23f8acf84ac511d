"""The metals demo: Morse and EAM fits to the bundled fcc-metal data (experiments/demo_metals.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from experiments import demo_metals
from physics.atomistic import crystal_properties, load_fcc_metals


def test_metal_data_keeps_units_and_sigma():
    data = demo_metals.metal_data("Cu", ("lattice_constant", "bulk_modulus"))
    assert data.attrs["name"] == "Cu"
    assert data["lattice_constant"].attrs["units"] == "angstrom"
    assert data["bulk_modulus"].attrs["units"] == "GPa"
    assert float(data["lattice_constant_sigma"]) == pytest.approx(0.0005)


def test_copper_morse_fit_end_to_end(tmp_path):
    results = demo_metals.run(tmp_path, ["Cu"], ["morse"], quick=True, verbose=False)
    fit = results[("Cu", "morse")]
    result = fit.result
    assert result.success and result.inner["failed"] == 0
    data = load_fcc_metals().sel(metal="Cu")
    for name in demo_metals.MORSE_VARIABLES:  # three data, three parameters: matched within sigma
        assert abs(fit.predicted[name] - float(data[name])) < float(data[f"{name}_sigma"])
    assert np.all(np.isfinite([result.standard_error(n) for n in ("D", "alpha", "r0")]))
    # The Cauchy relation of a pair potential at equilibrium.
    assert fit.predicted["C12"] == pytest.approx(fit.predicted["C44"], rel=1e-8)
    assert (tmp_path / "Cu_morse.nc").exists() and (tmp_path / "Cu_morse.txt").exists()
    loaded = calib.FitResult.load(tmp_path / "Cu_morse.nc")
    assert loaded.equals(result)
    text = (tmp_path / "comparison.txt").read_text()
    assert "C12 - C44" in text and "Cauchy" in text


@pytest.mark.benchmark
def test_eam_gradient_matches_finite_differences():
    metal = "Cu"
    guess = demo_metals._guess(metal)
    potential = demo_metals.SuttonChenPower()
    start = {p.name: p.value for p in demo_metals.eam_parameters(metal)}

    def c44(s):
        theta = {k: jnp.asarray(v, dtype=float) for k, v in start.items()} | {"s": s}
        return crystal_properties(potential, theta, "fcc", guess, vacancy_cells=2)["C44"]

    exact = float(jax.grad(c44)(jnp.asarray(0.5)))
    h = 1e-4
    difference = (float(c44(jnp.asarray(0.5 + h))) - float(c44(jnp.asarray(0.5 - h)))) / (2 * h)
    assert exact == pytest.approx(difference, rel=1e-4)


@pytest.mark.benchmark
def test_copper_eam_fit(tmp_path):
    results = demo_metals.run(tmp_path, ["Cu"], ["eam"], quick=True, verbose=False)
    result = results[("Cu", "eam")].result
    assert result.success and result.inner["failed"] == 0
    assert (tmp_path / "Cu_eam.nc").exists()
    predicted = results[("Cu", "eam")].predicted
    assert predicted["C12"] - predicted["C44"] > 10.0  # the embedding breaks the Cauchy relation


@pytest.mark.benchmark
@pytest.mark.parametrize("metal", ["Al", "Ni"])
def test_other_metals(tmp_path, metal):
    results = demo_metals.run(tmp_path, [metal], ["morse", "eam"], quick=True, verbose=False)
    for potential in ("morse", "eam"):
        assert results[(metal, potential)].result.success
        assert (tmp_path / f"{metal}_{potential}.nc").exists()
