r"""Learned untied step sizes: deep unrolling of gradient descent on a family of FE energies.

Each problem is a scalar diffusion (membrane) finite-element energy on the unit square,

.. math:: E(u) = \tfrac12 \sum_e k_e \int_e |\nabla u|^2 - \int f u, \qquad u = 0 \text{ on the
          boundary},

P1 triangles of ``physics.fem.rectangle`` (``--cells``), with a random log-normal conductivity
field :math:`k_e` per element (``--contrast``: the standard deviation of :math:`\log k`) and a
random smooth load :math:`f`. The energy is quadratic, :math:`E = \tfrac12 u^\top K u - b^\top u`, so
``K``-step gradient descent :math:`u_{j+1} = u_j - \alpha_j \nabla E(u_j)` from :math:`u_0 = 0` is a
``K``-layer network whose layers are the steps. Compared on unseen problems, by the relative
residual :math:`\|\nabla E(u_K)\| / \|\nabla E(u_0)\|`:

* **fixed**: the best fixed step :math:`2/(\lambda_{min} + \lambda_{max})` of each problem (an
  oracle: it needs both extreme eigenvalues);
* **Chebyshev**: the untied schedule
  :math:`\alpha_j^{-1} = \tfrac{\lambda_{max}+\lambda_{min}}2 + \tfrac{\lambda_{max}-\lambda_{min}}2
  \cos\tfrac{\pi(2j-1)}{2K}` of each problem, the minimax optimum over all spectra in
  :math:`[\lambda_{min}, \lambda_{max}]` (also an oracle);
* **learned**: one schedule :math:`\alpha_1 … \alpha_K` for the whole family, learned by
  backpropagation through the ``K`` unrolled steps (Adam on the mean log residual of
  ``--train`` problems; :math:`\alpha_j = e^{s_j}`), knowing no eigenvalue.

The same comparison, without Chebyshev (the energy is not quadratic), runs on a second family:
``--crystals`` strained (up to ``--strain``) and rattled Morse copper crystals with a vacancy,
the learned schedule against each crystal's best fixed step at its relaxed state.

For each ``K`` of ``--depths`` the median and worst test residual of each method; and for each
tolerance of ``--tolerances`` the number of steps each needs: the fixed step's iteration count,
the smallest ``K`` whose Chebyshev schedule reaches it, and the smallest depth in ``--depths``
whose learned schedule reaches it on the median test problem. Output under ``--out``:
``learned_steps.txt``, ``learned_steps.nc``, ``learned_steps.png``. Run as ``calib learned-steps``
or ``python experiments/learned_steps.py``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np

from experiments._figures import enable_x64, finish, two_panels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib learned-steps", description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=12, help="cells per side (default 12)")
    parser.add_argument("--contrast", type=float, default=1.0,
                        help="standard deviation of log k (default 1)")
    parser.add_argument("--train", type=int, default=32, help="training problems (default 32)")
    parser.add_argument("--test", type=int, default=32, help="unseen test problems (default 32)")
    parser.add_argument("--depths", type=int, nargs="+", default=[5, 10, 20, 40, 80],
                        help="unrolled depths K (default 5 10 20 40 80)")
    parser.add_argument("--iterations", type=int, default=600, help="Adam steps (default 600)")
    parser.add_argument("--tolerances", type=float, nargs="*", default=[1e-2, 1e-3])
    parser.add_argument("--crystals", type=int, default=16,
                        help="strained vacancy crystals for training and for testing each "
                             "(default 16; 0 skips the crystal family)")
    parser.add_argument("--strain", type=float, default=0.02,
                        help="largest strain component of the crystals (default 0.02)")
    parser.add_argument("--crystal-depths", type=int, nargs="+", default=[5, 10, 20],
                        help="unrolled depths on the crystals (default 5 10 20)")
    parser.add_argument("--crystal-iterations", type=int, default=200,
                        help="Adam steps per depth on the crystals (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/learned_steps"))
    args = parser.parse_args(argv)
    if args.cells < 2 or args.train < 1 or args.test < 1 or min(args.depths) < 1:
        parser.error("--cells >= 2, --train, --test and --depths >= 1")
    return args


def _jax():
    return enable_x64()


def problems(count: int, cells: int, contrast: float, seed: int):
    """``(K, b)``: stiffness matrices ``(count, n, n)`` and load vectors ``(count, n)`` of the
    interior nodes, with the extreme eigenvalues ``(count, 2)``."""
    from physics import fem

    mesh = fem.rectangle(1.0, 1.0, cells, cells)
    points, triangles = mesh.points, mesh.cells
    boundary = np.isclose(points, 0.0).any(1) | np.isclose(points, 1.0).any(1)
    interior = np.flatnonzero(~boundary)
    # P1 gradients and areas of every triangle.
    p = points[triangles]                                            # (T, 3, 2)
    d = np.stack([p[:, 1] - p[:, 2], p[:, 2] - p[:, 0], p[:, 0] - p[:, 1]], axis=1)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    local = np.einsum("tid,tjd->tij", d, d) / (4.0 * area[:, None, None])  # unit-k stiffness
    rng = np.random.default_rng(seed)
    centroids = p.mean(1)
    out_K, out_b = [], []
    for _ in range(count):
        k = np.exp(contrast * rng.standard_normal(len(triangles)))
        K = np.zeros((len(points), len(points)))
        np.add.at(K, (triangles[:, :, None], triangles[:, None, :]), k[:, None, None] * local)
        # A smooth random load: a few random Fourier modes, lumped to the nodes.
        modes = rng.standard_normal((3, 2))
        load = lambda x: sum(np.sin(np.pi * (i + 1) * x[:, 0]) * np.sin(np.pi * (j + 1) * x[:, 1])
                             * modes[i, j] for i in range(3) for j in range(2))  # noqa: E731
        b = np.zeros(len(points))
        np.add.at(b, triangles, (load(centroids) * area / 3.0)[:, None])
        out_K.append(K[np.ix_(interior, interior)])
        out_b.append(b[interior])
    K, b = np.stack(out_K), np.stack(out_b)
    eigenvalues = np.linalg.eigvalsh(K)
    return K, b, np.stack([eigenvalues[:, 0], eigenvalues[:, -1]], axis=1)


def residuals(steps, K, b):
    """Relative residual after the unrolled steps for each problem: ``(count,)``."""
    import jax
    import jax.numpy as jnp

    def one(K, b):
        def step(u, alpha):
            return u - alpha * (K @ u - b), None
        u = jax.lax.scan(step, jnp.zeros_like(b), steps)[0]
        return jnp.linalg.norm(K @ u - b) / jnp.linalg.norm(b)

    return jax.vmap(one)(K, b)


def chebyshev_residuals(K, b, lam_min, lam_max, steps: int) -> np.ndarray:
    r"""Relative residuals after 1 … ``steps`` steps of the Chebyshev schedule on one problem.

    The K-step untied schedule (steps at the inverse Chebyshev nodes) and the three-term Chebyshev
    iteration (Saad, *Iterative Methods for Sparse Linear Systems*, alg. 12.1) give the same iterate
    after K steps in exact arithmetic; the recurrence is used because taken one after the other,
    in their natural order, the K-step schedule amplifies round-off by up to
    :math:`\prod_j |1 - \alpha_j\lambda_{max}|` (1e13 at K = 40 here) and stalls. It also gives the
    optimal iterate for every K at once."""
    theta, delta = 0.5 * (lam_max + lam_min), 0.5 * (lam_max - lam_min)
    sigma = theta / delta
    rho = 1.0 / sigma
    u = np.zeros_like(b)
    r = b.copy()
    d = r / theta
    norm0 = np.linalg.norm(b)
    out = []
    for _ in range(steps):
        u = u + d
        r = r - K @ d
        out.append(np.linalg.norm(r) / norm0)
        rho_next = 1.0 / (2.0 * sigma - rho)
        d = rho_next * rho * d + (2.0 * rho_next / delta) * r
        rho = rho_next
    return np.asarray(out)


def learn(depth: int, K, b, lam, iterations: int, seed: int):
    """The learned schedule (log-parametrised), started from the family's mean fixed step."""
    jax = _jax()
    import jax.numpy as jnp
    import optax

    start = np.log(np.mean(2.0 / lam.sum(1)))
    jitter = np.random.default_rng(seed).standard_normal(depth)
    params = jnp.full(depth, start) + 0.01 * jnp.asarray(jitter)
    K, b = jnp.asarray(K), jnp.asarray(b)

    def loss(s):
        return jnp.mean(jnp.log(residuals(jnp.exp(s), K, b)))

    optimiser = optax.adam(0.05)
    state = optimiser.init(params)

    @jax.jit
    def update(params, state):
        value, grad = jax.value_and_grad(loss)(params)
        updates, state = optimiser.update(grad, state)
        return optax.apply_updates(params, updates), state, value

    for _ in range(iterations):
        params, state, _ = update(params, state)
    return np.exp(np.asarray(params))


