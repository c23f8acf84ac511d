r"""The result of a fit: parameters, uncertainty, residuals and history, as an ``xarray.Dataset``.

:class:`FitResult` holds everything a fit produced, in plain NumPy (no JAX arrays, nothing traced),
so it can be saved, loaded, compared, reported and plotted long after the fit ran.
:meth:`FitResult.to_dataset` writes it as one ``xarray.Dataset`` and :meth:`FitResult.save` as a
NetCDF-4 file (h5netcdf); :meth:`FitResult.load` reads it back exactly (:meth:`FitResult.equals`).

Layout of the dataset (version ``calib_result_version = 1``):

- dimension ``parameter`` (P, every parameter, fixed and tied ones included), coordinate of the
  parameter paths (``"clay.E"``); variables ``value``, ``initial``, ``lower``, ``upper`` (±inf: no
  bound), ``prior_mean``, ``prior_sigma`` (NaN: no prior), ``units`` (strings) with ``has_units``
  (``False`` where the units are ``None``), and ``kind`` (``"free"``, ``"fixed"``, ``"tied"``).
- dimensions ``free_parameter`` and ``free_parameter_b`` (p, both with the free names, so a matrix has
  two distinct dimensions), ``bound`` (``"lower"``, ``"upper"``) and ``eigenmode`` (p): variables
  ``standard_error``, ``interval`` (Wald), ``covariance``, ``correlation``, ``eigenvalue`` (of
  :math:`J^\top W J`, ascending), ``eigenvector`` (column ``k`` on ``eigenmode`` belongs to
  eigenvalue ``k``) and ``scaled_sensitivity``.
- dimension ``iteration``: variables ``history.<key>`` (``loss``, ``step_norm``, ``inner_steps``,
  ``accepted``, ``trust_radius``).
- for each dataset ``d`` and observed variable ``v``: ``d.v.observed``, ``d.v.sigma``,
  ``d.v.predicted`` (in ``units``) and ``d.v.residual`` (:math:`(\hat y - y)/\sigma`, derived, not
  read back), on the dataset's dimensions prefixed ``d.``; its coordinates ``d.c`` with their
  ``units`` attributes.
- for each profiled parameter ``n``: ``profile.n.values``, ``profile.n.chi2`` and
  ``profile.n.converged`` on dimension ``profile.n.point``; the profile's scalars are attributes of
  ``profile.n.values``.
- attributes: the fit's scalars (``chi2``, ``dof`` …; booleans as 0/1), and JSON strings for
  ``warnings``, ``inner`` and ``config``.

Names in the file are labels for a reader; what is read back comes from attributes (``calib_role``,
``calib_dataset``, ``calib_variable``, ``calib_dims`` …) and the JSON index ``calib_datasets``, so
dataset, variable and parameter names may themselves contain dots.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import pathlib
import re
import tempfile
from typing import Any

import numpy as np
import xarray as xr

from .._errors import CalibKeyError, CalibTypeError, CalibValueError

RESULT_VERSION = 1
KINDS = ("free", "fixed", "tied")
PROFILE_ARRAYS = ("values", "chi2", "converged")
PROFILE_FLOATS = ("lower", "upper", "threshold", "best_value", "best_chi2", "confidence")
PROFILE_STRINGS = ("lower_kind", "upper_kind", "message")
ROLES = ("observed", "sigma", "predicted")


# ---------------------------------------------------------------------------------------------
# Normalisation: every field is stored in one canonical type, so equality after a round trip is
# equality of values (a list and an array, an np.float64 and a float, compare as the same thing).


def _floats(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise CalibTypeError(f"{what} must be an array of numbers of shape {shape}, got {value!r:.80}") from error
    if array.size == 0 and math.prod(shape) == 0:
        array = array.reshape(shape)  # an empty list stands for any empty shape (no free parameters)
    if array.shape != shape:
        raise CalibValueError(f"{what} must have shape {shape}, got shape {array.shape}")
    return array


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise CalibTypeError(f"{what} must be a sequence of strings, got the single string {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, (str, np.str_)):
            raise CalibTypeError(f"{what} must hold strings, got {item!r} ({type(item).__name__})")
    return tuple(str(item) for item in items)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r:.60} is not JSON serialisable")


def _jsonable(value: Any, what: str) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, NumPy scalars numbers)."""
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as error:
        raise CalibTypeError(f"{what} must be JSON serialisable (numbers, strings, lists, dicts): {error}") from error


