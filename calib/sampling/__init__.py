r"""``calib.sampling``: sample the posterior of a calibration (NUTS with exact gradients through the
inner equilibria; emcee as the gradient-free baseline), with convergence diagnostics.

- :func:`log_posterior` builds the log density of the unconstrained parameters ``z`` (Gaussian
  likelihood of the weighted residuals, the specs' Gaussian priors, the log-Jacobian of the
  transforms); pure JAX.
- :func:`nuts` (blackjax) and :func:`emcee` sample it; each returns an ``xarray.Dataset`` in
  ArviZ's posterior layout (variables by parameter, dims ``(chain, draw)``, physical units), the
  sampler statistics as ``sample_stats.*`` variables, and the costs and diagnostics as attributes.
- :func:`rhat` and :func:`ess` are the rank-normalised split R-hat and the effective sample size
  (Geyer's initial monotone sequence) of Vehtari et al. (2021).
- :func:`laplace` and :func:`compare` put the Gauss–Newton approximation of a fit next to them;
  :func:`trace_plot` and :func:`corner_plot` draw them; :func:`to_netcdf` writes an
  ArviZ-readable file.

The samplers need the optional extra ``sampling`` (``pip install calib[sampling]``): blackjax and
emcee are imported only when :func:`nuts` or :func:`emcee` run. See
``docs/concepts/posterior_sampling.md``.
"""

from ._compare import Laplace, compare, format_table, laplace
from ._diagnostics import ess, ess_raw, rank_normalize, rhat, split_chains, summarize
from ._emcee import emcee
from ._nuts import nuts
from ._output import STATS, from_netcdf, posterior_group, sample_stats_group, summary, to_netcdf
from ._plots import corner_plot, trace_plot
from ._posterior import LogPosterior, log_posterior

__all__ = ["STATS", "Laplace", "LogPosterior", "compare", "corner_plot", "emcee", "ess", "ess_raw",
           "format_table", "from_netcdf", "laplace", "log_posterior", "nuts", "posterior_group",
           "rank_normalize", "rhat", "sample_stats_group", "split_chains", "summarize", "summary",
           "to_netcdf", "trace_plot"]
