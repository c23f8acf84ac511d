"""Closure conversion: a function's closed-over arrays become inputs, the rest a hashable key.

``jax.jit`` caches a compiled function by its static arguments, and a function is hashed by
identity: ``equilibrium(lambda x, th: energy(x, th, data), ...)`` in a loop would compile afresh on
every call, and the closed-over ``data`` would be baked into the program as a constant (slow to
compile for large arrays, and invisible to differentiation). :func:`convert` splits a callable into

* a :class:`Skeleton`: its code, globals and every closed-over *non-array* value (compared by
  value where hashable, by identity otherwise), so two closures made by the same code over the
  same objects are equal, and
* its closed-over arrays, passed to the compiled function as ordinary (traced, differentiable)
  inputs.

Plain functions, ``functools.partial`` objects and bound methods are converted, recursively into
the functions they close over; other callables are kept whole. This plays the part of
``equinox.filter_closure_convert`` in optimistix, without tracing the function first.
"""

from __future__ import annotations

import functools
import types
from typing import Any, Callable

import jax
import numpy as np

_MAX_DEPTH = 8


def _is_array(value) -> bool:
    return isinstance(value, (jax.Array, np.ndarray)) or isinstance(value, jax.core.Tracer)


class _ById:
    """An unhashable value, compared by identity."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, _ById) and other.value is self.value

    def __hash__(self):
        return id(self.value)


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return _ById(value)
    return value


class Skeleton:
    """A callable with its arrays taken out; equal skeletons rebuild equal functions."""

    __slots__ = ("kind", "key", "parts", "_hash")

    def __init__(self, kind: str, key: tuple, parts: tuple):
        self.kind = kind  # "function", "partial", "method", "value" or "tree"
        self.key = key  # hashable identity of what is static
        self.parts = parts  # what rebuild needs (compared through key)
        self._hash = hash((kind, key))

    def __eq__(self, other):
        return isinstance(other, Skeleton) and self.kind == other.kind and self.key == other.key

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"Skeleton({self.kind})"


def _convert_value(value, depth: int) -> tuple[Skeleton, list]:
    """Any closed-over value: arrays out, functions converted, containers walked."""
    if callable(value) and not _is_array(value) and depth < _MAX_DEPTH and (
            isinstance(value, (types.FunctionType, functools.partial, types.MethodType))):
        return convert(value, depth + 1)
    leaves, treedef = jax.tree_util.tree_flatten(value)
    if not any(_is_array(leaf) or callable(leaf) for leaf in leaves) or treedef.num_leaves == 0:
        return Skeleton("value", (_hashable(value),), (value,)), []
    if len(leaves) == 1 and treedef.num_nodes == 1:  # a leaf itself
        if _is_array(value):
            return Skeleton("array", (), ()), [value]
        return Skeleton("value", (_hashable(value),), (value,)), []
    skeletons, arrays = [], []
    for leaf in leaves:
        skeleton, inner = _convert_value(leaf, depth + 1)
        skeletons.append(skeleton)
        arrays.extend(inner)
    return Skeleton("tree", (treedef, tuple(skeletons)), (treedef, tuple(skeletons))), arrays


def convert(fn: Callable, depth: int = 0) -> tuple[Skeleton, list]:
    """``(skeleton, arrays)`` of the callable ``fn``; :func:`rebuild` inverts it."""
    if isinstance(fn, functools.partial):
        func = _convert_value(fn.func, depth + 1)
        args = _convert_value(tuple(fn.args), depth + 1)
        keywords = _convert_value(dict(fn.keywords), depth + 1)
        parts = (func[0], args[0], keywords[0])
        return Skeleton("partial", parts, parts), func[1] + args[1] + keywords[1]
    if isinstance(fn, types.MethodType):
        owner = _convert_value(fn.__self__, depth + 1)
        func = _convert_value(fn.__func__, depth + 1)
        parts = (owner[0], func[0])
        return Skeleton("method", parts, parts), owner[1] + func[1]
    if isinstance(fn, types.FunctionType) and fn.__closure__:
        cells, arrays = [], []
        for cell in fn.__closure__:
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell (a name bound later): keep the cell itself
                cells.append(Skeleton("cell", (_ById(cell),), (cell,)))
                continue
            skeleton, inner = _convert_value(content, depth + 1)
            cells.append(skeleton)
            arrays.extend(inner)
        key = (fn.__code__, id(fn.__globals__), _hashable(fn.__defaults__),
               _hashable(tuple(sorted((fn.__kwdefaults__ or {}).items()))), tuple(cells))
        parts = (fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__kwdefaults__,
                 tuple(cells), fn.__qualname__, fn.__module__, fn.__dict__)
        return Skeleton("function", key, parts), arrays
    return Skeleton("value", (_hashable(fn),), (fn,)), []


def rebuild(skeleton: Skeleton, arrays) -> Any:
    """The callable (or value) of ``skeleton`` with ``arrays`` (e.g. tracers) put back in order."""
    value, rest = _rebuild(skeleton, list(arrays))
    assert not rest, "more arrays than the skeleton holds"
    return value


def _rebuild(skeleton: Skeleton, arrays: list):
    kind, parts = skeleton.kind, skeleton.parts
    if kind == "value":
        return parts[0], arrays
    if kind == "array":
        return arrays[0], arrays[1:]
    if kind == "cell":
        return parts[0], arrays
    if kind == "tree":
        treedef, skeletons = parts
        leaves = []
        for inner in skeletons:
            leaf, arrays = _rebuild(inner, arrays)
            leaves.append(leaf)
        return jax.tree_util.tree_unflatten(treedef, leaves), arrays
    if kind == "partial":
        func, arrays = _rebuild(parts[0], arrays)
        args, arrays = _rebuild(parts[1], arrays)
        keywords, arrays = _rebuild(parts[2], arrays)
        return functools.partial(func, *args, **keywords), arrays
    if kind == "method":
        owner, arrays = _rebuild(parts[0], arrays)
        func, arrays = _rebuild(parts[1], arrays)
        return types.MethodType(func, owner), arrays
    code, globals_, name, defaults, kwdefaults, cells, qualname, module, attributes = parts
    contents = []
    for inner in cells:
        if inner.kind == "cell":
            contents.append(inner.parts[0])
            continue
        value, arrays = _rebuild(inner, arrays)
        contents.append(types.CellType(value))
    fn = types.FunctionType(code, globals_, name, defaults, tuple(contents))
    fn.__kwdefaults__ = kwdefaults
    fn.__qualname__ = qualname
    fn.__module__ = module
    fn.__dict__.update(attributes)
    return fn, arrays
