"""Units: one pint registry for the package, and checked conversion factors between unit strings.

Units are strings everywhere in the package (a ``units`` attribute of a dataset variable, a model's
declared output units); pint only parses them and gives conversion factors. Values stay plain
float64 arrays, so nothing downstream (JAX included) ever sees a pint quantity.
"""

from __future__ import annotations

import functools

import pint

from .._errors import CalibTypeError, CalibValueError

# One registry for the whole package: units from two registries cannot be compared, and building one
# takes a noticeable fraction of a second.
ureg = pint.UnitRegistry()

# Names of familiar dimensions, for messages: "give the uncertainty in units of pressure" helps more
# than "[mass] / [length] / [time] ** 2". Several names may share a dimensionality; the first wins.
_KIND_EXAMPLES = (
    ("dimensionless", "1"), ("length", "m"), ("mass", "kg"), ("time", "s"), ("temperature", "K"),
    ("energy", "J"), ("pressure", "Pa"), ("force", "N"), ("area", "m**2"), ("volume", "m**3"),
    ("energy per area", "J/m**2"), ("mass density", "kg/m**3"), ("velocity", "m/s"),
    ("frequency", "Hz"), ("angle", "radian"),
)
_KINDS = {}
for _kind, _example in _KIND_EXAMPLES:
    _KINDS.setdefault(ureg.get_dimensionality(_example), _kind)


def parse_units(units, *, what: str) -> pint.Unit:
    """The pint unit of the string ``units``; a :class:`CalibValueError` naming ``what`` if it does not parse.

    ``""`` is refused although pint reads it as dimensionless: an empty ``units`` attribute is more
    often a forgotten unit than a pure number, and CF writes pure numbers as ``"1"``.
    """
    if not isinstance(units, str):
        raise CalibTypeError(f"{what}: units must be a string such as 'GPa' or '1', got {units!r} "
                             f"({type(units).__name__})")
    if not units.strip():
        raise CalibValueError(f"{what}: units '' is empty; write '1' (or 'dimensionless') for a pure "
                              f"number, otherwise the unit, e.g. 'GPa'")
    try:
        return ureg.parse_units(units)
    except Exception as error:  # pint raises its own errors, ValueError, and tokenizer errors
        raise CalibValueError(f"{what}: units {units!r} did not parse ({type(error).__name__}: {error}); "
                              f"use a unit string pint understands, e.g. 'GPa', 'eV/angstrom**3', "
                              f"'angstrom', or '1' for a pure number") from None


def dimension(units: str) -> str:
    """The dimensionality of a unit string, compactly: ``'GPa' -> '[mass]/[length]/[time]**2'``."""
    return str(ureg.get_dimensionality(units)).replace(" ", "")


def kind(units: str) -> str:
    """A familiar name for the dimension of ``units`` (``'GPa' -> 'pressure'``), else the dimension."""
    dim = ureg.get_dimensionality(units)
    return _KINDS.get(dim, f"dimension {dimension(units)}")


def conversion(from_units: str, to_units: str, *, what: str) -> tuple[float, float]:
    r"""Factors that convert a value from ``from_units`` to ``to_units``.

    Returns ``(scale, offset)`` with :math:`v_\text{to} = \text{scale}\,v_\text{from} + \text{offset}`.
    ``offset`` is exactly 0 unless a unit is affine (``degC``, ``degF``); a *difference* of values,
    such as an uncertainty, converts with ``scale`` alone.

    Args:
        from_units, to_units: pint unit strings (``"GPa"``, ``"eV/angstrom**3"``, ``"1"``).
        what: what is being converted, for messages, e.g. ``"dataset 'lattice', variable 'a'"``.

    Raises:
        CalibValueError: a string does not parse (the message says which), or the dimensions differ
            (the message gives both).
    """
    return _conversion(_checked(from_units, what), _checked(to_units, what), what)


def _checked(units, what: str) -> str:
    parse_units(units, what=what)
    return units


@functools.lru_cache(maxsize=256)  # the same few pairs are converted again and again
def _conversion(from_units: str, to_units: str, what: str) -> tuple[float, float]:
    from_dim, to_dim = ureg.get_dimensionality(from_units), ureg.get_dimensionality(to_units)
    if from_dim != to_dim:
        raise CalibValueError(
            f"{what}: cannot convert {from_units!r} to {to_units!r}: dimension {dimension(from_units)} "
            f"vs {dimension(to_units)} ({kind(from_units)} vs {kind(to_units)}); give the values in "
            f"units of {kind(to_units)}, e.g. {to_units!r}")
    quantity = ureg.Quantity
    try:
        # Zero maps to the offset, one to scale + offset: exact for multiplicative units (offset is
        # 0.0 exactly), and correct for affine ones.
        offset = float(quantity(0.0, from_units).to(to_units).magnitude)
        scale = float(quantity(1.0, from_units).to(to_units).magnitude) - offset
    except pint.PintError as error:  # e.g. delta_degC -> degC, which pint does not define
        raise CalibValueError(f"{what}: cannot convert {from_units!r} to {to_units!r} ({error}); "
                              f"give the values in {to_units!r} directly") from None
    return scale, offset
