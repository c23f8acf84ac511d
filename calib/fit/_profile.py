r"""Profile-likelihood confidence intervals of one parameter.

The profile of parameter :math:`\theta_k` is the objective minimised over all the others with
:math:`\theta_k` held fixed,

.. math::

    \chi^2_{\mathrm{prof}}(v) = \min_{\theta:\,\theta_k = v} \chi^2(\theta),

and its :math:`1-\alpha` interval is the set where
:math:`\chi^2_{\mathrm{prof}}(v) - \chi^2_{\min} \le s\,\chi^2_{1,1-\alpha}` (Wilks' theorem; ``s``
the reduced χ² when σ are relative, 1 when absolute). For a model linear in θ the profile is an exact
parabola and the interval is the Wald interval; for a nonlinear one it follows the real shape of
the objective, so it may be asymmetric, one-sided (the threshold is never reached before a bound),
or open (never reached at all) where the Wald interval is symmetric by construction
(Venzon & Moolgavkar 1988; Raue et al. 2009, Bioinformatics 25, 1923).

The re-fit with the parameter fixed belongs to the caller: :func:`profile_likelihood` only chooses
where to evaluate it, walking away from the optimum in each direction with adaptive steps until the
threshold is crossed, then locating the crossing with a bracketing root finder.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
from scipy import optimize, stats

from calib._errors import CalibTypeError, CalibValueError

# After a failed re-fit the walk closes in on the failure by halving the gap; once the gap is this
# many halvings short of the first one, the direction is given up.
_MAX_HALVINGS = 4
# Steps adapt within [1/4, 4] times the previous one, aiming 20 % past the predicted crossing.
_SHRINK, _GROW, _OVERSHOOT = 0.25, 4.0, 1.2


@dataclasses.dataclass(frozen=True, eq=False)
class Profile:
    r"""The profile of one parameter and the interval read from it (arrays are read-only).

    Attributes:
        name: the profiled parameter.
        values: ``(n,)`` sorted values at which the objective was re-fitted (the optimum included).
        chi2: ``(n,)`` the re-fitted objective there; NaN where the re-fit failed.
        converged: ``(n,)`` whether the re-fit converged.
        best_value: the optimum :math:`\hat\theta_k`.
        best_chi2: the objective there.
        threshold: :math:`\Delta\chi^2` threshold, ``scale * chi2.ppf(confidence, 1)``.
        lower, upper: the interval's limits (NaN when not found: ``not_reached`` or ``failed``).
        lower_kind, upper_kind: ``"crossed"`` (the profile crosses the threshold there),
            ``"bound"`` (it stays below the threshold up to the parameter's bound, which is the limit:
            a one-sided interval), ``"not_reached"`` (``max_steps`` ran out first) or ``"failed"``
            (the re-fit kept failing; the message names the last value where it converged).
        confidence: the interval's level.
        message: the interval in words, with the reason for any limit that is not a crossing.
    """

    name: str
    values: np.ndarray
    chi2: np.ndarray
    converged: np.ndarray
    best_value: float
    best_chi2: float
    threshold: float
    lower: float
    upper: float
    lower_kind: str
    upper_kind: str
    confidence: float
    message: str

    @property
    def interval(self) -> tuple[float, float]:
        """``(lower, upper)``."""
        return self.lower, self.upper

    def to_dict(self) -> dict[str, Any]:
        """Plain Python and NumPy values (copies), keyed by field name, for serialisation.

        ``name`` is left out: profiles are stored in a mapping keyed by the parameter's name.
        """
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            if field.name == "name":
                continue
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                out[field.name] = np.array(value)
            elif isinstance(value, str):
                out[field.name] = value
            else:
                out[field.name] = float(value)
        return out


class _RefitFailed(Exception):
    """A re-fit inside a bracket failed; the bracket's end points locate the crossing instead."""


