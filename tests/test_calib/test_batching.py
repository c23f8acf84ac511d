"""``jax.vmap`` over a batch of parameters or of starting states changes nothing, member by member.

For every solver and every adjoint, a batch of ``B = 4`` members solved under ``jax.vmap`` (over
``theta``, and separately over ``x0``) must give, for each member, the same ``Solution`` (state,
energy, result code, step count, force) and the same gradient of a scalar loss as an unbatched call
on that member alone. A batched ``while_loop`` keeps iterating until its slowest member is done, so
this checks that finished members are held exactly where they stopped (their step counts, their
L-BFGS pairs, their trust radii, their host-side factorisations) and that the adjoint of each
member sees only its own equilibrium.

The system is the 8-unknown chain of ``batching_systems`` (quadratic plus quartic, tridiagonal
Hessian, so :class:`calib.SparseNewton` runs on it too). Unrolled modes take a fixed number of steps
``K`` per solver, chosen so that every member converges within them (a run that stops short would be
reported, and warnings are errors here) and so that they stay cheap.

Compilation is the whole cost of these tests, so each (solver, adjoint) pair compiles two programs,
shared by its tests: the unbatched value-and-gradient, and one program holding its ``vmap`` over
``theta`` and its ``vmap`` over ``x0``. The default run covers every solver and every adjoint
(``COVERING``); the rest of the 5 x 7 product is marked ``benchmark`` (``pytest -m benchmark``).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import calib
from batching_systems import (B, HESSIAN, energy, loss_of_solution, make_theta, stack, theta_members,
                              x0_members)

RTOL = 1e-12

# name -> (solver, K: the step count of the unrolled adjoints, enough for every member to converge,
#          T: the differentiated tail of Truncated). Solvers that hold a converged state (L-BFGS,
# the Newton methods) have a zero derivative in a tail that starts after convergence, so their T
# covers the converging steps; a truncated derivative far from the exact one would be reported.
SOLVERS = {
    "LBFGS": (calib.LBFGS(), 40, 38),
    "FIRE": (calib.FIRE(), 300, 200),
    "NewtonCG": (calib.NewtonCG(), 20, 16),
    "GradientDescent": (calib.GradientDescent(step_size=0.2), 150, 50),
    "SparseNewton": (calib.SparseNewton(hessian=HESSIAN, method="superlu"), 10, 8),
}

# name -> adjoint made from (K, T)
ADJOINTS: dict[str, Callable[[int, int], calib.AbstractAdjoint]] = {
    "Implicit-CG": lambda k, t: calib.Implicit(linear_solver=calib.CG()),
    "Implicit-MINRES": lambda k, t: calib.Implicit(linear_solver=calib.MINRES()),
    "Implicit-Dense": lambda k, t: calib.Implicit(linear_solver=calib.Dense()),
    "Neumann": lambda k, t: calib.Neumann(terms=30),
    "Unrolled": lambda k, t: calib.Unrolled(steps=k),
    "Truncated": lambda k, t: calib.Truncated(steps=k, backprop=t),
    "Checkpointed": lambda k, t: calib.Checkpointed(steps=k),
}


def make_adjoint(solver_name: str, adjoint_name: str):
    solver, k, t = SOLVERS[solver_name]
    return solver, ADJOINTS[adjoint_name](k, t)


# XLA's optimisation passes dominate the cost of these tiny programs and have nothing to do with
# batching (a property of the traced program), so both the batched and the unbatched programs are
# compiled without them.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def jit(fn):
    return jax.jit(fn, compiler_options=FAST_COMPILE)


class Programs(NamedTuple):
    single: Callable  # (theta, x0) -> ((loss, Solution), dloss/dtheta), unbatched
    batched: Callable  # (thetas, x0s) -> {"theta": vmap over theta, "x0": vmap over x0}


def _loss_fn(solver, adjoint):
    def loss(theta, x0):
        sol = calib.equilibrium(energy, x0, theta, solver=solver, adjoint=adjoint)
        return loss_of_solution(sol), sol
    return loss


def _start():
    """The common start of the theta batch (and the common theta of the x0 batch is make_theta())."""
    return jnp.zeros_like(x0_members()[0])


@functools.lru_cache(maxsize=None)
def programs(solver_name: str, adjoint_name: str) -> Programs:
    value_and_grad = jax.value_and_grad(_loss_fn(*make_adjoint(solver_name, adjoint_name)),
                                        has_aux=True)

    def batched(thetas, x0s):
        # Both batches in one program: one compilation instead of two.
        return {"theta": jax.vmap(value_and_grad, in_axes=(0, None))(thetas, _start()),
                "x0": jax.vmap(value_and_grad, in_axes=(None, 0))(make_theta(), x0s)}

    return Programs(single=jit(value_and_grad), batched=jit(batched))


@functools.lru_cache(maxsize=None)
def batched_results(solver_name: str, adjoint_name: str) -> dict:
    batched = programs(solver_name, adjoint_name).batched
    return jax.block_until_ready(batched(stack(theta_members()), stack(x0_members())))


@functools.lru_cache(maxsize=None)
def loop_reference(solver_name: str, adjoint_name: str, axis: str):
    """The B unbatched results (a Python loop of calls), stacked along a leading axis."""
    single = programs(solver_name, adjoint_name).single
    if axis == "theta":
        calls = [(theta, _start()) for theta in theta_members()]
    else:
        calls = [(make_theta(), x0) for x0 in x0_members()]
    return stack([jax.block_until_ready(single(*call)) for call in calls])


def assert_close(actual, expected, what: str, rtol: float = RTOL, scale: float | None = None):
    """Member by member: ``max |a - e| <= rtol * s`` with ``s = max |e|`` of that member (or the
    given ``scale``); NaN only where expected is NaN."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    for i in range(expected.shape[0]):
        a, e = actual[i], expected[i]
        assert np.array_equal(np.isnan(a), np.isnan(e)), f"{what}[member {i}]: NaNs differ: {a} vs {e}"
        a, e = np.where(np.isnan(e), 0.0, a), np.where(np.isnan(e), 0.0, e)
        s = np.max(np.abs(e), initial=0.0) if scale is None else scale
        err = np.max(np.abs(a - e), initial=0.0)
        assert err <= rtol * max(s, np.finfo(float).tiny), (
            f"{what}[member {i}]: batched {a} vs unbatched {e} (max abs diff {err:.3e}, "
            f"relative to {s:.3e}: {err / s if s else np.inf:.3e})")


