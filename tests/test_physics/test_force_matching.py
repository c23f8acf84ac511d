"""Force matching: training-set I/O, size buckets, batched predictions against per-structure ones,
exact derivatives of the whole objective against finite differences, the neighbour cache, and the
same objective, gradient and fit on 1 device, 4 forced devices and 2 processes."""

import json
import os
import socket
import subprocess
import sys
from itertools import combinations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from calib.data import prepare_all
from calib.fit._evaluate import Evaluator
from calib.objective import Objective
from calib.parameters import ParameterSpace
from physics.atomistic import (SUTTON_CHEN, ForceMatching, Morse, SuttonChen, fcc,
                               load_cu_emt_training_set, neighbour_list, neighbour_pairs,
                               potential_energy, read_training_set,
                               select_configurations, size_buckets, stress, training_set,
                               training_structures, write_training_set)
from physics.atomistic import _batching

pytest.importorskip("ase")

POTENTIAL = SuttonChen(cutoff=5.0)
THETA = {k: jnp.asarray(v) for k, v in SUTTON_CHEN["Cu"].items()}
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def emt():
    """Ten bundled configurations: every kind (bulk, strained, vacancy, two surfaces), twice."""
    return select_configurations(load_cu_emt_training_set(), np.arange(10))


@pytest.fixture(scope="module")
def model(emt):
    return ForceMatching(POTENTIAL, emt, max_buckets=3, chunk=2)


def test_round_trip_through_extended_xyz(tmp_path, emt):
    emt = emt.copy()
    emt["weight"] = ("configuration", np.linspace(1.0, 4.0, emt.sizes["configuration"]))
    path = tmp_path / "set.extxyz"
    write_training_set(path, emt)
    back = read_training_set(path, sigma={"forces": 0.1})
    for name in ("energy_per_atom", "forces", "stress", "positions", "cell", "pbc", "n_atoms",
                 "stress_configuration", "weight"):
        np.testing.assert_allclose(np.asarray(back[name], float), np.asarray(emt[name], float),
                                   rtol=1e-12, atol=1e-8, err_msg=name)
    assert list(back["config_type"].values) == list(emt["config_type"].values)
    # A configuration of weight w counts as one of uncertainty sigma / sqrt(w).
    first = np.asarray(back["first_atom"])
    np.testing.assert_allclose(np.asarray(back["forces_sigma"])[first],
                               0.1 / np.sqrt(np.asarray(back["weight"])))
    assert back.attrs["sigma_forces"] == 0.1
    # The surfaces carry no stress: the stressed axis lists only the periodic configurations.
    assert set(back["stress_configuration"].values) == {
        c for c in range(10) if bool(np.all(back["pbc"].values[c]))}


def test_bad_training_data_is_named():
    s = fcc(3.6, 2)
    with pytest.raises(calib.CalibValueError, match="forces of configuration 0 have shape"):
        training_set([s], [1.0], [np.zeros((3, 3))])
    with pytest.raises(calib.CalibValueError, match="configuration 0 has forces weight 0"):
        training_set([s], [1.0], [np.zeros((s.n_atoms, 3))], quantity_weights={"forces": [0.0]})
    with pytest.raises(calib.CalibValueError, match="chunk must be an integer"):
        ForceMatching(POTENTIAL, training_set([s], [1.0], [np.zeros((s.n_atoms, 3))]), chunk=0)


def test_size_buckets_minimise_the_padded_atoms():
    rng = np.random.default_rng(0)
    n_atoms = rng.integers(20, 90, 40)
    sizes = np.unique(n_atoms)

    def padded(bounds):
        which = np.searchsorted(bounds, n_atoms)
        return int(np.sum(np.asarray(bounds)[which]))

    for buckets in (1, 2, 3):
        best = min(padded(sorted(set(c) | {sizes[-1]}))
                   for c in combinations(sizes[:-1], buckets - 1))
        assert padded(size_buckets(n_atoms, buckets)) == best
    assert len(size_buckets([5, 5, 5], 4)) == 1


