"""The outer level: fit a model's parameters to observed data, with honest uncertainties.

``calib.fit(model, data, parameters, ...)`` returns a :class:`FitResult` (an xarray Dataset on
demand, NetCDF on disk, a text report and plots).
"""

from ._evaluate import to_host
from ._fit import fit
from ._loop import FitError, IterationInfo
from ._optimizers import OPTIMIZERS
from ._profile import Profile, profile_likelihood
from ._result import DatasetFit, FitResult, VariableFit
from ._uncertainty import Uncertainty, gauss_newton_uncertainty

__all__ = ["DatasetFit", "FitError", "FitResult", "IterationInfo", "OPTIMIZERS", "Profile",
           "Uncertainty", "VariableFit", "fit", "gauss_newton_uncertainty", "profile_likelihood",
           "to_host"]


class _CallableModule(__import__("types").ModuleType):
    """``calib.fit`` is this package and, called, the function :func:`fit`: both
    ``calib.fit(model, data, parameters)`` and ``calib.fit.FitResult`` work."""

    def __call__(self, *args, **kwargs):
        return fit(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
