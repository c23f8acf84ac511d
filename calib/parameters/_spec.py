"""Named parameter specifications: what the fit may move, within which range, with which prior."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

import numpy as np

from .._errors import CalibTypeError, CalibValueError
from ._expression import Expression

# A path of identifiers separated by dots: "D", "clay.E", "layer_1.k".
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_path(name: Any) -> str:
    if not isinstance(name, str) or not _PATH.match(name):
        raise CalibValueError(
            f"parameter name {name!r} is not a path of identifiers separated by dots (e.g. 'D' or "
            "'clay.E'); nested theta {'clay': {'E': ...}} is addressed as 'clay.E'")
    return name


@dataclasses.dataclass(frozen=True)
class Parameter:
    r"""One named parameter of the model.

    Attributes:
        name: a path: ``"D"``, or ``"clay.E"`` for the entry ``theta["clay"]["E"]`` of a nested θ.
        value: initial value (a number, or an array for a vector parameter), in ``units``.
        bounds: ``(lower, upper)``; either may be ``None``/±inf. Enforced by the optimiser (``trf``,
            ``lbfgsb``) or by a transform (the others).
        transform: ``None`` (chosen from the bounds and the optimiser), ``"identity"``, ``"log"``
            (positive, steps are relative), ``"upper-log"`` or ``"bounded"`` (logistic map onto
            the bounds). See :mod:`calib.parameters._transforms`.
        units: the units ``value`` is in (a pint string such as ``"eV"``); the model receives the
            value in these units, and the result reports them.
        fixed: held at ``value``; not fitted.
        prior: ``(mean, sigma)`` of a Gaussian prior in ``units``; the fit is then a MAP estimate
            (the prior adds :math:`((\theta-\mu)/\sigma)^2` to the objective).
        description: free text, kept in the result.
    """

    name: str
    value: Any
    bounds: tuple | None = None
    transform: str | None = None
    units: str | None = None
    fixed: bool = False
    prior: tuple | None = None
    description: str = ""

    def __post_init__(self):
        check_path(self.name)
        try:
            value = np.asarray(self.value, dtype=float)
        except (TypeError, ValueError):
            raise CalibTypeError(f"parameter {self.name!r}: value must be a number or an array of "
                                 f"numbers, got {self.value!r}") from None
        if not np.all(np.isfinite(value)):
            raise CalibValueError(f"parameter {self.name!r}: initial value {self.value!r} is not finite")
        object.__setattr__(self, "value", value if value.ndim else float(value))
        lower, upper = self.lower, self.upper
        if not lower < upper:
            raise CalibValueError(f"parameter {self.name!r}: bounds {self.bounds!r} need lower < upper")
        if np.any(value < lower) or np.any(value > upper):
            raise CalibValueError(f"parameter {self.name!r}: initial value {self.value!r} lies outside "
                                  f"its bounds ({lower:g}, {upper:g}); start inside them")
        if self.prior is not None:
            try:
                mean, sigma = (float(v) for v in self.prior)
            except (TypeError, ValueError):
                raise CalibTypeError(f"parameter {self.name!r}: prior must be (mean, sigma), got "
                                     f"{self.prior!r}") from None
            if not (math.isfinite(mean) and math.isfinite(sigma) and sigma > 0):
                raise CalibValueError(f"parameter {self.name!r}: prior (mean, sigma) = {self.prior!r} "
                                      "needs a finite mean and sigma > 0")
            object.__setattr__(self, "prior", (mean, sigma))
        if self.units is not None and not isinstance(self.units, str):
            raise CalibTypeError(f"parameter {self.name!r}: units must be a string such as 'eV', got "
                                 f"{self.units!r}")

    @property
    def lower(self) -> float:
        return _bound(self.bounds, 0, -np.inf, self.name)

    @property
    def upper(self) -> float:
        return _bound(self.bounds, 1, np.inf, self.name)

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.value)


@dataclasses.dataclass(frozen=True)
class Tied:
    """A parameter given as a function of others (not fitted; its uncertainty is not reported).

    Attributes:
        name: its path, as for :class:`Parameter`.
        expression: either a callable ``values -> value`` taking a mapping from parameter path to
            value (JAX-traceable), or a string such as ``"clay.nu"`` or ``"2 * clay.E"`` (numbers,
            paths, ``+ - * / **``, parentheses, ``exp log sqrt abs``), the form a configuration file
            uses.
        units: the units of the value, for the report.
    """

    name: str
    expression: Callable | str
    units: str | None = None
    description: str = ""

    def __post_init__(self):
        check_path(self.name)
        if isinstance(self.expression, str):
            object.__setattr__(self, "expression", Expression(self.expression, where=self.name))
        elif not callable(self.expression):
            raise CalibTypeError(f"tied parameter {self.name!r}: expression must be a callable or a "
                                 f"string such as '2 * clay.E', got {self.expression!r}")

    @property
    def depends_on(self) -> tuple[str, ...] | None:
        """Paths the expression reads (None for a callable: unknown until it runs)."""
        return self.expression.names if isinstance(self.expression, Expression) else None


def _bound(bounds, index, default, name):
    if bounds is None:
        return default
    try:
        value = bounds[index]
    except (TypeError, IndexError):
        raise CalibTypeError(f"parameter {name!r}: bounds must be (lower, upper), got {bounds!r}") from None
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise CalibTypeError(f"parameter {name!r}: bound {value!r} is not a number") from None
    if math.isnan(value):
        raise CalibValueError(f"parameter {name!r}: bound is NaN; use None for no bound")
    return value
