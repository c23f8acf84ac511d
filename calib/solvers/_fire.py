"""FIRE: the fast inertial relaxation engine."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import AbstractSolver, check_positive, safe_divide, safe_norm
from .._errors import CalibValueError


class FIREState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array
    velocity: jax.Array
    dt: jax.Array
    alpha: jax.Array
    n_positive: jax.Array


@dataclasses.dataclass(frozen=True)
class FIRE(AbstractSolver):
    r"""FIRE relaxation (Bitzek, Koskinen, Gähler, Moseler & Gumbsch, PRL 97, 170201, 2006).

    Damped molecular dynamics with unit masses: the velocity is mixed towards the force direction,
    :math:`v \leftarrow (1-a)v + a|v|\hat F`, the time step grows while the power :math:`F\cdot v`
    stays positive and the motion stops (``v = 0``, smaller ``dt``) as soon as it turns uphill.

    Attributes:
        dt_start, dt_max: initial and largest time step (with unit masses: units of ``x`` /
            sqrt(energy)).
        n_min: number of downhill steps before ``dt`` may grow.
        f_inc, f_dec: growth and shrink factors of ``dt``.
        alpha_start, f_alpha: initial velocity mixing and its decay factor.
        max_step_size: the largest Euclidean length of one step's displacement (``None``: no limit).
    """

    dt_start: float = 0.1
    dt_max: float = 1.0
    n_min: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha_start: float = 0.1
    f_alpha: float = 0.99
    max_step_size: float | None = 0.2

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "dt_start", "dt_max", "f_inc", "f_dec",
                                                   "alpha_start", "f_alpha", "max_step_size")

    def __post_init__(self):
        super().__post_init__()
        for name in ("dt_start", "dt_max", "f_inc", "f_dec", "alpha_start", "f_alpha"):
            check_positive("FIRE", name, getattr(self, name))
        check_positive("FIRE", "n_min", self.n_min, integer=True)
        check_positive("FIRE", "max_step_size", self.max_step_size, allow_none=True)
        if not (self.f_dec < 1 < self.f_inc):
            raise CalibValueError(f"FIRE: need f_dec < 1 < f_inc, got f_dec={self.f_dec}, f_inc={self.f_inc}")
        if self.dt_start > self.dt_max:
            raise CalibValueError(f"FIRE: dt_start={self.dt_start} exceeds dt_max={self.dt_max}")

    def init(self, fn, x0, params):
        value, grad = jax.value_and_grad(fn)(x0, params)
        dtype = value.dtype
        return FIREState(x0, value, grad, jnp.asarray(0), jnp.asarray(False), jnp.zeros_like(x0),
                         jnp.asarray(self.dt_start, dtype), jnp.asarray(self.alpha_start, dtype),
                         jnp.asarray(0))

    def step(self, fn, state, params, differentiable):
        force = -state.grad
        v = state.velocity
        power = jnp.vdot(force, v)
        uphill = power <= 0
        # The adaptive scalars are piecewise constant in theta: no gradient flows through them.
        dt, alpha, n_pos = jax.lax.stop_gradient((state.dt, state.alpha, state.n_positive))
        force_norm = safe_norm(force)
        mixed = (1 - alpha) * v + alpha * safe_norm(v) * safe_divide(force, force_norm)
        v = jnp.where(uphill, jnp.zeros_like(v), mixed)
        grow = (~uphill) & (n_pos > self.n_min)
        dt = jnp.where(uphill, dt * self.f_dec, jnp.where(grow, jnp.minimum(dt * self.f_inc, self.dt_max), dt))
        alpha = jnp.where(uphill, self.alpha_start, jnp.where(grow, alpha * self.f_alpha, alpha))
        n_pos = jnp.where(uphill, 0, n_pos + 1)
        v = v + dt * force
        dx = dt * v
        if self.max_step_size is not None:
            length = safe_norm(dx)
            dx = dx * jnp.minimum(1.0, safe_divide(self.max_step_size, length) + (length == 0))
        x = state.x + dx
        value, grad = jax.value_and_grad(fn)(x, params)
        return FIREState(x, value, grad, state.n_steps + 1, state.stalled, v, dt, alpha, n_pos)
