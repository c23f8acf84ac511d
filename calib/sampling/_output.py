"""The samplers' common parts: watching the inner solves, and the result ``xarray.Dataset``.

A result is one ``xarray.Dataset`` in ArviZ's *posterior* layout: a variable per parameter (its
physical value, in its units), with dims ``("chain", "draw", ...)``; the per-draw sampler statistics
are variables of the same Dataset whose names start with :data:`STATS` (``"sample_stats.diverging"``
...). :func:`to_netcdf` writes the two as the NetCDF groups ``posterior`` and ``sample_stats``, which
``arviz.from_netcdf`` reads.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import xarray as xr

from .. import _monitor
from .._result import RESULTS
from ._diagnostics import summarize

STATS = "sample_stats."
"""Prefix of the sampler-statistics variables of a result Dataset."""


class SolveCounter:
    """Counts the inner solves reported to an open :func:`calib._monitor.monitor_solves` block.

    A batched (``vmap``) solve counts as one solve per member (whether it reports once with the
    codes of every member or once per member).
    """

    def __init__(self, monitor):
        self.monitor = monitor
        self.solves = 0
        self.failed = 0
        self.messages: list[str] = []

    def take(self):
        """Collect the events since the last call; return them (and add them to the counts)."""
        events = self.monitor.collect()
        for event in events:
            self.solves += int(np.size(event.result))
            bad = int(np.sum(np.asarray(event.result) != RESULTS.successful))
            self.failed += bad
            if bad and len(self.messages) < 5:
                self.messages.append(event.describe())
        return events


def failed_members(events, n: int) -> np.ndarray:
    """Which of ``n`` batch members (a ``vmap`` over axis 0) had a failed solve among ``events``.

    A solve under ``vmap`` reports either once with the codes of the whole batch or once per member
    in the batch's order (JAX's sequential rule for callbacks); either way, the codes of one solve
    site, concatenated in the order reported, are member-major. A site whose number of codes is not
    a multiple of ``n`` (a solve outside the batch) fails every member when it fails.
    """
    bad = np.zeros(n, dtype=bool)
    by_site: dict[int, list[np.ndarray]] = {}
    for event in events:
        by_site.setdefault(event.site.index, []).append(np.ravel(np.asarray(event.result)))
    for codes in by_site.values():
        failed = np.concatenate(codes) != RESULTS.successful
        if not np.any(failed):
            continue
        if failed.size % n == 0:
            bad |= np.any(failed.reshape(n, -1), axis=1)
        else:
            bad[:] = True
    return bad


def monitor():
    return _monitor.monitor_solves(quiet=True)


def build_dataset(posterior, z, stats: dict, attrs: dict) -> xr.Dataset:
    """The result Dataset from unconstrained draws ``z`` ``(chains, draws, p)``."""
    chains, draws = z.shape[:2]
    values = posterior.to_physical(z)
    space = posterior.space
    data_vars = {}
    kept = [s for s in space.specs if s.name in values and not getattr(s, "fixed", False)]
    for spec in kept:
        v = np.asarray(values[spec.name], dtype=float)
        extra = tuple(f"{spec.name}_dim_{i}" for i in range(v.ndim - 2))
        data_vars[spec.name] = (("chain", "draw") + extra, v,
                                {"units": spec.units} if spec.units else {})
    for name, v in stats.items():
        data_vars[STATS + name] = (("chain", "draw"), np.asarray(v))
    ds = xr.Dataset(data_vars, coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    free = posterior.free_values(z)
    summary = summarize({name: free[..., i] for i, name in enumerate(posterior.names)})
    for name, s in summary.items():
        if name in ds:
            ds[name].attrs.update({k: float(v) for k, v in s.items()})
    ess_min = min(s["ess_bulk"] for s in summary.values())
    attrs = dict(attrs)
    attrs["parameters"] = list(posterior.names)
    attrs["summary"] = json.dumps(summary)
    attrs["ess_bulk_min"] = float(ess_min)
    attrs["rhat_max"] = float(max(s["rhat"] for s in summary.values()))
    run = attrs.get("run_seconds", np.nan)
    attrs["ess_per_second"] = float(ess_min / run) if run and run > 0 else np.nan
    solves = attrs.get("n_inner_solves", 0)
    attrs["ess_per_inner_solve"] = float(ess_min / solves) if solves else np.nan
    evals = attrs.get("n_logdensity_evaluations", 0)
    attrs["ess_per_evaluation"] = float(ess_min / evals) if evals else np.nan
    ds.attrs.update({k: _attribute(v) for k, v in attrs.items() if v is not None})
    return ds


def _attribute(value):
    """A NetCDF-storable attribute: JSON for containers, int for booleans."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return value


def summary(ds: xr.Dataset) -> dict[str, dict[str, float]]:
    """Per free element: mean, sd, rhat, ess_bulk, ess_tail, mcse_mean (from ``ds.attrs``)."""
    return json.loads(ds.attrs["summary"])


def posterior_group(ds: xr.Dataset) -> xr.Dataset:
    """The parameter variables only (ArviZ's ``posterior`` group)."""
    keep = [v for v in ds.data_vars if not str(v).startswith(STATS)]
    out = ds[keep]
    out.attrs = dict(ds.attrs)
    return out


def sample_stats_group(ds: xr.Dataset) -> xr.Dataset:
    """The sampler statistics, prefix removed (ArviZ's ``sample_stats`` group)."""
    stats = {str(v)[len(STATS):]: ds[v] for v in ds.data_vars if str(v).startswith(STATS)}
    return xr.Dataset(stats, attrs={"sampler": ds.attrs.get("sampler", "")})


def to_netcdf(ds: xr.Dataset, path) -> pathlib.Path:
    """Write ``ds`` as an ArviZ-readable NetCDF-4 file: groups ``posterior`` and ``sample_stats``."""
    path = pathlib.Path(path)
    posterior_group(ds).to_netcdf(path, group="posterior", mode="w", engine="h5netcdf")
    sample_stats_group(ds).to_netcdf(path, group="sample_stats", mode="a", engine="h5netcdf")
    return path


def from_netcdf(path) -> xr.Dataset:
    """Read a file written by :func:`to_netcdf` back into one result Dataset."""
    post = xr.load_dataset(path, group="posterior", engine="h5netcdf")
    stats = xr.load_dataset(path, group="sample_stats", engine="h5netcdf")
    out = post.copy()
    for name in stats.data_vars:
        out[STATS + str(name)] = stats[name]
    return out
