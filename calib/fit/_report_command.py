"""``calib report RESULT.nc``: print the report of a saved fit and write its plots.

Plots go to ``<stem>_plots`` next to the file unless ``--plots FOLDER`` says where, or
``--no-plots`` says not to. A path that is not a saved fit result is a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from .._errors import CalibError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calib report",
                                     description="Print the report of a saved fit result and plot it.")
    parser.add_argument("result", type=pathlib.Path, help="a NetCDF file written by FitResult.save")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--plots", type=pathlib.Path, metavar="FOLDER",
                       help="folder for the PNG plots (default: <stem>_plots next to RESULT)")
    where.add_argument("--no-plots", action="store_true", help="print the report only")
    return parser


def main(argv: list[str]) -> int:
    """Run ``calib report`` with the arguments after the subcommand; returns the exit code."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as stop:  # --help (0) or a usage error (2): argparse has printed why
        return int(stop.code or 0)
    from ._result import FitResult  # after parsing: --help stays instant

    try:
        result = FitResult.load(args.result)
    except CalibError as error:
        print(f"calib report: error: {error}", file=sys.stderr)
        return 2
    print(result.report(), end="")
    if not args.no_plots:
        folder = args.plots if args.plots is not None else args.result.with_name(f"{args.result.stem}_plots")
        try:
            paths = result.plot(folder)
        except OSError as error:
            print(f"calib report: error: cannot write the plots into {str(folder)!r}: {error}", file=sys.stderr)
            return 1
        print(f"\n{len(paths)} plot(s) written to {folder}")
    return 0
