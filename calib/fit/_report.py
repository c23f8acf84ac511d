r"""The text report of a :class:`~calib.fit._result.FitResult` (what ``calib report`` prints).

Sections, in order: how the fit ran (optimiser, adjoint, outcome, cost), fit statistics
(:math:`\chi^2`, degrees of freedom, reduced :math:`\chi^2`, how the covariance is scaled), the
parameter table, profile-likelihood intervals, correlations, goodness of fit per dataset and
variable, and every warning. Numbers carry the digits their uncertainty justifies: a value with a
standard error is shown to the error's second significant digit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._result import FitResult

CORRELATION_SHOWN = 0.1  # |rho| below this is noise for a report


def _g(x: float, digits: int = 6, zeros: bool = False) -> str:
    """``x`` to ``digits`` significant digits: fixed point from 1e-4 to 1e6, exponent outside.

    Trailing zeros are dropped unless ``zeros`` (a value shown to its uncertainty keeps them: they
    are significant).
    """
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    exponent = math.floor(math.log10(abs(x)))
    if -4 <= exponent < 6:
        text = f"{x:.{max(digits - 1 - exponent, 0)}f}"
        return text.rstrip("0").rstrip(".") if "." in text and not zeros else text
    mantissa, power = f"{x:.{digits - 1}e}".split("e")
    if not zeros and "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(power):+03d}"


def _digits(value: float, error: float) -> int:
    """Significant digits of ``value`` that show ``error`` to two significant digits."""
    if not (math.isfinite(value) and math.isfinite(error)) or error <= 0 or value == 0:
        return 6
    return int(min(12, max(2, math.floor(math.log10(abs(value))) - math.floor(math.log10(error)) + 2)))


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _side(value: float, kind: str, lower: bool) -> str:
    if math.isnan(value):  # not found: say why ("not_reached", "failed")
        return (kind or "not found").replace("_", " ")
    if math.isinf(value):
        return "-inf" if lower else "inf"
    return f"bound {_g(value, 5)}" if kind == "bound" else _g(value, 5)


def one_sided(profile: dict) -> bool:
    """Whether a side of the profile interval is not a crossing of the threshold."""
    return any(profile[f"{side}_kind"] not in ("crossed", "") or not math.isfinite(profile[side])
               for side in ("lower", "upper"))


def profile_interval(profile: dict) -> str:
    """``[a, b]``; a side that is a parameter's bound reads ``bound a``, an unfound one says why.

    An open side (not found, infinite) gets a round bracket: ``(not reached, 2.5]``.
    """
    lo, hi = profile["lower"], profile["upper"]
    left = "[" if math.isfinite(lo) else "("
    right = "]" if math.isfinite(hi) else ")"
    return (f"{left}{_side(lo, profile['lower_kind'], True)}, "
            f"{_side(hi, profile['upper_kind'], False)}{right}")


def _at_bound(value: float, lower: float, upper: float) -> str:
    span = upper - lower if math.isfinite(upper - lower) else 0.0
    for bound, text in ((lower, "at lower bound"), (upper, "at upper bound")):
        if math.isfinite(bound) and abs(value - bound) <= 1e-6 * max(abs(bound), abs(value), span, 1e-300):
            return text
    return ""


def _header(r: FitResult) -> list[str]:
    lines = ["[[Fit]]",
             f"  optimizer      {r.optimizer}",
             f"  adjoint        {r.adjoint}",
             f"  success        {r.success}: {r.message}" if r.message else f"  success        {r.success}",
             f"  evaluations    {r.n_evaluations} (Jacobians {r.n_jacobians})",
             f"  iterations     {len(next(iter(r.history.values()))) if r.history else 0}",
             f"  time           {_g(r.compile_seconds, 3)} s compiling, {_g(r.run_seconds, 3)} s running"]
    if r.inner:
        inner = ", ".join(f"{k.replace('_', ' ')} {v if isinstance(v, int) else _g(v, 4)}" for k, v in r.inner.items())
        lines.append(f"  inner solves   {inner}")
    return lines


def _statistics(r: FitResult) -> list[str]:
    n = sum(int(np.isfinite(v.residual).sum()) for d in r.datasets for v in d.variables.values())
    if r.absolute_sigma:
        scaling = "absolute sigma (not scaled)"
    else:
        scaling = f"scaled by reduced chi-square (x{_g(r.covariance_scale, 4)})"
    return ["[[Fit statistics]]",
            f"  chi-square          {_g(r.chi2)}",
            f"  objective           {_g(r.objective)}",
            f"  data points         {n}",
            f"  free parameters     {len(r.free_names)}",
            f"  degrees of freedom  {r.dof}",
            f"  reduced chi-square  {_g(r.reduced_chi2, 4)}",
            f"  covariance          {scaling}",
            f"  confidence          {_g(100 * r.confidence, 4)}%"]


def _parameters(r: FitResult) -> list[str]:
    level = f"{_g(100 * r.confidence, 3)}%"
    rows = [["name", "value", "std error", "(rel)", f"Wald {level}", "profile", "units", "bounds", "kind", "note"]]
    for i, name in enumerate(r.parameter_names):
        value, kind = float(r.values[i]), r.kinds[i]
        se, wald, rel = math.nan, "", ""
        if kind == "free":
            j = r.free_names.index(name)
            se = float(r.standard_errors[j])
            if math.isfinite(se):
                rel = f"({_g(100 * se / abs(value), 2)}%)" if value != 0 else ""
                lo, hi = r.intervals[j]
                wald = f"[{_g(lo, _digits(lo, se), True)}, {_g(hi, _digits(hi, se), True)}]"
        shown = _g(value, _digits(value, se), zeros=math.isfinite(se))
        error = f"± {_g(se, 2)}" if math.isfinite(se) else ("" if kind != "free" else "± nan")
        profile = profile_interval(r.profiles[name]) if name in r.profiles else ""
        lower, upper = float(r.lower[i]), float(r.upper[i])
        bounds = "" if not (math.isfinite(lower) or math.isfinite(upper)) else \
            f"{'[' if math.isfinite(lower) else '('}{_g(lower, 4)}, {_g(upper, 4)}{']' if math.isfinite(upper) else ')'}"
        notes = [_at_bound(value, lower, upper)]
        if math.isfinite(r.prior_sigma[i]):
            notes.append(f"prior {_g(r.prior_mean[i], 4)} ± {_g(r.prior_sigma[i], 3)}")
        if kind == "free" or value != r.initial[i]:  # a fixed value that moved would be a bug worth seeing
            notes.append(f"initial {_g(r.initial[i])}")
        rows.append([name, shown, error, rel, wald, profile, r.units[i] or "", bounds, kind,
                     "; ".join(n for n in notes if n)])
    return ["[[Parameters]]"] + (_table(rows) if r.parameter_names else ["  (none)"])


def _profiles(r: FitResult) -> list[str]:
    if not r.profiles:
        return []
    lines = ["[[Profile likelihood]]"]
    for name, p in r.profiles.items():
        shape = "one-sided" if one_sided(p) else "two-sided"
        converged = int(np.sum(p["converged"]))
        lines.append(f"  {name}: {profile_interval(p)} at {_g(100 * p['confidence'], 3)}% ({shape}: lower "
                     f"{p['lower_kind'] or '?'}, upper {p['upper_kind'] or '?'}); threshold {_g(p['threshold'], 4)} "
                     f"above the best chi-square {_g(p['best_chi2'])} at {_g(p['best_value'])}; "
                     f"{converged}/{p['values'].size} re-fits converged")
        if p["message"]:
            lines.append(f"    {p['message']}")
    return lines


def _correlations(r: FitResult) -> list[str]:
    pairs = []
    for i in range(len(r.free_names)):
        for j in range(i + 1, len(r.free_names)):
            rho = float(r.correlation[i, j])
            if math.isfinite(rho) and abs(rho) > CORRELATION_SHOWN:
                pairs.append((abs(rho), rho, r.free_names[i], r.free_names[j]))
    if len(r.free_names) < 2:
        return []
    lines = [f"[[Correlations]] (|rho| > {CORRELATION_SHOWN:g})"]
    if not pairs:
        return lines + ["  (none)"]
    pairs.sort(key=lambda t: -t[0])
    return lines + _table([[f"C({a}, {b})", f"{rho:+.4f}"] for _, rho, a, b in pairs])


def _where(dataset, variable, flat: int) -> str:
    if not variable.dims:
        return ""
    index = np.unravel_index(flat, variable.observed.shape)
    parts = []
    for dim, k in zip(variable.dims, index):
        coord = next((c for c, dims in dataset.coord_dims.items() if dims == (dim,)), None)
        if coord is None:
            parts.append(f"{dim}[{k}]")
        else:
            value = dataset.coords[coord][k]
            units = dataset.coord_units.get(coord)
            shown = _g(value, 5) if dataset.coords[coord].dtype.kind == "f" else str(value)
            parts.append(f"{coord}={shown}{' ' + units if units and units != '1' else ''}")
    return "at " + ", ".join(parts)


def _goodness(r: FitResult) -> list[str]:
    lines = ["[[Goodness of fit]]"]
    if not r.datasets:
        return lines + ["  (no datasets)"]
    for d in r.datasets:
        rows = [["variable", "units", "points", "chi-square", "chi2/point", "max |residual|", ""]]
        total, count = 0.0, 0
        for v in d.variables.values():
            residual = np.ravel(v.residual)
            finite = np.isfinite(residual)
            n = int(finite.sum())
            chi2 = d.weight * float(np.sum(residual[finite] ** 2))
            total, count = total + chi2, count + n
            worst = int(np.argmax(np.where(finite, np.abs(residual), -1.0))) if n else -1
            rows.append([v.name, v.units, str(n), _g(chi2, 5), _g(chi2 / n, 4) if n else "",
                         _g(abs(residual[worst]), 4) if n else "", _where(d, v, worst) if n else ""])
        sigma = "relative weights (sigma = 1)" if d.relative_sigma else "absolute sigma"
        lines.append(f"  {d.name}: chi-square {_g(total, 5)} over {count} points, weight {_g(d.weight, 4)}, {sigma}")
        lines += _table(rows, indent="    ") if d.variables else ["    (no variables)"]
    return lines


def _warnings(r: FitResult) -> list[str]:
    if not r.warnings:
        return ["[[Warnings]]", "  (none)"]
    return [f"[[Warnings]] ({len(r.warnings)})"] + [f"  - {w}" for w in r.warnings]


def format_report(result: FitResult) -> str:
    """The report of ``result`` as one string (lines end with ``\\n``)."""
    sections = [_header(result), _statistics(result), _parameters(result), _profiles(result),
                _correlations(result), _goodness(result), _warnings(result)]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