def profile_likelihood(
    name: str,
    best_value: float,
    best_chi2: float,
    refit: Callable[[float], tuple[float, bool]],
    *,
    standard_error: float | None = None,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    confidence: float = 0.95,
    scale: float = 1.0,
    max_steps: int = 20,
    initial_step: float | None = None,
) -> Profile:
    r"""Profile-likelihood interval of parameter ``name``.

    From ``best_value`` the walk goes down, then up. Each step re-fits at ``current ± h``; ``h``
    starts at ``initial_step``, else ``standard_error``, else 10 % of ``|best_value|``, else 0.1,
    and then follows the profile: :math:`\sqrt{\Delta\chi^2}` is linear in the parameter for a
    quadratic profile, so its slope over the last step predicts where the threshold is crossed,
    and the next step aims 20 % beyond that, grown at most 4× where the profile is flat and shrunk
    at most 4× near the crossing. Once a step crosses the threshold, the crossing is located in
    that bracket by Brent's method on :math:`\sqrt{\Delta\chi^2} - \sqrt{\text{threshold}}` (one or two
    extra re-fits for a near-quadratic profile), so a bracket never lacks a sign change. A step
    that would leave ``bounds`` stops at the bound; if the profile is still below the threshold
    there, the interval is one-sided (kind ``"bound"``). A failed re-fit (``converged`` false or a
    non-finite objective) halves the step; the walk never passes a value where the re-fit failed,
    and once it has closed in on the failure to 1/16 of the first failed step it gives the direction
    up (``"failed"``, the message naming the last value where the re-fit converged).

    Args:
        name: the parameter's name (for the message).
        best_value: its value at the optimum, within ``bounds``.
        best_chi2: the objective at the optimum (as ``refit`` defines it: prior term included).
        refit: ``refit(value) -> (chi2, converged)``: the minimum of the same objective over the
            other parameters with this one fixed at ``value``. Warm-starting each re-fit from the
            previous one is the caller's business (the walk moves away monotonically, then
            brackets). An ``ArithmeticError``, ``RuntimeError`` or ``LinAlgError`` it raises counts
            as a failed re-fit.
        standard_error: the Wald standard error, to size the first step (NaN, inf or ≤ 0: unused).
        bounds: ``(lower, upper)`` of the parameter (±inf for none).
        confidence: the interval's level, in (0, 1).
        scale: multiplies the threshold: the reduced χ² when the covariance is scaled by it (σ
            relative), 1 when σ are absolute.
        max_steps: re-fits allowed per direction before the limit counts as ``"not_reached"``
            (the crossing's location takes a few more).
        initial_step: the first step ``h`` (positive), overriding ``standard_error``.

    Returns:
        A :class:`Profile`.
    """
    if not isinstance(name, str):
        raise CalibTypeError(f"profile_likelihood: name must be a string, got {name!r}")
    if not callable(refit):
        raise CalibTypeError(f"profile_likelihood: refit must be a callable refit(value) -> "
                             f"(chi2, converged), got {type(refit).__name__}")
    best_value = _finite(name, "best_value", best_value)
    best_chi2 = _finite(name, "best_chi2", best_chi2)
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise CalibTypeError(f"profile_likelihood({name!r}): bounds must be a (lower, upper) pair, "
                             f"got {bounds!r}") from None
    if np.isnan(lo) or np.isnan(hi) or not lo < hi:
        raise CalibValueError(f"profile_likelihood({name!r}): bounds must satisfy lower < upper "
                              f"(±inf for none), got ({lo}, {hi})")
    if not lo <= best_value <= hi:
        raise CalibValueError(f"profile_likelihood({name!r}): best_value = {best_value} lies "
                              f"outside the bounds ({lo}, {hi})")
    confidence = float(confidence)
    if not 0 < confidence < 1:
        raise CalibValueError(f"profile_likelihood({name!r}): confidence must lie in (0, 1), got "
                              f"{confidence}")
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise CalibValueError(f"profile_likelihood({name!r}): scale must be a positive number (the "
                              f"reduced chi2, or 1 for absolute sigmas), got {scale}")
    if isinstance(max_steps, bool) or not (isinstance(max_steps, (int, np.integer)) and max_steps > 0):
        raise CalibValueError(f"profile_likelihood({name!r}): max_steps must be a positive int, got "
                              f"{max_steps!r}")
    if initial_step is not None:
        initial_step = float(initial_step)
        if not (np.isfinite(initial_step) and initial_step > 0):
            raise CalibValueError(f"profile_likelihood({name!r}): initial_step must be a positive "
                                  f"number, got {initial_step}")
        h0 = initial_step
    elif standard_error is not None and np.isfinite(standard_error) and standard_error > 0:
        h0 = float(standard_error)
    elif best_value != 0:
        h0 = 0.1 * abs(best_value)
    else:
        h0 = 0.1

    threshold = scale * float(stats.chi2.ppf(confidence, 1))
    evaluated: dict[float, tuple[float, bool]] = {best_value: (best_chi2, True)}
    notes: list[str] = []

    def evaluate(value: float) -> tuple[float, bool]:
        value = float(value)
        if value not in evaluated:
            try:
                chi2, ok = refit(value)
                chi2 = float(chi2)
                ok = bool(ok) and np.isfinite(chi2)
            except (ArithmeticError, RuntimeError, np.linalg.LinAlgError) as error:
                chi2, ok = np.nan, False
                notes.append(f"the re-fit at {value:.6g} raised {type(error).__name__}: {error}")
            evaluated[value] = (chi2 if ok else np.nan, ok)
        return evaluated[value]

    limits = {}
    for direction, bound in ((-1.0, lo), (1.0, hi)):
        limits[direction] = _walk(evaluate, best_value, best_chi2, direction, bound, h0, threshold,
                                  max_steps)

    values = np.array(sorted(evaluated))
    chi2 = np.array([evaluated[v][0] for v in values])
    converged = np.array([evaluated[v][1] for v in values])
    (lower, lower_kind, lower_note), (upper, upper_kind, upper_note) = limits[-1.0], limits[1.0]
    finite_chi2 = np.where(converged, chi2, np.inf)
    k = int(np.argmin(finite_chi2))
    if finite_chi2[k] < best_chi2 - 1e-3 * threshold:
        notes.append(f"the profile went below best_chi2 (by {best_chi2 - finite_chi2[k]:.3g} at "
                     f"{values[k]:.6g}): the fit had not reached its minimum; re-fit from there")
    message = _message(name, confidence, lower, lower_kind, lower_note, upper, upper_kind,
                       upper_note, notes)
    return Profile(name=name, values=_frozen(values), chi2=_frozen(chi2),
                   converged=_frozen(converged, bool), best_value=best_value, best_chi2=best_chi2,
                   threshold=threshold, lower=float(lower), upper=float(upper),
                   lower_kind=lower_kind, upper_kind=upper_kind, confidence=confidence,
                   message=message)


