r"""Compiled, gated evaluations of an :class:`calib.objective.Objective`.

Three programs, each compiled once per fit (ahead of time, so the compile time is measured apart
from the run time):

- ``jacobian``: residuals and their Jacobian with respect to ``z``, by forward mode (``jacfwd``:
  one tangent solve per parameter through each implicit equilibrium, no extra relaxation) or reverse
  mode (``jacrev``: one adjoint solve per residual), for the least-squares optimisers;
- ``gradient``: the objective and its gradient (reverse mode: one adjoint solve), for L-BFGS-B and
  the optax loops;
- ``value``: residuals only (profiles' cheap checks).

*Gating*: every evaluation runs inside :func:`calib._monitor.monitor_solves` and
:func:`calib.record_adjoints`. It is ``ok`` only when every inner solve made by the model converged,
every adjoint solve behind its derivatives converged, and the residuals and derivatives are finite.
Otherwise :attr:`Evaluation.failure` says which solve failed, at which parameters; an optimiser
rejects that point and shortens its step.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _monitor
from .._diagnostics import record_adjoints
from .._errors import CalibValueError
from ..objective import Objective


@dataclasses.dataclass
class Evaluation:
    """One evaluation at ``z``.

    Attributes:
        z: the point, shape ``(p,)``.
        residuals: weighted data residuals ``(m,)``; prior: prior residuals ``(k,)``.
        loss: the objective (robust data term + prior).
        jacobian: ``d[residuals, prior]/dz``, shape ``(m + k, p)`` (least-squares programs).
        gradient: ``d loss/dz``, shape ``(p,)``.
        predictions: per dataset a dict ``variable -> array`` (data units).
        states: the models' new warm-start states.
        ok: every inner and adjoint solve converged and everything is finite.
        failure: why not, in words (None when ok).
        inner_steps: total solver steps of the inner solves.
        solves: number of inner solve events (a batched solve counts once).
    """

    z: np.ndarray
    residuals: np.ndarray
    prior: np.ndarray
    loss: float
    predictions: list
    states: Any
    ok: bool
    failure: str | None
    inner_steps: int
    solves: int
    jacobian: np.ndarray | None = None
    gradient: np.ndarray | None = None

    @property
    def all_residuals(self) -> np.ndarray:
        return np.concatenate([self.residuals, self.prior])


def to_host(x):
    """A NumPy copy of ``x``. An array spread over several processes' devices (a distributed
    fit) cannot be copied as a whole: a replicated one is read from this process's copy."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if not x.is_fully_replicated:
            from jax.experimental import multihost_utils
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x.addressable_data(0))
    return np.asarray(x) if isinstance(x, jax.Array) else x


