"""Numeric options as traced data: changing a tolerance does not recompile.

Solvers, adjoints and linear solvers are frozen dataclasses, passed to ``jit`` as static arguments
(they choose the algorithm). Their *numbers* — tolerances, step sizes, trust radii — only enter the
arithmetic, so they are split off and passed as arrays: ``LBFGS(tol=1e-6)`` and ``LBFGS(tol=1e-9)``
then share one compiled solve. Each class lists those fields in its ``traced_options`` class
attribute; counts (``max_steps``, ``history``, …) fix shapes and loop lengths and stay static, and an
option that is ``None`` (a feature switched off) stays static too. A field holding a nested options
object (``Implicit.linear_solver``) is split recursively; a field holding an array (a fixed
null-space basis) is always traced.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
from typing import Any

import jax
import numpy as np

from ._closure import convert, rebuild


class _Traced:
    """Placeholder left in the static object where a traced value was taken out."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "<traced>"

    def __reduce__(self):
        return (_Traced, ())


TRACED = _Traced()


class _Converted:
    """Placeholder for a closure-converted callable option (equal when the closures are)."""

    __slots__ = ("skeleton",)

    def __init__(self, skeleton):
        self.skeleton = skeleton

    def __eq__(self, other):
        return isinstance(other, _Converted) and other.skeleton == self.skeleton

    def __hash__(self):
        return hash(self.skeleton)

    def __repr__(self):
        return "<closure>"


def _is_array(value) -> bool:
    return isinstance(value, (jax.Array, np.ndarray)) and not isinstance(value, bool)


def split_options(obj: Any) -> tuple[Any, dict]:
    """``(static, values)``: ``obj`` with its traced options replaced by a placeholder (hashable, so
    equal up to those numbers means equal), and the options as a dict of arrays (nested dicts for
    nested option objects)."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj, {}
    names = set(getattr(obj, "traced_options", ()))
    values: dict = {}
    replaced: dict = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            static, inner = split_options(value)
            if inner:
                values[field.name] = inner
                replaced[field.name] = static
        elif field.name in names and value is not None and not isinstance(value, bool):
            # A Python float enters jit weakly typed, so a float32 solve stays float32.
            values[field.name] = float(value) if np.ndim(value) == 0 else value
            replaced[field.name] = TRACED
        elif _is_array(value):
            values[field.name] = value
            replaced[field.name] = TRACED
        elif isinstance(value, (types.FunctionType, functools.partial)):
            # e.g. a null-space basis given as `lambda x: basis`: its arrays become data.
            skeleton, arrays = convert(value)
            if arrays:
                values[field.name] = arrays
                replaced[field.name] = _Converted(skeleton)
    if not replaced:
        return obj, {}
    static = copy.copy(obj)
    for name, value in replaced.items():
        object.__setattr__(static, name, value)
    return static, values


def merge_options(static: Any, values: dict) -> Any:
    """Inverse of :func:`split_options` (inside ``jit``: the values are tracers). No validation is
    re-run: the values were checked when the object was built."""
    if not values:
        return static
    merged = copy.copy(static)
    for name, value in values.items():
        placeholder = getattr(static, name)
        if isinstance(placeholder, _Converted):
            value = rebuild(placeholder.skeleton, value)
        elif isinstance(value, dict):
            value = merge_options(placeholder, value)
        object.__setattr__(merged, name, value)
    return merged


# Defaults that depend on the precision of the state: a tolerance below the round-off of the
# arithmetic can never be met (in float32 the float64 defaults made every solve and every adjoint
# report a failure). Keyed by the number of bits of the floating type.
_FORCE_TOLERANCE = {64: 1e-8, 32: 1e-4, 16: 1e-2}
_LINEAR_TOLERANCE = {64: 1e-10, 32: 1e-5, 16: 1e-2}


def _bits(dtype) -> int:
    return int(np.finfo(np.dtype(dtype)).bits)


def default_force_tolerance(dtype) -> float:
    """Default ``max |dE/dx|`` tolerance of the solvers for a state of ``dtype``
    (1e-8 in float64, 1e-4 in float32, 1e-2 in 16-bit floats)."""
    return _FORCE_TOLERANCE.get(_bits(dtype), 1e-8)


def default_linear_tolerance(dtype) -> float:
    """Default relative residual of the adjoint linear solvers for ``dtype``
    (1e-10 in float64, 1e-5 in float32, 1e-2 in 16-bit floats)."""
    return _LINEAR_TOLERANCE.get(_bits(dtype), 1e-10)
