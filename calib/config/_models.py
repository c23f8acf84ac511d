"""Models a configuration file can name: built-in closed forms, or ``module:function`` of the user.

``function = "exponential_decay"`` picks an entry of :data:`MODELS` (add your own with
:func:`register_model`); ``function = "mypackage.models:stress_strain"`` imports a module (from
``sys.path`` or the configuration file's folder); ``function = "models.py:stress_strain"`` loads a
Python file named relative to the configuration file.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import pathlib
import sys
from typing import Callable

import jax.numpy as jnp


def exponential_decay(theta, conditions):
    r"""``y = A exp(-k t) + c``: parameters ``A``, ``k``, ``c``; coordinate ``t``; variable ``y``."""
    return {"y": theta["A"] * jnp.exp(-theta["k"] * conditions["t"]) + theta["c"]}


def straight_line(theta, conditions):
    r"""``y = slope x + intercept``: parameters ``slope``, ``intercept``; coordinate ``x``; variable ``y``."""
    return {"y": theta["slope"] * conditions["x"] + theta["intercept"]}


#: Built-in models by name: closed forms for tests and first trials of a configuration.
MODELS: dict[str, Callable] = {"exponential_decay": exponential_decay, "straight_line": straight_line}


def register_model(name: str, fn: Callable) -> None:
    """Make ``fn(theta, conditions)`` available to configuration files as ``function = name``."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"register_model: name must be a non-empty string without ':', got {name!r}")
    if not callable(fn):
        raise TypeError(f"register_model: fn must be callable(theta, conditions), got {fn!r}")
    MODELS[name] = fn


class ModelNotFound(Exception):
    """Why a ``function`` entry does not name a model: ``problem`` and ``fix`` of a config error."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def resolve(reference: str, folder: pathlib.Path) -> Callable:
    """The callable named by ``reference``; raises :class:`ModelNotFound` with the fix."""
    if ":" not in reference:
        if reference in MODELS:
            return MODELS[reference]
        close = difflib.get_close_matches(reference, MODELS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ModelNotFound(f"{reference!r} is not a built-in model (built-in: "
                            f"{', '.join(sorted(MODELS)) or 'none'})",
                            f"{hint}name a built-in, or a function of yours as 'module:function' or "
                            "'file.py:function'")
    module_name, _, attribute = reference.rpartition(":")
    if not module_name or not attribute:
        raise ModelNotFound(f"{reference!r} is not of the form 'module:function'",
                            "write e.g. 'mypackage.models:stress_strain' or 'models.py:stress_strain'")
    module = _load_file(module_name, folder) if module_name.endswith(".py") else \
        _import(module_name, folder)
    fn = getattr(module, attribute, None)
    if fn is None or not callable(fn):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                 and getattr(v, "__module__", None) == module.__name__]
        close = difflib.get_close_matches(attribute, names, n=1)
        what = "has no function" if fn is None else "has a non-callable"
        kind = "the model file" if module_name.endswith(".py") else "module"
        raise ModelNotFound(f"{kind} {module_name!r} {what} {attribute!r} (its functions: "
                            f"{', '.join(sorted(names)) or 'none'})",
                            (f"did you mean {close[0]!r}?" if close else
                             "define model(theta, conditions) there, or name another module"))
    return fn


def _load_file(relative: str, folder: pathlib.Path):
    path = (folder / relative).resolve()
    if not path.is_file():
        raise ModelNotFound(f"the model file {str(path)!r} does not exist",
                            "name a .py file relative to the configuration file's folder")
    # A name derived from the full path: two configurations with their own models.py never share
    # (or overwrite) one module in sys.modules.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"calib_config_model_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ModelNotFound(f"running {str(path)!r} raised {type(error).__name__}: {error}",
                            "fix the model file") from None
    return module


def _import(module_name: str, folder: pathlib.Path):
    # The configuration's folder is searched too (after sys.path), so a models.py beside it works
    # without installing anything.
    added = str(folder.resolve())
    appended = added not in sys.path
    if appended:
        sys.path.append(added)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name) and (
                module_name == error.name or module_name.startswith(error.name + ".")):
            raise ModelNotFound(f"module {module_name!r} is not found (searched sys.path and "
                                f"{added!r})", "install it, or name a file as 'models.py:function' "
                                "relative to the configuration file") from None
        raise ModelNotFound(f"importing {module_name!r} raised ModuleNotFoundError: {error}",
                            "install the module it needs") from None
    except Exception as error:
        raise ModelNotFound(f"importing {module_name!r} raised {type(error).__name__}: {error}",
                            "fix the module") from None
    finally:
        if appended:
            sys.path.remove(added)