def fixed_step_iterations(K, b, lam, tolerance: float, limit: int = 100_000) -> np.ndarray:
    """Iterations of the best fixed step to reach ``tolerance``, per problem, from the spectrum:
    the error in mode i falls like |1 - alpha lambda_i|^k; measured in the eigenbasis."""
    counts = []
    for Ki, bi, (lo, hi) in zip(K, b, lam):
        w, V = np.linalg.eigh(Ki)
        alpha = 2.0 / (lo + hi)
        r0 = V.T @ bi                                  # residual in the eigenbasis at u = 0
        factors = np.abs(1.0 - alpha * w)
        norm0 = np.linalg.norm(r0)
        lo_k, hi_k = 0, limit
        while lo_k < hi_k:                              # smallest k with |r_k| <= tol |r_0|
            mid = (lo_k + hi_k) // 2
            if np.linalg.norm(r0 * factors ** mid) <= tolerance * norm0:
                hi_k = mid
            else:
                lo_k = mid + 1
        counts.append(lo_k)
    return np.asarray(counts)


def run(args) -> dict:
    jax = _jax()
    import jax.numpy as jnp

    K_train, b_train, lam_train = problems(args.train, args.cells, args.contrast, args.seed)
    K_test, b_test, lam_test = problems(args.test, args.cells, args.contrast, args.seed + 1)
    results = {"depths": np.asarray(args.depths), "n": K_test.shape[1],
               "kappa": lam_test[:, 1] / lam_test[:, 0], "schedules": {}}
    for name in ("fixed", "chebyshev", "learned"):
        results[name] = np.zeros((len(args.depths), args.test))
    longest = max(max(args.depths), 1)
    cheb_all = np.stack([chebyshev_residuals(K_test[j], b_test[j], lo, hi, 4 * longest)
                         for j, (lo, hi) in enumerate(lam_test)])       # (test, steps)
    for i, depth in enumerate(args.depths):
        fixed = np.stack([np.full(depth, 2.0 / (lo + hi)) for lo, hi in lam_test])
        learned = learn(depth, K_train, b_train, lam_train, args.iterations, args.seed)
        results["schedules"][depth] = learned
        KT, bT = jnp.asarray(K_test), jnp.asarray(b_test)
        # One batched call (each problem its own fixed step) instead of one traced call each.
        results["fixed"][i] = np.asarray(jax.vmap(
            lambda steps, K, b: residuals(steps, K[None], b[None])[0])(jnp.asarray(fixed), KT, bT))
        results["chebyshev"][i] = cheb_all[:, depth - 1]
        results["learned"][i] = np.asarray(residuals(jnp.asarray(learned), KT, bT))
    needs = []
    for tol in args.tolerances:
        fixed_k = fixed_step_iterations(K_test, b_test, lam_test, tol)
        # Measured: the first K whose Chebyshev iterate reaches tol (None beyond 4 max(depths)).
        cheb_k = [int(np.argmax(row <= tol)) + 1 if np.any(row <= tol) else np.nan
                  for row in cheb_all]
        reached = [d for d, row in zip(args.depths, results["learned"]) if np.median(row) <= tol]
        needs.append({"tolerance": tol, "fixed_median": float(np.median(fixed_k)),
                      "chebyshev_median": float(np.median(cheb_k)),
                      "chebyshev_bound": float(np.median(
                          [math.ceil(math.acosh(1.0 / tol) / math.acosh((k + 1) / (k - 1)))
                           for k in results["kappa"]])),
                      "learned": min(reached) if reached else None})
    results["needs"] = needs
    results["crystal"] = crystal_part(args) if args.crystals else None
    return results


