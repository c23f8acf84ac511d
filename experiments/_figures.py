"""Small helpers shared by the deep-unrolling experiments: float64 JAX and the two-panel figure
each of them writes."""

from __future__ import annotations

import pathlib


def enable_x64():
    """Import JAX with float64 switched on (before any array exists) and return it."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def two_panels(out: pathlib.Path, height: float = 4.2):
    """``(plt, fig, (left, right))`` for a figure to be saved under ``out`` (created)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, height))
    return plt, fig, axes


def finish(plt, fig, path: pathlib.Path, title: str | None = None) -> None:
    """Title, lay out, save at 130 dpi and close."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
