"""Trace and corner plots of a sampled posterior (matplotlib's object API; no pyplot state).

The figures are built with :class:`matplotlib.figure.Figure` directly, so they work with any
backend (Agg included) and never touch a global figure manager.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._output import STATS


def _free(ds: xr.Dataset) -> tuple[list[str], dict[str, np.ndarray]]:
    import json

    names = json.loads(ds.attrs["parameters"]) if "parameters" in ds.attrs else \
        [str(v) for v in ds.data_vars if not str(v).startswith(STATS)]
    arrays = {}
    for name in names:
        if name in ds:
            arrays[name] = np.asarray(ds[name].values, dtype=float)
        else:  # a vector element "v[i]"
            base, index = name.split("[", 1)
            index = tuple(int(i) for i in index.rstrip("]").split(","))
            arrays[name] = np.asarray(ds[base].values, dtype=float)[(..., *index)]
    return names, arrays


def trace_plot(ds: xr.Dataset, *, title: str | None = None):
    """One row per free parameter: the draws of every chain against the draw index (left), and
    their histogram per chain (right). Returns a ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    names, arrays = _free(ds)
    fig = Figure(figsize=(9, 2.0 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False, width_ratios=(3, 1))
    for row, name in enumerate(names):
        x = arrays[name]
        for c in range(x.shape[0]):
            axes[row, 0].plot(x[c], lw=0.5, alpha=0.7)
            axes[row, 1].hist(x[c], bins=30, histtype="step", density=True)
        units = ds[name].attrs.get("units", "") if name in ds else ""
        axes[row, 0].set_ylabel(f"{name}" + (f" ({units})" if units else ""))
        axes[row, 1].set_yticks([])
    axes[-1, 0].set_xlabel("draw")
    fig.suptitle(title or ds.attrs.get("sampler", "trace"))
    return fig


def corner_plot(samples: dict[str, xr.Dataset] | xr.Dataset, approximation=None, *,
                title: str | None = None, max_points: int = 4000, seed: int = 0):
    """Pairwise scatter plots (below the diagonal) and marginal histograms (diagonal) of the free
    parameters of one or more sampled posteriors, with the Laplace approximation overlaid: its
    marginal normal densities on the diagonal and its 1σ and 2σ ellipses (39 % and 86 % of a 2D
    Gaussian) in the pair plots. Returns a ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    if isinstance(samples, xr.Dataset):
        samples = {samples.attrs.get("sampler", "samples").split()[0]: samples}
    first = next(iter(samples.values()))
    names, _ = _free(first)
    p = len(names)
    fig = Figure(figsize=(2.4 * p + 0.8, 2.4 * p + 0.6), layout="constrained")
    axes = fig.subplots(p, p, squeeze=False)
    rng = np.random.default_rng(seed)
    colours = ["C0", "C1", "C2", "C3"]
    for k, (label, ds) in enumerate(samples.items()):
        _, arrays = _free(ds)
        flat = {n: a.reshape(-1) for n, a in arrays.items()}
        size = next(iter(flat.values())).size
        pick = rng.choice(size, size=min(size, max_points), replace=False)
        colour = colours[k % len(colours)]
        for i, yi in enumerate(names):
            for j, xj in enumerate(names):
                ax = axes[i, j]
                if j > i:
                    ax.set_axis_off()
                elif i == j:
                    ax.hist(flat[xj], bins=40, density=True, histtype="step", color=colour,
                            label=label)
                else:
                    ax.scatter(flat[xj][pick], flat[yi][pick], s=2, alpha=0.25, color=colour,
                               rasterized=True)
    if approximation is not None:
        t = np.linspace(0, 2 * np.pi, 200)
        for i, yi in enumerate(names):
            for j, xj in enumerate(names):
                if j > i or xj not in approximation.names or yi not in approximation.names:
                    continue
                a, b = approximation.names.index(xj), approximation.names.index(yi)
                if i == j:
                    mu, sd = approximation.mean[a], approximation.sd[a]
                    lo, hi = axes[i, j].get_xlim()
                    x = np.linspace(lo, hi, 200)
                    axes[i, j].plot(x, np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
                                    "k--", lw=1, label="Laplace")
                    continue
                cov = approximation.covariance[np.ix_([a, b], [a, b])]
                if not np.all(np.isfinite(cov)):
                    continue
                values, vectors = np.linalg.eigh(cov)
                circle = np.stack([np.cos(t), np.sin(t)])
                for radius in (1.0, 2.0):
                    ellipse = vectors @ (radius * np.sqrt(np.maximum(values, 0))[:, None] * circle)
                    axes[i, j].plot(approximation.mean[a] + ellipse[0],
                                    approximation.mean[b] + ellipse[1], "k-", lw=0.8)
    for i, name in enumerate(names):
        axes[-1, i].set_xlabel(name)
        if i > 0:
            axes[i, 0].set_ylabel(name)
        axes[i, i].set_yticks([])
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title or "posterior")
    return fig
