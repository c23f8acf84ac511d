"""Observed data: an ``xarray.Dataset`` validated into values, uncertainties, units and conditions.

:func:`prepare` is the one place where a user's dataset is checked: after it, every observed value
is a finite float64 with a known unit and a positive standard uncertainty in the same unit, and
every experimental condition (coordinate) is an array with a known unit or none. The objective and
the fit work on :class:`ObservedDataset` and never look at attributes again.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from typing import Mapping

import numpy as np
import xarray as xr

from .._errors import CalibKeyError, CalibTypeError, CalibValueError
from ._io import load
from ._units import conversion, dimension, kind, parse_units

# CF standard_name suffixes that mark an ancillary variable as a standard uncertainty.
_SIGMA_STANDARD_NAMES = ("standard_error", "standard_deviation")


@dataclasses.dataclass(frozen=True)
class Observation:
    """One observed data variable, validated.

    Attributes:
        dataset: name of its dataset.
        name: the variable's name in the dataset.
        values: float64 array of the variable's shape (its ``dims``), in ``units``; all finite.
        sigma: float64 array of the same shape, the standard uncertainty of each value in
            ``units`` (broadcast from a scalar or a lower-dimensional variable); all finite and > 0.
            All ones when ``sigma_source == "relative"``.
        units: the variable's ``units`` attribute as given (pint parses it).
        dims: the variable's dimension names.
        sigma_source: where ``sigma`` came from: ``"ancillary_variables 'X'"``,
            ``"variable 'C11_sigma'"``, ``"attribute sigma"`` or ``"relative"``.
    """

    dataset: str
    name: str
    values: np.ndarray
    sigma: np.ndarray
    units: str
    dims: tuple[str, ...]
    sigma_source: str


@dataclasses.dataclass(frozen=True)
class ObservedDataset:
    r"""A validated dataset: its observations, conditions and weight.

    Its contribution to the misfit is ``weight`` times
    :math:`\chi^2 = \sum_{v}\sum_i \big((y_{v,i} - f_{v,i}(\theta)) / \sigma_{v,i}\big)^2` over its
    observations ``v`` and their values ``i``.

    Attributes:
        name: the dataset's name; observations are identified by ``(name, variable)``.
        observations: ``variable name -> Observation``, in the dataset's order.
        conditions: every coordinate of the dataset, ``name -> array`` (numeric ones as float64,
            others, e.g. labels, as numpy string arrays), in the coordinate's own shape.
        condition_units: ``name -> units`` attribute of each coordinate, ``None`` where it has none.
        weight: a finite factor > 0 on this dataset's :math:`\chi^2`.
        relative_sigma: ``True`` when the uncertainties are only relative
            (``relative_weights=True``): the parameter covariance is then scaled by the reduced
            :math:`\chi^2`.
        source: the validated ``xarray.Dataset``, in memory.
    """

    name: str
    observations: dict[str, Observation]
    conditions: dict[str, np.ndarray]
    condition_units: dict[str, str | None]
    weight: float
    relative_sigma: bool
    source: xr.Dataset

    @property
    def size(self) -> int:
        """Total number of observed values (over all observations)."""
        return sum(obs.values.size for obs in self.observations.values())


def prepare(dataset, *, name: str | None = None, weight: float = 1.0, relative_weights: bool = False,
            variables=None) -> ObservedDataset:
    """Validate a dataset of observations into an :class:`ObservedDataset`.

    Args:
        dataset: an ``xarray.Dataset``, or the path of a NetCDF file (read with :func:`load`).
        name: the dataset's name; default ``dataset.attrs["name"]``, else the file's stem for a
            path, else ``"data"``.
        weight: finite factor > 0 on this dataset's :math:`\\chi^2`.
        relative_weights: ``True`` allows variables without uncertainty (their ``sigma`` is 1 in
            their own units) and marks the whole dataset's uncertainties as relative.
        variables: names of the data variables to observe (a list, or one name). Default: every
            data variable that is not the uncertainty of another (named by an
            ``ancillary_variables`` attribute, or ``<x>_sigma`` for a data variable ``<x>``).

    Raises:
        CalibTypeError, CalibValueError, CalibKeyError: the message names the dataset, the
            variable, the offending value and the fix.
    """
    default_name = "data"
    if isinstance(dataset, (str, os.PathLike)):
        default_name = _stem(dataset)
        dataset = load(dataset)
    if not isinstance(dataset, xr.Dataset):
        hint = (" (an xarray.DataArray: make it a Dataset with da.to_dataset(name='...'))"
                if isinstance(dataset, xr.DataArray) else "")
        raise CalibTypeError(f"prepare: dataset must be an xarray.Dataset or the path of a NetCDF "
                             f"file, got {type(dataset).__name__}{hint}")
    name = _dataset_name(dataset, name, default_name)
    weight = _checked_weight(weight, name)
    if not isinstance(relative_weights, (bool, np.bool_)):
        raise CalibTypeError(f"dataset {name!r}: relative_weights must be True or False, got "
                             f"{relative_weights!r}")
    source = dataset.copy(deep=False).load()
    conditions, condition_units = _conditions(source, name)
    observations = {}
    for var in _observed_names(source, name, variables):
        observations[var] = _observation(source, name, var, bool(relative_weights))
    return ObservedDataset(name=name, observations=observations, conditions=conditions,
                           condition_units=condition_units, weight=weight,
                           relative_sigma=bool(relative_weights), source=source)


def prepare_all(data, *, weights=None, relative_weights: bool = False) -> list[ObservedDataset]:
    """Validate several datasets; their names must be unique.

    Args:
        data: an ``xarray.Dataset`` or a path, a list (or tuple) of them, or a dict
            ``name -> Dataset or path`` (the keys are the names).
        weights: ``None`` (all 1), one number for all, a list in the order of ``data``, or a dict
            ``name -> weight`` (names not in it get 1).
        relative_weights: passed to :func:`prepare` for every dataset.

    Returns:
        The :class:`ObservedDataset` of each, in order. The same variable name may appear in two
        datasets: observations are identified by ``(dataset name, variable name)``.
    """
    if isinstance(data, (xr.Dataset, str, os.PathLike)):  # a Dataset is a Mapping too: test it first
        items = [(None, data)]
    elif isinstance(data, Mapping):
        for key in data:
            if not isinstance(key, str) or not key:
                raise CalibTypeError(f"prepare_all: the keys of a dict of datasets are their names and "
                                     f"must be non-empty strings, got {key!r}")
        items = list(data.items())
    elif isinstance(data, (list, tuple)):
        items = [(None, value) for value in data]
    else:
        raise CalibTypeError(f"prepare_all: data must be an xarray.Dataset, a path, a list of them or "
                             f"a dict name -> Dataset, got {type(data).__name__}")
    if not items:
        raise CalibValueError("prepare_all: no datasets were given; pass at least one xarray.Dataset")
    # Files are read and every name resolved first, so that a dict of weights is matched against
    # the names prepare() will use.
    resolved = []
    for key, value in items:
        default = "data"
        if isinstance(value, (str, os.PathLike)):
            default = _stem(value)
            value = load(value)
        if not isinstance(value, xr.Dataset):
            raise CalibTypeError(f"prepare_all: each dataset must be an xarray.Dataset or the path of a "
                                 f"NetCDF file, got {type(value).__name__}")
        resolved.append((_dataset_name(value, key, default), value))
    seen = {}
    for index, (ds_name, _) in enumerate(resolved):
        if ds_name in seen:
            raise CalibValueError(
                f"prepare_all: datasets {seen[ds_name]} and {index} are both named {ds_name!r}; give "
                f"them distinct names (ds.attrs['name'] = '...') or pass a dict name -> Dataset")
        seen[ds_name] = index
    names = [ds_name for ds_name, _ in resolved]
    return [prepare(value, name=ds_name, weight=w, relative_weights=relative_weights)
            for (ds_name, value), w in zip(resolved, _weights_of(weights, names))]


def _weights_of(weights, names: list[str]) -> list:
    """One weight per dataset, from the forms ``prepare_all`` accepts (values checked by ``prepare``)."""
    n = len(names)
    if weights is None:
        return [1.0] * n
    if isinstance(weights, Mapping):
        unknown = [key for key in weights if key not in names]
        if unknown:
            raise CalibKeyError(f"prepare_all: weights names {unknown}, which are not datasets; the "
                                f"datasets are {names}")
        return [weights.get(key, 1.0) for key in names]
    if isinstance(weights, (list, tuple, np.ndarray)):
        if len(weights) != n:
            raise CalibValueError(f"prepare_all: {len(weights)} weights for {n} datasets ({names}); "
                                  f"give one weight per dataset, a single number, or a dict "
                                  f"name -> weight")
        return list(weights)
    return [weights] * n


def _stem(path) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path)))[0] or "data"


def _dataset_name(dataset: xr.Dataset, name, default: str) -> str:
    if name is None:
        name = dataset.attrs.get("name", default)
        if isinstance(name, np.ndarray) and name.size == 1:  # netCDF may store a string as an array
            name = str(name.item())
        if not isinstance(name, str) or not name:
            raise CalibValueError(f"prepare: the dataset's 'name' attribute is {name!r}; make it a "
                                  f"non-empty string, or pass name='...'")
    elif not isinstance(name, str) or not name:
        raise CalibTypeError(f"prepare: name must be a non-empty string, got {name!r}")
    return name


def _checked_weight(weight, name: str) -> float:
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real):
        raise CalibTypeError(f"dataset {name!r}: weight must be a number > 0, got {weight!r} "
                             f"({type(weight).__name__}); e.g. weight=2.0")
    weight = float(weight)
    if not (math.isfinite(weight) and weight > 0):
        raise CalibValueError(f"dataset {name!r}: weight must be finite and > 0, got {weight!r}; "
                              f"use a positive factor such as weight=1.0 (leave a dataset out "
                              f"rather than giving it weight 0)")
    return weight


def _numeric(array) -> bool:
    return np.asarray(array).dtype.kind in "iuf"


def _conditions(ds: xr.Dataset, name: str):
    conditions, units = {}, {}
    for coord_name, coord in ds.coords.items():
        what = f"dataset {name!r}: coordinate {coord_name!r}"
        unit = coord.attrs.get("units")
        if unit is not None:
            parse_units(unit, what=what)
        values = np.asarray(coord.values)
        if values.dtype.kind in "iufb":
            values = values.astype(np.float64)
            bad = ~np.isfinite(values)
            if bad.any():
                index = np.argwhere(bad)[0]
                raise CalibValueError(f"{what} has {int(bad.sum())} NaN/inf value(s), the first at "
                                      f"index {tuple(int(i) for i in index)}; a condition must be "
                                      f"known: drop those points (ds.dropna) or fill them")
        else:
            values = values.astype(str)
        values.setflags(write=False)
        conditions[str(coord_name)] = values
        units[str(coord_name)] = unit
    return conditions, units


def _ancillary_names(ds: xr.Dataset, name: str, var: str) -> list[str]:
    attr = ds[var].attrs.get("ancillary_variables")
    if attr is None:
        return []
    if not isinstance(attr, str):
        raise CalibTypeError(f"dataset {name!r}: variable {var!r} has ancillary_variables={attr!r}; it "
                             f"must be a string of variable names separated by spaces, e.g. "
                             f"'{var}_sigma'")
    return attr.split()


def _uncertainty_names(ds: xr.Dataset, name: str) -> set[str]:
    """Data variables that are the uncertainty (or other ancillary data) of another data variable."""
    names = set()
    for var in ds.data_vars:
        names.update(_ancillary_names(ds, name, var))
        if f"{var}_sigma" in ds.data_vars:
            names.add(f"{var}_sigma")
    return names


def _observed_names(ds: xr.Dataset, name: str, variables) -> list[str]:
    available = [str(v) for v in ds.data_vars]
    if variables is None:
        ancillary = _uncertainty_names(ds, name)
        chosen = [v for v in available if v not in ancillary]
        non_numeric = [v for v in chosen if not _numeric(ds[v].values)]
        if non_numeric:
            numeric = [v for v in chosen if v not in non_numeric]
            raise CalibValueError(
                f"dataset {name!r}: data variable(s) {non_numeric} are not numeric (dtype "
                f"{ds[non_numeric[0]].dtype}) and cannot be observed; pass variables={numeric} to "
                f"observe only the others, or make them coordinates (ds.set_coords({non_numeric}))")
    else:
        if isinstance(variables, str):
            variables = [variables]
        try:
            chosen = list(variables)
        except TypeError:
            raise CalibTypeError(f"dataset {name!r}: variables must be a list of data variable names, "
                                 f"got {variables!r}") from None
        unknown = [v for v in chosen if v not in available]
        if unknown:
            raise CalibKeyError(f"dataset {name!r}: variables {unknown} are not data variables of the "
                                f"dataset; the data variables are {available}")
        if len(set(chosen)) != len(chosen):
            raise CalibValueError(f"dataset {name!r}: variables={chosen} names a variable twice; list "
                                  f"each once")
        for v in chosen:
            if not _numeric(ds[v].values):
                raise CalibValueError(f"dataset {name!r}: variable {v!r} is not numeric (dtype "
                                      f"{ds[v].dtype}) and cannot be observed; leave it out of "
                                      f"variables=")
    if not chosen:
        raise CalibValueError(f"dataset {name!r} has no data variables to observe (data variables: "
                              f"{available}); add the measured quantities as data variables, each "
                              f"with a 'units' attribute")
    return chosen


def _observation(ds: xr.Dataset, name: str, var: str, relative: bool) -> Observation:
    da = ds[var]
    what = f"dataset {name!r}: variable {var!r}"
    if "units" not in da.attrs:
        raise CalibValueError(f"{what} has no 'units' attribute; add one, e.g. "
                              f"ds[{var!r}].attrs['units'] = 'angstrom' (use '1' or 'dimensionless' "
                              f"for a pure number)")
    units = da.attrs["units"]
    parse_units(units, what=what)
    # A copy: the arrays are frozen below, and the user's dataset must stay writable.
    values = np.array(da.values, dtype=np.float64)
    _check_finite(ds, da.dims, values, f"{what} has", "drop those points (e.g. ds.dropna(...)) or "
                  "fill them; missing observations cannot be fitted")
    sigma, source = _sigma(ds, name, var, units, relative)
    if source != "relative":
        _check_finite(ds, da.dims, sigma, f"{what}: its uncertainty ({source}) has",
                      "every uncertainty must be a finite standard deviation > 0 in the variable's "
                      "units; fix those entries (or drop the points)", positive=True)
    values.setflags(write=False)
    sigma.setflags(write=False)
    return Observation(dataset=name, name=var, values=values, sigma=sigma, units=units,
                       dims=tuple(str(d) for d in da.dims), sigma_source=source)


def _sigma(ds: xr.Dataset, name: str, var: str, units: str, relative: bool):
    """The uncertainty of ``var`` in its ``units``, broadcast to its shape, and where it came from.

    Precedence: the ``ancillary_variables`` entry, then ``<var>_sigma``, then a ``sigma`` attribute.
    """
    da = ds[var]
    what = f"dataset {name!r}: variable {var!r}"
    ancillary = _ancillary_names(ds, name, var)
    if ancillary:
        missing = [a for a in ancillary if a not in ds.variables]
        if missing:
            raise CalibKeyError(f"{what} names {missing} in its ancillary_variables attribute "
                                f"({da.attrs['ancillary_variables']!r}), but the dataset has no such "
                                f"variable (its variables: {[str(v) for v in ds.data_vars]}); add "
                                f"the uncertainty variable or correct the attribute")
        chosen = next((a for a in ancillary
                       if str(ds[a].attrs.get("standard_name", "")).endswith(_SIGMA_STANDARD_NAMES)),
                      ancillary[0])
        return _sigma_variable(ds, name, var, units, chosen), f"ancillary_variables {chosen!r}"
    if f"{var}_sigma" in ds.variables:
        return _sigma_variable(ds, name, var, units, f"{var}_sigma"), f"variable '{var}_sigma'"
    if "sigma" in da.attrs:
        return _sigma_attribute(da, what, units), "attribute sigma"
    if relative:
        return np.ones(da.shape, dtype=np.float64), "relative"
    raise CalibValueError(
        f"{what} has no uncertainty: no ancillary_variables attribute, no variable '{var}_sigma' and "
        f"no 'sigma' attribute; add one, e.g. ds[{var!r}].attrs['sigma'] = 0.01 (a standard deviation "
        f"in {units!r}) or a variable '{var}_sigma', or call prepare(..., relative_weights=True) to "
        f"weight all values equally, in which case the parameter covariance is scaled by the "
        f"reduced chi^2")


def _sigma_variable(ds: xr.Dataset, name: str, var: str, units: str, sigma_name: str) -> np.ndarray:
    da, sigma = ds[var], ds[sigma_name]
    what = f"dataset {name!r}: variable {var!r}"
    if not _numeric(sigma.values):
        raise CalibValueError(f"{what}: its uncertainty {sigma_name!r} is not numeric (dtype "
                              f"{sigma.dtype}); give standard deviations as numbers in {units!r}")
    extra = [d for d in sigma.dims if d not in da.dims]
    if extra:
        raise CalibValueError(
            f"{what} has dims {tuple(da.dims)} but its uncertainty {sigma_name!r} has dims "
            f"{tuple(sigma.dims)}, which do not broadcast ({extra} not among the variable's dims); "
            f"give the uncertainty along {tuple(da.dims)} or a subset of them")
    scale = 1.0
    sigma_units = sigma.attrs.get("units")
    if sigma_units is not None:  # absent: the variable's units
        parse_units(sigma_units, what=f"{what}: its uncertainty {sigma_name!r}")
        if sigma_units != units:
            scale = _sigma_scale(sigma_units, units, what, f"its uncertainty {sigma_name!r}")
    broadcast = sigma.astype(np.float64).broadcast_like(da).transpose(*da.dims)
    return scale * np.asarray(broadcast.values, dtype=np.float64)


def _sigma_attribute(da: xr.DataArray, what: str, units: str) -> np.ndarray:
    value = da.attrs["sigma"]
    if isinstance(value, np.ndarray) and value.size == 1:  # netCDF attributes come back as arrays
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise CalibValueError(f"{what} has sigma={value!r}; the sigma attribute must be one number, a "
                              f"standard deviation in {units!r}; for an uncertainty per value add a "
                              f"variable '{da.name}_sigma' instead")
    scale = 1.0
    sigma_units = da.attrs.get("sigma_units")
    if sigma_units is not None:
        parse_units(sigma_units, what=f"{what}: its sigma_units")
        if sigma_units != units:
            scale = _sigma_scale(sigma_units, units, what, f"its sigma (sigma_units={sigma_units!r})")
    return np.full(da.shape, scale * float(value), dtype=np.float64)


def _sigma_scale(sigma_units: str, units: str, what: str, which: str) -> float:
    """Factor from the uncertainty's units to the variable's (a difference: no affine offset)."""
    if dimension(sigma_units) != dimension(units):
        raise CalibValueError(
            f"{what} has units {units!r} but {which} has units {sigma_units!r} (dimension "
            f"{dimension(sigma_units)} vs {dimension(units)}); give the uncertainty in units of "
            f"{kind(units)}, e.g. {units!r}")
    scale, _ = conversion(sigma_units, units, what=f"{what}: {which}")
    return scale


def _check_finite(ds: xr.Dataset, dims, values: np.ndarray, subject: str, fix: str,
                  positive: bool = False) -> None:
    bad = ~np.isfinite(values)
    problem = "NaN/inf"
    if positive and not bad.any():
        bad = values <= 0
        problem = "zero or negative"
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        first = values[index]
        raise CalibValueError(f"{subject} {int(bad.sum())} {problem} value(s) out of {values.size}, the "
                              f"first ({first!r}) at {_locate(ds, dims, index)}; {fix}")


def _locate(ds: xr.Dataset, dims, index: tuple[int, ...]) -> str:
    """``'strain=0.02, temperature=300'``: the coordinates of one element, by position ``index``."""
    if not dims:
        return "the scalar value"
    parts = []
    for dim, i in zip(dims, index):
        along = [c for c, coord in ds.coords.items() if coord.dims == (dim,)]
        if not along:
            parts.append(f"{dim} index {i}")
        for c in along:
            value = ds.coords[c].values[i]
            text = f"{float(value):.6g}" if np.asarray(value).dtype.kind in "iuf" else repr(str(value))
            parts.append(f"{c}={text}")
    return ", ".join(parts)