def assert_same_solution(actual: calib.Solution, expected: calib.Solution, where: str):
    """Every field of the Solution: integer ones (steps, result) exactly, floating ones to RTOL.
    Residuals (``max_force`` ~ tol, and the relative ``ift_residual`` of unrolled modes) have a
    round-off relative to the size of the terms they cancel (~1 here), not to their own size."""
    for field in type(expected)._fields:
        a, e = np.asarray(getattr(actual, field)), np.asarray(getattr(expected, field))
        if e.dtype.kind in "iub":
            np.testing.assert_array_equal(a, e, err_msg=f"{where}: Solution.{field}")
        else:
            assert_close(a, e, f"{where}: Solution.{field}", scale=RESIDUAL_SCALES.get(field))


# max |f| of the test system (the size of the forces a solve starts from), and 1 for a relative one.
RESIDUAL_SCALES = {"max_force": 1.0, "ift_residual": 1.0}

# Every solver with an implicit-type adjoint (which runs the solver's while_loop: under vmap it
# iterates until the slowest member is done), every adjoint at least once, and the unrolled-type
# adjoints (which differentiate the solver's step itself) with L-BFGS, the cheap solvers and
# SparseNewton. The rest of the 5 x 7 product runs with ``-m benchmark``: each pair costs two
# compilations of a few seconds, and the differentiated L-BFGS and Newton-CG steps (nested line
# search and CG loops) are the slowest to compile.
# SparseNewton with the implicit adjoint under vmap (the batched host solves) is covered by
# test_sparse_batching.py; here it would cost a minute of compilation.
COVERING = {
    ("LBFGS", "Implicit-CG"),
    ("FIRE", "Neumann"), ("FIRE", "Checkpointed"),
    ("NewtonCG", "Implicit-Dense"),
    ("GradientDescent", "Implicit-MINRES"), ("GradientDescent", "Truncated"),
    ("GradientDescent", "Unrolled"),
    ("SparseNewton", "Unrolled"),
}
assert {s for s, _ in COVERING} == set(SOLVERS) and {a for _, a in COVERING} == set(ADJOINTS)


def _combinations(covering):
    return [pytest.param(s, a, marks=() if (s, a) in covering else pytest.mark.benchmark)
            for s in SOLVERS for a in ADJOINTS]


@pytest.mark.parametrize("axis", ["theta", "x0"])
@pytest.mark.parametrize("solver_name, adjoint_name", _combinations(COVERING))
def test_vmap_matches_loop(solver_name, adjoint_name, axis):
    """``vmap`` over theta (or over x0) of the loss, its gradient and the Solution equals a Python
    loop of unbatched calls, member by member, to 1e-12 relative (integer fields exactly); every
    member converges."""
    (loss, sol), grad = batched_results(solver_name, adjoint_name)[axis]
    (loss_ref, sol_ref), grad_ref = loop_reference(solver_name, adjoint_name, axis)
    where = f"{solver_name} + {adjoint_name}, vmap over {axis}"
    np.testing.assert_array_equal(sol_ref.result, np.zeros(B), err_msg=f"{where}: reference solves")
    assert_same_solution(sol, sol_ref, where)
    assert_close(loss, loss_ref, f"{where}: loss")
    for name in grad_ref:
        assert_close(grad[name], grad_ref[name], f"{where}: dloss/dtheta[{name!r}]")


