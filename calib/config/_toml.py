"""Read a fit configuration (TOML) into the arguments of :func:`calib.fit`.

The format is documented key by key in ``docs/reference/config_toml.md``. Reading happens in two
passes, so a mistake is reported before anything is computed:

1. :func:`read_config` parses the text with :mod:`tomllib` (a syntax error keeps its line);
2. every table is checked against the keys it may hold, every value against its type and range,
   and the model, data files and parameters are built. The first problem raises a
   :class:`ConfigError` that names the file, the line, the key path, what is wrong and the fix.

Paths in the file (data files, a model file, the output folder) are relative to the file's folder,
so a configuration and its data can be moved together.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import pathlib
import re
import tomllib
from typing import Any

import numpy as np
import xarray as xr

from .._errors import CalibError
from ..adjoint import Checkpointed, Implicit, Neumann, Truncated, Unrolled
from ..data import from_csv, load, prepare
from ..fit._optimizers import OPTIMIZERS, check_optimizer
from ..linear_solve import CG, MINRES, Dense
from ..objective import LOSSES, Model
from ..parameters import Parameter, Tied
from ..parameters._transforms import TRANSFORMS
from ._error import ConfigError, Source
from ._models import ModelNotFound, resolve

ADJOINTS = {"implicit": Implicit, "unrolled": Unrolled, "truncated": Truncated,
            "checkpointed": Checkpointed, "neumann": Neumann}
LINEAR_SOLVERS = {"cg": CG, "minres": MINRES, "dense": Dense}
JACOBIANS = ("auto", "fwd", "rev")

# The keys each table may hold (order: as the reference page lists them).
TOP_LEVEL = ("model", "data", "parameters", "fit", "output")
MODEL_KEYS = ("function", "units", "conditions", "warm_start", "name")
DATA_KEYS = ("file", "name", "weight", "variables", "units", "coords", "sigma")
CSV_KEYS = ("units", "coords", "sigma")
PARAMETER_KEYS = ("value", "bounds", "transform", "units", "fixed", "prior", "description", "tied")
TIED_KEYS = ("tied", "units", "description")
FIT_KEYS = ("optimizer", "adjoint", "adjoint_options", "loss", "loss_scale", "relative_weights",
            "absolute_sigma", "jacobian", "confidence", "profile", "max_iterations", "ftol", "xtol",
            "gtol", "max_rejections", "learning_rate")
OUTPUT_KEYS = ("folder", "plots", "checkpoint")


@dataclasses.dataclass(frozen=True)
class Output:
    """Where and what to write: ``folder`` (absolute), PNG ``plots``, a ``checkpoint`` file."""

    folder: pathlib.Path
    plots: bool = True
    checkpoint: bool = True


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """A checked configuration, ready to run.

    Attributes:
        path: the configuration file.
        raw: the parsed TOML (plain dicts and lists; kept in the result as ``config``).
        model: the :class:`calib.Model`.
        data: dataset name -> ``xarray.Dataset`` (only the observed variables and their σ).
        weights: dataset name -> weight.
        parameters: the :class:`calib.Parameter` / :class:`calib.Tied` specs.
        options: the remaining keyword arguments of :func:`calib.fit` (from ``[fit]``).
        output: the ``[output]`` table.
    """

    path: pathlib.Path
    raw: dict
    model: Model
    data: dict
    weights: dict
    parameters: list
    options: dict
    output: Output

    def fit_arguments(self) -> dict:
        """``calib.fit(**arguments)`` without checkpoint, resume and progress (the command's)."""
        return dict(model=self.model, data=self.data, parameters=self.parameters,
                    weights=self.weights, config=self.raw, **self.options)


def read_config(path: str | pathlib.Path) -> FitConfig:
    """Parse and check the configuration at ``path``; raises :class:`ConfigError`."""
    path = pathlib.Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, 1, None, "the configuration file does not exist",
                          "give the path of a .toml file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(name, 1, None, f"the configuration file cannot be read ({error})",
                          "give the path of a UTF-8 .toml file") from None
    source = Source(name, path.resolve().parent, text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(name, error) from None
    return _build(source, raw, path)


def _syntax_error(name: str, error: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(error)
    # tomllib puts the position at the end of its message: "... (at line 3, column 9)".
    found = re.search(r"\(at line (\d+), column (\d+)\)\s*$", message)
    line = int(found.group(1)) if found else getattr(error, "lineno", 1)
    if found:
        message = f"{message[:found.start()].strip()} (column {found.group(2)})"
    return ConfigError(name, line, None, f"TOML syntax error: {message}",
                       "correct the syntax on that line (strings need quotes, tables [name], "
                       "keys key = value)")


# ---------------------------------------------------------------------------- value checks

def _describe(value) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _keys(src: Source, table: dict, path: tuple, allowed: tuple, what: str) -> None:
    """Every key of ``table`` must be one of ``allowed``; the closest one is suggested."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            fix = (f"did you mean {close[0]!r}?" if close else
                   f"{what} may hold: {', '.join(allowed)}")
            raise src.error(path + (key,), f"unknown key {key!r}", fix)


def _table(src: Source, value, path: tuple, fix: str) -> dict:
    if not isinstance(value, dict):
        raise src.error(path, f"expected a table, got {_describe(value)}", fix)
    return value


def _string(src: Source, value, path: tuple, fix: str, choices: tuple | None = None) -> str:
    if not isinstance(value, str):
        raise src.error(path, f"expected a string, got {_describe(value)}", fix)
    if choices is not None and value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise src.error(path, f"{value!r} is not known", f"{hint}choose one of: {', '.join(choices)}")
    return value


def _boolean(src: Source, value, path: tuple) -> bool:
    if not isinstance(value, bool):
        raise src.error(path, f"expected true or false, got {_describe(value)}",
                        "write true or false (lower case, no quotes)")
    return value


def _number(src: Source, value, path: tuple, *, minimum: float | None = None,
            strict: bool = False, maximum: float | None = None, integer: bool = False) -> float:
    kind = "an integer" if integer else "a number"
    example = "10" if integer else "1.0"
    if not _is_number(value) or (integer and not isinstance(value, int)):
        raise src.error(path, f"expected {kind}, got {_describe(value)}",
                        f"write e.g. {path[-1]} = {example} (no quotes)")
    if not math.isfinite(value):
        raise src.error(path, f"{value!r} is not finite", f"give {kind} that is finite")
    too_low = minimum is not None and (value < minimum or (strict and value == minimum))
    too_high = maximum is not None and (value > maximum or (strict and value == maximum))
    if too_low or too_high:
        if maximum is None:
            need = f"> {minimum}" if strict else f">= {minimum}"
        else:
            need = f"in ({minimum}, {maximum})" if strict else f"in [{minimum}, {maximum}]"
        raise src.error(path, f"{value!r} is out of range", f"it must be {need}")
    return value


def _string_table(src: Source, value, path: tuple, example: str) -> dict:
    table = _table(src, value, path, f"write e.g. {path[-1]} = {example}")
    for key, entry in table.items():
        _string(src, entry, path + (key,), f"write a units string, e.g. {path[-1]} = {example}")
    return dict(table)


def _string_list(src: Source, value, path: tuple, example: str) -> list:
    if isinstance(value, str):
        value = [value]  # one name is a list of one
    if not isinstance(value, list):
        raise src.error(path, f"expected a list of strings, got {_describe(value)}",
                        f"write e.g. {path[-1]} = {example}")
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise src.error(path, f"entry {i} is {_describe(entry)}, not a string",
                            f"write e.g. {path[-1]} = {example}")
    return list(value)


# ---------------------------------------------------------------------------- the tables

def _build(src: Source, raw: dict, path: pathlib.Path) -> FitConfig:
    _keys(src, raw, (), TOP_LEVEL, "the top level")
    if "model" not in raw:
        raise src.error(("model",), "the [model] table is missing",
                        'add [model] with function = "module:function" (or a built-in name)')
    model = _model(src, raw["model"])
    data, weights = _data(src, raw.get("data"))
    parameters = _parameters(src, raw.get("parameters"))
    options = _fit(src, raw.get("fit", {}), parameters)
    output = _output(src, raw.get("output", {}), path)
    return FitConfig(path=path, raw=raw, model=model, data=data, weights=weights,
                     parameters=parameters, options=options, output=output)


def _model(src: Source, table) -> Model:
    where = ("model",)
    table = _table(src, table, where, 'write [model] followed by function = "module:function"')
    _keys(src, table, where, MODEL_KEYS, "[model]")
    if "function" not in table:
        raise src.error(where + ("function",), "the model function is missing",
                        'add function = "module:function", "file.py:function" or a built-in name '
                        'such as "exponential_decay"')
    reference = _string(src, table["function"], where + ("function",),
                        'write function = "module:function"')
    try:
        fn = resolve(reference, src.folder)
    except ModelNotFound as error:
        raise src.error(where + ("function",), error.problem, error.fix) from None
    units = _string_table(src, table.get("units", {}), where + ("units",), '{ stress = "MPa" }')
    conditions = _string_table(src, table.get("conditions", {}), where + ("conditions",),
                               '{ strain = "1" }')
    warm_start = _boolean(src, table.get("warm_start", False), where + ("warm_start",))
    name = _string(src, table["name"], where + ("name",), 'write name = "my model"') \
        if "name" in table else reference
    try:
        return Model(fn, units=units, conditions=conditions, warm_start=warm_start, name=name)
    except CalibError as error:
        raise src.error(where + ("function",), str(error),
                        "give a function model(theta, conditions) (with warm_start = true: "
                        "model(theta, conditions, state))") from None


def _data(src: Source, tables) -> tuple[dict, dict]:
    if tables is None:
        raise src.error(("data",), "no [[data]] table",
                        'add at least one [[data]] table with file = "measurements.nc"')
    if isinstance(tables, dict):
        raise src.error(("data",), "[data] is a single table",
                        "write [[data]] (double brackets: one table per dataset)")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise src.error(("data",), f"expected [[data]] tables, got {_describe(tables)}",
                        'write [[data]] followed by file = "measurements.nc"')
    data, weights, names = {}, {}, {}
    for i, table in enumerate(tables):
        where = ("data", i)
        _keys(src, table, where, DATA_KEYS, "a [[data]] table")
        name, dataset, weight = _dataset(src, table, where)
        if name in names:
            raise src.error(where + ("name",), f"data[{names[name]}] is named {name!r} too",
                            "give each [[data]] table its own name = \"...\"")
        names[name] = i
        data[name], weights[name] = dataset, weight
    return data, weights


def _dataset(src: Source, table: dict, where: tuple) -> tuple[str, xr.Dataset, float]:
    if "file" not in table:
        raise src.error(where + ("file",), "the data file is missing",
                        'add file = "measurements.nc" (relative to the configuration file)')
    file = _string(src, table["file"], where + ("file",), 'write file = "measurements.nc"')
    resolved = (src.folder / file).resolve()
    if not resolved.is_file():
        raise src.error(where + ("file",), f"the data file {str(resolved)!r} does not exist",
                        "name a NetCDF (.nc) or CSV (.csv) file relative to the configuration file")
    csv = resolved.suffix.lower() == ".csv"
    name = _string(src, table["name"], where + ("name",), 'write name = "tension"') \
        if "name" in table else None
    try:
        if csv:
            for key in ("units", "coords"):
                if key not in table:
                    raise src.error(where + (key,), f"a CSV file needs {key!r}",
                                    'add units = { strain = "1", stress = "MPa" } and '
                                    'coords = ["strain"]')
            units = _string_table(src, table["units"], where + ("units",),
                                  '{ strain = "1", stress = "MPa" }')
            coords = _string_list(src, table["coords"], where + ("coords",), '["strain"]')
            sigma = _sigma(src, table.get("sigma", {}), where + ("sigma",))
            dataset = from_csv(resolved, units=units, coords=coords, sigma=sigma or None, name=name)
        else:
            extra = [key for key in CSV_KEYS if key in table]
            if extra:
                raise src.error(where + (extra[0],), f"{extra[0]!r} is only read for a .csv file",
                                "a NetCDF file carries its own units, coordinates and "
                                "uncertainties; remove the key")
            dataset = load(resolved)
    except ConfigError:
        raise
    except CalibError as error:
        raise src.error(where + ("file",), str(error), "fix the file or this [[data]] table") from None
    if name is None:
        stored = dataset.attrs.get("name")
        name = stored if isinstance(stored, str) and stored else resolved.stem
    weight = _number(src, table.get("weight", 1.0), where + ("weight",), minimum=0.0, strict=True)
    if "variables" in table:
        variables = _string_list(src, table["variables"], where + ("variables",), '["stress"]')
        dataset = _observed_only(src, dataset, variables, where + ("variables",))
    else:
        variables = None
    try:  # checked now, so that a bad file is reported with its [[data]] table's line
        prepare(dataset, name=name, weight=weight, variables=variables)
    except CalibError as error:
        raise src.error(where + ("file",), str(error),
                        "see docs/concepts/data_conventions.md for what a dataset must hold") from None
    return name, dataset, float(weight)


def _sigma(src: Source, value, path: tuple) -> dict:
    table = _table(src, value, path, 'write e.g. sigma = { stress = "stress_sigma" } or { stress = 2.0 }')
    for key, entry in table.items():
        if not (isinstance(entry, str) or _is_number(entry)):
            raise src.error(path + (key,), f"expected a column name or a number, got {_describe(entry)}",
                            'write e.g. sigma = { stress = "stress_sigma" } or { stress = 2.0 }')
    return dict(table)


def _observed_only(src: Source, dataset: xr.Dataset, variables: list, path: tuple) -> xr.Dataset:
    """The dataset with only ``variables`` and their uncertainty variables as data variables."""
    available = [str(v) for v in dataset.data_vars]
    for variable in variables:
        if variable not in available:
            close = difflib.get_close_matches(variable, available, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise src.error(path, f"{variable!r} is not a data variable of the file",
                            f"{hint}its data variables are: {', '.join(available)}")
    keep = set(variables)
    for variable in variables:
        keep.update(str(dataset[variable].attrs.get("ancillary_variables", "")).split())
        keep.add(f"{variable}_sigma")
    return dataset.drop_vars([v for v in available if v not in keep])


def _parameters(src: Source, tables) -> list:
    where = ("parameters",)
    if tables is None:
        raise src.error(where, "no parameters", "add a [parameters.NAME] table with value = ... "
                        "for each parameter of the model")
    tables = _table(src, tables, where, "write one [parameters.NAME] table per parameter")
    found: list[tuple[str, tuple, dict]] = []
    _collect(src, tables, where, (), found)
    if not found:
        raise src.error(where, "no parameters", "add a [parameters.NAME] table with value = ...")
    specs = [_spec(src, name, path, table) for name, path, table in found]
    known = {spec.name for spec in specs}
    for spec, (_, path, _) in zip(specs, found):
        if isinstance(spec, Tied):
            unknown = [n for n in spec.depends_on if n not in known]
            if unknown:
                close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise src.error(path + ("tied",), f"the expression uses {unknown[0]!r}, which is "
                                "not a parameter", f"{hint}the parameters are: {', '.join(sorted(known))}")
    return specs


def _collect(src: Source, table: dict, path: tuple, prefix: tuple, found: list) -> None:
    """Find parameter tables: ``[parameters.E]``, ``[parameters."clay.E"]`` and, nested,
    ``[parameters.clay.E]`` (a table whose entries are all tables and none a spec key groups
    parameters under a dotted prefix)."""
    for key, value in table.items():
        here = path + (key,)
        if not isinstance(value, dict):
            raise src.error(here, f"expected a [parameters.{key}] table, got {_describe(value)}",
                            f"write [parameters.{key}] followed by value = ...")
        is_group = value and all(isinstance(v, dict) for v in value.values()) \
            and not any(k in PARAMETER_KEYS for k in value)
        if is_group:
            _collect(src, value, here, prefix + (key,), found)
        else:
            found.append((".".join(prefix + (key,)), here, value))


def _spec(src: Source, name: str, path: tuple, table: dict):
    _keys(src, table, path, PARAMETER_KEYS, "a parameter table")
    units = _string(src, table["units"], path + ("units",), 'write units = "GPa"') \
        if "units" in table else None
    description = _string(src, table["description"], path + ("description",),
                          'write description = "..."') if "description" in table else ""
    try:
        if "tied" in table:
            for key in table:
                if key not in TIED_KEYS:
                    raise src.error(path + (key,), f"{key!r} together with 'tied'",
                                    "a tied parameter is computed from the others: remove "
                                    f"{key!r}, or remove 'tied' to fit the parameter")
            expression = _string(src, table["tied"], path + ("tied",), 'write tied = "2 * s"')
            try:
                return Tied(name, expression, units=units, description=description)
            except CalibError as error:
                raise src.error(path + ("tied",), str(error), "write e.g. tied = \"2 * s\"") from None
        if "value" not in table:
            raise src.error(path + ("value",), "the initial value is missing",
                            "add value = ... (or tied = \"expression\" for a parameter computed "
                            "from others)")
        value = _value(src, table["value"], path + ("value",))
        bounds = _bounds(src, table["bounds"], path + ("bounds",)) if "bounds" in table else None
        if bounds is not None and (np.any(value < bounds[0]) or np.any(value > bounds[1])):
            raise src.error(path + ("value",), f"{table['value']!r} lies outside bounds "
                            f"[{bounds[0]:g}, {bounds[1]:g}]", "start inside the bounds")
        transform = _string(src, table["transform"], path + ("transform",),
                            'write transform = "log"', TRANSFORMS) if "transform" in table else None
        fixed = _boolean(src, table.get("fixed", False), path + ("fixed",))
        prior = _prior(src, table["prior"], path + ("prior",)) if "prior" in table else None
        return Parameter(name, value, bounds=bounds, transform=transform, units=units, fixed=fixed,
                         prior=prior, description=description)
    except ConfigError:
        raise
    except CalibError as error:
        raise src.error(path, str(error), "correct this parameter's table") from None


def _value(src: Source, value, path: tuple):
    fix = "write value = 1.0, or a list of numbers [1.0, 2.0] for a vector parameter"
    if _is_number(value):
        if not math.isfinite(value):
            raise src.error(path, f"{value!r} is not finite", "give a finite initial value")
        return float(value)
    if isinstance(value, list):
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise src.error(path, "expected numbers (a rectangular list of them)", fix) from None
        if array.size == 0 or not all(_is_number(v) for v in np.ravel(np.asarray(value, dtype=object))):
            raise src.error(path, "expected a non-empty list of numbers", fix)
        if not np.all(np.isfinite(array)):
            raise src.error(path, "the list holds a value that is not finite", "give finite values")
        return array
    raise src.error(path, f"expected a number, got {_describe(value)}", fix)


def _bounds(src: Source, value, path: tuple) -> tuple[float, float]:
    fix = "write bounds = [lower, upper], e.g. [1.0, 1000.0]; inf or -inf (no quotes) for no bound"
    if not isinstance(value, list) or len(value) != 2:
        got = f"a list of {len(value)}" if isinstance(value, list) else _describe(value)
        raise src.error(path, f"expected [lower, upper], got {got}", fix)
    for entry in value:
        if isinstance(entry, str):
            raise src.error(path, f"bound {entry!r} is a string, not a number", fix)
        if not _is_number(entry):
            raise src.error(path, f"bound {_describe(entry)} is not a number", fix)
        if math.isnan(entry):
            raise src.error(path, "a bound is nan", fix)
    lower, upper = (float(v) for v in value)
    if not lower < upper:
        raise src.error(path, f"lower bound {lower:g} is not below the upper bound {upper:g}", fix)
    return lower, upper


def _prior(src: Source, value, path: tuple) -> tuple[float, float]:
    table = _table(src, value, path, "write prior = { mean = 200.0, sigma = 20.0 }")
    _keys(src, table, path, ("mean", "sigma"), "a prior")
    for key in ("mean", "sigma"):
        if key not in table:
            raise src.error(path + (key,), f"the prior's {key} is missing",
                            "write prior = { mean = 200.0, sigma = 20.0 }")
    mean = _number(src, table["mean"], path + ("mean",))
    sigma = _number(src, table["sigma"], path + ("sigma",), minimum=0.0, strict=True)
    return float(mean), float(sigma)


def _fit(src: Source, table, parameters: list) -> dict:
    where = ("fit",)
    table = _table(src, table, where, "write [fit] followed by optimizer = \"trf\"")
    _keys(src, table, where, FIT_KEYS, "[fit]")
    options: dict[str, Any] = {}
    for key, value in table.items():
        here = where + (key,)
        if key == "optimizer":
            options[key] = _string(src, value, here, 'write optimizer = "trf"', OPTIMIZERS)
        elif key == "loss":
            options[key] = _string(src, value, here, 'write loss = "linear"', LOSSES)
        elif key == "jacobian":
            options[key] = _string(src, value, here, 'write jacobian = "auto"', JACOBIANS)
        elif key in ("relative_weights", "absolute_sigma"):
            options[key] = _boolean(src, value, here)
        elif key in ("loss_scale", "learning_rate"):
            options[key] = float(_number(src, value, here, minimum=0.0, strict=True))
        elif key in ("ftol", "xtol", "gtol"):
            options[key] = float(_number(src, value, here, minimum=0.0))
        elif key in ("max_iterations", "max_rejections"):
            options[key] = _number(src, value, here, minimum=1, integer=True)
        elif key == "confidence":
            options[key] = float(_number(src, value, here, minimum=0.0, maximum=1.0, strict=True))
        elif key == "profile":
            options[key] = _profile(src, value, here, parameters)
    if "optimizer" in options or "loss" in options:
        try:
            check_optimizer(options.get("optimizer", "trf"), options.get("loss", "linear"))
        except CalibError as error:
            raise src.error(where + ("optimizer",), str(error), "change optimizer or loss") from None
    if "adjoint_options" in table and "adjoint" not in table:
        raise src.error(where + ("adjoint_options",), "adjoint_options without an adjoint",
                        'add adjoint = "implicit" (or unrolled, truncated, checkpointed, neumann)')
    if "adjoint" in table:
        options["adjoint"] = _adjoint(src, table["adjoint"], table.get("adjoint_options", {}))
    return options


def _profile(src: Source, value, path: tuple, parameters: list) -> list:
    names = _string_list(src, value, path, '["E", "s"]')
    free = [p.name for p in parameters if isinstance(p, Parameter) and not p.fixed]
    for name in names:
        if name not in free:
            raise src.error(path, f"{name!r} is not a free parameter",
                            f"profile only free parameters: {', '.join(free) or 'none'}")
    return names


def _adjoint(src: Source, name, options):
    path = ("fit", "adjoint")
    cls = ADJOINTS[_string(src, name, path, 'write adjoint = "implicit"', tuple(ADJOINTS))]
    here = ("fit", "adjoint_options")
    options = dict(_table(src, options, here, "write [fit.adjoint_options] followed by e.g. steps = 200"))
    fields = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    allowed = fields + (("linear_solver_options",) if "linear_solver" in fields else ())
    _keys(src, options, here, allowed, f"[fit.adjoint_options] of {name!r}")
    if "linear_solver" in options:
        solver = LINEAR_SOLVERS[_string(src, options["linear_solver"], here + ("linear_solver",),
                                        'write linear_solver = "cg"', tuple(LINEAR_SOLVERS))]
        solver_options = _table(src, options.pop("linear_solver_options", {}),
                                here + ("linear_solver_options",),
                                "write linear_solver_options = { tol = 1e-10, max_steps = 500 }")
        try:
            options["linear_solver"] = solver(**solver_options)
        except (CalibError, TypeError, ValueError) as error:
            raise src.error(here + ("linear_solver_options",), str(error),
                            f"see the options of calib.{solver.__name__}") from None
    elif "linear_solver_options" in options:
        raise src.error(here + ("linear_solver_options",), "linear_solver_options without a linear_solver",
                        'add linear_solver = "cg" (or "minres", "dense")')
    try:
        return cls(**options)
    except (CalibError, TypeError, ValueError) as error:
        raise src.error(here, str(error), f"see the options of calib.{cls.__name__}") from None


def _output(src: Source, table, path: pathlib.Path) -> Output:
    where = ("output",)
    table = _table(src, table, where, 'write [output] followed by folder = "results"')
    _keys(src, table, where, OUTPUT_KEYS, "[output]")
    folder = _string(src, table["folder"], where + ("folder",), 'write folder = "results/fit"') \
        if "folder" in table else f"{path.stem}_results"
    return Output(folder=(src.folder / folder).resolve(),
                  plots=_boolean(src, table.get("plots", True), where + ("plots",)),
                  checkpoint=_boolean(src, table.get("checkpoint", True), where + ("checkpoint",)))
