"""Loops that are either fast (``while_loop``) or reverse-differentiable (masked ``scan``).

A ``lax.while_loop`` stops as soon as its condition fails but cannot be reverse-differentiated; a
``lax.scan`` of fixed length can. Unrolled adjoints differentiate through every solver step, so the
loops *inside* a step (CG iterations of a Newton step) must then run a fixed number of masked
iterations; everywhere else the early-exit loop is used.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import jax
import jax.numpy as jnp
from jax import lax

State = TypeVar("State")


def bounded_while(
    cond: Callable[[State], jax.Array],
    body: Callable[[State], State],
    init: State,
    max_iterations: int,
    differentiable: bool,
) -> State:
    """Run ``body`` while ``cond`` holds, at most ``max_iterations`` times.

    With ``differentiable=True`` the loop is a ``scan`` of exactly ``max_iterations`` iterations in
    which finished iterations leave the state unchanged, so reverse mode works through it.
    """
    if not differentiable:
        def counted_cond(carry):
            i, state = carry
            return (i < max_iterations) & cond(state)

        def counted_body(carry):
            i, state = carry
            return i + 1, body(state)

        return lax.while_loop(counted_cond, counted_body, (jnp.asarray(0), init))[1]

    def masked(state, _):
        keep_going = cond(state)
        new = body(state)
        return jax.tree.map(lambda n, o: jnp.where(keep_going, n, o), new, state), None

    return lax.scan(masked, init, None, length=max_iterations)[0]
