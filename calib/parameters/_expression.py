"""Arithmetic expressions over parameter paths, for tied parameters written in a configuration file.

Only numbers, parameter paths (``clay.E``), ``+ - * / **``, unary minus, parentheses and the
functions ``exp log sqrt abs`` are accepted: the expression is parsed with :mod:`ast` and evaluated
by walking the tree (never ``eval``), with ``jax.numpy`` so that it traces and differentiates.
"""

from __future__ import annotations

import ast
import operator

import jax.numpy as jnp

from .._errors import CalibKeyError, CalibValueError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_FUNCTIONS = {"exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt, "abs": jnp.abs}


def _path(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _path(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


class Expression:
    """A parsed expression; call it with a mapping ``path -> value``."""

    def __init__(self, text: str, *, where: str):
        self.text = text
        self.where = where
        try:
            self._tree = ast.parse(text, mode="eval").body
        except SyntaxError as error:
            raise CalibValueError(f"tied parameter {where!r}: cannot parse {text!r} ({error.msg}); "
                                  "write e.g. '2 * clay.E' or 'sqrt(a * b)'") from None
        self.names = tuple(sorted(self._collect(self._tree)))

    def _collect(self, node) -> set[str]:
        path = _path(node)
        if path is not None:
            return {path}
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return set()
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._collect(node.left) | self._collect(node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return self._collect(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _FUNCTIONS and len(node.args) == 1 and not node.keywords:
            return self._collect(node.args[0])
        raise CalibValueError(
            f"tied parameter {self.where!r}: {ast.unparse(node)!r} in {self.text!r} is not allowed; "
            "use numbers, parameter names, + - * / **, parentheses and exp, log, sqrt, abs")

    def __call__(self, values):
        return self._evaluate(self._tree, values)

    def _evaluate(self, node, values):
        path = _path(node)
        if path is not None:
            if path not in values:
                raise CalibKeyError(f"tied parameter {self.where!r}: {self.text!r} uses {path!r}, "
                                    f"which is not a parameter; known: {', '.join(sorted(values))}")
            return values[path]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._evaluate(node.left, values),
                                          self._evaluate(node.right, values))
        if isinstance(node, ast.UnaryOp):
            operand = self._evaluate(node.operand, values)
            return -operand if isinstance(node.op, ast.USub) else operand
        return _FUNCTIONS[node.func.id](self._evaluate(node.args[0], values))

    def __repr__(self):
        return f"Expression({self.text!r})"