def test_predictions_equal_per_structure_evaluation(emt, model):
    """Energies, forces and stresses of the padded, bucketed batch are those of each structure
    evaluated alone (all kinds of configuration, padding atoms and padding rows included)."""
    predicted = model.predict(THETA)
    stressed = list(np.asarray(emt["stress_configuration"]))

    @jax.jit
    def alone(x, cell, neighbours):
        energy, gradient = jax.value_and_grad(potential_energy, argnums=1)(
            POTENTIAL, x, cell, THETA, neighbours)
        return energy, -gradient, stress(POTENTIAL, x, cell, THETA, neighbours)

    structures = training_structures(emt)
    for c in range(5):           # one of each kind: bulk, strained, vacancy, (100), (111) slab
        s = structures[c]
        neighbours = neighbour_list(s, POTENTIAL.cutoff, 0.5)
        energy, forces, tensor = alone(jnp.asarray(s.positions), jnp.asarray(s.cell), neighbours)
        first = int(emt["first_atom"][c])
        np.testing.assert_allclose(predicted["energy_per_atom"][c], energy / s.n_atoms, rtol=1e-13)
        np.testing.assert_allclose(predicted["forces"][first:first + s.n_atoms], forces, atol=1e-12)
        if c in stressed:
            tensor = np.asarray(tensor)
            np.testing.assert_allclose(predicted["stress"][stressed.index(c)],
                                       tensor[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]], atol=1e-13)
    report = model.report()
    assert report["buckets"] == len(report["bounds"]) <= 3
    assert 0 <= report["padding_fraction"] < 0.5


def test_reference_energy_per_species():
    """e0 may be one value per species: the offset is the composition-weighted mean."""
    s = fcc(3.6, 2)
    species = np.arange(s.n_atoms) % 2
    two = s.replace(species=species, symbols=("Cu", "Ni"))
    ds = training_set([two], [0.0], [np.zeros((s.n_atoms, 3))])
    model = ForceMatching(Morse(cutoff=5.0), ds)
    theta = {"D": jnp.asarray(0.34), "alpha": jnp.asarray(1.36), "r0": jnp.asarray(2.87)}
    plain = model.predict(theta)["energy_per_atom"]
    shifted = model.predict({**theta, "e0": jnp.array([1.0, 3.0])})["energy_per_atom"]
    np.testing.assert_allclose(shifted - plain, 2.0, rtol=1e-14)
    with pytest.raises(calib.CalibValueError, match="one value per species"):
        model.predict({**theta, "e0": jnp.ones(3)})


def _objective(emt, model):
    specs = [calib.Parameter("epsilon", 0.0124, units="eV"), calib.Parameter("a", 3.61, fixed=True),
             calib.Parameter("c", 39.4), calib.Parameter("n", 9.0), calib.Parameter("m", 6.0),
             calib.Parameter("e0", 3.5, units="eV")]
    return Objective(model, prepare_all(emt), ParameterSpace(specs, bounds_native=True))


def test_exact_jacobian_and_gradient_match_finite_differences(emt, model):
    """The whole objective's Jacobian (forward mode) and gradient (reverse mode), through forces and
    stresses (second derivatives of the energy), against central differences."""
    objective = _objective(emt, model)
    z = objective.space.z0()
    traces = model.traces
    forward = Evaluator(objective, jacobian="fwd").evaluate("jacobian", z)
    gradient = Evaluator(objective).evaluate("gradient", z)
    # Reverse mode (the gradient, for many parameters) against forward mode (the Jacobian).
    np.testing.assert_allclose(gradient.gradient, 2.0 * forward.jacobian.T @ forward.all_residuals,
                               rtol=1e-10)
    values = Evaluator(objective)
    for k in range(len(z)):
        h = 1e-6 * max(1.0, abs(z[k]))
        up, down = z.copy(), z.copy()
        up[k] += h
        down[k] -= h
        column = (values.evaluate("value", up).all_residuals
                  - values.evaluate("value", down).all_residuals) / (2 * h)
        scale = np.max(np.abs(forward.jacobian[:, k]))
        np.testing.assert_allclose(forward.jacobian[:, k], column, atol=2e-6 * scale)
    # One trace of each bucket function serves every program (value, Jacobian, gradient).
    assert model.traces - traces == len(model.buckets)


