r"""The Laplace (Gauss–Newton) approximation of a fit next to a sampled posterior.

:func:`calib.fit.fit` reports, at the optimum (the MAP estimate when there are priors), the
Gauss–Newton covariance :math:`C = (J^\top J + P)^{-1}` of the physical parameters (``J`` the
weighted residuals' Jacobian, ``P`` the prior precision): a Gaussian approximation of the posterior
in the physical parameters. A sampled posterior tests it: its mean moves off the MAP and its
spread changes where the model is nonlinear on the scale of the uncertainty or a bound is near.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from ._output import summary


@dataclasses.dataclass(frozen=True)
class Laplace:
    """A Gaussian approximation: ``names``, ``mean`` ``(p,)``, ``covariance`` ``(p, p)``, in
    physical units."""

    names: tuple[str, ...]
    mean: np.ndarray
    covariance: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    def marginal(self, name: str) -> tuple[float, float]:
        i = self.names.index(name)
        return float(self.mean[i]), float(self.sd[i])


def laplace(fit_result) -> Laplace:
    """The Gauss–Newton (Laplace) approximation of a :class:`calib.fit.FitResult`: the optimum and
    the covariance of its free parameters."""
    names = tuple(fit_result.free_names)
    mean = np.array([fit_result[n] for n in names], dtype=float)
    return Laplace(names, mean, np.asarray(fit_result.covariance, dtype=float))


def compare(samples: dict[str, xr.Dataset] | xr.Dataset, approximation: Laplace | None = None):
    """A table (list of dict rows) of posterior mean and sd per parameter and sampler, with the
    Laplace mean and sd, R-hat, bulk ESS, ESS per second and per inner solve.

    Args:
        samples: one result Dataset or a dict ``label -> Dataset`` (e.g. ``{"nuts": ..., "emcee":
            ...}``).
        approximation: from :func:`laplace` (optional).
    """
    if isinstance(samples, xr.Dataset):
        samples = {samples.attrs.get("sampler", "samples").split()[0]: samples}
    rows = []
    for label, ds in samples.items():
        table = summary(ds)
        run = float(ds.attrs.get("run_seconds", np.nan))
        solves = float(ds.attrs.get("n_inner_solves", 0)) or np.nan
        for name, s in table.items():
            row = {"sampler": label, "parameter": name, "mean": s["mean"], "sd": s["sd"],
                   "mcse_mean": s["mcse_mean"], "rhat": s["rhat"], "ess_bulk": s["ess_bulk"],
                   "ess_tail": s["ess_tail"], "ess_per_second": s["ess_bulk"] / run,
                   "ess_per_inner_solve": s["ess_bulk"] / solves,
                   "run_seconds": run, "compile_seconds": float(ds.attrs.get("compile_seconds", np.nan)),
                   "n_inner_solves": solves}
            if approximation is not None and name in approximation.names:
                mean, sd = approximation.marginal(name)
                row.update(laplace_mean=mean, laplace_sd=sd,
                           mean_shift_in_sd=(s["mean"] - mean) / sd, sd_ratio=s["sd"] / sd)
            rows.append(row)
    return rows


def format_table(rows) -> str:
    """The rows of :func:`compare` as a fixed-width text table."""
    head = (f"{'sampler':<8} {'parameter':<10} {'mean':>11} {'sd':>10} {'Laplace mean':>13} "
            f"{'Laplace sd':>10} {'sd ratio':>8} {'R-hat':>6} {'ESS':>7} {'ESS/s':>8} "
            f"{'ESS/solve':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lm, ls = r.get("laplace_mean", np.nan), r.get("laplace_sd", np.nan)
        lines.append(f"{r['sampler']:<8} {r['parameter']:<10} {r['mean']:>11.5g} {r['sd']:>10.3g} "
                     f"{lm:>13.5g} {ls:>10.3g} {r.get('sd_ratio', np.nan):>8.3f} {r['rhat']:>6.3f} "
                     f"{r['ess_bulk']:>7.0f} {r['ess_per_second']:>8.3g} "
                     f"{r['ess_per_inner_solve']:>10.3g}")
    return "\n".join(lines)
