"""physics: energies of physical systems, written as ``energy(x, theta, *args) -> scalar``.

Parameters ``theta`` are always explicit arguments (dicts of named arrays), never baked into
closures, so they can be traced and differentiated by :func:`calib.equilibrium`.
"""
