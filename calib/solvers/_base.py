"""The solver interface shared by every inner (energy-minimisation) solver.

A solver minimises a scalar ``fn(x, params)`` over a flat vector ``x`` (shape ``(n,)``); the
pytree handling is done once, in :func:`calib.equilibrium`. A solver is a frozen dataclass (so it is
hashable and can be a static argument of ``jit``) that provides

* ``init(fn, x0, params) -> state`` and
* ``step(fn, state, params, differentiable) -> state``,

where ``state`` is a NamedTuple with at least the fields ``x``, ``value`` (the energy), ``grad``
(``dE/dx``, i.e. minus the force), ``n_steps`` and ``stalled``. ``differentiable=True`` asks the step
to be reverse-differentiable with respect to ``params`` (used by the unrolled adjoints).

Convergence is always measured on the force: ``max |dE/dx| <= tol``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._options import default_force_tolerance
from .._result import classify
from .._errors import CalibValueError

Fn = Callable[[jax.Array, Any], jax.Array]


def check_positive(owner: str, name: str, value, *, integer: bool = False, allow_none: bool = False):
    """Raise a ValueError that names ``owner.name`` unless ``value`` is a finite positive number
    (``integer=True``: a positive integer; a float such as ``10.0`` is not a count)."""
    if value is None and allow_none:
        return
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        kind = "a positive integer" if integer else "a finite positive number"
        hint = " (counts are integers: drop the decimal point)" if (
            integer and isinstance(value, float) and math.isfinite(value) and value > 0) else ""
        raise CalibValueError(f"{owner}: {name} must be {kind}, got {value!r}{hint}")


def normalise_scalars(obj) -> None:
    """Replace 0-d NumPy/JAX numbers in the fields of the frozen dataclass ``obj`` by Python numbers,
    so ``LBFGS(tol=jnp.float64(1e-8))`` is ``LBFGS(tol=1e-8)`` (hashable, and validated alike)."""
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if isinstance(value, (bool, int, float, str)) or value is None:
            continue
        if isinstance(value, (np.generic, np.ndarray, jax.Array)) and np.ndim(value) == 0:
            try:
                array = np.asarray(value)
            except Exception:  # a tracer: leave it to the caller
                continue
            if array.dtype == bool:
                number = bool(array)
            elif np.issubdtype(array.dtype, np.integer):
                number = int(array)
            elif np.issubdtype(array.dtype, np.floating):
                number = float(array)
            else:
                continue
            object.__setattr__(obj, field.name, number)


@dataclasses.dataclass(frozen=True)
class AbstractSolver:
    """Common options.

    Attributes:
        tol: force tolerance; the solve has converged when ``max |dE/dx| <= tol`` (units of energy
            per unit of ``x``, e.g. eV/Å). ``None`` (default): by the precision of the state, 1e-8 in
            float64 and 1e-4 in float32. A traced option: changing it does not recompile.
        max_steps: the most solver steps before giving up (reported as ``max_steps_reached``).
    """

    tol: float | None = None
    max_steps: int = 10_000

    # Numeric options passed to the compiled solve as data (see calib._options).
    traced_options: ClassVar[tuple[str, ...]] = ("tol",)

    # Whether the curvature this solver gathers makes a good adjoint preconditioner (an exact
    # factorisation does; the few L-BFGS pairs do not measurably): the default of Implicit.precondition.
    prefers_preconditioned_adjoint: ClassVar[bool] = False

    def __post_init__(self):
        normalise_scalars(self)
        name = type(self).__name__
        check_positive(name, "tol", self.tol, allow_none=True)
        check_positive(name, "max_steps", self.max_steps, integer=True)

    # Subclasses implement these two.
    def init(self, fn: Fn, x0: jax.Array, params: Any):  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, fn: Fn, state, params: Any, differentiable: bool):  # pragma: no cover
        raise NotImplementedError

    def curvature(self, state):
        """Curvature information the solver gathered (a pytree), or ``None``; used by
        :meth:`precondition` to speed up the adjoint solve."""
        return None

    def adjoint_curvature(self, curvature, x, params):
        """Curvature for the adjoint at the solution ``x`` (default: what :meth:`curvature` gave)."""
        return curvature

    def precondition(self, curvature, v):
        """Apply an approximation of :math:`H^{-1}` built from ``curvature`` to ``v``."""
        return v

    def refresh(self, fn: Fn, state, params: Any):
        """``state`` with its energy and gradient recomputed at ``params`` (the truncated adjoint
        calls it on a state that went through a ``stop_gradient``)."""
        return refresh(fn, state, params)

    # Shared machinery.
    def tolerance(self, state) -> jax.Array:
        """The force tolerance that applies to ``state`` (``tol``; solvers with a relative criterion
        override this)."""
        return self.absolute_tolerance(state)

    def absolute_tolerance(self, state) -> jax.Array:
        """``tol``, or the default for the precision of ``state.x`` when ``tol`` is ``None``."""
        if self.tol is None:
            return jnp.asarray(default_force_tolerance(state.x.dtype), state.x.dtype)
        return jnp.asarray(self.tol)

    def result(self, state) -> jax.Array:
        """The :class:`calib.RESULTS` code of ``state`` (int32). Solvers that can fail in ways of
        their own (a host linear solve, a singular tangent) override this and fall back to it."""
        return classify(lax.stop_gradient(state.value), lax.stop_gradient(state.grad),
                        self.tolerance(state), state.stalled)

    def converged(self, state) -> jax.Array:
        return jnp.max(jnp.abs(state.grad), initial=0.0) <= self.tolerance(state)

    def finished(self, state) -> jax.Array:
        finite = jnp.isfinite(state.value) & jnp.all(jnp.isfinite(state.grad))
        return self.converged(state) | state.stalled | ~finite

    def run(self, fn: Fn, x0: jax.Array, params: Any):
        """Iterate from ``x0`` until converged, stalled, non-finite or ``max_steps`` (not differentiable)."""
        state = self.init(fn, x0, params)

        def cond(s):
            return (~self.finished(s)) & (s.n_steps < self.max_steps)

        return lax.while_loop(cond, lambda s: self.step(fn, s, params, False), state)

    def run_fixed(self, fn: Fn, state, params: Any, steps: int, differentiable: bool = True):
        """Exactly ``steps`` steps from ``state`` as a ``scan`` (reverse-differentiable)."""
        if steps == 0:
            return state
        return lax.scan(lambda s, _: (self.step(fn, s, params, differentiable), None), state, None,
                        length=steps)[0]


def hold_when_converged(solver: AbstractSolver, old, new):
    """Keep ``old`` once it has converged.

    Quasi-Newton and Newton steps taken after convergence are round-off: L-BFGS would store pairs
    with ``1/(s.y)`` near 1e30 and the trust radius would shrink to zero, which poisons unrolled
    derivatives. A converged state therefore stays put (its derivative is then the identity); the
    step counter still advances.
    """
    done = jax.lax.stop_gradient(solver.converged(old))
    held = jax.tree.map(lambda n, o: jnp.where(done, o, n), new, old)
    return held._replace(n_steps=new.n_steps)


def refresh(fn: Fn, state, params: Any):
    """Recompute the energy and gradient of ``state`` with ``params`` (after a stop_gradient)."""
    value, grad = jax.value_and_grad(fn)(state.x, params)
    return state._replace(value=value, grad=grad)


def safe_divide(num, den):
    """``num / den`` where ``den != 0`` and 0 elsewhere, with finite gradients on both branches."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def safe_norm(v):
    """Euclidean norm whose gradient is 0 (not NaN) at ``v = 0``."""
    sq = jnp.vdot(v, v)
    ok = sq > 0
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, sq, 1.0)), 0.0)