def crystal_family(count: int, cells: int, strain: float, rattle: float, seed: int):
    """Strained, rattled Morse copper crystals with a vacancy: ``(energy, starts, deformed cells,
    extreme non-zero Hessian eigenvalues at each relaxed state)``. One neighbour list (built on the
    undeformed crystal with a 1 Å skin) serves every member: strains up to a few per cent and the
    rattle move pairs by far less than the skin."""
    jax = _jax()
    import jax.numpy as jnp

    import calib
    from physics.atomistic import MORSE_CU, Morse, fcc, neighbour_list, potential_energy, remove_atom

    crystal = remove_atom(fcc(3.615, cells), 0)
    potential = Morse(cutoff=6.5, onset=5.5)
    neighbours = neighbour_list(crystal, 6.5, skin=1.0)
    theta = {k: jnp.asarray(MORSE_CU[k]) for k in ("D", "alpha", "r0")}

    def energy(x, cell):
        return potential_energy(potential, x, cell, theta, neighbours)

    rng = np.random.default_rng(seed)
    starts, deformed, spectra = [], [], []
    for _ in range(count):
        e = strain * rng.uniform(-1.0, 1.0, (3, 3))
        deformation = np.eye(3) + 0.5 * (e + e.T)
        cell = crystal.cell @ deformation.T
        x0 = crystal.positions @ deformation.T + rattle * rng.standard_normal(crystal.positions.shape)
        relaxed = calib.equilibrium(energy, jnp.asarray(x0), jnp.asarray(cell),
                                    solver=calib.LBFGS(tol=1e-8), throw=True).x
        n = relaxed.size
        H = jax.hessian(lambda y: energy(y.reshape(relaxed.shape), jnp.asarray(cell)))(
            relaxed.reshape(-1)).reshape(n, n)
        w = np.linalg.eigvalsh(np.asarray(H))
        w = w[w > 1e-6 * w[-1]]                          # the rigid translations excluded
        starts.append(x0)
        deformed.append(cell)
        spectra.append((w[0], w[-1]))
    return energy, np.stack(starts), np.stack(deformed), np.asarray(spectra)