def _array(value: Any, what: str) -> np.ndarray:
    """A history or profile array in a canonical dtype: bool, int64 or float64."""
    array = np.asarray(value)
    if array.dtype == bool:
        return array.copy()
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64)
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise CalibTypeError(f"{what} must be an array of numbers or booleans, got dtype {array.dtype}") from error


def _coordinate(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind in "biuf":
        return array.astype(np.float64)
    if array.dtype.kind == "U":
        return array.copy()
    if array.dtype.kind == "O" and all(isinstance(item, str) for item in array.ravel()):
        return array.astype(str)
    raise CalibTypeError(f"{what} must be numbers or strings, got dtype {array.dtype}; convert it first "
                         f"(times to seconds as floats, categories to strings)")


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # the dataclasses are frozen; normalise once, in __post_init__


# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class VariableFit:
    r"""One observed variable of one dataset, with the model's prediction at the optimum.

    ``observed``, ``sigma`` and ``predicted`` have the shape of ``dims`` (``()`` for a scalar
    observation such as a lattice constant) and are in ``units``. ``sigma`` is all ones when the
    dataset is fitted with relative weights. Every observed value is finite (the data layer refuses
    NaN).
    """

    name: str
    units: str
    dims: tuple[str, ...]
    observed: np.ndarray
    sigma: np.ndarray
    predicted: np.ndarray

    def __post_init__(self):
        what = f"VariableFit {self.name!r}"
        if not isinstance(self.name, str):
            raise CalibTypeError(f"VariableFit: name must be a string, got {self.name!r}")
        if self.units is None:
            _set(self, "units", "")  # no units attribute in the data: dimensionless
        elif not isinstance(self.units, str):
            raise CalibTypeError(f"{what}: units must be a string, got {self.units!r}")
        _set(self, "dims", _strings(self.dims, f"{what}: dims"))
        observed = np.array(self.observed, dtype=np.float64)
        if observed.ndim != len(self.dims):
            raise CalibValueError(f"{what}: observed has {observed.ndim} dimensions but dims={self.dims}")
        _set(self, "observed", observed)
        _set(self, "sigma", _floats(self.sigma, observed.shape, f"{what}: sigma"))
        _set(self, "predicted", _floats(self.predicted, observed.shape, f"{what}: predicted"))
        if np.any(self.sigma <= 0):
            raise CalibValueError(f"{what}: sigma must be positive (a zero uncertainty is an infinite weight), "
                                  f"got min {np.nanmin(self.sigma):g}")

    @property
    def residual(self) -> np.ndarray:
        r""":math:`(\hat y - y)/\sigma`, dimensionless, of the shape of ``observed``."""
        with np.errstate(invalid="ignore"):
            return (self.predicted - self.observed) / self.sigma


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetFit:
    """One dataset of a fit: its weight, coordinates (with units) and observed variables."""

    name: str
    weight: float
    relative_sigma: bool
    coords: dict[str, np.ndarray]
    coord_dims: dict[str, tuple[str, ...]]
    coord_units: dict[str, str | None]
    variables: dict[str, VariableFit]

    def __post_init__(self):
        what = f"DatasetFit {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise CalibTypeError(f"DatasetFit: name must be a non-empty string, got {self.name!r}")
        weight = float(self.weight)
        if not (math.isfinite(weight) and weight >= 0):
            raise CalibValueError(f"{what}: weight must be a finite number >= 0, got {self.weight!r}")
        _set(self, "weight", weight)
        _set(self, "relative_sigma", bool(self.relative_sigma))
        coords = {str(k): _coordinate(v, f"{what}: coordinate {k!r}") for k, v in dict(self.coords).items()}
        if set(self.coord_dims) != set(coords):
            raise CalibValueError(f"{what}: coord_dims must name the dims of every coordinate {sorted(coords)}, "
                                  f"got {sorted(self.coord_dims)}")
        coord_dims = {k: _strings(self.coord_dims[k], f"{what}: coord_dims[{k!r}]") for k in coords}
        extra = set(self.coord_units) - set(coords)
        if extra:
            raise CalibValueError(f"{what}: coord_units names {sorted(extra)}, which are not coordinates")
        coord_units = {k: self.coord_units.get(k) for k in coords}  # missing: no units
        for k, units in coord_units.items():
            if units is not None and not isinstance(units, str):
                raise CalibTypeError(f"{what}: coord_units[{k!r}] must be a string or None, got {units!r}")
        variables = dict(self.variables)
        for key, variable in variables.items():
            if not isinstance(variable, VariableFit):
                raise CalibTypeError(f"{what}: variables[{key!r}] must be a VariableFit, got {type(variable).__name__}")
            if variable.name != key:
                raise CalibValueError(f"{what}: variables[{key!r}] is named {variable.name!r}; use one name")
        sizes: dict[str, tuple[int, str]] = {}
        shaped = [(f"coordinate {k!r}", coord_dims[k], coords[k].shape) for k in coords]
        shaped += [(f"variable {k!r}", v.dims, v.observed.shape) for k, v in variables.items()]
        for owner, dims, shape in shaped:
            if len(dims) != len(shape):
                raise CalibValueError(f"{what}: {owner} has shape {shape} but dims {dims}")
            for dim, size in zip(dims, shape):
                if sizes.setdefault(dim, (size, owner))[0] != size:
                    raise CalibValueError(f"{what}: dimension {dim!r} has size {size} in {owner} but "
                                          f"{sizes[dim][0]} in {sizes[dim][1]}")
        _set(self, "coords", coords)
        _set(self, "coord_dims", coord_dims)
        _set(self, "coord_units", coord_units)
        _set(self, "variables", variables)

    @property
    def sizes(self) -> dict[str, int]:
        """Size of every dimension of the dataset."""
        out = {dim: n for k in self.coords for dim, n in zip(self.coord_dims[k], self.coords[k].shape)}
        out.update({dim: n for v in self.variables.values() for dim, n in zip(v.dims, v.observed.shape)})
        return out


def _profile(name: str, profile: Any) -> dict:
    what = f"FitResult: profiles[{name!r}]"
    if not isinstance(profile, dict):
        raise CalibTypeError(f"{what} must be a dict, got {type(profile).__name__}")
    known = PROFILE_ARRAYS + PROFILE_FLOATS + PROFILE_STRINGS
    missing = [k for k in known if k not in profile]
    unknown = [k for k in profile if k not in known]
    if missing or unknown:
        raise CalibValueError(f"{what}: missing keys {missing}, unknown keys {unknown}; a profile has the keys {list(known)}")
    out: dict[str, Any] = {}
    for key in PROFILE_ARRAYS:
        out[key] = np.array(profile[key], dtype=bool if key == "converged" else np.float64).ravel()
        if out[key].shape != out["values"].shape:
            raise CalibValueError(f"{what}: {key} has {out[key].size} points but values has {out['values'].size}")
    out.update({key: float(profile[key]) for key in PROFILE_FLOATS})
    for key in PROFILE_STRINGS:
        if not isinstance(profile[key], str):
            raise CalibTypeError(f"{what}: {key} must be a string, got {profile[key]!r}")
        out[key] = profile[key]
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    """Everything a fit produced. See the module docstring for the dataset layout.

    Parameter arrays have shape ``(P,)`` over ``parameter_names`` (every parameter, fixed and tied
    ones included), in each parameter's ``units``. Uncertainty arrays are over the ``p`` free
    parameters ``free_names``: ``standard_errors`` (p,), ``intervals`` (p, 2) Wald intervals at level
    ``confidence``, ``covariance`` and ``correlation`` (p, p), ``eigenvalues`` (p,) of
    the Jacobi-scaled information :math:`D(J^\\top J + P)D` in ascending order with ``eigenvectors`` (p, p) as columns, and
    ``scaled_sensitivities`` (p,). They are NaN when the uncertainty was not computed.
    """

    parameter_names: tuple[str, ...]
    values: np.ndarray
    initial: np.ndarray
    units: tuple[str | None, ...]
    kinds: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    prior_mean: np.ndarray
    prior_sigma: np.ndarray
    free_names: tuple[str, ...]
    standard_errors: np.ndarray
    intervals: np.ndarray
    confidence: float
    covariance: np.ndarray
    correlation: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    scaled_sensitivities: np.ndarray
    chi2: float
    objective: float
    dof: int
    reduced_chi2: float
    covariance_scale: float
    absolute_sigma: bool
    warnings: tuple[str, ...]
    profiles: dict[str, dict]
    history: dict[str, np.ndarray]
    datasets: tuple[DatasetFit, ...]
    inner: dict[str, float | int]
    config: dict
    success: bool
    message: str
    optimizer: str
    adjoint: str
    n_evaluations: int
    n_jacobians: int
    compile_seconds: float
    run_seconds: float

    def __post_init__(self):
        names = _strings(self.parameter_names, "FitResult: parameter_names")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise CalibValueError(f"FitResult: parameter names must be unique, {duplicated} repeat")
        _set(self, "parameter_names", names)
        P = (len(names),)
        for field in ("values", "initial", "lower", "upper", "prior_mean", "prior_sigma"):
            _set(self, field, _floats(getattr(self, field), P, f"FitResult: {field}"))
        units = tuple(self.units)
        if len(units) != len(names) or any(u is not None and not isinstance(u, str) for u in units):
            raise CalibValueError(f"FitResult: units must hold {len(names)} strings or None, got {units!r:.200}")
        _set(self, "units", tuple(None if u is None else str(u) for u in units))
        kinds = _strings(self.kinds, "FitResult: kinds")
        bad = [k for k in kinds if k not in KINDS]
        if len(kinds) != len(names) or bad:
            raise CalibValueError(f"FitResult: kinds must hold {len(names)} of {KINDS}, got {kinds!r:.200}")
        _set(self, "kinds", kinds)
        free = _strings(self.free_names, "FitResult: free_names")
        expected = [n for n, k in zip(names, kinds) if k == "free"]
        if sorted(free) != sorted(expected):
            raise CalibValueError(f"FitResult: free_names {list(free)} must be the parameters of kind 'free' {expected}")
        _set(self, "free_names", free)
        p = len(free)
        for field, shape in (("standard_errors", (p,)), ("intervals", (p, 2)), ("covariance", (p, p)),
                             ("correlation", (p, p)), ("eigenvalues", (p,)), ("eigenvectors", (p, p)),
                             ("scaled_sensitivities", (p,))):
            _set(self, field, _floats(getattr(self, field), shape, f"FitResult: {field}"))
        for field in ("confidence", "chi2", "objective", "reduced_chi2", "covariance_scale",
                      "compile_seconds", "run_seconds"):
            _set(self, field, float(getattr(self, field)))
        for field in ("dof", "n_evaluations", "n_jacobians"):
            value = getattr(self, field)
            if isinstance(value, bool) or int(value) != value:
                raise CalibTypeError(f"FitResult: {field} must be an integer, got {value!r}")
            _set(self, field, int(value))
        for field in ("absolute_sigma", "success"):
            _set(self, field, bool(getattr(self, field)))
        for field in ("message", "optimizer", "adjoint"):
            if not isinstance(getattr(self, field), str):
                raise CalibTypeError(f"FitResult: {field} must be a string, got {getattr(self, field)!r}")
        _set(self, "warnings", _strings(self.warnings, "FitResult: warnings"))
        unknown = sorted(set(self.profiles) - set(names))
        if unknown:
            raise CalibValueError(f"FitResult: profiles of {unknown}, which are not parameters")
        _set(self, "profiles", {str(n): _profile(n, prof) for n, prof in self.profiles.items()})
        history = {str(k): _array(v, f"FitResult: history[{k!r}]").ravel() for k, v in self.history.items()}
        lengths = {k: v.size for k, v in history.items()}
        if len(set(lengths.values())) > 1:
            raise CalibValueError(f"FitResult: history arrays must have one length per outer iteration, got {lengths}")
        _set(self, "history", history)
        datasets = tuple(self.datasets)
        for dataset in datasets:
            if not isinstance(dataset, DatasetFit):
                raise CalibTypeError(f"FitResult: datasets must hold DatasetFit, got {type(dataset).__name__}")
        dataset_names = [d.name for d in datasets]
        if len(set(dataset_names)) != len(dataset_names):
            raise CalibValueError(f"FitResult: dataset names must be unique, got {dataset_names}")
        _set(self, "datasets", datasets)
        inner = _jsonable(dict(self.inner), "FitResult: inner")
        for key, value in inner.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CalibTypeError(f"FitResult: inner[{key!r}] must be a number, got {value!r}")
        _set(self, "inner", inner)
        _set(self, "config", _jsonable(dict(self.config), "FitResult: config"))

    # ---- access --------------------------------------------------------------------------------

    def _index(self, name: str, among: tuple[str, ...] | None = None) -> int:
        names = self.parameter_names if among is None else among
        if not isinstance(name, str):
            raise CalibTypeError(f"FitResult: parameters are named by their path (a string), got {name!r}")
        if name not in names:
            close = difflib.get_close_matches(name, self.parameter_names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise CalibKeyError(f"FitResult: no parameter {name!r}{hint} The parameters are: "
                                f"{', '.join(self.parameter_names) or '(none)'}")
        return names.index(name)

    def __getitem__(self, name: str) -> float:
        """The final value of the parameter at path ``name`` (``"clay.E"``), in its units."""
        return float(self.values[self._index(name)])

    @property
    def theta(self) -> dict:
        """The final values as a nested dict: ``"clay.E"`` becomes ``{"clay": {"E": value}}``, and
        the elements ``"w[0]"``, ``"w[1]"`` … of a vector parameter become one array ``w``, so the
        result can be passed back to the model."""
        out: dict = {}
        for name, value in _assembled(self.parameter_names, self.values):
            *parents, leaf = name.split(".")
            node = out
            for i, part in enumerate(parents):
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise CalibValueError(f"FitResult.theta: {'.'.join(parents[:i + 1])!r} is a parameter and "
                                          f"also the parent of {name!r}; rename one of them")
            if leaf in node:
                raise CalibValueError(f"FitResult.theta: {name!r} is a parameter and also the parent of "
                                      f"other parameters; rename one of them")
            node[leaf] = value
        return out

    def standard_error(self, name: str) -> float:
        """Standard error of a free parameter; NaN for a fixed or tied one."""
        index = self._index(name)
        if self.kinds[index] != "free":
            return math.nan
        return float(self.standard_errors[self.free_names.index(name)])

    # ---- comparison ----------------------------------------------------------------------------

    def equals(self, other: Any) -> bool:
        """Exact equality of every field, NaN equal to NaN (the round-trip test of save/load)."""
        return isinstance(other, FitResult) and _same(self, other)

    # ---- views ---------------------------------------------------------------------------------

    def report(self) -> str:
        """A text report: header, statistics, parameters, correlations, goodness of fit, warnings."""
        from ._report import format_report
        return format_report(self)

    def plot(self, folder: str | os.PathLike) -> list[pathlib.Path]:
        """Write PNG plots of the fit into ``folder`` (created if missing) and return their paths."""
        from ._plots import plot_result
        return plot_result(self, folder)

    # ---- xarray and NetCDF ---------------------------------------------------------------------

    def to_dataset(self) -> xr.Dataset:
        """The result as one ``xarray.Dataset`` (layout in the module docstring)."""
        return _to_dataset(self)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "FitResult":
        """Rebuild a result from :meth:`to_dataset`'s dataset (or a loaded file)."""
        return _from_dataset(cls, ds)

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the result as NetCDF-4 (h5netcdf) at ``path`` and return it.

        The file is written to a temporary file in the same folder, then renamed over ``path``: a
        crash never leaves a half-written result, and a reader never sees one.
        """
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = self.to_dataset()
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            ds.to_netcdf(temporary, engine="h5netcdf")
            os.replace(temporary, path)
        except BaseException:
            pathlib.Path(temporary).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FitResult":
        """Read a result written by :meth:`save`; errors name the path."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise CalibValueError(f"FitResult.load: no file {str(path)!r}; give the path of a result written "
                                  f"by FitResult.save")
        try:
            # Time decoding off: a coordinate in seconds or days stays a number, not a timedelta.
            with xr.open_dataset(path, engine="h5netcdf", decode_times=False, decode_timedelta=False) as ds:
                ds.load()
        except (OSError, ValueError) as error:
            raise CalibValueError(f"FitResult.load: {str(path)!r} is not a NetCDF-4 file ({error})") from error
        try:
            return cls.from_dataset(ds)
        except CalibValueError as error:
            raise CalibValueError(f"FitResult.load: {str(path)!r}: {error}") from error


# ---------------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return a == b


def _safe(name: str) -> str:
    return name.replace("/", "_")  # "/" separates HDF5 groups; the real name is kept in attributes


SCALARS = ("confidence", "chi2", "objective", "dof", "reduced_chi2", "covariance_scale", "absolute_sigma",
           "success", "message", "optimizer", "adjoint", "n_evaluations", "n_jacobians",
           "compile_seconds", "run_seconds")


def _to_dataset(r: FitResult) -> xr.Dataset:
    variables: dict[str, xr.Variable] = {}
    coords: dict[str, xr.Variable] = {}
    owners: dict[str, str] = {}

    def add(table, name, dims, data, attrs, owner):
        if name in owners:
            raise CalibValueError(f"FitResult.to_dataset: {owner} and {owners[name]} both need the name {name!r}; "
                                  f"rename the dataset or variable")
        owners[name] = owner
        table[name] = xr.Variable(dims, data, attrs)

    free = np.array(r.free_names, dtype=str)
    add(coords, "parameter", "parameter", np.array(r.parameter_names, dtype=str), {}, "parameters")
    add(coords, "free_parameter", "free_parameter", free, {}, "parameters")
    add(coords, "free_parameter_b", "free_parameter_b", free, {}, "parameters")
    add(coords, "bound", "bound", np.array(["lower", "upper"]), {}, "parameters")
    described = {"value": (r.values, "final value, in the parameter's units"),
                 "initial": (r.initial, "initial value"),
                 "lower": (r.lower, "lower bound (-inf: none)"), "upper": (r.upper, "upper bound (inf: none)"),
                 "prior_mean": (r.prior_mean, "Gaussian prior mean (NaN: no prior)"),
                 "prior_sigma": (r.prior_sigma, "Gaussian prior standard deviation (NaN: no prior)"),
                 "units": (np.array(["" if u is None else u for u in r.units], dtype=str), "units of the parameter"),
                 "has_units": (np.array([u is not None for u in r.units], dtype=bool), "False: units are None"),
                 "kind": (np.array(r.kinds, dtype=str), "free, fixed or tied")}
    for name, (data, text) in described.items():
        add(variables, name, "parameter", data, {"long_name": text}, "parameters")
    matrices = {"standard_error": ("free_parameter", r.standard_errors, "standard error"),
                "interval": (("free_parameter", "bound"), r.intervals, f"Wald interval at level {r.confidence:g}"),
                "covariance": (("free_parameter", "free_parameter_b"), r.covariance, "covariance"),
                "correlation": (("free_parameter", "free_parameter_b"), r.correlation, "correlation"),
                "eigenvalue": ("eigenmode", r.eigenvalues, "eigenvalues of the Jacobi-scaled information D (J^T J + P) D, ascending"),
                "eigenvector": (("free_parameter", "eigenmode"), r.eigenvectors, "eigenvectors of D (J^T J + P) D (columns, scaled space)"),
                "scaled_sensitivity": ("free_parameter", r.scaled_sensitivities, "scaled sensitivity")}
    for name, (dims, data, text) in matrices.items():
        add(variables, name, dims, data, {"long_name": text}, "uncertainty")
    for key, data in r.history.items():
        add(variables, f"history.{_safe(key)}", "iteration", data,
            {"calib_role": "history", "calib_key": key, "long_name": f"{key} per outer iteration"}, f"history {key!r}")
    for name, profile in r.profiles.items():
        base, dim = f"profile.{_safe(name)}", f"profile.{_safe(name)}.point"
        scalars = {k: profile[k] for k in PROFILE_FLOATS + PROFILE_STRINGS}
        units = r.units[r.parameter_names.index(name)]
        for key in PROFILE_ARRAYS:
            attrs = {"calib_role": f"profile_{key}", "calib_parameter": name}
            attrs.update(scalars if key == "values" else {})
            if key == "values" and units is not None:
                attrs["units"] = units
            add(variables, f"{base}.{key}", dim, profile[key], attrs, f"profile {name!r}")
    index = []
    for d in r.datasets:
        prefix = _safe(d.name)
        dims = lambda names: tuple(f"{prefix}.{_safe(n)}" for n in names)  # noqa: E731
        for c, data in d.coords.items():
            attrs = {"calib_role": "coordinate", "calib_dataset": d.name, "calib_coordinate": c,
                     "calib_dims": json.dumps(d.coord_dims[c])}
            if d.coord_units[c] is not None:
                attrs["units"] = d.coord_units[c]
            add(coords, f"{prefix}.{_safe(c)}", dims(d.coord_dims[c]), data, attrs, f"dataset {d.name!r} coordinate {c!r}")
        for v in d.variables.values():
            common = {"calib_dataset": d.name, "calib_variable": v.name, "calib_dims": json.dumps(v.dims)}
            for role, data in (("observed", v.observed), ("sigma", v.sigma), ("predicted", v.predicted),
                               ("residual", v.residual)):
                attrs = {"calib_role": role, **common,
                         "units": "1" if role == "residual" else v.units,
                         "long_name": f"{v.name} {role}" + (" (predicted - observed)/sigma" if role == "residual" else "")}
                add(variables, f"{prefix}.{_safe(v.name)}.{role}", dims(v.dims), data, attrs,
                    f"dataset {d.name!r} variable {v.name!r}")
        index.append({"name": d.name, "weight": d.weight, "relative_sigma": d.relative_sigma,
                      "coordinates": list(d.coords), "variables": list(d.variables)})
    attrs: dict[str, Any] = {"calib_result_version": RESULT_VERSION, "title": "calib fit result"}
    for name in SCALARS:
        value = getattr(r, name)
        attrs[name] = int(value) if isinstance(value, bool) else value  # NetCDF has no boolean attribute
    attrs.update({"warnings": json.dumps(list(r.warnings)), "inner": json.dumps(r.inner),
                  "config": json.dumps(r.config), "calib_datasets": json.dumps(index),
                  "calib_profiles": json.dumps(list(r.profiles)), "calib_history": json.dumps(list(r.history))})
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _from_dataset(cls, ds: xr.Dataset) -> FitResult:
    if not isinstance(ds, xr.Dataset):
        raise CalibTypeError(f"FitResult.from_dataset: expected an xarray.Dataset, got {type(ds).__name__}")
    version = ds.attrs.get("calib_result_version")
    if version is None:
        raise CalibValueError("not a calib fit result (no calib_result_version attribute); "
                              "read a file written by FitResult.save")
    if int(version) != RESULT_VERSION:
        raise CalibValueError(f"calib_result_version {int(version)} is not supported (this version reads "
                              f"{RESULT_VERSION}); read it with the calib that wrote it")
    try:
        return _decode(cls, ds)
    except (KeyError, json.JSONDecodeError) as error:
        raise CalibValueError(f"incomplete calib fit result: {error!s} is missing or unreadable") from error


def _decode(cls, ds: xr.Dataset) -> FitResult:
    a = ds.attrs
    strings = lambda name: tuple(str(s) for s in ds[name].values)  # noqa: E731
    floats = lambda name: np.asarray(ds[name].values, dtype=np.float64)  # noqa: E731
    by_role: dict[tuple, xr.DataArray] = {}
    for name in ds.variables:
        attrs = ds[name].attrs
        role = attrs.get("calib_role")
        if role in ("history",):
            by_role[(role, attrs["calib_key"])] = ds[name]
        elif isinstance(role, str) and role.startswith("profile_"):
            by_role[(role, attrs["calib_parameter"])] = ds[name]
        elif role == "coordinate":
            by_role[(role, attrs["calib_dataset"], attrs["calib_coordinate"])] = ds[name]
        elif role in ROLES:
            by_role[(role, attrs["calib_dataset"], attrs["calib_variable"])] = ds[name]
    units = tuple(u if has else None for u, has in zip(strings("units"), ds["has_units"].values.astype(bool)))
    profiles = {}
    for name in json.loads(a["calib_profiles"]):
        values = by_role[("profile_values", name)]
        profile = {key: by_role[(f"profile_{key}", name)].values for key in PROFILE_ARRAYS}
        profile.update({key: float(values.attrs[key]) for key in PROFILE_FLOATS})
        profile.update({key: str(values.attrs[key]) for key in PROFILE_STRINGS})
        profiles[name] = profile
    history = {key: by_role[("history", key)].values for key in json.loads(a["calib_history"])}
    datasets = []
    for entry in json.loads(a["calib_datasets"]):
        d = entry["name"]
        coords, coord_dims, coord_units = {}, {}, {}
        for c in entry["coordinates"]:
            array = by_role[("coordinate", d, c)]
            values = array.values
            coords[c] = values.astype(str) if values.dtype.kind in "OSU" else values.astype(np.float64)
            coord_dims[c] = tuple(json.loads(array.attrs["calib_dims"]))
            coord_units[c] = array.attrs.get("units")
        variables = {}
        for v in entry["variables"]:
            observed = by_role[("observed", d, v)]
            variables[v] = VariableFit(
                name=v, units=str(observed.attrs["units"]), dims=tuple(json.loads(observed.attrs["calib_dims"])),
                observed=observed.values, sigma=by_role[("sigma", d, v)].values,
                predicted=by_role[("predicted", d, v)].values)
        datasets.append(DatasetFit(name=d, weight=entry["weight"], relative_sigma=entry["relative_sigma"],
                                   coords=coords, coord_dims=coord_dims, coord_units=coord_units,
                                   variables=variables))
    scalars = {name: a[name] for name in SCALARS}
    scalars.update({name: str(scalars[name]) for name in ("message", "optimizer", "adjoint")})
    return cls(
        parameter_names=strings("parameter"), values=floats("value"), initial=floats("initial"), units=units,
        kinds=strings("kind"), lower=floats("lower"), upper=floats("upper"), prior_mean=floats("prior_mean"),
        prior_sigma=floats("prior_sigma"), free_names=strings("free_parameter"),
        standard_errors=floats("standard_error"), intervals=floats("interval"), covariance=floats("covariance"),
        correlation=floats("correlation"), eigenvalues=floats("eigenvalue"), eigenvectors=floats("eigenvector"),
        scaled_sensitivities=floats("scaled_sensitivity"), warnings=tuple(json.loads(a["warnings"])),
        profiles=profiles, history=history, datasets=tuple(datasets), inner=json.loads(a["inner"]),
        config=json.loads(a["config"]), **scalars)


_ELEMENT = re.compile(r"^(?P<name>.+)\[(?P<index>\d+(?:,\d+)*)\]$")


def _assembled(names, values):
    """``(name, value)`` pairs with the elements ``w[i,j]`` of vector parameters gathered into arrays."""
    out: dict = {}
    for name, value in zip(names, values):
        match = _ELEMENT.match(name)
        if match is None:
            out[name] = float(value)
            continue
        index = tuple(int(i) for i in match["index"].split(","))
        out.setdefault(match["name"], {})[index] = float(value)
    pairs = []
    for name, value in out.items():
        if isinstance(value, dict):
            shape = tuple(max(i[d] for i in value) + 1 for d in range(len(next(iter(value)))))
            array = np.full(shape, np.nan)
            for i, v in value.items():
                array[i] = v
            value = array
        pairs.append((name, value))
    return pairs