def backtrack(fn: Fn, x, p, params, acceptable, max_halvings: int):
    """Try ``x + t p`` for ``t = 1, 1/2, 1/4, …`` until ``acceptable(t, f_t, g_t)`` or
    ``max_halvings`` halvings; returns ``(t, f_t, g_t, evaluations)``."""
    value_and_grad = jax.value_and_grad(fn)

    def cond(c):
        t, f_t, g_t, i = c
        return (~acceptable(t, f_t, g_t)) & (i < max_halvings)

    def body(c):
        t, _, _, i = c
        t = 0.5 * t
        f_t, g_t = value_and_grad(x + t * p, params)
        return t, f_t, g_t, i + 1

    one = jnp.asarray(1.0, x.dtype)
    f1, g1 = value_and_grad(x + p, params)
    t, f_t, g_t, i = lax.while_loop(cond, body, (one, f1, g1, jnp.asarray(0)))
    return t, f_t, g_t, i + 1


def accept_step(fn: Fn, state, p, t, f_t, g_t, ok, params, differentiable: bool):
    """The state after a line search: ``x + t p`` where it succeeded (``ok``), else unchanged.

    Returns ``(x, value, grad)``. The step length carries no derivative; with ``differentiable``
    the energy and gradient are recomputed at the new point so they depend on ``params``.
    """
    t = lax.stop_gradient(t)
    x_new = jnp.where(ok, state.x + t * p, state.x)
    if differentiable:
        f_new, g_new = jax.value_and_grad(fn)(x_new, params)
    else:
        f_new = jnp.where(ok, f_t, state.value)
        g_new = jnp.where(ok, g_t, state.grad)
    return x_new, f_new, g_new
