"""The measuring harness shared by the benchmarks: timing loops, compile times, memory, the
environment of a run and JSON output.

Every function imports JAX when called, so a benchmark's ``--help`` and argument errors stay fast.
"""

from __future__ import annotations

import os
import pathlib
import platform
import resource
import statistics
import sys
import time
from typing import Callable

import numpy as np

# JAX's monitoring events of lowering to MLIR and of XLA compilation (neither nests, unlike tracing).
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def block(tree):
    """Wait for every array of ``tree`` (JAX dispatches asynchronously)."""
    import jax

    return jax.tree.map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a,
                        tree)


def timed(fn: Callable, *args) -> tuple[float, object]:
    """``(seconds, value)`` of one call of ``fn(*args)``, waiting for its results."""
    t0 = time.perf_counter()
    value = block(fn(*args))
    return time.perf_counter() - t0, value


def compile_ahead(fn: Callable, *args):
    """``jax.jit(fn)`` lowered and compiled for ``args``: ``(compiled, seconds)``."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def compile_and_time(fn: Callable, *args, repeats: int = 5):
    """``jit``-compile ``fn`` for ``args`` and time it.

    Returns a dict: ``compile_s`` (lowering + compilation + first run), ``median_s`` of ``repeats``
    further runs, ``memory_bytes`` (XLA's buffer assignment: arguments + outputs + temporaries, the
    peak the program needs; from ``Compiled.memory_analysis``) and ``value`` (the last result).
    """
    t0 = time.perf_counter()
    compiled, _ = compile_ahead(fn, *args)
    value = block(compiled(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        seconds, value = timed(compiled, *args)
        times.append(seconds)
    return {"compile_s": compile_s, "median_s": statistics.median(times),
            "memory_bytes": memory_bytes(compiled), "value": value}


def time_calls(fn: Callable, *args, repeats: int):
    """Time ``fn(*args)`` as it is (jitted or eager): ``first_s`` (the first call: tracing,
    compilation and one run), ``compile_s`` (the lowering and XLA compilation inside it, from
    JAX's monitoring events), ``run_s`` and ``min_s`` (median and fastest of ``repeats`` further
    calls), and the last value."""
    import jax

    compiling = [0.0]

    def listener(event, duration, **_):
        if event in COMPILE_EVENTS:
            compiling[0] += duration

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        first, value = timed(fn, *args)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    times = []
    for _ in range(repeats):
        seconds, value = timed(fn, *args)
        times.append(seconds)
    return {"first_s": first, "compile_s": compiling[0], "run_s": statistics.median(times),
            "min_s": min(times), "value": value}


def fastest(runs: list[dict], key: str = "s") -> dict:
    """The run with the smallest ``run[key]`` (on a shared machine, the least disturbed one)."""
    return min(runs, key=lambda run: run[key])


def memory_bytes(compiled) -> float:
    """Peak memory of a compiled program as XLA plans it (NaN if the backend does not say)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return float("nan")
    return float(stats.argument_size_in_bytes + stats.output_size_in_bytes
                 + stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def compiled_memory(fn: Callable, *args) -> float:
    """Memory of ``jit(fn)`` for ``args`` without running it."""
    import jax

    return memory_bytes(jax.jit(fn).lower(*args).compile())


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, GB (``ru_maxrss`` is in kB on Linux)."""
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def environment(**extra) -> dict:
    """What a result depends on beyond its options: backend, versions, cores (and ``extra``)."""
    import jax

    return {"backend": jax.default_backend(), "jax": jax.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(), **extra}


def jsonable(value):
    """``json.dumps`` ``default=``: paths as strings, NumPy values as lists/numbers."""
    if isinstance(value, pathlib.Path):
        return str(value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return float(value)
