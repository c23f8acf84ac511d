"""Test-wide configuration: every test runs in float64, with the persistent compilation cache.

``jax_enable_x64`` must be set before any array is created, so it is done here, at import time of
the root conftest, which pytest loads before collecting any test module.
"""

import os

import jax

jax.config.update("jax_enable_x64", True)

from calib import enable_compilation_cache  # noqa: E402  (after x64 is set)

# Compiled programs are reused by the next run of the suite (CALIB_COMPILATION_CACHE=off disables).
# Parallel workers (pytest-xdist) each get a cache folder of their own: JAX writes cache entries
# without a lock, and a worker reading an entry the other is writing would see a torn file.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
_directory = enable_compilation_cache(subfolder=_worker) if _worker else enable_compilation_cache()


def pytest_configure(config):
    """Most of the suite's time is XLA compiling small programs. LLVM's optimisation passes are
    most of that and buy nothing at these sizes (the default run took 2.3x longer with them on
    tests/test_calib/test_quadratic.py), so the default run compiles at optimisation level 0. The
    benchmarks (``-m benchmark``), which time compiled code, keep XLA's defaults;
    CALIB_TEST_XLA_OPTIMISE=1 keeps them for any run. Set before the first computation, when the
    CPU backend reads XLA_FLAGS."""
    markers = config.getoption("markexpr", "") or ""
    timing = "benchmark" in markers and "not benchmark" not in markers
    if timing or os.environ.get("CALIB_TEST_XLA_OPTIMISE") == "1":
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level=0".strip()
