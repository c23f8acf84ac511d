"""Gradient descent with a fixed step: the textbook baseline."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import AbstractSolver, check_positive


class GradientDescentState(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    n_steps: jax.Array
    stalled: jax.Array


@dataclasses.dataclass(frozen=True)
class GradientDescent(AbstractSolver):
    r"""Fixed-step gradient descent, :math:`x_{k+1} = x_k - \alpha \nabla_x E(x_k, \theta)`.

    It converges for :math:`0 < \alpha < 2/\lambda_{max}(H)`. It is slow, but its unrolled derivative
    is exactly the Neumann series :math:`\alpha\sum_k (I - \alpha H)^k` that :class:`calib.Neumann`
    truncates, which makes it the reference for comparing unrolled and implicit gradients.

    Attributes:
        step_size: :math:`\alpha`, in units of ``x`` squared per unit of energy.
    """

    step_size: float = 1e-2

    traced_options: ClassVar[tuple[str, ...]] = ("tol", "step_size")

    def __post_init__(self):
        super().__post_init__()
        check_positive("GradientDescent", "step_size", self.step_size)

    def init(self, fn, x0, params):
        value, grad = jax.value_and_grad(fn)(x0, params)
        return GradientDescentState(x0, value, grad, jnp.asarray(0), jnp.asarray(False))

    def step(self, fn, state, params, differentiable):
        x = state.x - self.step_size * state.grad
        value, grad = jax.value_and_grad(fn)(x, params)
        return GradientDescentState(x, value, grad, state.n_steps + 1, state.stalled)