def crystal_residuals(energy, steps, starts, cells):
    r""":math:`\|\nabla E(x_K)\| / \|\nabla E(x_0)\|` after gradient descent with ``steps``, for
    each crystal."""
    import jax
    import jax.numpy as jnp

    gradient = jax.grad(energy)

    def one(x0, cell):
        def step(x, alpha):
            return x - alpha * gradient(x, cell), None
        x = jax.lax.scan(step, x0, steps)[0]
        return jnp.linalg.norm(gradient(x, cell)) / jnp.linalg.norm(gradient(x0, cell))

    return jax.vmap(one)(starts, cells)


def crystal_part(args) -> dict:
    """Learned schedules against the best fixed step on unseen strained crystals."""
    jax = _jax()
    import jax.numpy as jnp
    import optax

    energy, X_train, C_train, lam_train = crystal_family(args.crystals, 2, args.strain, 0.05,
                                                         args.seed)
    _, X_test, C_test, lam_test = crystal_family(args.crystals, 2, args.strain, 0.05,
                                                 args.seed + 1)
    out = {"depths": np.asarray(args.crystal_depths), "fixed": [], "learned": [],
           "kappa": lam_test[:, 1] / lam_test[:, 0]}
    X_train, C_train = jnp.asarray(X_train), jnp.asarray(C_train)
    X_test, C_test = jnp.asarray(X_test), jnp.asarray(C_test)
    for depth in args.crystal_depths:
        start = np.log(np.mean(2.0 / lam_train.sum(1)))
        params = jnp.full(depth, start)
        # Too long a step overlaps atoms (NaN energies): clip the gradients, refuse a non-finite
        # update, and keep the best schedule seen.
        optimiser = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.02))
        state = optimiser.init(params)

        @jax.jit
        def update(params, state):
            value, grad = jax.value_and_grad(lambda s: jnp.mean(jnp.log(crystal_residuals(
                energy, jnp.exp(s), X_train, C_train))))(params)
            ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
            updates, new_state = optimiser.update(jnp.where(ok, grad, 0.0), state)
            new = jnp.where(ok, optax.apply_updates(params, updates), params)
            return new, jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_state, state), value

        best, best_value = params, np.inf
        for _ in range(args.crystal_iterations):
            previous = params
            params, state, value = update(params, state)
            if np.isfinite(float(value)) and float(value) < best_value:
                best, best_value = previous, float(value)
        learned = np.asarray(crystal_residuals(energy, jnp.exp(best), X_test, C_test))
        fixed = np.asarray(jax.vmap(lambda x, c, a: crystal_residuals(
            energy, jnp.full(depth, a), x[None], c[None])[0])(
                X_test, C_test, jnp.asarray(2.0 / lam_test.sum(1))))
        out["learned"].append(learned)
        out["fixed"].append(fixed)
    out["learned"], out["fixed"] = np.stack(out["learned"]), np.stack(out["fixed"])
    return out


