r"""The outer optimisers. Each moves the unconstrained vector ``z`` and never accepts a point whose
evaluation failed (an inner solve or an adjoint solve did not converge, or a prediction is not
finite): such a point is rejected and the step shortened, and after ``max_rejections`` failures in
a row the fit stops with a :class:`FitError` that names the solve and the parameters.

- ``lm``: Levenberg–Marquardt with Marquardt's diagonal scaling and Nielsen's damping update
  (Madsen, Nielsen & Tingleff, *Methods for non-linear least squares problems*, 2004), owned here so
  that a failed trial point raises the damping and a checkpoint holds the damping for an exact resume.
  Bounds are kept by the parameters' transforms.
- ``trf``: :func:`scipy.optimize.least_squares`' trust-region reflective method, bounds enforced
  natively; a failed trial point is returned as NaN residuals, which scipy answers by shrinking the
  trust radius. scipy cannot be resumed mid-run: ``resume`` restarts it from the last accepted iterate.
- ``lbfgsb``: :func:`scipy.optimize.minimize` (L-BFGS-B) on the objective with its reverse-mode
  gradient; a failed point is returned as ``+inf``, which its line search backtracks from.
- ``adam`` and ``lbfgs``: optax loops (``optax.adam``; ``optax.scale_by_lbfgs`` with a backtracking
  line search here on the host, where a failed point is a rejected trial).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibValueError
from ..objective._losses import scipy_loss
from ._evaluate import Evaluation, Evaluator
from ._loop import FitError, StopFit, Tracker

OPTIMIZERS = ("trf", "lm", "lbfgsb", "adam", "lbfgs")
# Optimisers that enforce bounds themselves (parameters without a transform keep the identity).
BOUNDS_NATIVE = {"trf": True, "lbfgsb": True, "lm": False, "adam": False, "lbfgs": False}
LEAST_SQUARES = ("trf", "lm")


@dataclasses.dataclass(frozen=True)
class Options:
    """Stopping rules and budgets of the outer loop.

    Attributes:
        max_iterations: accepted outer iterations.
        ftol: stop when the relative decrease of the objective in a step is below ``ftol``.
        xtol: stop when ``||dz|| <= xtol (||z|| + xtol)``.
        gtol: stop when the largest gradient component of the objective (in ``z``) is below ``gtol``.
        max_rejections: failed or rejected trial points in a row before giving up.
        learning_rate: adam's step size (in ``z``, whose entries start at about ±1).
    """

    max_iterations: int = 200
    ftol: float = 1e-10
    xtol: float = 1e-10
    gtol: float = 1e-10
    max_rejections: int = 20
    learning_rate: float = 0.05


@dataclasses.dataclass
class Outcome:
    z: np.ndarray
    evaluation: Evaluation
    success: bool
    message: str


def _start(evaluator: Evaluator, kind: str, z0, tracker: Tracker) -> Evaluation:
    start = evaluator.evaluate(kind, z0, None)
    tracker.spent(start.inner_steps)
    if not start.ok:
        raise FitError(f"the fit cannot start: {start.failure}. Choose initial values where every "
                       "inner solve converges (or loosen the inner solver's settings)")
    if start.states is not None and evaluator.objective.warm_start:
        # Re-evaluate with the warm state, so every later program sees one state structure.
        start = evaluator.evaluate(kind, z0, start.states)
        tracker.spent(start.inner_steps)
        if not start.ok:
            raise FitError(f"the fit cannot start: {start.failure}")
    return start


def _failed_trial(tracker: Tracker, progress: dict, z, trial: Evaluation, options: Options) -> None:
    """Record a failed trial point of a scipy run; give up after ``max_rejections`` in a row.
    ``progress`` holds the last accepted evaluation (``"last"``) and the count (``"failures"``)."""
    tracker.rejected(np.nan, float(np.linalg.norm(z - progress["last"].z)), np.nan)
    progress["failures"] += 1
    if progress["failures"] >= options.max_rejections:
        raise FitError(f"the fit cannot recover: {progress['failures']} trial points in a row "
                       f"failed; the last: {trial.failure}")


def _states_of(evaluation: Evaluation, objective):
    return evaluation.states if objective.warm_start else None


# ---------------------------------------------------------------------------------------- lm
def levenberg_marquardt(evaluator: Evaluator, z0, tracker: Tracker, options: Options,
                        resume_state: dict | None) -> Outcome:
    current = _start(evaluator, "jacobian", z0, tracker)
    damping = float(resume_state["damping"]) if resume_state else None
    factor = float(resume_state["factor"]) if resume_state else 2.0
    if resume_state is None:
        tracker.accepted(current.z, current.loss, 0.0, np.nan, {"damping": np.nan, "factor": factor},
                         initial=True)
    rejections = 0
    while True:
        r, J = current.all_residuals, current.jacobian
        A, g = J.T @ J, J.T @ r
        scaling = np.maximum(np.diag(A), np.finfo(float).tiny)
        if damping is None or not math.isfinite(damping):
            damping = 1e-3 * float(np.max(scaling))  # Madsen et al.'s tau = 1e-3
        if np.max(np.abs(g)) <= options.gtol:
            return Outcome(current.z, current, True, "the gradient vanished (gtol)")
        try:
            step = np.linalg.solve(A + damping * np.diag(scaling), -g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(A + damping * np.diag(scaling), -g, rcond=None)[0]
        step_norm = float(np.linalg.norm(step))
        if step_norm <= options.xtol * (np.linalg.norm(current.z) + options.xtol):
            return Outcome(current.z, current, True, "the step became negligible (xtol)")
        trial = evaluator.evaluate("jacobian", current.z + step, _states_of(current, evaluator.objective))
        tracker.spent(trial.inner_steps)
        predicted = -(2.0 * step @ g + step @ A @ step)
        actual = current.loss - trial.loss if trial.ok else -np.inf
        gain = actual / predicted if predicted > 0 else -np.inf
        if trial.ok and gain > 0:
            damping *= max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3)
            factor = 2.0
            previous, current = current, trial
            rejections = 0
            try:
                tracker.accepted(current.z, current.loss, step_norm, damping,
                                 {"damping": damping, "factor": factor})
            except StopFit as stop:
                return Outcome(current.z, current, not tracker.stopped_by_callback and
                               "max_iterations" not in str(stop), str(stop))
            if 0 <= actual <= options.ftol * previous.loss:
                return Outcome(current.z, current, True, "the objective stopped decreasing (ftol)")
        else:
            tracker.rejected(trial.loss, step_norm, damping)
            damping *= factor
            factor *= 2.0
            rejections += 1
            if rejections >= options.max_rejections:
                reason = trial.failure or "no step decreased the objective"
                if trial.ok:
                    return Outcome(current.z, current, True,
                                   f"no further decrease after {rejections} trial steps (converged "
                                   "to round-off)")
                raise FitError(f"the fit cannot recover: {rejections} trial steps in a row failed; "
                               f"the last: {reason}")


# ---------------------------------------------------------------------------------------- trf
def trust_region_reflective(evaluator: Evaluator, z0, tracker: Tracker, options: Options,
                            resume_state: dict | None) -> Outcome:
    """scipy's trust-region reflective least squares.

    Each trial point is evaluated with its Jacobian in one program (scipy asks for the Jacobian
    right after accepting a point, and most trial points are accepted, so this costs little and one
    program is compiled instead of two). A trial followed by another trial, not by a Jacobian
    request, was rejected by scipy and is recorded as such."""
    from scipy.optimize import least_squares

    objective = evaluator.objective
    current = _start(evaluator, "jacobian", z0, tracker)
    if resume_state is None:
        tracker.accepted(current.z, current.loss, 0.0, np.nan, {}, initial=True)
    accepted = {"last": current, "failures": 0}
    # The start's evaluation answers scipy's first call.
    pending: dict = {"trial": current, "open": False}
    m = objective.n_data + objective.n_prior

    def fun(z):
        z = np.asarray(z, dtype=float)
        if pending["trial"] is not None and np.array_equal(pending["trial"].z, z):
            trial = pending["trial"]
        else:
            if pending["open"]:  # the previous trial was not accepted by scipy
                previous = pending["trial"]
                tracker.rejected(previous.loss,
                                 float(np.linalg.norm(previous.z - accepted["last"].z)), np.nan)
            trial = evaluator.evaluate("jacobian", z, _states_of(accepted["last"], objective))
            tracker.spent(trial.inner_steps)
            pending["trial"], pending["open"] = trial, trial.ok
        if not trial.ok:
            _failed_trial(tracker, accepted, z, trial, options)
            return np.full(m, np.nan)
        return trial.all_residuals

    def jac(z):
        # scipy asks for the Jacobian only at an accepted point: the one just evaluated.
        trial = pending["trial"]
        if trial is None or not np.array_equal(trial.z, z):
            trial = evaluator.evaluate("jacobian", z, _states_of(accepted["last"], objective))
            tracker.spent(trial.inner_steps)
            if not trial.ok:
                raise FitError(f"the point scipy accepted cannot be evaluated: {trial.failure}")
        pending["open"] = False
        if not np.array_equal(trial.z, accepted["last"].z):
            step_norm = float(np.linalg.norm(trial.z - accepted["last"].z))
            accepted["last"], accepted["failures"] = trial, 0
            tracker.accepted(trial.z, trial.loss, step_norm, np.nan, {})
        return trial.jacobian

    lower, upper = objective.space.native_bounds()
    z_start = np.clip(current.z, lower, upper)
    if not np.array_equal(z_start, current.z):
        pending["trial"] = None
    loss = "linear" if objective.loss == "linear" else scipy_loss(objective.loss, objective.n_data)
    try:
        result = least_squares(fun, z_start, jac=jac, bounds=(lower, upper), method="trf",
                               ftol=options.ftol, xtol=options.xtol, gtol=options.gtol,
                               x_scale=1.0, loss=loss, f_scale=objective.loss_scale,
                               max_nfev=10 * options.max_iterations + 10)
    except StopFit as stop:
        last = accepted["last"]
        return Outcome(last.z, last, not tracker.stopped_by_callback and
                       "max_iterations" not in str(stop), str(stop))
    last = accepted["last"]
    if not np.array_equal(last.z, result.x):
        candidate = evaluator.evaluate("jacobian", result.x, _states_of(last, objective))
        if candidate.ok:
            last = candidate
    return Outcome(last.z, last, bool(result.status > 0), str(result.message))


# ---------------------------------------------------------------------------------------- lbfgsb
class _Retreat(Exception):
    """A trial point failed: abandon this scipy run and restart from the last accepted iterate."""

    def __init__(self, step):
        super().__init__("retreat")
        self.step = step


def lbfgsb(evaluator: Evaluator, z0, tracker: Tracker, options: Options,
           resume_state: dict | None) -> Outcome:
    """scipy's L-BFGS-B, restarted from the last accepted iterate whenever a trial point fails.

    Its line search cannot be told that a point is inadmissible (an infinite value derails its
    interpolation), so a failed trial ends the scipy run, and the run restarts from the last accepted
    iterate inside a box (a trust region in the max-norm) a tenth of the size of the failed step. A run
    that ends on the box's edge is restarted with a box twice as large, until one ends inside."""
    from scipy.optimize import minimize

    objective = evaluator.objective
    current = _start(evaluator, "gradient", z0, tracker)
    if resume_state is None:
        tracker.accepted(current.z, current.loss, 0.0, np.nan, {}, initial=True)
    best = {"last": current, "seen": {}, "failures": 0}

    def fun(z):
        z = np.asarray(z, dtype=float)
        trial = evaluator.evaluate("gradient", z, _states_of(best["last"], objective))
        tracker.spent(trial.inner_steps)
        best["seen"] = {"z": z.copy(), "evaluation": trial}
        if not trial.ok:
            _failed_trial(tracker, best, z, trial, options)
            raise _Retreat(np.abs(z - best["last"].z))
        return trial.loss, trial.gradient

    def callback(intermediate_result):
        z = np.asarray(intermediate_result.x, dtype=float)
        seen = best["seen"]
        evaluation = seen["evaluation"] if np.array_equal(seen.get("z"), z) else \
            evaluator.evaluate("gradient", z, _states_of(best["last"], objective))
        if not evaluation.ok:
            raise FitError(f"the point L-BFGS-B accepted cannot be evaluated: {evaluation.failure}")
        step_norm = float(np.linalg.norm(z - best["last"].z))
        best["last"], best["failures"] = evaluation, 0
        try:
            tracker.accepted(z, evaluation.loss, step_norm, np.nan, {})
        except StopFit as stop:
            best["stop"] = str(stop)
            raise StopIteration from None

    lower, upper = objective.space.native_bounds()
    radius = np.inf
    while True:
        start = np.clip(best["last"].z, lower, upper)
        box_lower, box_upper = np.maximum(lower, start - radius), np.minimum(upper, start + radius)
        bounds = list(zip(np.where(np.isfinite(box_lower), box_lower, None),
                          np.where(np.isfinite(box_upper), box_upper, None)))
        remaining = options.max_iterations - tracker.iteration
        try:
            result = minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                              callback=callback,
                              options={"maxiter": max(remaining, 1), "ftol": options.ftol,
                                       "gtol": options.gtol, "maxls": 30})
        except _Retreat as retreat:
            radius = 0.1 * float(np.max(retreat.step))
            continue
        if np.isfinite(radius) and "stop" not in best:
            on_edge = ((np.abs(result.x - box_lower) <= 1e-12 * (1 + np.abs(box_lower))) & (box_lower > lower)) | \
                      ((np.abs(result.x - box_upper) <= 1e-12 * (1 + np.abs(box_upper))) & (box_upper < upper))
            if np.any(on_edge) and remaining > 0:
                radius *= 2.0
                continue
        break
    last = best["last"]
    if "stop" in best:
        return Outcome(last.z, last, not tracker.stopped_by_callback and
                       "max_iterations" not in best["stop"], best["stop"])
    return Outcome(last.z, last, bool(result.success), str(result.message))