def _walk(evaluate, best_value, best_chi2, direction, bound, h, threshold, max_steps):
    """One direction's limit: ``(value, kind, note)``."""
    side = "lower" if direction < 0 else "upper"
    current, current_delta = best_value, 0.0
    steps = 0
    failed_at = None  # the nearest value beyond ``current`` where the re-fit failed
    first_gap = np.inf
    while True:
        if current == bound:
            return bound, "bound", (f"one-sided: the profile stays below the threshold "
                                    f"{'down' if direction < 0 else 'up'} to the {side} bound "
                                    f"{bound:.6g}")
        if failed_at is not None and abs(failed_at - current) <= first_gap / 2**_MAX_HALVINGS:
            return np.nan, "failed", (
                f"{side} limit not found: the re-fit failed at {failed_at:.6g}, just "
                f"{'below' if direction < 0 else 'above'} {current:.6g}, the last value where it "
                f"converged (Δχ² = {current_delta:.3g} < {threshold:.3g} there)")
        if steps >= max_steps:
            return np.nan, "not_reached", (
                f"{side} limit not reached in {max_steps} steps: the profile rises only to "
                f"Δχ² = {current_delta:.3g} < {threshold:.3g} at {current:.6g}; raise max_steps "
                f"or initial_step")
        candidate = current + direction * h
        if (candidate - bound) * direction >= 0:
            candidate = bound
        if failed_at is not None and (candidate - failed_at) * direction >= 0:
            # Never step onto or past a failure: close in on it by halving the gap instead.
            candidate = 0.5 * (current + failed_at)
        step = abs(candidate - current)
        chi2, ok = evaluate(candidate)
        steps += 1
        if not ok:
            if failed_at is None:
                first_gap = step
            failed_at = candidate
            h = 0.5 * step
            continue
        delta = chi2 - best_chi2
        if delta >= threshold:
            return _crossing(evaluate, best_chi2, threshold, current, current_delta, candidate,
                             delta)
        # sqrt(Δχ²) is linear in the parameter for a quadratic profile: extrapolate it to the
        # threshold and aim a little past, so the next step most likely brackets the crossing.
        slope = (np.sqrt(max(delta, 0.0)) - np.sqrt(max(current_delta, 0.0))) / step
        if slope > 0:
            h = _OVERSHOOT * (np.sqrt(threshold) - np.sqrt(max(delta, 0.0))) / slope
            h = min(max(h, _SHRINK * step), _GROW * step)
        else:  # flat or falling: the crossing is far, grow
            h = 2.0 * step
        current, current_delta = candidate, delta


