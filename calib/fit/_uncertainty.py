r"""Uncertainty and identifiability of a weighted least-squares fit at its optimum.

The outer level of a calibration minimises

.. math::

    \chi^2(\theta) = \sum_i r_i(\theta)^2, \qquad
    r_i = \frac{f_i(\theta) - y_i}{\sigma_i}\sqrt{w_i},

possibly plus a Gaussian prior term :math:`(\theta-\mu)^\top P(\theta-\mu)` (a MAP fit). Near the
optimum :math:`\hat\theta` the residuals are linear in :math:`\theta`, :math:`r \approx \hat r +
J(\theta-\hat\theta)`, and the Gauss–Newton (Laplace) approximation of the posterior is Gaussian with
precision (Fisher information) :math:`F = J^\top J + P` and covariance

.. math::

    C = s\,F^{-1}, \qquad s = \begin{cases} 1 & \text{σ absolute} \\
    \chi^2/(m-p) & \text{σ relative (the scatter of the residuals fixes their size)} \end{cases}

(with a prior and relative σ only the data term is rescaled: :math:`C = (J^\top J/s + P)^{-1}`,
since the prior's precision is absolute)

exactly as ``scipy.optimize.curve_fit`` (``absolute_sigma=True``/``False``). Everything here is
plain NumPy on the host: the Jacobian comes from the caller (``jax.jacfwd`` of the residuals, say).

Identifiability is judged in a *scaled* parameter space, so that it does not depend on the units
the parameters are given in: with :math:`D = \mathrm{diag}(d_j)`, :math:`d_j = F_{jj}^{-1/2}` (the
Jacobi scaling; :math:`d_j = 1` for a parameter the data and the prior ignore), the scaled
information :math:`\tilde F = D F D` has a unit diagonal, and its eigenvalues, in :math:`[0, p]`,
compare like with like. A direction :math:`u` with :math:`\tilde\lambda \approx 0` is a combination
of parameters the data cannot determine: moving :math:`\theta` along :math:`D u` leaves the fit
unchanged. See ``docs/concepts/uncertainty.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from calib._errors import CalibTypeError, CalibValueError

# Eigenvalue ratio lambda_min / lambda_max of the Jacobi-scaled information below which a direction
# is reported as (practically) unidentifiable. Exact rank deficiency (numpy's pinv threshold) is
# ~1e-30 in this ratio; 1e-10 flags directions whose standard error is 1e5 times that of the
# best-determined one, which no realistic data set pins down.
IDENTIFIABILITY_RTOL = 1e-10

# A parameter takes part in a null direction (and gets a NaN standard error) when its share of the
# unit null vector exceeds this: SVD noise in an exact null vector is ~eps * condition of the rest.
_NULL_PARTICIPATION = 1e-6
# Entries of a null vector shown when naming the combination (relative to its largest entry).
_SHOWN_ENTRY = 0.1


@dataclasses.dataclass(frozen=True, eq=False)
class Uncertainty:
    r"""Gauss–Newton uncertainty of a fit at its optimum (arrays are read-only).

    ``p`` is the number of free parameters, ``m`` the number of weighted residuals.

    Attributes:
        names: ``(p,)`` free parameter names.
        values: ``(p,)`` estimates :math:`\hat\theta`, in the parameters' physical units.
        covariance: ``(p, p)`` :math:`s F^{-1}`; rows and columns of parameters that take part in
            an exactly singular direction of :math:`F` are NaN (all NaN when ``dof <= 0`` and the
            covariance is to be scaled by the reduced χ²).
        standard_errors: ``(p,)`` :math:`\sqrt{C_{jj}}`.
        intervals: ``(p, 2)`` Wald intervals :math:`\hat\theta_j \pm q\,\mathrm{se}_j`, ``q`` the
            two-sided quantile of Student's t with ``dof`` degrees of freedom when the covariance is
            scaled, of the normal distribution when σ are absolute.
        confidence: the level of ``intervals`` (e.g. 0.95).
        correlation: ``(p, p)`` :math:`C_{ij}/\sqrt{C_{ii}C_{jj}}` (does not depend on the scale).
        eigenvalues: ``(p,)`` ascending eigenvalues of the Jacobi-scaled information
            :math:`\tilde F = D(J^\top J + P)D`, :math:`D_{jj} = F_{jj}^{-1/2}`.
        eigenvectors: ``(p, p)`` their unit eigenvectors as columns, in the scaled space (a change
            :math:`\delta\theta = D u`); the largest entry of each is positive.
        scaled_sensitivities: ``(p,)`` composite scaled sensitivities
            :math:`\mathrm{css}_j = \sqrt{\frac1m\sum_i (J_{ij}|\hat\theta_j|)^2}`
            (Hill & Tiedeman 2007): the change of the weighted residuals, in units of σ, for a
            100 % change of the parameter; 0 for a parameter whose value is 0.
        chi2: :math:`\sum_i r_i^2` at the optimum (data only, the prior term excluded).
        dof: ``m - p``.
        reduced_chi2: ``chi2 / dof`` (NaN if ``dof <= 0``).
        scale: the factor :math:`s` applied to :math:`F^{-1}`: ``reduced_chi2``, or 1 when
            ``absolute_sigma``.
        absolute_sigma: whether σ were taken as absolute.
        at_bound: names of parameters within ``bound_rtol`` of a bound.
        unidentifiable: combinations the data cannot determine, in the scaled space, e.g.
            ``"0.71*D - 0.70*alpha"`` (a single parameter appears as its name).
        warnings: every warning in words (dof, unidentifiable combinations, strong correlations,
            parameters at bounds); none is emitted, the caller decides how to show them.
    """

    names: tuple[str, ...]
    values: np.ndarray
    covariance: np.ndarray
    standard_errors: np.ndarray
    intervals: np.ndarray
    confidence: float
    correlation: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    scaled_sensitivities: np.ndarray
    chi2: float
    dof: int
    reduced_chi2: float
    scale: float
    absolute_sigma: bool
    at_bound: tuple[str, ...]
    unidentifiable: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python and NumPy values (copies), keyed by field name, for serialisation."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                out[field.name] = np.array(value)
            elif isinstance(value, tuple):
                out[field.name] = list(value)
            elif isinstance(value, (bool, np.bool_)):
                out[field.name] = bool(value)
            elif isinstance(value, (int, np.integer)):
                out[field.name] = int(value)
            else:
                out[field.name] = float(value)
        return out

    def summary(self) -> str:
        """A short table: value, standard error and interval per parameter, then the warnings."""
        width = max(len(n) for n in self.names)
        pct = f"{100 * self.confidence:g}%"
        lines = [f"chi2 = {self.chi2:.6g}, dof = {self.dof}, reduced chi2 = {self.reduced_chi2:.4g}"
                 f" ({'absolute sigma' if self.absolute_sigma else 'covariance scaled by it'})",
                 f"{'parameter':<{width}}  {'value':>12}  {'std err':>10}  {pct + ' interval':>27}"]
        for j, name in enumerate(self.names):
            lo, hi = self.intervals[j]
            lines.append(f"{name:<{width}}  {self.values[j]:>12.6g}  {self.standard_errors[j]:>10.4g}"
                         f"  [{lo:>11.6g}, {hi:>11.6g}]")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def gauss_newton_uncertainty(
    jacobian: Any,
    residuals: Any,
    names: Sequence[str],
    values: Any,
    *,
    absolute_sigma: bool,
    bounds: Any = None,
    prior_precision: Any = None,
    confidence: float = 0.95,
    correlation_threshold: float = 0.95,
    rank_rtol: float | None = None,
    bound_rtol: float = 1e-6,
    identifiability_rtol: float = IDENTIFIABILITY_RTOL,
) -> Uncertainty:
    r"""Covariance, intervals, correlations and identifiability at a least-squares optimum.

    Args:
        jacobian: ``(m, p)`` Jacobian :math:`J_{ij} = \partial r_i/\partial\theta_j` of the weighted
            residuals :math:`r = (f(\theta) - y)/\sigma\cdot\sqrt{w}` with respect to the free
            parameters, in their physical units (not the optimiser's transformed ones).
        residuals: ``(m,)`` the weighted residuals :math:`r` at the optimum.
        names: ``p`` distinct parameter names.
        values: ``(p,)`` the estimates :math:`\hat\theta`.
        absolute_sigma: ``True``: σ are absolute, :math:`C = F^{-1}`; ``False``: only their relative
            sizes are known, :math:`C = \frac{\chi^2}{m-p}F^{-1}` (``scipy.optimize.curve_fit``'s
            convention). Required, because the two differ by the reduced χ².
        bounds: ``None``; an array-like of shape ``(p, 2)`` whose rows are ``(lower, upper)`` (±inf
            for none); a mapping ``name -> (lower, upper)`` (missing names are unbounded); or an
            object with ``lb`` and ``ub`` (``scipy.optimize.Bounds``).
        prior_precision: optional ``(p, p)`` symmetric positive semi-definite precision :math:`P`
            of a Gaussian prior on :math:`\theta` (a MAP fit): :math:`F = J^\top J + P`.
        confidence: level of the Wald intervals, in (0, 1).
        correlation_threshold: :math:`|\rho_{ij}|` above which a pair is warned about.
        rank_rtol: singular values of the scaled square-root information :math:`[J; P^{1/2}]D` below
            ``rank_rtol`` times the largest count as zero (``F`` exactly singular there). Default
            ``max(m, p) * eps``, numpy's ``pinv`` and ``curve_fit``'s threshold.
        bound_rtol: a value is at a bound ``b`` when within ``bound_rtol * (upper - lower)`` of it
            (``bound_rtol * max(|b|, 1)`` when the other side is unbounded).
        identifiability_rtol: eigenvalue ratio :math:`\tilde\lambda/\tilde\lambda_{max}` of the
            scaled information below which a direction is reported as unidentifiable (see
            :data:`IDENTIFIABILITY_RTOL`); directions above the rank threshold keep finite,
            if huge, standard errors.

    Returns:
        An :class:`Uncertainty`.

    Raises:
        CalibTypeError: an argument of the wrong type.
        CalibValueError: inconsistent shapes, non-finite entries (naming the parameter or row),
            a prior precision that is not symmetric positive semi-definite, a value outside its
            bounds, or an option out of range.
    """
    J, r, names, theta = _check_inputs(jacobian, residuals, names, values)
    if not isinstance(absolute_sigma, (bool, np.bool_)):
        raise CalibTypeError(f"gauss_newton_uncertainty: absolute_sigma must be True (sigmas are "
                             f"absolute) or False (scale by the reduced chi2), got "
                             f"{absolute_sigma!r}")
    m, p = J.shape
    lower, upper = _check_bounds(bounds, names, theta, bound_rtol)
    P = _check_prior(prior_precision, names)
    confidence = _check_fraction("confidence", confidence)
    correlation_threshold = _check_fraction("correlation_threshold", correlation_threshold,
                                            closed_right=True)
    if rank_rtol is None:
        rank_rtol = max(m, p) * np.finfo(float).eps
    rank_rtol = _check_positive("rank_rtol", rank_rtol)
    identifiability_rtol = _check_positive("identifiability_rtol", identifiability_rtol)
    warnings: list[str] = []

    chi2 = float(r @ r)
    dof = m - p
    reduced_chi2 = chi2 / dof if dof > 0 else np.nan
    scale = 1.0 if absolute_sigma else reduced_chi2
    if dof <= 0:
        warnings.append(
            f"{m} residuals for {p} free parameters (dof = {dof}): the reduced chi2 is undefined"
            + (", so the covariance cannot be scaled by it and is NaN; pass absolute_sigma=True if "
               "the sigmas are absolute, or add data" if not absolute_sigma else
               ", so the fit cannot be checked against the scatter of the data"))

    # Square-root information A with AᵀA = F: the data rows, then P^(1/2) from P's eigenvectors
    # (P may be singular, so not Cholesky). An SVD of A D squares no condition number, unlike an
    # eigendecomposition of D F D, so exact rank deficiency is seen at numpy's pinv threshold.
    # With relative sigmas the data term is J^T J / s (s the reduced chi2) while the prior's
    # precision is absolute: F = J^T J / s + P. Without a prior this is s (J^T J)^-1 as usual.
    post_scale = scale
    rows = [J]
    if P is not None and not absolute_sigma and np.isfinite(scale) and scale > 0:
        rows, post_scale = [J / np.sqrt(scale)], 1.0
    if P is not None:
        mu, Q = np.linalg.eigh(P)
        rows.append(np.sqrt(np.clip(mu, 0.0, None))[:, None] * Q.T)
    A = np.vstack(rows)
    diag_F = np.einsum("ij,ij->j", A, A)
    d = np.where(diag_F > 0, 1.0 / np.sqrt(np.where(diag_F > 0, diag_F, 1.0)), 1.0)
    As = A * d
    if As.shape[0] < p:  # zero rows leave AᵀA unchanged and give the SVD a full set of p values
        As = np.vstack([As, np.zeros((p - As.shape[0], p))])
    _, s, Vt = np.linalg.svd(As, full_matrices=False)
    s_max = s[0]
    # Ascending eigenpairs of D F D, each vector with its largest entry positive (a fixed sign).
    eigenvalues = (s**2)[::-1].copy()
    eigenvectors = Vt[::-1].T.copy()
    # Among entries equal in size up to round-off (a + b gives two), the first one is the lead.
    size = np.abs(eigenvectors)
    lead = np.argmax(size >= (1 - 1e-8) * size.max(axis=0), axis=0)
    eigenvectors *= np.where(eigenvectors[lead, np.arange(p)] < 0, -1.0, 1.0)
    singular = (s <= rank_rtol * s_max)[::-1] if s_max > 0 else np.ones(p, dtype=bool)
    lam_max = eigenvalues[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lam_max > 0, eigenvalues / lam_max, 0.0)
    weak = (ratio < identifiability_rtol) | singular

    # F⁻¹ = D (D F D)⁻¹ D on the range of F; parameters in an exact null direction have no finite
    # variance (any generalised inverse gives a different number), so they are NaN.
    inv_eig = np.where(singular, 0.0, 1.0 / np.where(singular, 1.0, eigenvalues))
    C = (eigenvectors * inv_eig) @ eigenvectors.T
    C = d[:, None] * (0.5 * (C + C.T)) * d[None, :]
    in_null = np.sqrt(np.sum(eigenvectors[:, singular] ** 2, axis=1)) > _NULL_PARTICIPATION
    C[in_null, :] = np.nan
    C[:, in_null] = np.nan
    covariance = post_scale * C
    standard_errors = np.sqrt(np.diag(covariance))
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.diag(C))
        correlation = C / np.outer(sd, sd)
    correlation[np.arange(p), np.arange(p)] = np.where(np.isfinite(sd) & (sd > 0), 1.0, np.nan)
    correlation = np.clip(correlation, -1.0, 1.0)  # round-off; NaN stays NaN

    if not absolute_sigma and dof > 0:
        quantile = stats.t.ppf(0.5 + confidence / 2, dof)
    else:
        quantile = stats.norm.ppf(0.5 + confidence / 2)
    intervals = np.stack([theta - quantile * standard_errors, theta + quantile * standard_errors], 1)

    css = (np.sqrt(np.mean((J * np.abs(theta)) ** 2, axis=0)) if m > 0 else np.full(p, np.nan))

    unidentifiable = []
    for k in np.flatnonzero(weak):
        combo, involved = _combination(eigenvectors[:, k], names)
        unidentifiable.append(combo)
        who = _join(involved)
        if singular[k]:
            what = (f"{who} does not affect the fit" if len(involved) == 1 else
                    f"{who} cannot be determined separately")
            warnings.append(
                f"{what}: the information matrix is singular along {combo} (parameters scaled by "
                f"their sensitivity), so {'its' if len(involved) == 1 else 'their'} standard "
                f"errors are NaN; fix or reparametrise {'it' if len(involved) == 1 else 'one of them'}"
                f", add data that separate them, or add a prior")
        else:
            warnings.append(
                f"{who} {'is' if len(involved) == 1 else 'are'} practically unidentifiable: the "
                f"data barely constrain {combo} (parameters scaled by their sensitivity; "
                f"eigenvalue ratio {ratio[k]:.2g} < {identifiability_rtol:.2g}), so the standard "
                f"errors of {who} are huge and unreliable")
    for i in range(p):
        for j in range(i + 1, p):
            rho = correlation[i, j]
            if np.isfinite(rho) and abs(rho) > correlation_threshold:
                warnings.append(f"{names[i]} and {names[j]} are strongly correlated "
                                f"(rho = {rho:+.4f}): the data mostly determine a combination of "
                                f"the two, not each one")

    at_bound = []
    for j, name in enumerate(names):
        side = _bound_side(theta[j], lower[j], upper[j], bound_rtol)
        if side is not None:
            at_bound.append(name)
            b = lower[j] if side == "lower" else upper[j]
            warnings.append(f"{name} = {theta[j]:.6g} is at its {side} bound {b:.6g}: its standard "
                            f"error and Wald interval are not meaningful there (the optimum is on "
                            f"the boundary); use a one-sided profile-likelihood interval")

    return Uncertainty(
        names=names, values=_frozen(theta), covariance=_frozen(covariance),
        standard_errors=_frozen(standard_errors), intervals=_frozen(intervals),
        confidence=confidence, correlation=_frozen(correlation),
        eigenvalues=_frozen(eigenvalues), eigenvectors=_frozen(eigenvectors),
        scaled_sensitivities=_frozen(css), chi2=chi2, dof=int(dof), reduced_chi2=float(reduced_chi2),
        scale=float(scale), absolute_sigma=bool(absolute_sigma), at_bound=tuple(at_bound),
        unidentifiable=tuple(unidentifiable), warnings=tuple(warnings))


def _combination(u: np.ndarray, names: tuple[str, ...]) -> tuple[str, list[str]]:
    """``"0.71*a - 0.70*b"`` from the dominant entries of a unit vector, and the names in it."""
    # Entries equal up to round-off keep the order of names, so the text is reproducible.
    order = np.argsort(-np.round(np.abs(u) / np.max(np.abs(u)), 8), kind="stable")
    shown = [j for j in order if abs(u[j]) >= _SHOWN_ENTRY * abs(u[order[0]])]
    involved = [names[j] for j in shown]
    if len(shown) == 1:
        return names[shown[0]], involved
    text = f"{u[shown[0]]:.2f}*{names[shown[0]]}"
    for j in shown[1:]:
        text += f" {'-' if u[j] < 0 else '+'} {abs(u[j]):.2f}*{names[j]}"
    return text, involved


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _bound_side(value: float, lo: float, hi: float, rtol: float) -> str | None:
    width = hi - lo
    for side, b in (("lower", lo), ("upper", hi)):
        if not np.isfinite(b):
            continue
        tol = rtol * (width if np.isfinite(width) else max(abs(b), 1.0))
        if abs(value - b) <= tol:
            return side
    return None


def _as_float_array(name: str, x: Any) -> np.ndarray:
    try:
        return np.array(x, dtype=float)
    except (TypeError, ValueError) as error:
        raise CalibTypeError(f"gauss_newton_uncertainty: {name} must be an array of numbers, got "
                             f"{type(x).__name__} ({error})") from None


def _check_inputs(jacobian, residuals, names, values):
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise CalibTypeError(f"gauss_newton_uncertainty: names must be a sequence of parameter "
                             f"names (strings), got {names!r}")
    names = tuple(names)
    if not all(isinstance(n, str) for n in names):
        raise CalibTypeError(f"gauss_newton_uncertainty: names must be strings, got {names!r}")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise CalibValueError(f"gauss_newton_uncertainty: names must be distinct, {dupes} repeat")
    p = len(names)
    if p == 0:
        raise CalibValueError("gauss_newton_uncertainty: no free parameters (names is empty); "
                              "there is nothing to estimate")
    J = _as_float_array("jacobian", jacobian)
    r = _as_float_array("residuals", residuals)
    theta = _as_float_array("values", values)
    if J.ndim != 2:
        raise CalibValueError(f"gauss_newton_uncertainty: jacobian must have shape (m, p) = "
                              f"(residuals, parameters), got shape {J.shape}")
    if J.shape[1] != p:
        raise CalibValueError(f"gauss_newton_uncertainty: jacobian has {J.shape[1]} columns but "
                              f"there are {p} parameter names {list(names)}; one column per free "
                              f"parameter, in the order of names")
    if r.shape != (J.shape[0],):
        raise CalibValueError(f"gauss_newton_uncertainty: residuals must have shape "
                              f"({J.shape[0]},), one per row of the jacobian, got {r.shape}")
    if theta.shape != (p,):
        raise CalibValueError(f"gauss_newton_uncertainty: values must have shape ({p},), one per "
                              f"name, got {theta.shape}")
    for j in range(p):
        bad = np.flatnonzero(~np.isfinite(J[:, j]))
        if bad.size:
            raise CalibValueError(f"gauss_newton_uncertainty: jacobian column {j} (parameter "
                                  f"{names[j]!r}) has {bad.size} non-finite entries (first at row "
                                  f"{bad[0]}: {J[bad[0], j]}); the model's derivative with respect "
                                  f"to {names[j]!r} is not finite at these values")
        if not np.isfinite(theta[j]):
            raise CalibValueError(f"gauss_newton_uncertainty: the value of {names[j]!r} is "
                                  f"{theta[j]}; the estimates must be finite")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise CalibValueError(f"gauss_newton_uncertainty: residuals have {bad.size} non-finite "
                              f"entries (rows {bad[:5].tolist()}{' ...' if bad.size > 5 else ''}); "
                              f"the model or the data is not finite there")
    return J, r, names, theta


def _check_bounds(bounds, names, theta, rtol):
    p = len(names)
    lower, upper = np.full(p, -np.inf), np.full(p, np.inf)
    rtol = float(rtol)
    if not (np.isfinite(rtol) and rtol >= 0):
        raise CalibValueError(f"gauss_newton_uncertainty: bound_rtol must be >= 0, got {rtol!r}")
    if bounds is None:
        return lower, upper
    if isinstance(bounds, Mapping):
        unknown = sorted(set(bounds) - set(names))
        if unknown:
            raise CalibValueError(f"gauss_newton_uncertainty: bounds name unknown parameters "
                                  f"{unknown}; the free parameters are {list(names)}")
        for j, name in enumerate(names):
            if name in bounds:
                pair = _as_float_array(f"bounds[{name!r}]", bounds[name])
                if pair.shape != (2,):
                    raise CalibValueError(f"gauss_newton_uncertainty: bounds[{name!r}] must be a "
                                          f"(lower, upper) pair, got {bounds[name]!r}")
                lower[j], upper[j] = pair
    elif hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lower[:] = _as_float_array("bounds.lb", bounds.lb)
        upper[:] = _as_float_array("bounds.ub", bounds.ub)
    else:
        b = _as_float_array("bounds", bounds)
        if b.shape != (p, 2):
            raise CalibValueError(f"gauss_newton_uncertainty: bounds must have shape ({p}, 2), a "
                                  f"(lower, upper) row per parameter, or be a mapping name -> "
                                  f"(lower, upper); got shape {b.shape}")
        lower[:], upper[:] = b[:, 0], b[:, 1]
    for j, name in enumerate(names):
        if np.isnan(lower[j]) or np.isnan(upper[j]) or not lower[j] < upper[j]:
            raise CalibValueError(f"gauss_newton_uncertainty: bounds of {name!r} must satisfy "
                                  f"lower < upper (±inf for none), got ({lower[j]}, {upper[j]})")
        inside = lower[j] <= theta[j] <= upper[j]
        if not inside and _bound_side(theta[j], lower[j], upper[j], rtol) is None:
            raise CalibValueError(f"gauss_newton_uncertainty: {name!r} = {theta[j]} lies outside "
                                  f"its bounds ({lower[j]}, {upper[j]})")
    return lower, upper


def _check_prior(prior_precision, names):
    if prior_precision is None:
        return None
    p = len(names)
    P = _as_float_array("prior_precision", prior_precision)
    if P.shape != (p, p):
        raise CalibValueError(f"gauss_newton_uncertainty: prior_precision must have shape "
                              f"({p}, {p}), got {P.shape}")
    if not np.all(np.isfinite(P)):
        raise CalibValueError("gauss_newton_uncertainty: prior_precision has non-finite entries; "
                              "an unbounded prior is a fixed parameter (fix it instead)")
    size = np.max(np.abs(P)) if P.size else 0.0
    if not np.allclose(P, P.T, rtol=1e-10, atol=1e-12 * size):
        raise CalibValueError("gauss_newton_uncertainty: prior_precision must be symmetric")
    P = 0.5 * (P + P.T)
    mu = np.linalg.eigvalsh(P)
    if mu.size and mu[0] < -1e-10 * max(size, np.finfo(float).tiny):
        raise CalibValueError(f"gauss_newton_uncertainty: prior_precision must be positive "
                              f"semi-definite (the inverse of a prior covariance), but has the "
                              f"eigenvalue {mu[0]:.3g}")
    return P


def _check_fraction(name, x, closed_right=False):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise CalibTypeError(f"gauss_newton_uncertainty: {name} must be a number, got {x!r}") from None
    if not (0 < x < 1 or (closed_right and x == 1)):
        raise CalibValueError(f"gauss_newton_uncertainty: {name} must lie in (0, 1"
                              f"{']' if closed_right else ')'}, got {x!r}")
    return x


def _check_positive(name, x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise CalibTypeError(f"gauss_newton_uncertainty: {name} must be a number, got {x!r}") from None
    if not (np.isfinite(x) and x > 0):
        raise CalibValueError(f"gauss_newton_uncertainty: {name} must be a positive number, "
                              f"got {x!r}")
    return x
