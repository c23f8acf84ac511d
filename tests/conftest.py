"""Test-wide configuration: every test runs in float64, with the persistent compilation cache.

``jax_enable_x64`` must be set before any array is created, so it is done here, at import time of
the root conftest, which pytest loads before collecting any test module.
"""

import jax

jax.config.update("jax_enable_x64", True)

from calib import enable_compilation_cache  # noqa: E402  (after x64 is set)

# Compiled programs are reused by the next run of the suite (CALIB_COMPILATION_CACHE=off disables).
enable_compilation_cache()