# ---------------------------------------------------------------------------------------- optax
def optax_loop(name: str):
    def run(evaluator: Evaluator, z0, tracker: Tracker, options: Options,
            resume_state: dict | None) -> Outcome:
        import optax

        objective = evaluator.objective
        current = _start(evaluator, "gradient", z0, tracker)
        if name == "adam":
            transform = optax.adam(options.learning_rate)
        else:
            transform = optax.scale_by_lbfgs()
        params = jnp.asarray(current.z)
        opt_state = transform.init(params)
        scale = 1.0
        if resume_state:
            leaves = [jnp.asarray(resume_state[f"leaf{i}"])
                      for i in range(len(jax.tree.leaves(opt_state)))]
            opt_state = jax.tree.unflatten(jax.tree.structure(opt_state), leaves)
            scale = float(resume_state["scale"])
        else:
            tracker.accepted(current.z, current.loss, 0.0, scale, _optax_state(opt_state, scale),
                             initial=True)
        update = jax.jit(transform.update)
        rejections = 0
        first = not resume_state
        while True:
            if np.max(np.abs(current.gradient)) <= options.gtol:
                return Outcome(current.z, current, True, "the gradient vanished (gtol)")
            updates, new_state = update(jnp.asarray(current.gradient), opt_state, jnp.asarray(current.z))
            direction = np.asarray(updates) if name == "adam" else -np.asarray(updates)
            if name == "lbfgs" and not first and float(current.gradient @ direction) >= 0:
                # Curvature pairs from a non-convex stretch can give an ascent direction: forget
                # them and restart from the gradient.
                opt_state = transform.init(jnp.asarray(current.z))
                updates, new_state = update(jnp.asarray(current.gradient), opt_state,
                                            jnp.asarray(current.z))
                direction, first = -np.asarray(updates), True
            if name == "lbfgs" and first:
                # No curvature pairs yet: the direction is the raw gradient; start at length <= 1.
                direction = direction / max(1.0, float(np.linalg.norm(direction)))
            step = scale * direction
            trial = evaluator.evaluate("gradient", current.z + step, _states_of(current, objective))
            tracker.spent(trial.inner_steps)
            step_norm = float(np.linalg.norm(step))
            # adam: accept any successful step (it is not a descent method step by step);
            # L-BFGS: Armijo sufficient decrease along the quasi-Newton direction.
            descent = float(current.gradient @ step)
            good = trial.ok and (name == "adam" or trial.loss <= current.loss + 1e-4 * descent)
            if good:
                previous, current, opt_state = current, trial, new_state
                rejections, first = 0, False
                scale = min(1.0, 2.0 * scale)  # a shortened step grows back after successes
                try:
                    tracker.accepted(current.z, current.loss, step_norm, scale,
                                     _optax_state(opt_state, scale))
                except StopFit as stop:
                    return Outcome(current.z, current, not tracker.stopped_by_callback and
                                   "max_iterations" not in str(stop), str(stop))
                if name == "lbfgs" and 0 <= previous.loss - current.loss <= options.ftol * previous.loss:
                    return Outcome(current.z, current, True, "the objective stopped decreasing (ftol)")
                if step_norm <= options.xtol * (np.linalg.norm(current.z) + options.xtol):
                    return Outcome(current.z, current, True, "the step became negligible (xtol)")
            else:
                tracker.rejected(trial.loss, step_norm, scale)
                scale *= 0.5
                rejections += 1
                if rejections >= options.max_rejections:
                    if trial.ok:
                        # Only a step already at round-off size counts as convergence.
                        converged = step_norm <= 1e-8 * (np.linalg.norm(current.z) + 1.0)
                        return Outcome(current.z, current, bool(converged),
                                       f"no decrease in {rejections} shortened trial steps "
                                       f"(last step length {step_norm:.2e})")
                    raise FitError(f"the fit cannot recover: {rejections} trial steps in a row "
                                   f"failed; the last: {trial.failure}")

    return run


def _optax_state(opt_state, scale: float) -> dict:
    state = {f"leaf{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(opt_state))}
    state["scale"] = np.asarray(scale)
    return state


RUNNERS = {"trf": trust_region_reflective, "lm": levenberg_marquardt, "lbfgsb": lbfgsb,
           "adam": optax_loop("adam"), "lbfgs": optax_loop("lbfgs")}


def check_optimizer(optimizer: str, loss: str) -> str:
    if optimizer not in OPTIMIZERS:
        raise CalibValueError(f"optimizer {optimizer!r} is not known; choose one of "
                              f"{', '.join(OPTIMIZERS)}")
    if optimizer == "lm" and loss != "linear":
        raise CalibValueError(f"optimizer 'lm' minimises plain least squares; for loss={loss!r} use "
                              "optimizer='trf' (or lbfgsb/adam/lbfgs)")
    return optimizer
