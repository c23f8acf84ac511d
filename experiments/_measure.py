"""Timing and memory measurements for the experiments (medians after a warm-up)."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import jax


def block(tree):
    return jax.tree.map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, tree)


def compile_and_time(fn: Callable, *args, repeats: int = 5):
    """``jit``-compile ``fn`` for ``args`` and time it.

    Returns a dict: ``compile_s`` (lowering + compilation + first run), ``median_s`` of ``repeats``
    further runs, ``memory_bytes`` (XLA's buffer assignment: arguments + outputs + temporaries, the
    peak the program needs; from ``Compiled.memory_analysis``) and ``value`` (the last result).
    """
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    value = block(compiled(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = block(compiled(*args))
        times.append(time.perf_counter() - t0)
    return {"compile_s": compile_s, "median_s": statistics.median(times),
            "memory_bytes": memory_bytes(compiled), "value": value}


def memory_bytes(compiled) -> float:
    """Peak memory of a compiled program as XLA plans it (NaN if the backend does not say)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return float("nan")
    return float(stats.argument_size_in_bytes + stats.output_size_in_bytes
                 + stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def compiled_memory(fn: Callable, *args) -> float:
    """Memory of ``jit(fn)`` for ``args`` without running it."""
    return memory_bytes(jax.jit(fn).lower(*args).compile())
