"""Observed data for calibration: ``xarray.Dataset`` objects with units and uncertainties.

A dataset holds each measured quantity as a data variable with a ``units`` attribute (a pint
string); its coordinates are the experimental conditions; its uncertainty is the variable named by
its CF ``ancillary_variables`` attribute, else ``<name>_sigma``, else a scalar ``sigma`` attribute.
:func:`prepare` checks all of this once and returns an :class:`ObservedDataset` of float64 arrays;
:func:`conversion` gives the factors between the data's units and a model's. See
``docs/concepts/data_conventions.md``.
"""

from ._csv import from_csv
from ._io import load
from ._observed import Observation, ObservedDataset, prepare, prepare_all
from ._units import conversion, ureg

__all__ = ["Observation", "ObservedDataset", "conversion", "from_csv", "load", "prepare", "prepare_all",
           "ureg"]
