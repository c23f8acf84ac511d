"""Test-wide configuration: every test runs in float64.

``jax_enable_x64`` must be set before any array is created, so it is done here, at import time of
the root conftest, which pytest loads before collecting any test module.
"""

import jax

jax.config.update("jax_enable_x64", True)
