r"""Training sets of reference configurations (energies, forces, stresses) as ``xarray`` datasets.

A force-matching fit compares a potential with many reference configurations at once. They are
held in one dataset that follows the package's data conventions (observed quantities are data
variables with units and a ``<name>_sigma``; everything the model needs to predict them is a
coordinate), with the configurations' atoms laid end to end along one ``atom`` axis:

==========================  ==================================  =====================================
name                        dims                                meaning
==========================  ==================================  =====================================
``energy_per_atom``         ``configuration``                   observed: potential energy / atoms, eV
``forces``                  ``atom, component``                 observed: force components, eV/Å
``stress``                  ``stressed, voigt``                 observed: virial stress, eV/Å³
``*_sigma``                 as above (without ``component``)    one standard uncertainty, same units
``positions``               ``atom, component``                 coordinate: Cartesian positions, Å
``species``                 ``atom``                            coordinate: codes into ``symbols``
``atom_configuration``      ``atom``                            coordinate: the atom's configuration
``cell``                    ``configuration, cell_vector,       coordinate: lattice vectors (rows), Å
                            component``
``pbc``                     ``configuration, component``        coordinate: periodic directions
``n_atoms``, ``first_atom``  ``configuration``                  coordinate: where its atoms are
``weight``                  ``configuration``                   coordinate: per-configuration weight
``config_type``             ``configuration``                   coordinate: a label (bulk, surface…)
``stress_configuration``    ``stressed``                        coordinate: configurations with stress
==========================  ==================================  =====================================

Stress is optional per configuration (a surface slab's virial over a cell full of vacuum means
little), so it lives on its own axis ``stressed`` listing the configurations that carry one.
The sign convention is ASE's and :func:`physics.atomistic.stress`'s: tensile positive, pressure
:math:`-\operatorname{tr}\sigma/3`, Voigt order ``xx, yy, zz, yz, xz, xy``.

Weights are folded into the uncertainties, which is what they mean in a least-squares fit: a value
of weight :math:`w` counts as one of uncertainty :math:`\sigma/\sqrt w`. A configuration's weight is
its ``config_weight`` times the quantity's ``energy_weight``/``forces_weight``/``stress_weight``
(the keys extended XYZ files of MACE and nequip use), and :func:`assign_uncertainties` recomputes
every ``*_sigma`` from the per-quantity σ and these weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

import numpy as np
import xarray as xr

from ._ase_io import _ase, from_ase, to_ase
from ._structure import Structure
from calib._errors import CalibKeyError, CalibValueError

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")
COMPONENTS = ("x", "y", "z")
DEFAULT_SIGMA = {"energy_per_atom": 2e-3, "forces": 0.05, "stress": 3e-3}
"""Default standard uncertainties: 2 meV/atom, 0.05 eV/Å, 3e-3 eV/Å³ (0.48 GPa), about what a
good embedded-atom potential can reach, so that no quantity dominates the fit by its count alone."""

UNITS = {"energy_per_atom": "eV", "forces": "eV/angstrom", "stress": "eV/angstrom**3"}
CU_EMT_FILE = "data/cu_emt_training.extxyz.gz"
CU_EMT_PROPERTIES_FILE = "data/cu_emt_properties.nc"
_WEIGHT_KEYS = {"energy_per_atom": "energy_weight", "forces": "forces_weight",
                "stress": "stress_weight"}


def training_set(structures: Sequence[Structure], energies, forces, stresses=None, *,
                 weights=None, quantity_weights=None, config_types=None,
                 sigma: dict | None = None, name: str = "training") -> xr.Dataset:
    """Build a training-set dataset from structures and their reference values.

    Args:
        structures: the ``C`` configurations (any sizes, one symbol table for all).
        energies: total potential energies, ``(C,)``, eV.
        forces: per configuration an ``(N_c, 3)`` array, eV/Å.
        stresses: per configuration a Voigt 6-vector or a ``(3, 3)`` tensor in eV/Å³, or ``None``
            for a configuration without one; ``None`` for no stresses at all.
        weights: per-configuration weights ``(C,)`` (default 1).
        quantity_weights: ``{"energy_per_atom" | "forces" | "stress": (C,) weights}`` on top.
        config_types: a label per configuration (default ``"configuration"``).
        sigma: per-quantity standard uncertainty, overriding :data:`DEFAULT_SIGMA`.
        name: the dataset's name (its ``name`` attribute).
    """
    structures = list(structures)
    count = len(structures)
    if count == 0:
        raise CalibValueError("training_set: no configurations given")
    symbols = _common_symbols(structures)
    energies = np.asarray(energies, float).reshape(-1)
    if energies.shape != (count,):
        raise CalibValueError(f"training_set: energies must have one value per configuration "
                              f"({count}), got shape {energies.shape}")
    if len(forces) != count:
        raise CalibValueError(f"training_set: forces must hold one (N, 3) array per configuration "
                              f"({count}), got {len(forces)}")
    n_atoms = np.array([s.n_atoms for s in structures])
    if np.any(n_atoms == 0):
        raise CalibValueError(f"training_set: configuration {int(np.argmin(n_atoms))} has no atoms")
    for c, (s, f) in enumerate(zip(structures, forces)):
        if np.shape(f) != (s.n_atoms, 3):
            raise CalibValueError(f"training_set: the forces of configuration {c} have shape "
                                  f"{np.shape(f)}, but it has {s.n_atoms} atoms: give ({s.n_atoms}, 3)")
    stresses = [None] * count if stresses is None else list(stresses)
    if len(stresses) != count:
        raise CalibValueError(f"training_set: stresses must hold one entry (or None) per "
                              f"configuration ({count}), got {len(stresses)}")
    stressed = np.array([c for c, s in enumerate(stresses) if s is not None], int)
    voigt = np.array([_voigt(stresses[c], c) for c in stressed]).reshape(-1, 6)
    first = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    weights = _per_configuration(weights, count, "weights")
    types = np.array(["configuration"] * count if config_types is None else list(config_types), str)
    if types.shape != (count,):
        raise CalibValueError(f"training_set: config_types needs one label per configuration ({count})")
    ds = xr.Dataset(
        {"energy_per_atom": ("configuration", energies / n_atoms, {"units": UNITS["energy_per_atom"],
                             "long_name": "potential energy per atom"}),
         "forces": (("atom", "component"), np.concatenate([np.asarray(f, float) for f in forces]),
                    {"units": UNITS["forces"], "long_name": "force on the atom, -dE/dr"}),
         "stress": (("stressed", "voigt"), voigt, {"units": UNITS["stress"], "long_name":
                    "virial stress (1/V) dE/d(strain), tensile positive, Voigt xx yy zz yz xz xy"})},
        coords={
            "configuration": np.arange(count),
            "atom": np.arange(int(n_atoms.sum())),
            "component": list(COMPONENTS), "voigt": list(VOIGT),
            "cell_vector": np.arange(3),
            "positions": (("atom", "component"), np.concatenate([s.positions for s in structures]),
                          {"units": "angstrom"}),
            "species": ("atom", np.concatenate([s.species for s in structures]).astype(np.int32)),
            "atom_configuration": ("atom", np.repeat(np.arange(count), n_atoms)),
            "cell": (("configuration", "cell_vector", "component"),
                     np.stack([s.cell for s in structures]), {"units": "angstrom"}),
            "pbc": (("configuration", "component"), np.array([s.pbc for s in structures], bool)),
            "n_atoms": ("configuration", n_atoms),
            "first_atom": ("configuration", first),
            "weight": ("configuration", weights),
            "config_type": ("configuration", types),
            "stress_configuration": ("stressed", stressed),
        },
        attrs={"name": name, "symbols": " ".join(symbols), "Conventions": "CF-1.8"})
    for quantity, values in (quantity_weights or {}).items():
        if quantity not in UNITS:
            raise CalibKeyError(f"training_set: quantity_weights has {quantity!r}; the quantities are "
                                f"{', '.join(UNITS)}")
        ds.coords[_WEIGHT_KEYS[quantity]] = ("configuration",
                                             _per_configuration(values, count, quantity))
    return assign_uncertainties(ds, **(sigma or {}))


def assign_uncertainties(ds: xr.Dataset, **sigma) -> xr.Dataset:
    r"""Recompute ``energy_per_atom_sigma``, ``forces_sigma`` and ``stress_sigma``.

    Each is :math:`\sigma_q / \sqrt{w_c\, w_{q,c}}` for the configuration :math:`c` a value belongs
    to, with :math:`\sigma_q` given here by quantity name (``energy_per_atom=1e-3``; default the
    dataset's ``sigma_<quantity>`` attribute, else :data:`DEFAULT_SIGMA`), :math:`w_c` the
    ``weight`` coordinate and :math:`w_{q,c}` the optional ``energy_weight``/``forces_weight``/
    ``stress_weight`` coordinate. A weight of zero is refused (drop the configuration instead).
    """
    unknown = [k for k in sigma if k not in UNITS]
    if unknown:
        raise CalibKeyError(f"assign_uncertainties: {unknown[0]!r} is not a quantity; give sigma for "
                            f"{', '.join(UNITS)}")
    ds = ds.copy()
    for quantity in UNITS:
        base = float(sigma.get(quantity, ds.attrs.get(f"sigma_{quantity}", DEFAULT_SIGMA[quantity])))
        if not (np.isfinite(base) and base > 0):
            raise CalibValueError(f"assign_uncertainties: sigma for {quantity} must be a finite "
                                  f"number > 0 in {UNITS[quantity]}, got {base!r}")
        weight = np.asarray(ds["weight"], float)
        if _WEIGHT_KEYS[quantity] in ds.coords:
            weight = weight * np.asarray(ds[_WEIGHT_KEYS[quantity]], float)
        if np.any(~(weight > 0)) or not np.all(np.isfinite(weight)):
            bad = int(np.flatnonzero(~(weight > 0) | ~np.isfinite(weight))[0])
            raise CalibValueError(f"assign_uncertainties: configuration {bad} has {quantity} weight "
                                  f"{float(weight[bad])!r}; weights must be finite and > 0 (leave a "
                                  "configuration out instead of giving it weight 0)")
        per_configuration = base / np.sqrt(weight)
        if quantity == "energy_per_atom":
            values, dims = per_configuration, ("configuration",)
        elif quantity == "forces":
            values, dims = per_configuration[np.asarray(ds["atom_configuration"])], ("atom",)
        else:
            values, dims = per_configuration[np.asarray(ds["stress_configuration"], int)], ("stressed",)
        ds[f"{quantity}_sigma"] = (dims, values, {"units": UNITS[quantity],
                                                  "long_name": f"standard uncertainty of {quantity}"})
        ds[quantity].attrs["ancillary_variables"] = f"{quantity}_sigma"
        ds.attrs[f"sigma_{quantity}"] = base
    if ds.sizes["stressed"] == 0:
        # Nothing to observe: a zero-length variable would only confuse the objective.
        ds = ds.drop_vars(["stress", "stress_sigma"])
    return ds


def training_structures(ds: xr.Dataset) -> list[Structure]:
    """The configurations of a training set, as :class:`Structure` s (host arrays)."""
    _require(ds, ("positions", "species", "cell", "pbc", "n_atoms", "first_atom"))
    symbols = tuple(ds.attrs.get("symbols", "X").split())
    positions, species = np.asarray(ds["positions"]), np.asarray(ds["species"])
    cells, pbc = np.asarray(ds["cell"]), np.asarray(ds["pbc"])
    out = []
    for c, (start, n) in enumerate(zip(np.asarray(ds["first_atom"]), np.asarray(ds["n_atoms"]))):
        atoms = slice(int(start), int(start + n))
        out.append(Structure(positions[atoms], cells[c], species[atoms], symbols,
                             tuple(bool(p) for p in pbc[c])))
    return out


def select_configurations(ds: xr.Dataset, configurations) -> xr.Dataset:
    """The training set restricted to ``configurations`` (indices or a boolean mask), renumbered."""
    keep = np.asarray(configurations)
    if keep.dtype == bool:
        keep = np.flatnonzero(keep)
    keep = np.asarray(keep, int)
    if keep.size == 0:
        raise CalibValueError("select_configurations: no configuration selected")
    structures = training_structures(ds)
    forces = np.asarray(ds["forces"])
    first, n_atoms = np.asarray(ds["first_atom"]), np.asarray(ds["n_atoms"])
    stress_of = {}
    if "stress" in ds:
        stress_of = dict(zip(np.asarray(ds["stress_configuration"]).tolist(), np.asarray(ds["stress"])))
    quantity_weights = {q: np.asarray(ds[k])[keep] for q, k in _WEIGHT_KEYS.items() if k in ds.coords}
    out = training_set(
        [structures[c] for c in keep],
        np.asarray(ds["energy_per_atom"])[keep] * n_atoms[keep],
        [forces[first[c]:first[c] + n_atoms[c]] for c in keep],
        [stress_of.get(int(c)) for c in keep],
        weights=np.asarray(ds["weight"])[keep], quantity_weights=quantity_weights,
        config_types=np.asarray(ds["config_type"])[keep],
        sigma={q: ds.attrs[f"sigma_{q}"] for q in UNITS if f"sigma_{q}" in ds.attrs},
        name=ds.attrs.get("name", "training"))
    out.attrs = {**ds.attrs, **out.attrs}
    return out


def read_training_set(path: str | os.PathLike, index: str | slice = ":", *, format: str | None = None,
                      sigma: dict | None = None, name: str | None = None) -> xr.Dataset:
    """Read reference configurations from an extended XYZ file (or any format ASE reads).

    Per frame: the energy (``energy`` or the calculator's), forces (the ``forces`` array),
    optionally a stress (``stress``, Voigt or 3×3, eV/Å³; ASE's sign), the weights
    ``config_weight``, ``energy_weight``, ``forces_weight``, ``stress_weight`` and a
    ``config_type`` label from the frame's info. Compressed files (``.gz``, ``.bz2``, ``.xz``) are
    read as they are.

    Args:
        path: the file.
        index: which frames (default all).
        format: ASE format name; ``None`` guesses from the file name.
        sigma: per-quantity standard uncertainties (see :func:`assign_uncertainties`).
        name: the dataset's name (default the file's stem).

    Raises:
        CalibKeyError: a frame lacks an energy or forces (the message names the frame).
    """
    ase = _ase()
    frames = ase.io.read(path, index=index, format=format)
    frames = frames if isinstance(frames, list) else [frames]
    structures, energies, forces, stresses, types = [], [], [], [], []
    weights = {key: [] for key in ("config_weight", *_WEIGHT_KEYS.values())}
    for k, atoms in enumerate(frames):
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        info = atoms.info
        energy = results.get("energy", info.get("energy"))
        force = results.get("forces", atoms.arrays.get("forces"))
        if energy is None or force is None:
            raise CalibKeyError(f"read_training_set: frame {k} of {os.fspath(path)!r} has no "
                                f"{'energy' if energy is None else 'forces'}; every configuration "
                                "needs an energy and forces (stress is optional)")
        structures.append(from_ase(atoms))
        energies.append(float(energy))
        forces.append(np.asarray(force, float))
        stresses.append(results.get("stress", info.get("stress")))
        types.append(str(info.get("config_type", "configuration")))
        for key in weights:
            weights[key].append(float(info.get(key, 1.0)))
    structures = _unify_symbols(structures)
    stem = os.path.basename(os.fspath(path)).split(".")[0]
    return training_set(structures, energies, forces, stresses, weights=weights["config_weight"],
                        quantity_weights={q: weights[k] for q, k in _WEIGHT_KEYS.items()},
                        config_types=types, sigma=sigma, name=name or stem)


def write_training_set(path: str | os.PathLike, ds: xr.Dataset, *, format: str | None = None,
                       predictions: dict | None = None) -> None:
    """Write a training set as extended XYZ (energy, forces, stress, weights, config_type).

    With ``predictions`` (the dict a :class:`ForceMatching` model returns), the predicted
    values are written instead of the reference ones, e.g. to compare in another program.
    """
    ase = _ase()
    from ase.calculators.singlepoint import SinglePointCalculator

    values = {q: np.asarray(ds[q]) for q in UNITS if q in ds}
    if predictions is not None:
        values.update({q: np.asarray(v) for q, v in predictions.items() if q in values})
    n_atoms, first = np.asarray(ds["n_atoms"]), np.asarray(ds["first_atom"])
    stress_of = {}
    if "stress" in values:
        stress_of = dict(zip(np.asarray(ds["stress_configuration"]).tolist(), values["stress"]))
    frames = []
    for c, structure in enumerate(training_structures(ds)):
        atoms = to_ase(structure)
        del atoms.arrays["species_code"]      # the symbols say it, and other programs ignore it
        results = {"energy": float(values["energy_per_atom"][c] * n_atoms[c]),
                   "forces": values["forces"][first[c]:first[c] + n_atoms[c]]}
        if c in stress_of:
            results["stress"] = np.asarray(stress_of[c])
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["config_type"] = str(ds["config_type"].values[c])
        atoms.info["config_weight"] = float(ds["weight"].values[c])
        for key in _WEIGHT_KEYS.values():
            if key in ds.coords and float(ds[key].values[c]) != 1.0:
                atoms.info[key] = float(ds[key].values[c])
        frames.append(atoms)
    ase.io.write(path, frames, format=format)


def load_cu_emt_training_set(**kwargs) -> xr.Dataset:
    """The bundled Cu training set: energies, forces and stresses from ASE's EMT calculator.

    Rattled, strained, vacancy and (100)/(111) surface configurations of fcc Cu of 32–256 atoms;
    stresses for the periodic ones. Written by
    ``physics/atomistic/data/make_cu_emt_training_set.py``. ``kwargs`` go to
    :func:`read_training_set` (e.g. ``sigma=``).
    """
    resource = resources.files("physics.atomistic").joinpath(CU_EMT_FILE)
    with resources.as_file(resource) as path:
        return read_training_set(path, name=kwargs.pop("name", "cu_emt"), **kwargs)


def load_cu_emt_properties() -> xr.Dataset:
    """EMT's relaxed properties of fcc Cu (lattice constant, cohesive energy, C11, C12, C44,
    relaxed vacancy formation energy), each with ``<name>_sigma``, from the same script."""
    resource = resources.files("physics.atomistic").joinpath(CU_EMT_PROPERTIES_FILE)
    with resources.as_file(resource) as path:
        return xr.load_dataset(path, engine="h5netcdf")


def _voigt(stress, c: int) -> np.ndarray:
    s = np.asarray(stress, float)
    if s.shape == (3, 3):
        s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    if s.shape != (6,):
        raise CalibValueError(f"training_set: the stress of configuration {c} has shape {s.shape}; "
                              "give a Voigt 6-vector (xx, yy, zz, yz, xz, xy) or a 3x3 tensor")
    return s


def _per_configuration(values, count: int, what: str) -> np.ndarray:
    if values is None:
        return np.ones(count)
    values = np.asarray(values, float).reshape(-1)
    if values.shape != (count,):
        raise CalibValueError(f"training_set: {what} must have one value per configuration "
                              f"({count}), got shape {values.shape}")
    return values


def _common_symbols(structures) -> tuple[str, ...]:
    symbols = structures[0].symbols
    for c, s in enumerate(structures):
        if s.symbols != symbols:
            raise CalibValueError(f"training_set: configuration {c} has species symbols {s.symbols}, "
                                  f"configuration 0 has {symbols}; give every structure the same "
                                  "symbols tuple (read_training_set does this for files)")
    return symbols


def _unify_symbols(structures) -> list[Structure]:
    """Re-code every structure's species against one symbol table (first appearance overall)."""
    table = list(dict.fromkeys(sym for s in structures for sym in s.symbols))
    out = []
    for s in structures:
        recode = np.array([table.index(sym) for sym in s.symbols])
        out.append(s.replace(species=recode[s.species], symbols=tuple(table)))
    return out


def _require(ds, names) -> None:
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise CalibKeyError(f"training set: the dataset lacks {missing}; build it with "
                            "physics.atomistic.training_set or read_training_set")
