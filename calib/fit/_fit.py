r"""``calib.fit``: calibrate a model's parameters against observed datasets.

The pipeline (DESIGN.md: objective → fit → result):

1. the datasets are validated (units, uncertainties, finiteness: ``calib.data.prepare_all``);
2. the parameter specs become an unconstrained vector ``z`` (``calib.parameters``);
3. the objective's programs are compiled once (residuals with their exact Jacobian through every
   inner equilibrium, or the objective with its gradient);
4. the outer optimiser runs, rejecting any point whose inner solves did not converge, writing a
   checkpoint after each accepted iteration;
5. at the optimum the Gauss–Newton covariance, correlations, identifiability and (on request)
   profile-likelihood intervals are computed, and everything is returned as a :class:`FitResult`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import time
from typing import Any, Callable, Iterable

import jax.numpy as jnp
import numpy as np

from .. import _overrides
from .._errors import CalibTypeError, CalibValueError
from ..data import prepare_all
from ..objective import Objective
from ..parameters import ParameterSpace, Tied
from . import _checkpoint
from ._evaluate import Evaluator
from ._loop import FitError, Tracker
from ._optimizers import BOUNDS_NATIVE, RUNNERS, Options, check_optimizer
from ._profile import profile_likelihood
from ._result import DatasetFit, FitResult, VariableFit
from ._uncertainty import gauss_newton_uncertainty


def fit(model: Callable | Any, data: Any, parameters: Any, *, optimizer: str = "trf",
        adjoint=None, loss: str = "linear", loss_scale: float = 1.0, weights=None,
        relative_weights: bool = False, absolute_sigma: bool | None = None,
        jacobian: str = "auto", confidence: float = 0.95, profile: Iterable[str] = (),
        checkpoint: str | pathlib.Path | None = None, resume: bool = False,
        progress: bool | None = None, callback: Callable | None = None,
        max_iterations: int = 200, ftol: float = 1e-10, xtol: float = 1e-10, gtol: float = 1e-10,
        max_rejections: int = 20, learning_rate: float = 0.05,
        config: dict | None = None) -> FitResult:
    r"""Fit ``parameters`` of ``model`` to ``data``.

    Args:
        model: ``model(theta, conditions) -> {variable: prediction}`` (pure JAX; may call
            :func:`calib.equilibrium` and the ``physics`` property functions), a
            :class:`calib.Model` with declared units / warm start, or a dict ``dataset name ->
            model``.
        data: an ``xarray.Dataset``, a NetCDF path, or a list/dict of them (see
            ``docs/concepts/data_conventions.md``).
        parameters: a list of :class:`calib.Parameter` / :class:`calib.Tied`, or a dict
            ``name -> initial value``.
        optimizer: ``"trf"`` (default; scipy least_squares, trust-region reflective, bounds
            native), ``"lm"`` (Levenberg–Marquardt), ``"lbfgsb"`` (scipy L-BFGS-B, reverse-mode
            gradients), ``"adam"``, ``"lbfgs"`` (optax loops, for many parameters).
        adjoint: the adjoint every inner solve uses (``calib.Implicit()`` … ``calib.Unrolled(k)``);
            ``None`` keeps each solve's own (implicit by default).
        loss, loss_scale: ``"linear"`` (χ²), ``"huber"``, ``"soft_l1"``, ``"cauchy"``, with the
            scale in units of σ.
        weights: per-dataset weights (a number, a list, or a dict by name).
        relative_weights: the data carry no uncertainty; all σ = 1 and the covariance is scaled
            by the reduced χ².
        absolute_sigma: σ are absolute (the covariance is :math:`(J^TWJ)^{-1}`) or relative
            (scaled by the reduced χ²). Default: absolute unless ``relative_weights``.
        jacobian: ``"fwd"`` (one tangent solve per parameter), ``"rev"`` (one adjoint solve per
            residual) or ``"auto"`` (the cheaper).
        confidence: level of the reported intervals.
        profile: parameter names whose profile-likelihood interval to compute.
        checkpoint: file written atomically after every accepted iteration.
        resume: continue from ``checkpoint`` if it exists (same parameters, data and optimiser).
        progress: show a progress bar (``None``: only on a terminal).
        callback: ``callback(info: IterationInfo)`` after every accepted iteration; a true return
            value stops the fit (the result then says so).
        max_iterations, ftol, xtol, gtol, max_rejections, learning_rate: see
            :class:`calib.fit._optimizers.Options`.
        config: extra JSON-serialisable information kept in the result.

    Returns:
        A :class:`FitResult`.

    Raises:
        FitError: the start is not evaluable, or the fit cannot recover from failed inner solves
            (the message names the solve and the parameters).
    """
    started = time.perf_counter()
    if resume and checkpoint is None:
        raise CalibValueError("fit: resume=True needs the checkpoint path it should resume from")
    options = Options(max_iterations=_positive_int(max_iterations, "max_iterations"),
                      ftol=_non_negative(ftol, "ftol"), xtol=_non_negative(xtol, "xtol"),
                      gtol=_non_negative(gtol, "gtol"),
                      max_rejections=_positive_int(max_rejections, "max_rejections"),
                      learning_rate=_positive(learning_rate, "learning_rate"))
    if not 0 < confidence < 1:
        raise CalibValueError(f"fit: confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
    if callback is not None and not callable(callback):
        raise CalibTypeError("fit: callback must be callable(info) -> bool | None")
    optimizer = check_optimizer(optimizer, loss)
    datasets = prepare_all(data, weights=weights, relative_weights=relative_weights)
    space = ParameterSpace(parameters, bounds_native=BOUNDS_NATIVE[optimizer])
    objective = Objective(model, datasets, space, loss=loss, loss_scale=loss_scale)
    profile = list(profile)
    for name in profile:
        space.element_slice(name)  # a free scalar parameter, else a clear error now
        if np.size(space.spec(name).value) != 1:
            raise CalibValueError(f"fit: profile of {name!r}: only scalar parameters can be profiled")
    if profile and loss != "linear":
        raise CalibValueError("fit: profile-likelihood intervals need loss='linear'")
    evaluator = Evaluator(objective, jacobian=jacobian, adjoint=adjoint)
    relative = any(d.relative_sigma for d in datasets)
    absolute = (not relative) if absolute_sigma is None else bool(absolute_sigma)

    fingerprint = _checkpoint.fingerprint(space, datasets, optimizer, loss, loss_scale)
    checkpoint_path = None if checkpoint is None else pathlib.Path(checkpoint)
    z0, history, resume_state, start_iteration = space.z0(), None, None, 0
    if checkpoint_path is not None:
        saved = _checkpoint.read(checkpoint_path, fingerprint=fingerprint, optimizer=optimizer) \
            if resume else None
        if saved is not None:
            z0, history = saved["z"], saved["history"]
            resume_state, start_iteration = saved["state"] or {"resumed": np.asarray(1)}, saved["iteration"]
    tracker = Tracker(space=space, optimizer=optimizer, fingerprint=fingerprint,
                      checkpoint=checkpoint_path, progress=progress, callback=callback,
                      start_iteration=start_iteration, history=history,
                      max_iterations=options.max_iterations)
    with _overrides.override_adjoint(adjoint):
        try:
            outcome = RUNNERS[optimizer](evaluator, z0, tracker, options, resume_state)
        finally:
            tracker.close()
        final = outcome.evaluation
        if final.jacobian is None:  # gradient-based runs: one Jacobian at the optimum
            final = evaluator.evaluate("jacobian", outcome.z, final.states)
            if not final.ok:
                raise FitError(f"the Jacobian at the optimum could not be computed: {final.failure}")
        uncertainty = _uncertainty(space, objective, final, outcome.z, absolute, confidence)
        profiles = {name: _profile(name, evaluator, space, final, outcome.z, confidence,
                                   uncertainty, options) for name in profile}
    run_seconds = time.perf_counter() - started - evaluator.compile_seconds
    return _result(space, datasets, objective, final, outcome, uncertainty, profiles, tracker,
                   evaluator, optimizer, adjoint, confidence, absolute, loss, loss_scale,
                   run_seconds, config, checkpoint_path)


def _uncertainty(space, objective, final, z, absolute, confidence):
    m = objective.n_data
    # d r / d theta = d r / d z / (d theta / d z): the Jacobian in physical units.
    derivative = np.asarray(space.derivative(jnp.asarray(z)))
    with np.errstate(divide="ignore", invalid="ignore"):
        jacobian = final.jacobian[:m] / derivative[None, :]
    values = space.free_vector({k: np.asarray(v) for k, v in space.values(jnp.asarray(z)).items()})
    lower, upper = space.element_bounds()
    prior = space.prior_precision()
    # A log or bounded transform that has driven z towards infinity (an optimum on the bound) has
    # d theta/dz = 0: the physical sensitivity is lost there. Such parameters are treated as held at
    # their bound, and the others' uncertainty is conditional on them.
    saturated = (derivative == 0) | ~np.all(np.isfinite(jacobian), axis=0)
    keep = ~saturated
    names = [n for n, k in zip(space.free_names, keep) if k]
    uncertainty = gauss_newton_uncertainty(
        jacobian[:, keep], final.residuals, names, values[keep], absolute_sigma=absolute,
        bounds=list(zip(lower[keep], upper[keep])),
        prior_precision=None if prior is None else prior[np.ix_(keep, keep)], confidence=confidence)
    if not np.any(saturated):
        return uncertainty
    return _expand(uncertainty, keep, space.free_names, values)


def _expand(u, keep, names, values):
    """An :class:`Uncertainty` over the kept parameters, widened to all with NaN for the others."""
    p, index = len(names), np.flatnonzero(keep)

    def vector(a, fill=np.nan):
        out = np.full(p, fill)
        out[index] = a
        return out

    def matrix(a):
        out = np.full((p, p), np.nan)
        out[np.ix_(index, index)] = a
        return out

    intervals = np.full((p, 2), np.nan)
    intervals[index] = u.intervals
    eigenvectors = np.zeros((p, p))
    eigenvectors[np.ix_(index, np.arange(index.size))] = u.eigenvectors
    held = [n for n, k in zip(names, keep) if not k]
    warnings = list(u.warnings) + [
        f"{n} = {v:.6g} sits on its bound, where its transform saturates (d theta/dz = 0): it is "
        "held there for the uncertainty analysis, its standard error is not meaningful and the "
        "others' are conditional on it; profile it for a one-sided interval"
        for n, v, k in zip(names, values, keep) if not k]
    return dataclasses.replace(
        u, names=tuple(names), values=np.asarray(values, dtype=float), covariance=matrix(u.covariance),
        standard_errors=vector(u.standard_errors), intervals=intervals,
        correlation=matrix(u.correlation),
        eigenvalues=np.concatenate([u.eigenvalues, np.full(p - index.size, np.nan)]),
        eigenvectors=eigenvectors, scaled_sensitivities=vector(u.scaled_sensitivities),
        at_bound=tuple(u.at_bound) + tuple(held), warnings=tuple(warnings))


class _Reduced:
    """An evaluator over all free parameters but one, which is held at a given ``z`` value."""

    def __init__(self, evaluator: Evaluator, index: int, z_fixed: float):
        self.evaluator, self.index, self.z_fixed = evaluator, index, z_fixed
        self.objective = evaluator.objective

    def full(self, z_reduced):
        return np.insert(np.asarray(z_reduced, dtype=float), self.index, self.z_fixed)

    def evaluate(self, kind, z_reduced, states=None):
        evaluation = self.evaluator.evaluate(kind, self.full(z_reduced), states)
        evaluation = dataclasses.replace(evaluation, z=np.delete(evaluation.z, self.index))
        if evaluation.jacobian is not None:
            evaluation.jacobian = np.delete(evaluation.jacobian, self.index, axis=1)
        return evaluation


def _profile(name, evaluator, space, final, z_best, confidence, uncertainty, options):
    """Profile likelihood of ``name``: each point a re-fit of the others (scipy's trust-region
    reflective method within the others' bounds, on the same compiled Jacobian program: the profiled
    parameter is held by deleting its column). Each side of the walk warm-starts from its previous
    point, beginning at the optimum."""
    from scipy.optimize import least_squares

    index = space.element_slice(name).start
    spec = space.spec(name)
    transform = space.transforms[name]
    best_value = float(np.asarray(space.values(jnp.asarray(z_best))[name]))
    standard_error = float(uncertainty.standard_errors[index])
    starts = {-1: np.delete(z_best, index), 1: np.delete(z_best, index)}
    lower, upper = (np.delete(b, index) for b in space.native_bounds())
    states = final.states if evaluator.objective.warm_start else None

    def refit(value):
        try:
            z_fixed = float(transform.to_unconstrained(value, name=name))
        except CalibValueError:
            return math.nan, False
        if space.size == 1:
            evaluation = evaluator.evaluate("value", np.array([z_fixed]), states)
            return evaluation.loss, evaluation.ok
        reduced = _Reduced(evaluator, index, z_fixed)
        side = 1 if value >= best_value else -1
        cache = {}

        def fun(z):
            evaluation = reduced.evaluate("jacobian", z, states)
            cache["last"] = evaluation
            return evaluation.all_residuals if evaluation.ok else \
                np.full(evaluator.objective.n_data + evaluator.objective.n_prior, np.nan)

        def jac(z):
            evaluation = cache["last"]
            if not np.array_equal(evaluation.z, z):
                evaluation = reduced.evaluate("jacobian", z, states)
            return evaluation.jacobian

        try:
            result = least_squares(fun, np.clip(starts[side], lower, upper), jac=jac,
                                   bounds=(lower, upper), method="trf", ftol=options.ftol,
                                   xtol=options.xtol, gtol=options.gtol,
                                   max_nfev=10 * options.max_iterations + 10)
        except (FitError, ValueError):
            return math.nan, False
        final_point = reduced.evaluate("value", result.x, states)
        if not final_point.ok:
            return math.nan, False
        starts[side] = result.x  # the next point on this side starts from this one's optimum
        return final_point.loss, bool(result.status > 0)

    return profile_likelihood(name, best_value, final.loss, refit,
                              standard_error=standard_error if math.isfinite(standard_error) else None,
                              bounds=(spec.lower, spec.upper), confidence=confidence,
                              scale=_profile_scale(uncertainty))


def _profile_scale(uncertainty) -> float:
    """The Delta-chi2 scale of a profile: that of the covariance, or 1 where it is not defined
    (no degrees of freedom left, or a perfect fit with relative sigma)."""
    scale = float(uncertainty.scale)
    return scale if math.isfinite(scale) and scale > 0 else 1.0


def _result(space, datasets, objective, final, outcome, uncertainty, profiles, tracker, evaluator,
            optimizer, adjoint, confidence, absolute, loss, loss_scale, run_seconds, config,
            checkpoint_path) -> FitResult:
    values = {k: np.asarray(v) for k, v in space.values(jnp.asarray(outcome.z)).items()}
    names, vals, initial, units, kinds, lower, upper, prior_mean, prior_sigma = ([] for _ in range(9))
    for spec in space.specs:
        value = np.asarray(values[spec.name], dtype=float)
        start = (np.asarray(spec.value, dtype=float) if not isinstance(spec, Tied)
                 else np.asarray(space.values(jnp.asarray(space.z0()))[spec.name], dtype=float))
        element_names = ([spec.name] if value.ndim == 0 else
                         [f"{spec.name}[{','.join(map(str, i))}]" for i in np.ndindex(*value.shape)])
        kind = "tied" if isinstance(spec, Tied) else ("fixed" if spec.fixed else "free")
        for n, v, s in zip(element_names, np.ravel(value), np.ravel(np.broadcast_to(start, value.shape))):
            names.append(n)
            vals.append(float(v))
            initial.append(float(s))
            units.append(spec.units)
            kinds.append(kind)
            lower.append(getattr(spec, "lower", -np.inf))
            upper.append(getattr(spec, "upper", np.inf))
            prior = getattr(spec, "prior", None)
            prior_mean.append(np.nan if prior is None else prior[0])
            prior_sigma.append(np.nan if prior is None else prior[1])
    dataset_fits = []
    for i, dataset in enumerate(datasets):
        variables = {name: VariableFit(name=name, units=o.units, dims=tuple(o.dims),
                                       observed=np.asarray(o.values, dtype=float),
                                       sigma=np.asarray(o.sigma, dtype=float),
                                       predicted=np.asarray(final.predictions[i][name], dtype=float))
                     for name, o in dataset.observations.items()}
        source = dataset.source
        coord_dims = {c: tuple(source[c].dims) if c in source.coords else (c,) for c in dataset.conditions}
        dataset_fits.append(DatasetFit(name=dataset.name, weight=float(dataset.weight),
                                       relative_sigma=bool(dataset.relative_sigma),
                                       coords={c: np.asarray(v) for c, v in dataset.conditions.items()},
                                       coord_dims=coord_dims,
                                       coord_units=dict(dataset.condition_units),
                                       variables=variables))
    chi2 = float(final.residuals @ final.residuals)
    stats = evaluator.statistics
    rejected = int(np.sum(~tracker.history_arrays()["accepted"]))
    inner = {"solves": stats["solves"], "failed": stats["failed_solves"],
             "failed_evaluations": stats["failed_evaluations"], "rejected_steps": rejected,
             "inner_steps": stats["inner_steps"], "max_steps": stats["max_inner_steps"],
             "adjoint_solves": stats["adjoint_solves"], "failed_adjoints": stats["failed_adjoints"]}
    warnings = list(uncertainty.warnings)
    if loss != "linear":
        warnings.append(f"robust loss {loss!r}: the covariance is the Gauss-Newton one of the "
                        "weighted residuals, an approximation for a robust fit")
    if not outcome.success:
        warnings.append(f"the optimiser did not report convergence: {outcome.message}")
    full_config = {"optimizer": optimizer, "adjoint": repr(adjoint) if adjoint is not None else "per solve",
                   "loss": loss, "loss_scale": loss_scale, "jacobian": evaluator.jacobian_mode,
                   "absolute_sigma": absolute, "confidence": confidence,
                   "checkpoint": None if checkpoint_path is None else str(checkpoint_path),
                   "transforms": {n: t.kind for n, t in space.transforms.items()},
                   "models": [m.name for m in objective.models],
                   "adjoints_used": sorted(evaluator.adjoints_used)}
    if config:
        full_config["user"] = config
    json.dumps(full_config, default=str)  # fails early if not serialisable
    return FitResult(
        parameter_names=tuple(names), values=np.asarray(vals), initial=np.asarray(initial),
        units=tuple(units), kinds=tuple(kinds), lower=np.asarray(lower, dtype=float),
        upper=np.asarray(upper, dtype=float), prior_mean=np.asarray(prior_mean, dtype=float),
        prior_sigma=np.asarray(prior_sigma, dtype=float), free_names=tuple(space.free_names),
        standard_errors=uncertainty.standard_errors, intervals=uncertainty.intervals,
        confidence=float(confidence), covariance=uncertainty.covariance,
        correlation=uncertainty.correlation, eigenvalues=uncertainty.eigenvalues,
        eigenvectors=uncertainty.eigenvectors, scaled_sensitivities=uncertainty.scaled_sensitivities,
        chi2=chi2, objective=float(final.loss), dof=int(uncertainty.dof),
        reduced_chi2=float(uncertainty.reduced_chi2), covariance_scale=float(uncertainty.scale),
        absolute_sigma=bool(absolute), warnings=tuple(warnings),
        profiles={name: p.to_dict() for name, p in profiles.items()},
        history=tracker.history_arrays(), datasets=tuple(dataset_fits), inner=inner,
        config=json.loads(json.dumps(full_config, default=str)), success=bool(outcome.success),
        message=str(outcome.message), optimizer=optimizer,
        adjoint=full_config["adjoint"], n_evaluations=int(stats["evaluations"]),
        n_jacobians=int(stats["jacobians"]), compile_seconds=float(evaluator.compile_seconds),
        run_seconds=float(run_seconds))


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise CalibValueError(f"fit: {name} must be a positive int, got {value!r}")
    return int(value)


def _positive(value, name):
    return _number(value, name, strict=True)


def _non_negative(value, name):
    return _number(value, name, strict=False)


def _number(value, name, *, strict: bool):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise CalibTypeError(f"fit: {name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
        raise CalibValueError(f"fit: {name} must be {'>' if strict else '>='} 0, got {value!r}")
    return value