class Evaluator:
    """Compiles and runs the objective's programs, and gates every result."""

    def __init__(self, objective: Objective, *, jacobian: str = "auto", adjoint=None):
        self.objective = objective
        self.adjoint = adjoint  # the fit's adjoint= override (None: each solve's own)
        p = objective.space.size
        m = objective.n_data + objective.n_prior
        if jacobian == "auto":
            jacobian = "fwd" if p <= m else "rev"
        if jacobian not in ("fwd", "rev"):
            raise CalibValueError(f"jacobian must be 'auto', 'fwd' or 'rev', got {jacobian!r}")
        self.jacobian_mode = jacobian
        self.compile_seconds = 0.0
        self.statistics = {"evaluations": 0, "jacobians": 0, "gradients": 0, "solves": 0,
                           "failed_solves": 0, "failed_evaluations": 0, "inner_steps": 0,
                           "max_inner_steps": 0, "adjoint_solves": 0, "failed_adjoints": 0}
        self._programs: dict = {}
        self.adjoints_used: set[str] = set()

        def value(z, data, states):
            r, prior, predicted, new_states = objective.residuals(z, data, states)
            return r, prior, predicted, new_states

        def stacked(z, data, states):
            r, prior, predicted, new_states = objective.residuals(z, data, states)
            both = jnp.concatenate([r, prior])
            return both, (r, prior, predicted, new_states)

        def jac(z, data, states):
            transform = jax.jacfwd if self.jacobian_mode == "fwd" else jax.jacrev
            J, aux = transform(stacked, has_aux=True)(z, data, states)
            return (J, *aux)

        def grad(z, data, states):
            def loss(z):
                r, prior, predicted, new_states = objective.residuals(z, data, states)
                return objective.value(r, prior), (r, prior, predicted, new_states)

            (value_, aux), g = jax.value_and_grad(loss, has_aux=True)(z)
            return (value_, g, *aux)

        self._functions = {"value": value, "jacobian": jac, "gradient": grad}

    def _program(self, kind: str, z, states):
        key = (kind, jax.tree.structure(states))
        if key not in self._programs:
            start = time.perf_counter()
            lowered = jax.jit(self._functions[kind]).lower(jnp.asarray(z), self.objective.data, states)
            self._programs[key] = lowered.compile()
            self.compile_seconds += time.perf_counter() - start
        return self._programs[key]

    def compile(self, kind: str, z, states=None) -> None:
        """Compile a program ahead of time (its time goes to :attr:`compile_seconds`)."""
        self._program(kind, z, states)

    def evaluate(self, kind: str, z, states=None) -> Evaluation:
        z = np.asarray(z, dtype=float)
        program = self._program(kind, z, states)
        with _monitor.monitor_solves(quiet=True) as monitor, record_adjoints() as adjoints:
            out = program(jnp.asarray(z), self.objective.data, states)
            out = jax.tree.map(to_host, jax.block_until_ready(out))
            events = monitor.collect()
            jax.effects_barrier()
        jacobian = gradient = None
        if kind == "value":
            r, prior, predicted, new_states = out
        elif kind == "jacobian":
            jacobian, r, prior, predicted, new_states = out
            jacobian = np.asarray(jacobian)
        else:
            _, gradient, r, prior, predicted, new_states = out
            gradient = np.asarray(gradient)
        self._check_adjoints(events)
        r, prior = np.asarray(r), np.asarray(prior)
        loss = float(self.objective.value(r, prior))
        failure = self._failure(z, events, list(adjoints), r, prior, jacobian, gradient)
        steps = int(sum(int(np.sum(e.steps)) for e in events))
        stats = self.statistics
        stats["evaluations"] += 1
        stats["jacobians"] += kind == "jacobian"
        stats["gradients"] += kind == "gradient"
        stats["solves"] += len(events)
        stats["failed_solves"] += sum(not e.converged for e in events)
        stats["failed_evaluations"] += failure is not None
        stats["inner_steps"] += steps
        stats["max_inner_steps"] = max([stats["max_inner_steps"]] +
                                       [int(np.max(e.steps)) for e in events])
        stats["adjoint_solves"] += len(adjoints)
        stats["failed_adjoints"] += sum(not a.exact for a in adjoints)
        predicted = jax.tree.map(np.asarray, predicted)
        return Evaluation(z, r, prior, loss, predicted, new_states, failure is None, failure, steps,
                          len(events), jacobian, gradient)

    def _check_adjoints(self, events) -> None:
        """Every solve must have been traced under this fit's ``adjoint=`` choice. A model the user
        compiled (``jax.jit``) before the fit keeps the adjoint of its first trace; the comparison
        of adjoints would then be silently wrong, so it is an error."""
        want = None if self.adjoint is None else type(self.adjoint).__name__
        for event in events:
            site = event.site
            if (want is None and site.overridden) or (want is not None and (
                    not site.overridden or site.adjoint != want)):
                origin = " (another fit's adjoint= option)" if site.overridden else ""
                had = f"{site.adjoint}{origin}"
                raise CalibValueError(
                    f"{site.label}: this solve was compiled earlier with the adjoint {had}, and a "
                    f"jit cache keeps it, so this fit's adjoint={want or 'None'} cannot reach it. "
                    "Do not jax.jit the model yourself (the fit compiles it), or call "
                    "jax.clear_caches() between fits that compare adjoints")
        if events:
            self.adjoints_used.update(e.site.adjoint for e in events)

    def _failure(self, z, events, adjoints, r, prior, jacobian, gradient) -> str | None:
        at = self.describe_parameters(z)
        failed = [e for e in events if not e.converged]
        if failed:
            return "; ".join(e.describe() for e in failed) + f", at {at}"
        bad_adjoints = [a for a in adjoints if not a.exact]
        if bad_adjoints:
            a = bad_adjoints[0]
            return (f"adjoint linear solve ({a.solver}) behind the derivative did not converge "
                    f"(relative residual {float(np.max(a.residual)):.2e} after "
                    f"{int(np.max(a.iterations))} iterations), at {at}")
        bad = np.flatnonzero(~np.isfinite(np.concatenate([r, prior])))
        if bad.size:
            return (f"the model's prediction is not finite for {self.objective.locate(int(bad[0]))}"
                    f"{f' and {bad.size - 1} more points' if bad.size > 1 else ''}, at {at}")
        if jacobian is not None and not np.all(np.isfinite(jacobian)):
            column = int(np.flatnonzero(~np.all(np.isfinite(jacobian), axis=0))[0])
            return (f"the Jacobian column of {self.objective.space.free_names[column]!r} is not "
                    f"finite, at {at}")
        if gradient is not None and not np.all(np.isfinite(gradient)):
            return f"the gradient is not finite, at {at}"
        return None

    def describe_parameters(self, z) -> str:
        values = self.objective.space.values(jnp.asarray(z))
        parts = []
        for name, value in values.items():
            value = np.asarray(value)
            parts.append(f"{name}={value:.6g}" if value.ndim == 0 else f"{name}={np.array2string(value, precision=4)}")
        return ", ".join(parts)
