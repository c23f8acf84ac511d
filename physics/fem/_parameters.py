r"""Admissible ranges of material parameters, checked both on the host and inside a trace.

A material states its ranges once, as :class:`Range` conditions on its parameters. They are checked
in two places:

- on the host (:func:`check_concrete`), before a solve, for every value that is concrete: the error
  names the material, the parameter, its offending value and the range;
- inside ``jit``/``grad``/``vmap`` (:func:`check_traced`), where values are tracers: one
  :func:`equinox.branched_error_if` per call raises at run time with a message chosen among the
  conditions by the index of the first that fails. The message cannot show the traced value, but it
  names the parameter, the range and the fix, which a generic "NaN" or "step limit" report of the
  solver that follows would not.

Conditions are written with operators only (``>``, ``<``, ``&``), so the same function evaluates on
NumPy arrays and on JAX arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from calib._errors import CalibValueError

# Appended to the run-time messages: under tracing the bad value usually comes from an optimiser.
_TRACED_FIX = ("if an optimiser proposed it, calibrate the parameter through a transform that "
               "keeps it in range (e.g. the log of a modulus, a bounded transform of a ratio)")


@dataclasses.dataclass(frozen=True)
class Range:
    """One admissibility condition on a material's parameters.

    Attributes:
        parameter: the parameter the message blames, e.g. ``"nu"``.
        test: ``test(values) -> bool array``, true where admissible; ``values`` maps parameter
            names to arrays (NumPy on the host, JAX under tracing), written with operators only.
        requirement: the condition in words, with its reason, e.g. ``"E > 0"``.
        reads: every parameter ``test`` reads; default ``(parameter,)``. The host check skips a
            condition when one of them is a tracer.
    """

    parameter: str
    test: Callable[[Mapping], object]
    requirement: str
    reads: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return self.reads or (self.parameter,)


def positive(parameter: str, reason: str = "") -> Range:
    """The condition ``parameter > 0``, with an optional reason in parentheses."""
    return Range(parameter, lambda v: v[parameter] > 0,
                 f"{parameter} > 0" + (f" ({reason})" if reason else ""))


def is_traced(value) -> bool:
    """Whether ``value`` is a JAX tracer (inside ``jit``, ``grad`` or ``vmap``)."""
    return isinstance(value, jax.core.Tracer)


def concrete(value):
    """``value`` as a float NumPy array, or ``None`` when it is a tracer, whose value cannot be
    read on the host."""
    if is_traced(value):
        return None
    return np.asarray(value, dtype=float)


def show(value: np.ndarray, bad: np.ndarray) -> str:
    """The (first) offending value of a parameter, for an error message."""
    if value.ndim == 0:
        return f"{float(value):g}"
    return f"{float(value[bad].flat[0]):g} (at {int(bad.sum())} of {value.size} entries)"


def check_concrete(owner: str, ranges: Sequence[Range], values: Mapping[str, np.ndarray]) -> None:
    """Host-side check of the ranges whose parameters are all in ``values`` (concrete arrays).

    Raises:
        CalibValueError: naming ``owner``, the parameter, its value, the range and the fix.
    """
    for condition in ranges:
        if not all(name in values for name in condition.names):
            continue
        shape = np.shape(values[condition.parameter])
        ok = np.broadcast_to(np.asarray(condition.test(values), dtype=bool), shape)
        if not ok.all():
            p = condition.parameter
            raise CalibValueError(f"{owner}: {p} = {show(values[p], ~ok)} is out of range; it needs "
                                  f"{condition.requirement}; give {p} a value in that range")


def check_traced(owner: str, parameters: Sequence[str], ranges: Sequence[Range], theta):
    """``theta`` unchanged, with a run-time check that every parameter is finite and in range.

    One :func:`equinox.branched_error_if` for all conditions (negligible cost: a few scalar
    comparisons and one ``cond`` whose error branch does not run on valid values). Under ``vmap`` it
    raises if any batch member is out of range. Derivatives pass through unchanged.

    Args:
        owner: who the message names, e.g. ``"Model region 'clay', NeoHookean"``.
        parameters: the names to check for finiteness, all keys of ``theta``.
        ranges: the admissibility conditions.
        theta: mapping from the names to scalars or arrays (concrete or traced).

    Returns:
        ``theta``, whose use downstream makes the check part of the computation.

    Raises:
        RuntimeError: when the computation runs on an inadmissible value:
            ``jax.errors.JaxRuntimeError`` under ``jax.jit``, an ``EquinoxRuntimeError`` outside
            it (e.g. under a bare ``jax.grad``) or under ``equinox.filter_jit``.
    """
    values = {p: jnp.asarray(theta[p]) for p in parameters}
    conditions, messages = [], []
    for p in parameters:
        conditions.append(jnp.all(jnp.isfinite(values[p])))
        messages.append(f"{owner}: {p} is not finite (nan or inf; a traced value under jit/grad, so "
                        f"it is not shown); give {p} a finite value; {_TRACED_FIX}")
    for condition in ranges:
        p = condition.parameter
        conditions.append(jnp.all(jnp.asarray(condition.test(values))))
        messages.append(f"{owner}: {p} is out of range (a traced value under jit/grad, so it is "
                        f"not shown); it needs {condition.requirement}; give {p} a value in that "
                        f"range; {_TRACED_FIX}")
    ok = jnp.stack(conditions)
    first_failure = jnp.argmin(ok.astype(jnp.int32))
    return eqx.branched_error_if(theta, ~jnp.all(ok), first_failure, messages)
