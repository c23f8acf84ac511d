"""Bundled measured data for calibration demos, read from netCDF files shipped with the package."""

from __future__ import annotations

from importlib import resources

import xarray as xr

FCC_METALS_FILE = "data/fcc_metals.nc"
"""Path of the fcc-metals file inside the ``physics.atomistic`` package."""


def load_fcc_metals() -> xr.Dataset:
    """Measured properties of fcc Cu, Al and Ni, as an in-memory ``xarray.Dataset``.

    Dimension ``metal`` = ``["Cu", "Al", "Ni"]``. Data variables, each with ``units``,
    ``long_name``, ``source`` (full citations, per metal), ``temperature_K`` and
    ``temperature_note`` (the temperature the value refers to), ``comment`` (how the uncertainty
    was judged) and ``ancillary_variables`` naming its standard uncertainty ``<name>_sigma`` (same
    units):

    - ``lattice_constant``: cubic lattice constant, Å, at room temperature (298 K);
    - ``cohesive_energy``: cohesive energy per atom, eV, positive, at 0 K;
    - ``bulk_modulus``: (C11 + 2 C12)/3 from the elastic constants below, GPa, 0 K;
    - ``C11``, ``C12``, ``C44``: single-crystal elastic constants, GPa, extrapolated to 0 K;
    - ``vacancy_formation_energy``: monovacancy formation enthalpy, eV, from high-temperature
      equilibrium measurements (``temperature_K`` is NaN: no single temperature).

    The file is written by ``physics/atomistic/data/make_fcc_metals.py`` from values and citations
    typed in that script; see its global ``references`` attribute.
    """
    resource = resources.files("physics.atomistic").joinpath(FCC_METALS_FILE)
    with resources.as_file(resource) as path:
        return xr.load_dataset(path, engine="h5netcdf")
