"""PNG plots of a :class:`~calib.fit._result.FitResult`.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas: no pyplot, so no global
figure state, no GUI backend, and plotting is safe in a batch job or a worker thread.

Files written into the folder:

- ``fit_<dataset>.png``: data (± sigma) and the fit per variable, normalised residuals
  :math:`(\\hat y - y)/\\sigma` below. A 1-D variable is drawn against its coordinate (units in the
  label), an n-D one against the flat index, and the scalar (0-d) variables of a dataset share one
  panel, each normalised by its observed value.
- ``loss_history.png``: loss per outer iteration (log scale when positive), rejected steps marked;
  step norm and trust radius below when recorded.
- ``correlation.png``: correlation matrix of the free parameters (p >= 2), values written.
- ``profile_<parameter>.png``: chi-square along each profile with its threshold.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from ._result import DatasetFit, FitResult, VariableFit

DPI = 110
ANNOTATE_MAX = 12  # above this many free parameters the matrix cells are too small for numbers


def _filename(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) + ".png"


def _save(figure: Figure, path: pathlib.Path) -> pathlib.Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)
    return path


def _label(name: str, units: str | None) -> str:
    return f"{name} [{units}]" if units else name


def _axis(dataset: DatasetFit, variable: VariableFit):
    """x values, x label and tick labels (strings) of a 1-D variable."""
    dim = variable.dims[0]
    candidates = [c for c, dims in dataset.coord_dims.items() if dims == (dim,)]
    candidates.sort(key=lambda c: (c != dim, dataset.coords[c].dtype.kind != "f"))  # the dimension's own, numeric
    n = variable.observed.shape[0]
    if not candidates:
        return np.arange(n), f"{dim} (index)", None
    c = candidates[0]
    values = dataset.coords[c]
    if values.dtype.kind == "f":
        return values, _label(c, dataset.coord_units.get(c)), None
    return np.arange(n), c, [str(v) for v in values]


def _finite_log(ax, values: np.ndarray) -> None:
    # A log axis over data without positive values warns and shows nothing: stay linear then.
    if np.any(np.isfinite(values) & (values > 0)) and not np.any(values[np.isfinite(values)] <= 0):
        ax.set_yscale("log")


def _residuals(ax, x, residual, xlabel, ticks) -> None:
    ax.axhline(0.0, color="0.3", lw=0.8)
    for level in (-2.0, 2.0):
        ax.axhline(level, color="0.6", lw=0.6, ls=":")
    ax.plot(x, residual, "o", ms=3.5, color="C3")
    ax.set_ylabel("residual [σ]")
    ax.set_xlabel(xlabel)
    if ticks is not None:
        ax.set_xticks(x, ticks, rotation=45, ha="right")


def _curve(top, bottom, dataset: DatasetFit, variable: VariableFit) -> None:
    if variable.observed.ndim == 1:
        x, xlabel, ticks = _axis(dataset, variable)
    else:
        x, xlabel, ticks = np.arange(variable.observed.size), f"flat index over {variable.dims}", None
    observed, sigma = variable.observed.ravel(), variable.sigma.ravel()
    predicted, residual = variable.predicted.ravel(), variable.residual.ravel()
    order = np.argsort(x, kind="stable") if ticks is None else np.arange(len(x))
    if dataset.relative_sigma:
        top.plot(x, observed, "o", ms=4, color="C0", label="observed")
    else:
        top.errorbar(x, observed, yerr=sigma, fmt="o", ms=4, capsize=2, color="C0", label="observed ± σ")
    top.plot(np.asarray(x)[order], predicted[order], "-", color="C1", lw=1.5, label="fit")
    top.set_ylabel(_label(variable.name, variable.units))
    top.set_title(variable.name)
    top.legend(fontsize="small")
    _residuals(bottom, x, residual, xlabel, ticks)


def _scalars(top, bottom, variables: list[VariableFit]) -> None:
    """Scalar observations of different units on one axis: each divided by its observed value."""
    x = np.arange(len(variables))
    names = [_label(v.name, v.units) for v in variables]
    observed = np.array([float(v.observed) for v in variables])
    scale = np.where(observed != 0, np.abs(observed), 1.0)  # an observed zero is shown unscaled
    top.errorbar(x, observed / scale, yerr=np.array([float(v.sigma) for v in variables]) / scale, fmt="o",
                 capsize=3, color="C0", label="observed ± σ")
    top.plot(x, np.array([float(v.predicted) for v in variables]) / scale, "D", color="C1", label="fit")
    top.set_xticks(x, [])
    top.set_xlim(-0.5, len(variables) - 0.5)
    top.set_ylabel("value / |observed|")
    top.set_title("scalars ÷ observed")
    top.legend(fontsize="small")
    _residuals(bottom, x, np.array([float(v.residual) for v in variables]), "", names)


def plot_dataset(dataset: DatasetFit, path: pathlib.Path) -> pathlib.Path:
    """Data vs fit of one dataset, one column per non-scalar variable plus one for its scalars."""
    curves = [v for v in dataset.variables.values() if v.dims]
    scalars = [v for v in dataset.variables.values() if not v.dims]
    panels = len(curves) + (1 if scalars else 0)
    figure = Figure(figsize=(4.6 * max(panels, 1), 5.6), layout="constrained")
    figure.suptitle(f"{dataset.name}" + (" (relative weights)" if dataset.relative_sigma else ""))
    if panels == 0:
        figure.text(0.5, 0.5, "no observed variables", ha="center")
        return _save(figure, path)
    axes = figure.subplots(2, panels, squeeze=False, gridspec_kw={"height_ratios": [3, 1]}, sharex="col")
    for k, variable in enumerate(curves):
        _curve(axes[0, k], axes[1, k], dataset, variable)
    if scalars:
        _scalars(axes[0, -1], axes[1, -1], scalars)
    return _save(figure, path)


def plot_history(history: dict[str, np.ndarray], path: pathlib.Path) -> pathlib.Path:
    """Loss per outer iteration, rejected steps marked; step norm and trust radius below."""
    loss = np.asarray(history["loss"], dtype=float)
    it = np.arange(loss.size)
    extra = [k for k in ("step_norm", "trust_radius")
             if k in history and np.any(np.isfinite(np.asarray(history[k], dtype=float)))]
    figure = Figure(figsize=(6.4, 5.6 if extra else 4.0), layout="constrained")
    axes = figure.subplots(2 if extra else 1, 1, squeeze=False, sharex="col")[:, 0]
    axes[0].plot(it, loss, "-o", ms=3, color="C0", label="loss")
    if "accepted" in history:
        rejected = ~np.asarray(history["accepted"], dtype=bool)
        if rejected.any():
            axes[0].plot(it[rejected], loss[rejected], "x", ms=8, mew=2, color="C3", label="rejected step")
    _finite_log(axes[0], loss)
    axes[0].set_ylabel("loss")
    axes[0].set_title("outer iterations")
    axes[0].legend(fontsize="small")
    if extra:
        for i, key in enumerate(extra):
            axes[1].plot(it, np.asarray(history[key], dtype=float), "-o", ms=2.5, color=f"C{i + 1}",
                         label=key.replace("_", " "))
        _finite_log(axes[1], np.concatenate([np.asarray(history[k], dtype=float) for k in extra]))
        axes[1].legend(fontsize="small")
    axes[-1].set_xlabel("iteration")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(figure, path)


def plot_correlation(names: tuple[str, ...], correlation: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    """The correlation matrix, diverging colours on [-1, 1], values written in the cells."""
    p = len(names)
    size = min(2.0 + 0.7 * p, 14.0)
    figure = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(np.ma.masked_invalid(correlation), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_xticks(range(p), names, rotation=45, ha="right")
    ax.set_yticks(range(p), names)
    if p <= ANNOTATE_MAX:
        for i in range(p):
            for j in range(p):
                rho = correlation[i, j]
                text = "nan" if not np.isfinite(rho) else f"{rho:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize="small",
                        color="white" if np.isfinite(rho) and abs(rho) > 0.6 else "black")
    figure.colorbar(image, ax=ax, label="correlation")
    ax.set_title("parameter correlation")
    return _save(figure, path)


def plot_profile(name: str, units: str | None, profile: dict, path: pathlib.Path) -> pathlib.Path:
    """chi-square along a profile, the threshold and the interval it gives."""
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.subplots()
    values, chi2 = profile["values"], profile["chi2"]
    converged = np.asarray(profile["converged"], dtype=bool)
    order = np.argsort(values, kind="stable")
    ax.plot(values[order], chi2[order], "-", color="C0")
    ax.plot(values[converged], chi2[converged], "o", ms=4, color="C0", label="converged")
    if (~converged).any():
        ax.plot(values[~converged], chi2[~converged], "x", ms=7, color="C3", label="not converged")
    # The threshold is a rise above the best chi-square (Delta chi2), drawn at that level.
    ax.axhline(profile["best_chi2"] + profile["threshold"], color="0.4", ls="--", lw=1,
               label=f"best + {profile['threshold']:.3g} (threshold)")
    labelled = False
    for side in ("lower", "upper"):
        if np.isfinite(profile[side]):
            ax.axvline(profile[side], color="C2", ls=":", lw=1,
                       label=None if labelled else f"{profile['confidence']:.0%} interval")
            labelled = True
    if np.isfinite(profile["best_value"]):
        ax.plot([profile["best_value"]], [profile["best_chi2"]], "*", ms=10, color="C1", label="best fit")
    ax.set_xlabel(_label(name, units))
    ax.set_ylabel("chi-square")
    ax.set_title(f"profile of {name}")
    ax.legend(fontsize="small")
    return _save(figure, path)


def plot_result(result: FitResult, folder: str | os.PathLike) -> list[pathlib.Path]:
    """Every plot of ``result`` written into ``folder`` (created if missing); returns the paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()

    def unique(stem: str) -> pathlib.Path:  # "a/b" and "a_b" must not overwrite each other's plot
        name, k = _filename(stem), 1
        while name in taken:
            k += 1
            name = _filename(f"{stem}_{k}")
        taken.add(name)
        return folder / name

    paths = [plot_dataset(d, unique(f"fit_{d.name}")) for d in result.datasets]
    if "loss" in result.history and result.history["loss"].size:
        paths.append(plot_history(result.history, folder / "loss_history.png"))
    if len(result.free_names) >= 2:
        paths.append(plot_correlation(result.free_names, result.correlation, folder / "correlation.png"))
    for name, profile in result.profiles.items():
        if profile["values"].size:
            units = result.units[result.parameter_names.index(name)]
            paths.append(plot_profile(name, units, profile, unique(f"profile_{name}")))
    return paths
