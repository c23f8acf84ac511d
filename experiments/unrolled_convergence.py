"""Which solvers' unrolled derivatives converge to the implicit gradient?

For each solver, backpropagate through ``K`` steps (``calib.Unrolled(steps=K)``) on a nonlinear
bowl (a random SPD quadratic plus a quartic, ``n`` unknowns) and print, against the implicit
gradient of a tightly converged solve measured in the same run: the relative gradient error, the
IFT residual that the unrolled mode reports (``Solution.ift_residual``) and the final force.

    python experiments/unrolled_convergence.py --n 20 --steps 10 30 100 300
"""

from __future__ import annotations

import argparse
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import calib


def _problem(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    m0 = jnp.asarray(q @ q.T / n + np.eye(n))

    def energy(x, theta):
        return (0.5 * x @ (m0 + jnp.diag(theta["k"])) @ x - theta["f"] @ x
                + 0.05 * jnp.sum(x ** 4))

    theta = {"k": jnp.asarray(rng.uniform(0.5, 2.0, n)), "f": jnp.asarray(rng.normal(size=n))}
    return energy, theta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="unknowns")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 30, 100, 300])
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    energy, theta = _problem(args.n)
    x0 = jnp.zeros(args.n)

    def gradient(solver, adjoint):
        def loss(t):
            sol = calib.equilibrium(energy, x0, t, solver=solver, adjoint=adjoint, warn=False)
            return jnp.sum(sol.x ** 2), sol
        return jax.jit(jax.grad(loss, has_aux=True))(theta)

    exact, _ = gradient(calib.LBFGS(tol=1e-13), calib.Implicit())
    flat_exact = jax.flatten_util.ravel_pytree(exact)[0]
    solvers = {"GradientDescent": calib.GradientDescent(step_size=0.1, tol=1e-12),
               "FIRE": calib.FIRE(tol=1e-12), "LBFGS": calib.LBFGS(tol=1e-12),
               "NewtonCG": calib.NewtonCG(tol=1e-12)}
    print(f"{'solver':16s} {'K':>5s} {'grad error':>11s} {'IFT residual':>13s} {'max force':>10s}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", calib.NonConvergenceWarning)
        for name, solver in solvers.items():
            for k in args.steps:
                grad, sol = gradient(solver, calib.Unrolled(steps=k))
                flat = jax.flatten_util.ravel_pytree(grad)[0]
                error = float(jnp.linalg.norm(flat - flat_exact) / jnp.linalg.norm(flat_exact))
                print(f"{name:16s} {k:5d} {error:11.2e} {float(sol.ift_residual):13.2e} "
                      f"{float(sol.max_force):10.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
