"""``calib fit CONFIG.toml [--out DIR] [--resume] [--no-progress]``: run a configured fit.

Writes into the output folder: ``result.nc`` (:meth:`calib.FitResult.save`), the PNG plots,
``config.toml`` (a copy of the configuration, for provenance) and ``checkpoint.npz``. Exit codes:
0 the fit ran (its report says whether it converged), 1 the fit raised :class:`calib.FitError`,
2 a bad configuration or command line. Errors are one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

from .._errors import CalibError

RESULT, CONFIG_COPY, CHECKPOINT = "result.nc", "config.toml", "checkpoint.npz"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calib fit",
                                     description="Fit a model to data as a TOML configuration says.")
    parser.add_argument("config", type=pathlib.Path, help="the configuration (.toml)")
    parser.add_argument("--out", type=pathlib.Path, metavar="DIR",
                        help="output folder (default: [output] folder, else <config stem>_results)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the output folder's checkpoint.npz")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _error(message: str) -> int:
    print(f"calib fit: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    """Run ``calib fit`` with the arguments after the subcommand; returns the exit code."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as stop:  # --help (0) or a usage error (2): argparse has printed why
        return int(stop.code or 0)
    import jax

    # The outer optimisers (scipy) and the covariance need float64; set before any array exists.
    jax.config.update("jax_enable_x64", True)
    from ..fit import FitError, fit
    from ._toml import read_config

    try:
        config = read_config(args.config)
    except CalibError as error:
        return _error(str(error))
    output = config.output
    folder = args.out.resolve() if args.out is not None else output.folder
    if args.resume and not output.checkpoint:
        return _error(f"--resume needs a checkpoint, but {args.config} sets [output] checkpoint = "
                      "false; set it to true (or run without --resume)")
    checkpoint = folder / CHECKPOINT if output.checkpoint else None
    if args.resume and not checkpoint.exists():
        print(f"calib fit: no checkpoint in {folder}; starting afresh", file=sys.stderr)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / CONFIG_COPY
        if not (copy.exists() and copy.samefile(args.config)):
            shutil.copyfile(args.config, copy)  # before the fit: a failed run keeps its provenance
    except OSError as error:
        return _error(f"cannot write into the output folder {str(folder)!r}: {error}")

    try:
        result = fit(**config.fit_arguments(), checkpoint=checkpoint, resume=args.resume,
                     progress=False if args.no_progress else None)
    except FitError as error:
        print(f"calib fit: the fit failed: {error}", file=sys.stderr)
        return 1
    except CalibError as error:
        return _error(str(error))

    path = result.save(folder / RESULT)
    print(result.report(), end="")
    print(f"\nresult written to {path}")
    if output.plots:
        paths = result.plot(folder)
        print(f"{len(paths)} plot(s) written to {folder}")
    return 0
