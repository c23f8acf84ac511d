"""Observed data from a CSV table: columns become coordinates, observed variables and uncertainties."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._errors import CalibKeyError, CalibTypeError, CalibValueError
from ._units import parse_units

# The dimension of a table with several coordinate columns: one entry per row, no grid implied.
POINT_DIM = "point"


def from_csv(path, *, units: dict[str, str], coords: list[str],
             sigma: dict[str, str | float] | None = None, name: str | None = None) -> xr.Dataset:
    """Read a CSV table (a header row, one row per measurement) into a dataset for :func:`prepare`.

    Lines starting with ``#`` are comments. Columns are sorted into three roles:

    - the ``coords`` columns are the conditions: with one, the dataset is 1-D along it (dimension
      named after the column); with several, the dimension is ``"point"`` (one per row) and each
      column is a coordinate along it (no grid is formed, so scattered conditions are fine);
    - uncertainty columns: those named in ``sigma``, and those named ``<x>_sigma`` for a column
      ``<x>``; each becomes the variable ``<x>_sigma`` (units: its own entry in ``units`` if any,
      else those of ``<x>``) and ``<x>`` gets ``ancillary_variables = "<x>_sigma"``;
    - every other column is an observed variable and needs an entry in ``units``.

    Args:
        path: the CSV file.
        units: ``column -> pint unit string`` for every observed column (optional for coordinate
            and uncertainty columns), e.g. ``{"strain": "1", "stress": "MPa"}``.
        coords: the coordinate columns (one name or a list).
        sigma: per observed column, either the name of the column holding its standard
            uncertainty, or one number (a standard deviation in its units, stored as the ``sigma``
            attribute).
        name: the dataset's ``name`` attribute; default: the file's stem.

    Returns:
        An in-memory ``xarray.Dataset`` with float64 observed variables, ``units`` attributes, and
        the file's name (not its directory) in the ``source`` attribute.
    """
    path = _checked_path(path)
    where = f"from_csv({path.name!r})"
    coords = _names(coords, "coords", where)
    units = _mapping(units, "units", where)
    sigma = {} if sigma is None else _mapping(sigma, "sigma", where)
    table = _read(path, where)
    columns = [str(c) for c in table.columns]

    missing = [c for c in coords if c not in columns]
    if missing:
        raise CalibKeyError(f"{where}: coordinate column(s) {missing} are not in the file; its columns "
                            f"are {columns}; pass coords= a list of them")
    unknown = [c for c in units if c not in columns]
    if unknown:
        raise CalibKeyError(f"{where}: units names column(s) {unknown} that are not in the file; its "
                            f"columns are {columns}")

    # Uncertainty columns, explicit first, then the <x>_sigma convention.
    sigma_columns: dict[str, str] = {}
    sigma_numbers: dict[str, float] = {}
    for var, given in sigma.items():
        if var not in columns or var in coords:
            raise CalibKeyError(f"{where}: sigma names {var!r}, which is not an observed column; the "
                                f"observed columns are {[c for c in columns if c not in coords]}")
        if isinstance(given, str):
            if given not in columns or given in coords or given == var:
                raise CalibKeyError(f"{where}: sigma[{var!r}] = {given!r} is not a column holding its "
                                    f"uncertainty; the columns are {columns}")
            sigma_columns[var] = given
        elif isinstance(given, numbers.Real) and not isinstance(given, (bool, np.bool_)):
            if not (math.isfinite(given) and given > 0):
                raise CalibValueError(f"{where}: sigma[{var!r}] = {given!r}; a standard deviation "
                                      f"must be finite and > 0")
            sigma_numbers[var] = float(given)
        else:
            raise CalibTypeError(f"{where}: sigma[{var!r}] = {given!r}; give the name of a column or "
                                 f"one number (a standard deviation in {units.get(var, 'its units')!r})")
    for column in columns:
        base = column[: -len("_sigma")] if column.endswith("_sigma") else None
        if base and base in columns and base not in coords and column not in coords:
            other = sigma_columns.get(base, sigma_numbers.get(base))
            if other is not None and other != column:
                raise CalibValueError(f"{where}: column {column!r} and sigma[{base!r}] = {other!r} both "
                                      f"give the uncertainty of {base!r}; drop one of them")
            sigma_columns[base] = column
    taken = set(sigma_columns.values())
    observed = [c for c in columns if c not in coords and c not in taken]
    if not observed:
        raise CalibValueError(f"{where}: no observed columns: every column is a coordinate or an "
                              f"uncertainty ({columns}); leave the measured quantities out of coords=")

    numeric = {c: _numeric_column(table, c, where) for c in observed + sorted(taken)}
    no_units = [c for c in observed if c not in units]
    if no_units:
        example = ", ".join(f"{c!r}: '...'" for c in no_units)
        raise CalibValueError(f"{where}: column(s) {no_units} have no units; pass them in units=, e.g. "
                              f"units={{{example}}} with pint strings such as 'MPa' (or '1' for a pure "
                              f"number), or list a column in coords= if it is a condition")
    for column, unit in units.items():
        parse_units(unit, what=f"{where}: column {column!r}")

    dim = coords[0] if len(coords) == 1 else POINT_DIM
    dataset = xr.Dataset()
    for column in coords:
        values = table[column].to_numpy()
        values = (values.astype(np.float64) if values.dtype.kind in "iuf"
                  else values.astype(str))
        attrs = {"units": units[column]} if column in units else {}
        dataset = dataset.assign_coords({column: xr.Variable((dim,), values, attrs)})
    for column in observed:
        attrs = {"units": units[column]}
        if column in sigma_columns:
            attrs["ancillary_variables"] = f"{column}_sigma"
        if column in sigma_numbers:
            attrs["sigma"] = sigma_numbers[column]
        dataset[column] = xr.Variable((dim,), numeric[column], attrs)
        if column in sigma_columns:
            source = sigma_columns[column]
            sigma_attrs = {"units": units.get(source, units[column]),
                           "long_name": f"standard uncertainty of {column}"}
            dataset[f"{column}_sigma"] = xr.Variable((dim,), numeric[source], sigma_attrs)
    dataset.attrs["name"] = path.stem if name is None else _checked_name(name, where)
    dataset.attrs["source"] = path.name
    return dataset


def _checked_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise CalibTypeError(f"from_csv: path must be a str or os.PathLike naming a CSV file, got "
                             f"{type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise CalibValueError(f"from_csv: {str(path)!r} does not exist or is not a file; give the "
                              f"path of a CSV file")
    return path


def _checked_name(name, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise CalibTypeError(f"{where}: name must be a non-empty string, got {name!r}")
    return name


def _names(value, what: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise CalibTypeError(f"{where}: {what} must be a list of column names, got {value!r}")
    if len(set(value)) != len(value):
        raise CalibValueError(f"{where}: {what}={list(value)} names a column twice")
    return list(value)


def _mapping(value, what: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise CalibTypeError(f"{where}: {what} must be a dict keyed by column name, got "
                             f"{type(value).__name__} {value!r}")
    return value


def _read(path: Path, where: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, comment="#", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise CalibValueError(f"{where}: the file is empty; it needs a header row of column names "
                              f"and one row per measurement") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise CalibValueError(f"{where}: the file is not a readable CSV table ({error}); write one "
                              f"comma-separated header row and one row per measurement") from None
    if len(table) == 0:
        raise CalibValueError(f"{where}: the file has a header ({list(table.columns)}) but no rows; "
                              f"add one row per measurement")
    return table


def _numeric_column(table: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """The column as float64; empty cells become NaN (which :func:`prepare` reports with their place)."""
    raw = table[column]
    converted = pd.to_numeric(raw, errors="coerce")
    bad = converted.isna() & raw.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CalibValueError(f"{where}: column {column!r}, data row {row + 1} (after the header) holds "
                              f"{raw.iloc[row]!r}, which is not a number; fix the value (leave the "
                              f"cell empty for a missing one); if {column!r} labels the "
                              f"measurements, list it in coords=")
    return converted.to_numpy(dtype=np.float64)
