"""Batched equilibria under ``jax.jit`` with the batch axis sharded over 4 devices.

A batch of 8 parameter sets and 8 starts is placed on a ``Mesh`` of 4 (host) devices with
``NamedSharding(mesh, PartitionSpec("batch"))``, and ``jax.jit(jax.vmap(solve_and_grad))`` is run on
it for several solver/adjoint pairs. The outputs (state, energy, result codes, step counts, loss and
gradient) must stay sharded over the 4 devices along the batch axis (an integer diagnostic that is
the same for every member, such as the fixed step count of an unrolled run, may instead be
replicated on all 4) and equal the results of the same program on one device.

The device count of the CPU platform is fixed when JAX starts, so the check runs in a child Python
process started with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``; it exits non-zero with
a message naming what differed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    '''
    import sys
    import warnings

    warnings.simplefilter("error")  # as in the test suite: a non-converged solve is a failure

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    import calib
    from batching_systems import HESSIAN, N, energy, loss_of_solution, make_theta, stack

    FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
    BATCH = 8
    RTOL = 1e-12
    failures = []


    def fail(message):
        failures.append(message)
        print("FAIL: " + message, file=sys.stderr, flush=True)


    if not jax.config.jax_enable_x64:
        sys.exit("JAX_ENABLE_X64 is not on in the child process")
    devices = jax.devices()
    if len(devices) != 4 or devices[0].platform != "cpu":
        sys.exit(f"expected 4 CPU devices, got {devices}")

    mesh = Mesh(np.array(devices), ("batch",))
    batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))
    rng = np.random.default_rng(7)
    thetas = stack([make_theta(1.0 + 0.1 * i, 0.5 + 0.05 * i, 0.02 * i) for i in range(BATCH)])
    x0s = jnp.asarray(0.3 * rng.normal(size=(BATCH, N)))

    CASES = {
        "LBFGS + Implicit": (calib.LBFGS(), calib.Implicit()),
        "FIRE + Unrolled": (calib.FIRE(), calib.Unrolled(steps=300)),
        "NewtonCG + Implicit(Dense)": (calib.NewtonCG(), calib.Implicit(linear_solver=calib.Dense())),
        # A host callback (SuperLU) inside the solve and the adjoint.
        "SparseNewton + Implicit": (calib.SparseNewton(hessian=HESSIAN, method="superlu"),
                                    calib.Implicit()),
    }


    def program(solver, adjoint):
        def solve_and_grad(theta, x0):
            def loss(theta):
                sol = calib.equilibrium(energy, x0, theta, solver=solver, adjoint=adjoint)
                return loss_of_solution(sol), sol

            (value, sol), grad = jax.value_and_grad(loss, has_aux=True)(theta)
            return {"loss": value, "x": sol.x, "energy": sol.energy, "result": sol.result,
                    "steps": sol.steps, "max_force": sol.max_force, "grad": grad}

        return jax.jit(jax.vmap(solve_and_grad), compiler_options=FAST_COMPILE)


    for name, (solver, adjoint) in CASES.items():
        failed_before = len(failures)
        fn = program(solver, adjoint)
        try:
            sharded = jax.block_until_ready(fn(*jax.device_put((thetas, x0s), batch_sharding)))
            single = jax.block_until_ready(fn(*jax.device_put((thetas, x0s), devices[0])))
        except Exception as error:  # report every case, not only the first that breaks
            fail(f"{name}: {type(error).__name__}: {error}")
            continue
        flat_sharded = jax.tree_util.tree_flatten_with_path(sharded)[0]
        flat_single = jax.tree.leaves(single)
        for (path, got), want in zip(flat_sharded, flat_single):
            what = f"{name}: output{jax.tree_util.keystr(path)}"
            if len(got.sharding.device_set) != 4:
                fail(f"{what} lives on {len(got.sharding.device_set)} device(s), not 4: {got.sharding}")
            elif got.dtype.kind in "iub" and got.sharding.is_fully_replicated:
                # An integer diagnostic that does not depend on the member (the fixed step count
                # of an unrolled run) may come back replicated on every device instead.
                pass
            elif not got.sharding.is_equivalent_to(batch_sharding, got.ndim):
                fail(f"{what} is not sharded along the batch axis: {got.sharding}")
            elif {shard.data.shape[0] for shard in got.addressable_shards} != {BATCH // 4}:
                fail(f"{what}: shard sizes {[s.data.shape for s in got.addressable_shards]}")
            got, want = np.asarray(got), np.asarray(want)
            if got.dtype.kind in "iub":
                if not np.array_equal(got, want):
                    fail(f"{what}: sharded {got} != one device {want}")
                continue
            scale = 1.0 if path[-1].key == "max_force" else np.max(np.abs(want))  # a residual ~ tol
            err = np.max(np.abs(got - want))
            if not err <= RTOL * scale:
                fail(f"{what}: sharded and one-device results differ by {err:.3e} (scale {scale:.3e})")
        if not np.all(np.asarray(single["result"]) == calib.RESULTS.successful):
            fail(f"{name}: not every member converged: {np.asarray(single['result'])}")
        if len(failures) == failed_before:
            print(f"ok: {name}", flush=True)

    sys.exit(1 if failures else 0)
    '''
)


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_jit_vmap_with_the_batch_sharded_over_four_devices():
    """With a batch of 8 sharded over 4 host devices, ``jit(vmap(solve_and_grad))`` for L-BFGS +
    Implicit, FIRE + Unrolled, Newton-CG + Implicit(Dense) and SparseNewton + Implicit returns
    outputs sharded over the 4 devices along the batch axis, equal (1e-12 relative; integer fields
    exactly) to the same program run on one device."""
    here = pathlib.Path(__file__).resolve().parent
    env = dict(os.environ)
    env.update(
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_ENABLE_X64="1",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join(filter(None, [str(here), env.get("PYTHONPATH")])),
    )
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=here, capture_output=True,
                           text=True, timeout=600)
    returncode = child.returncode
    assert returncode == 0, (
        f"the sharded child process exited with {returncode}\n"
        f"--- stdout ---\n{child.stdout}\n--- stderr ---\n{child.stderr}")