def crystal_table(crystal, args) -> str:
    lines = [f"  strained crystals (Morse Cu, 31 atoms, a vacancy, strains up to {args.strain:g}, "
             f"rattle 0.05 A; condition numbers {np.min(crystal['kappa']):.0f}-"
             f"{np.max(crystal['kappa']):.0f}); {args.crystals} training, {args.crystals} unseen:",
             f"  {'K':>4} | {'median: fixed (oracle)':>22} {'learned':>10} {'ratio':>7} | "
             f"{'worst: fixed':>12} {'learned':>10}"]
    for i, depth in enumerate(crystal["depths"]):
        fixed, learned = crystal["fixed"][i], crystal["learned"][i]
        lines.append(f"  {depth:>4d} | {np.median(fixed):>22.3e} {np.median(learned):>10.3e} "
                     f"{np.median(learned) / np.median(fixed):>7.3f} | {np.max(fixed):>12.3e} "
                     f"{np.max(learned):>10.3e}")
    return "\n".join(lines)


def table(results, args) -> str:
    lines = [f"Learned untied steps: K-step gradient descent on P1 diffusion energies, "
             f"{args.cells}x{args.cells} cells ({results['n']} unknowns), log k ~ N(0, "
             f"{args.contrast:g}^2); condition numbers of the test problems "
             f"{np.min(results['kappa']):.0f}-{np.max(results['kappa']):.0f}; "
             f"{args.train} training, {args.test} unseen test problems",
             f"  {'K':>4} | {'median residual: fixed':>23} {'Chebyshev':>10} {'learned':>10} | "
             f"{'worst: fixed':>12} {'Chebyshev':>10} {'learned':>10} | {'learned/Cheb':>12}"]
    for i, depth in enumerate(results["depths"]):
        med = [np.median(results[m][i]) for m in ("fixed", "chebyshev", "learned")]
        worst = [np.max(results[m][i]) for m in ("fixed", "chebyshev", "learned")]
        lines.append(f"  {depth:>4d} | {med[0]:>23.3e} {med[1]:>10.3e} {med[2]:>10.3e} | "
                     f"{worst[0]:>12.3e} {worst[1]:>10.3e} {worst[2]:>10.3e} | "
                     f"{med[2] / med[1]:>12.3f}")
    lines.append("  steps to reach a tolerance (median test problem): fixed step (iterations), "
                 "Chebyshev (measured; the bound acosh(1/tol)/acosh((k+1)/(k-1))), learned "
                 "(smallest depth tried that reaches it)")
    for row in results["needs"]:
        learned = "not reached" if row["learned"] is None else str(row["learned"])
        lines.append(f"    tol {row['tolerance']:.0e}: fixed {row['fixed_median']:.0f}, Chebyshev "
                     f"{row['chebyshev_median']:.0f} (bound {row['chebyshev_bound']:.0f}), "
                     f"learned {learned}")
    if results.get("crystal") is not None:
        lines.append(crystal_table(results["crystal"], args))
    return "\n".join(lines)


def save(results, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out)
    for name, style in (("fixed", "s-"), ("chebyshev", "^-"), ("learned", "o-")):
        left.semilogy(results["depths"], np.median(results[name], axis=1), style, label=name)
    left.set_xlabel("K (unrolled steps)")
    left.set_ylabel("median relative residual, unseen problems")
    left.legend()
    left.grid(alpha=0.3)
    for depth, schedule in results["schedules"].items():
        right.semilogy(np.arange(1, depth + 1), schedule, "o-", ms=3, label=f"K = {depth}")
    right.set_xlabel("step j")
    right.set_ylabel("learned step size alpha_j")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    finish(plt, fig, out / "learned_steps.png",
           "Gradient descent with learned untied steps vs fixed and Chebyshev steps")
    dataset = xr.Dataset(
        {name: (("depth", "problem"), results[name], {"units": "1"})
         for name in ("fixed", "chebyshev", "learned")},
        coords={"depth": results["depths"], "problem": np.arange(args.test)},
        attrs={"cells": args.cells, "contrast": args.contrast})
    crystal = results.get("crystal")
    if crystal is not None:
        for name in ("fixed", "learned"):
            dataset[f"crystal_{name}"] = (("crystal_depth", "crystal"), crystal[name],
                                          {"units": "1"})
        dataset = dataset.assign_coords(crystal_depth=crystal["depths"])
    dataset.to_netcdf(out / "learned_steps.nc", engine="h5netcdf")
    (out / "learned_steps.txt").write_text(table(results, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(table(results, args))
    save(results, args)
    print(f"  written to {args.out}: learned_steps.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