def _crossing(evaluate, best_chi2, threshold, a, delta_a, b, delta_b):
    """The crossing of the threshold between ``a`` (below) and ``b`` (at or above)."""
    root_t = np.sqrt(threshold)

    def g(v):
        if v == a:
            return np.sqrt(max(delta_a, 0.0)) - root_t
        if v == b:
            return np.sqrt(max(delta_b, 0.0)) - root_t
        chi2, ok = evaluate(v)
        if not ok:
            raise _RefitFailed
        return np.sqrt(max(chi2 - best_chi2, 0.0)) - root_t

    ga, gb = g(a), g(b)
    if gb == 0.0:
        return b, "crossed", ""
    try:
        root = optimize.brentq(g, min(a, b), max(a, b), xtol=1e-8 * abs(b - a), rtol=1e-12,
                               maxiter=50)
        return root, "crossed", ""
    except (_RefitFailed, RuntimeError):
        root = a + (b - a) * (-ga) / (gb - ga)
        return root, "crossed", (f"located by interpolation between {a:.6g} and {b:.6g}: a re-fit "
                                 f"inside the bracket failed")


def _message(name, confidence, lower, lower_kind, lower_note, upper, upper_kind, upper_note, notes):
    def limit(value, kind):
        if kind == "crossed":
            return f"{value:.6g}"
        if kind == "bound":
            return f"bound {value:.6g}"
        return "not reached" if kind == "not_reached" else "failed"

    text = (f"{name}: {100 * confidence:g}% profile interval "
            f"[{limit(lower, lower_kind)}, {limit(upper, upper_kind)}]")
    extra = [n for n in (lower_note, upper_note) if n] + notes
    return text + (f" ({'; '.join(extra)})" if extra else "")


def _finite(name, what, x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise CalibTypeError(f"profile_likelihood({name!r}): {what} must be a number, got "
                             f"{x!r}") from None
    if not np.isfinite(x):
        raise CalibValueError(f"profile_likelihood({name!r}): {what} must be finite, got {x}")
    return x


def _frozen(a, dtype=float):
    a = np.array(a, dtype=dtype)
    a.setflags(write=False)
    return a