def test_neighbour_lists_cached_and_built_in_parallel(tmp_path, emt, monkeypatch):
    structures = training_structures(emt)[:6]
    serial, info = neighbour_pairs(structures, 5.0, workers=1, cache=tmp_path)
    assert not info["cached"]
    again, info = neighbour_pairs(structures, 5.0, workers=1, cache=tmp_path)
    assert info["cached"]
    monkeypatch.setattr(_batching, "_PARALLEL_THRESHOLD", 0)
    parallel, info = neighbour_pairs(structures, 5.0, workers=2)
    assert info["workers"] == 2
    for a, b, c in zip(serial, again, parallel):
        for x, y, w in zip(a, b, c):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, w)


def test_distributed_settings_are_checked(monkeypatch):
    for name in ("CALIB_COORDINATOR", "CALIB_NUM_PROCESSES", "CALIB_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(calib.CalibValueError, match="give all of coordinator"):
        calib.initialize_distributed("127.0.0.1:1", processes=2)
    with pytest.raises(calib.CalibValueError, match="process_id must be in 0"):
        calib.initialize_distributed("127.0.0.1:1", processes=2, process_id=2)
    monkeypatch.setenv("CALIB_NUM_PROCESSES", "two")
    with pytest.raises(calib.CalibValueError, match="CALIB_NUM_PROCESSES must be an integer"):
        calib.initialize_distributed()
    jax.devices()
    with pytest.raises(calib.CalibValueError, match="JAX has already started"):
        calib.force_cpu_devices(3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_same_objective_gradient_and_fit_on_devices_and_processes(tmp_path):
    """1 device, 4 forced host devices, and 2 processes joined on loopback: the same objective and
    gradient at the start and the same fitted parameters, to round-off."""
    command = [sys.executable, os.path.join(REPOSITORY, "experiments", "force_matching.py"),
               "--configurations", "10", "--no-properties", "--no-errors", "--buckets", "2",
               "--max-iterations", "4"]
    env = {**os.environ, "PYTHONPATH": REPOSITORY}
    env.pop("CALIB_COORDINATOR", None)
    runs = {"one": ([], {}), "four": (["--devices", "4"], {})}
    port = _free_port()
    for rank in range(2):
        runs[f"process{rank}"] = (["--distributed"], {
            "CALIB_COORDINATOR": f"127.0.0.1:{port}", "CALIB_NUM_PROCESSES": "2",
            "CALIB_PROCESS_ID": str(rank)})
    processes = {name: subprocess.Popen(command + extra + ["--json", str(tmp_path / f"{name}.json")],
                                        env={**env, **more}, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                 for name, (extra, more) in runs.items()}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{name}:\n{output[-3000:]}"
    one = json.loads((tmp_path / "one.json").read_text())
    for name, devices, count in (("four", 4, 1), ("process0", 2, 2)):
        other = json.loads((tmp_path / f"{name}.json").read_text())
        assert (other["devices"], other["processes"]) == (devices, count)
        np.testing.assert_allclose(other["start"]["loss"], one["start"]["loss"], rtol=1e-13)
        np.testing.assert_allclose(other["start"]["gradient"], one["start"]["gradient"], rtol=1e-12)
        for key, value in one["fit"]["theta"].items():
            np.testing.assert_allclose(other["fit"]["theta"][key], value, rtol=1e-9, err_msg=key)
    assert not (tmp_path / "process1.json").exists()   # only process 0 writes