# Forward mode where it is cheap: the Implicit tangent solve and the jvp of an unrolled scan; the
# other pairs of COVERING run with -m benchmark.
# (jacfwd through the implicit tangent solve is also checked against finite differences by the
# calibration tests, whose least-squares Jacobians are made that way.)
JACFWD = {("GradientDescent", "Unrolled")}


@pytest.mark.parametrize("solver_name, adjoint_name",
                         [pytest.param(s, a, marks=() if (s, a) in JACFWD else pytest.mark.benchmark)
                          for s, a in sorted(COVERING)])
def test_vmap_of_jacfwd_matches_loop(solver_name, adjoint_name):
    """``vmap(jacfwd(x*))`` over a batch of theta equals the loop of unbatched ``jacfwd``."""
    solver, adjoint = make_adjoint(solver_name, adjoint_name)

    def state(theta):
        return calib.equilibrium(energy, _start(), theta, solver=solver, adjoint=adjoint).x

    jacobian = jax.jacfwd(state)
    single = jit(jacobian)
    expected = stack([single(theta) for theta in theta_members()])
    actual = jit(jax.vmap(jacobian))(stack(theta_members()))
    for name in expected:
        assert_close(actual[name], expected[name], f"{solver_name} + {adjoint_name}: dx*/d{name}")


# ----------------------------------------------------------------------------------------------
# A batch with one failing member.
# ----------------------------------------------------------------------------------------------
# Member 3 is pulled much harder (force scale 8, quartic 4): L-BFGS needs ~24 steps for it and at
# most ~15 for the others, so a limit of 19 steps fails that member only.
FAILING_STEP_LIMIT = 19
FAILING_SOLVER = calib.LBFGS(max_steps=FAILING_STEP_LIMIT)


def _failing_batch():
    members = theta_members()
    members[3] = make_theta(8.0, 4.0)
    return members


_failing_value_and_grad = jax.value_and_grad(_loss_fn(FAILING_SOLVER, calib.Implicit()),
                                             has_aux=True)


def test_one_failing_member_is_reported_per_member():
    """Under ``vmap`` a member that hits ``max_steps`` is reported in its own ``Solution.result``
    (``max_steps_reached``, its step count at the limit) while the others report success; the
    forward solve and the gradient at that member both emit a NonConvergenceWarning; the members
    that converge are unaffected by the failing one, and the failing one stops where it stops alone."""
    members = _failing_batch()
    x0 = _start()
    generous = programs("LBFGS", "Implicit-CG").single  # the same solve without the step limit
    references = [generous(theta, x0) for theta in members]
    needed = [int(sol.steps) for (_, sol), _ in references]
    assert max(needed[:3]) < FAILING_STEP_LIMIT < needed[3], f"premise: steps needed {needed}"

    with pytest.warns(calib.NonConvergenceWarning) as caught:
        (loss, sol), grad = jit(jax.vmap(_failing_value_and_grad, in_axes=(0, None)))(
            stack(members), x0)
        jax.block_until_ready(grad)
    messages = [str(w.message) for w in caught]
    assert any("step limit" in m for m in messages), messages
    assert any("gradient taken at an equilibrium solve that did not succeed" in m for m in messages), \
        messages

    expected_result = [calib.RESULTS.successful] * 3 + [calib.RESULTS.max_steps_reached]
    np.testing.assert_array_equal(sol.result, expected_result)
    np.testing.assert_array_equal(sol.converged, [True, True, True, False])
    np.testing.assert_array_equal(sol.steps, needed[:3] + [FAILING_STEP_LIMIT])

    (loss_ref, sol_ref), grad_ref = stack(references[:3])
    head = jax.tree.map(lambda leaf: leaf[:3], ((loss, sol), grad))
    assert_same_solution(head[0][1], sol_ref, "converged members")
    assert_close(head[0][0], loss_ref, "converged members: loss")
    for name in grad_ref:
        assert_close(head[1][name], grad_ref[name], f"converged members: dloss/dtheta[{name!r}]")

    with pytest.warns(calib.NonConvergenceWarning, match="step limit"):
        alone = calib.equilibrium(energy, x0, members[3], solver=FAILING_SOLVER)
    tail = jax.tree.map(lambda leaf: leaf[3:], sol)
    assert_same_solution(tail, jax.tree.map(lambda leaf: leaf[None], alone), "failing member")
