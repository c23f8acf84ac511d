"""JAX's persistent compilation cache, for the command line and the test suite.

Most of the time of a first call is XLA compilation (seconds per relaxed property); the persistent
cache keeps compiled programs on disk, so a second process that compiles the same program loads it
instead. It is switched on by :func:`enable_compilation_cache` (the ``calib`` command line and the
test suite call it; a library never changes global JAX settings on import).

* Location: ``$CALIB_COMPILATION_CACHE`` if set, else ``$XDG_CACHE_HOME/calib/jax`` (by default
  ``~/.cache/calib/jax``).
* Off: ``CALIB_COMPILATION_CACHE=off`` (or ``0``/``none``).

JAX never stores a program that holds a host callback: a solve under a user's ``jit``/``grad``
reports through callbacks and is recompiled in each process; an eager forward solve is cached.
"""

from __future__ import annotations

import os
import pathlib

import jax

OFF = ("off", "0", "none", "false", "no")


def cache_directory() -> pathlib.Path | None:
    """Where compiled programs are kept, or ``None`` when the cache is switched off."""
    setting = os.environ.get("CALIB_COMPILATION_CACHE")
    if setting is not None and setting.strip().lower() in OFF:
        return None
    if setting:
        return pathlib.Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "calib" / "jax"


def enable_compilation_cache(min_compile_seconds: float = 0.5, subfolder: str | None = None
                             ) -> pathlib.Path | None:
    """Switch JAX's persistent compilation cache on (unless the environment turns it off).

    Programs that took less than ``min_compile_seconds`` to compile are not stored (reading them
    back would not pay). ``subfolder`` keeps one process's entries apart (concurrent processes
    must not share a folder: JAX writes entries without a lock). Returns the cache directory, or
    ``None`` when off.
    """
    directory = cache_directory()
    if directory is None:
        return None
    if subfolder:
        directory = directory / subfolder
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory
