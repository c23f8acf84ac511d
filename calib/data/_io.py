"""Reading observed data from NetCDF files."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from .._errors import CalibTypeError, CalibValueError


def load(path) -> xr.Dataset:
    """Open a NetCDF-4 file and read it fully into memory; the file is closed on return.

    Args:
        path: a ``str`` or ``os.PathLike`` naming a NetCDF-4 (HDF5) file, read with the
            ``h5netcdf`` engine (write one with ``ds.to_netcdf(path, engine="h5netcdf")``).

    Returns:
        The ``xarray.Dataset``, with its values in memory (no lazy arrays tied to the file).

    Raises:
        CalibTypeError: ``path`` is not a path.
        CalibValueError: the file does not exist, or is not NetCDF-4; the message names the path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise CalibTypeError(f"load: path must be a str or os.PathLike naming a NetCDF file, got "
                             f"{type(path).__name__} {path!r}")
    path = Path(path)
    if not path.is_file():
        missing = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise CalibValueError(f"load: {str(path)!r} {missing}; give the path of a NetCDF file "
                              f"(relative paths start at the working directory, {os.getcwd()!r})")
    try:
        # load_dataset reads every variable and closes the file, so the file can be rewritten or
        # removed while the data are in use.
        return xr.load_dataset(path, engine="h5netcdf")
    except Exception as error:  # h5py/h5netcdf raise OSError, ValueError or their own errors
        raise CalibValueError(
            f"load: {str(path)!r} could not be read as a NetCDF-4 file ({type(error).__name__}: "
            f"{error}); write it with ds.to_netcdf(path, engine='h5netcdf'), or for a netCDF-3 "
            f"or CSV file read it with xarray.load_dataset(path) or calib.data.from_csv and pass "
            f"the Dataset instead") from None
