r"""The Neumann identity: backprop through K iterations at a fixed point is the K-term Neumann series.

For a fixed point :math:`z^* = F(z^*, \theta)` with :math:`J = \partial F/\partial z` at
:math:`z^*` and a cotangent :math:`\bar z`, backpropagating through ``K`` iterations
:math:`z_{k+1} = F(z_k, \theta)` started at :math:`z_0 = z^*` gives

.. math:: \bar\theta_K = \sum_{k<K} (\partial_\theta F)^\top (J^\top)^k \bar z,

the ``K``-term Neumann series of the implicit gradient
:math:`\bar\theta^* = (\partial_\theta F)^\top (I - J^\top)^{-1}\bar z`, so both differ from it by
the tail :math:`\sum_{k\ge K}`, which falls like :math:`\rho(J)^K`. Measured here, for each problem:

* the **identity gap** :math:`\max_K \|\bar\theta_K - \bar\theta^{N}_K\| / \|\bar\theta^*\|`
  between backpropagation (``jax.vjp`` through ``K`` applications of ``F``) and the series
  (``K`` vector-Jacobian products with :math:`J^\top` at :math:`z^*`, then one with
  :math:`\partial_\theta F`): round-off;
* the **error** of both against the implicit gradient (``calib.fixed_point``'s adjoint) for
  ``K = 1 … --max-terms``, and the least-squares slope of :math:`\log e_K` against ``K`` where
  :math:`e_K > 10^{-12}`, next to :math:`\log\rho` with :math:`\rho` the spectral radius of
  :math:`J` from its eigenvalues (zero modes excluded).

Problems:

* ``deq-<ρ_W>``: a deep-equilibrium layer :math:`z = \tanh(Wz + Ux + b)` of width ``--width``
  with :math:`W` scaled to spectral norm ``ρ_W`` (``--deq-norms``), :math:`\bar z = \partial L/\partial z`
  for :math:`L = \sum_i \sin z_i`;
* ``crystal``: gradient descent on the Morse copper crystal with a vacancy
  (``experiments/_vacancy.py``, ``--cells``), :math:`F(x) = x - \alpha\nabla E(x)` with the optimal
  fixed step :math:`\alpha = 2/(\lambda_{min} + \lambda_{max})` (so
  :math:`\rho = (\kappa - 1)/(\kappa + 1)`), :math:`\bar x = x^* - x_{ref}` with the rigid
  translations projected out (they are the zero modes of the Hessian, eigenvalue 1 of :math:`J`, and
  :math:`\partial_\theta F` annihilates them).

The fixed point is solved to 1e-13 by Newton–Krylov so that the iterates started at it stay there
to round-off. Output: a table (printed, ``neumann_identity.txt``), the numbers
(``neumann_identity.nc``) and ``neumann_identity.png`` (error against K with :math:`\rho^K`) under
``--out``. Run as ``calib neumann-identity`` or ``python experiments/neumann_identity.py``.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys

import numpy as np

from experiments._figures import enable_x64


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib neumann-identity", description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=40, help="DEQ width (default 40)")
    parser.add_argument("--deq-norms", type=float, nargs="*", default=[0.6, 1.5, 2.2],
                        help="spectral norms of W, each a problem (default 0.6 1.5 2.2; the layer "
                             "must still contract, rho(dF/dz) < 1, which tanh' < 1 helps)")
    parser.add_argument("--cells", type=int, default=2,
                        help="vacancy crystal, conventional cells per side (default 2; 0 skips it)")
    parser.add_argument("--max-terms", type=int, default=60, help="largest K (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/neumann_identity"))
    args = parser.parse_args(argv)
    if args.width < 2 or args.max_terms < 2 or args.cells < 0:
        parser.error("--width and --max-terms must be at least 2, --cells non-negative")
    if any(not r > 0 for r in args.deq_norms):
        parser.error(f"--deq-norms must be positive, got {args.deq_norms}")
    return args


def _jax():
    return enable_x64()


def deq_problem(width: int, norm: float, seed: int):
    """``(F, z0, theta, cotangent, zero_modes)`` of a DEQ layer with ``||W||_2 = norm``."""
    jax = _jax()
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    W = rng.standard_normal((width, width))
    W = norm * W / np.linalg.norm(W, 2)
    x = rng.standard_normal(width)
    U = rng.standard_normal((width, width)) / np.sqrt(width)
    theta = {"W": jnp.asarray(W), "b": jnp.asarray(0.1 * rng.standard_normal(width))}
    Ux = jnp.asarray(U @ x)

    def F(z, theta):
        return jnp.tanh(theta["W"] @ z + Ux + theta["b"])

    def cotangent(z):
        return jax.grad(lambda y: jnp.sum(jnp.sin(y)))(z)

    return F, jnp.zeros(width), theta, cotangent, None


def crystal_problem(cells: int):
    """Gradient descent on the vacancy crystal as a fixed-point map, at the optimal fixed step."""
    jax = _jax()

    import calib
    from experiments._vacancy import vacancy_problem

    problem = vacancy_problem(cells=cells)
    shape = problem.x0.shape
    relaxed = calib.equilibrium(problem.energy, problem.x0, problem.theta,
                                solver=calib.LBFGS(tol=1e-12), throw=True).x
    flat = relaxed.reshape(-1)
    hessian = jax.hessian(lambda y: problem.energy(y.reshape(shape), problem.theta))(flat)
    eigenvalues = np.linalg.eigvalsh(np.asarray(hessian))
    positive = eigenvalues[eigenvalues > 1e-8 * eigenvalues[-1]]
    step = 2.0 / (positive[0] + positive[-1])
    x_ref = problem.x_ref.reshape(-1)
    translations = np.kron(np.ones((shape[0], 1)), np.eye(3)) / np.sqrt(shape[0])  # (3N, 3)

    def F(x, theta):
        return x - step * jax.grad(lambda y: problem.energy(y.reshape(shape), theta))(x)

    def cotangent(x):
        c = x - x_ref
        return c - translations @ (translations.T @ c)

    return F, flat, problem.theta, cotangent, translations


def measure(name: str, F, z0, theta, cotangent, zero_modes, max_terms: int) -> dict:
    """The identity gap, the errors against the implicit gradient and their slopes for one map."""
    jax = _jax()
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    import calib

    z_star = calib.fixed_point(F, z0, theta, solver=calib.NewtonKrylov(tol=1e-13, forcing=1e-12),
                               throw=True).z
    c = cotangent(z_star)
    implicit = jax.grad(lambda t: jnp.vdot(c, calib.fixed_point(
        F, z_star, t, solver=calib.NewtonKrylov(tol=1e-13, forcing=1e-12)).z))(theta)
    implicit = np.asarray(ravel_pytree(implicit)[0])
    scale = np.linalg.norm(implicit)

    J = np.asarray(jax.jacfwd(lambda z: F(z, theta))(z_star))
    B = _flat_jacobian(jax, F, z_star, theta)                              # dF/dtheta, (n, p)
    eigenvalues, vectors = np.linalg.eig(J)
    # Mode i carries the weight |B^T u_i| |v_i . c| (u_i, v_i right and left eigenvectors): the
    # series' tail is sum_i mu_i^K / (1 - mu_i) times that, so its asymptotic rate is the largest
    # |mu_i| among the modes the gradient sees (rho_eff); rho is the plain spectral radius. The
    # Hessian's zero modes (eigenvalue 1 of J for the crystal) carry no weight: d(grad E)/dtheta
    # is orthogonal to rigid translations.
    left = np.linalg.inv(vectors)
    weights = np.linalg.norm(B.T @ vectors, axis=0) * np.abs(left @ np.asarray(c))
    contracted = np.abs(eigenvalues - 1.0) > 1e-8 if zero_modes is not None else np.ones(
        eigenvalues.shape, bool)
    rho = float(np.max(np.abs(eigenvalues[contracted])))
    seen = contracted & (weights > 1e-8 * np.max(weights[contracted]))
    rho_eff = float(np.max(np.abs(eigenvalues[seen])))

    @jax.jit
    @functools.partial(jax.vmap, in_axes=(None, 0))
    def backprop(theta, K):
        # K iterations of F from z*, then the identity: one compiled program for every K.
        def iterate(t):
            def step(z, k):
                return jnp.where(k < K, F(z, t), z), None
            return jax.lax.scan(step, z_star, jnp.arange(max_terms))[0]
        return ravel_pytree(jax.vjp(iterate, theta)[1](c)[0])[0]

    _, vjp_z = jax.vjp(lambda z: F(z, theta), z_star)
    _, vjp_theta = jax.vjp(lambda t: F(z_star, t), theta)

    @jax.jit
    def neumann_terms(c):
        def body(v, _):
            return vjp_z(v)[0], v
        _, powers = jax.lax.scan(body, c, None, length=max_terms)        # (J^T)^k c, k < K
        partial = jnp.cumsum(powers, axis=0)
        return jax.vmap(lambda v: ravel_pytree(vjp_theta(v)[0])[0])(partial)

    series = np.asarray(neumann_terms(c))                                  # row K-1: K terms
    Ks = np.arange(1, max_terms + 1)
    unrolled = np.asarray(backprop(theta, jnp.asarray(Ks)))
    gap = np.linalg.norm(unrolled - series, axis=1) / scale
    error_bp = np.linalg.norm(unrolled - implicit, axis=1) / scale
    error_n = np.linalg.norm(series - implicit, axis=1) / scale

    def slope(errors):
        # Above the round-off floor the error is geometric; fit only there.
        # The rate is asymptotic (the fast modes die first): fit the later half of that range.
        above = np.flatnonzero(errors > max(1e-12, 100.0 * float(np.min(errors))))
        if above.size < 6 or above[-1] - above[0] + 1 != above.size:
            return float("nan")
        keep = above[above.size // 2:]
        return float(np.polyfit(Ks[keep], np.log(errors[keep]), 1)[0])

    return {"name": name, "rho": rho, "log_rho": float(np.log(rho)), "rho_eff": rho_eff,
            "log_rho_eff": float(np.log(rho_eff)), "K": Ks,
            "gap": gap, "error_backprop": error_bp, "error_neumann": error_n,
            "slope_backprop": slope(error_bp), "slope_neumann": slope(error_n),
            "max_gap": float(np.max(gap)), "n": int(np.size(z_star))}


def _flat_jacobian(jax, F, z, theta):
    r""":math:`\partial F/\partial\theta` at ``z`` as an ``(n, p)`` array (``theta`` flattened)."""
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(theta)
    return np.asarray(jax.jacfwd(lambda t: F(z, unravel(t)))(flat))


def table(rows) -> str:
    lines = ["The Neumann identity: backprop through K iterations from z* vs the K-term series",
             f"  {'problem':<12} {'n':>5} {'rho':>8} {'rho_eff':>8} {'log rho_eff':>11} "
             f"{'slope bp':>9} {'slope N':>9} {'slope/log rho_eff':>17} {'max gap':>9}"]
    for r in rows:
        lines.append(f"  {r['name']:<12} {r['n']:>5d} {r['rho']:>8.4f} {r['rho_eff']:>8.4f} "
                     f"{r['log_rho_eff']:>11.4f} {r['slope_backprop']:>9.4f} "
                     f"{r['slope_neumann']:>9.4f} "
                     f"{r['slope_backprop'] / r['log_rho_eff']:>17.3f} {r['max_gap']:>9.1e}")
    lines.append("  rho: spectral radius of dF/dz at z*; rho_eff: the largest |eigenvalue| among the "
                 "modes the gradient sees (weight > 1e-8 of the largest)")
    lines.append("  gap: max over K of |backprop_K - series_K| / |implicit|; slopes: of log error "
                 "against K, fitted over the later half of the K above 100x the round-off floor")
    return "\n".join(lines)


def save(rows, out: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(rows):
        colour = f"C{i}"
        ax.semilogy(r["K"], r["error_backprop"], "o", ms=3, color=colour,
                    label=f"{r['name']}: backprop")
        ax.semilogy(r["K"], r["error_neumann"], "-", lw=1, color=colour, label="  K-term series")
        ax.semilogy(r["K"], r["error_backprop"][0] * r["rho_eff"] ** (r["K"] - 1), ":",
                    color=colour, label=f"  rho_eff^K (rho_eff = {r['rho_eff']:.3f})")
    ax.set_xlabel("K (iterations backpropagated / series terms)")
    ax.set_ylabel("relative error against the implicit gradient")
    ax.set_ylim(1e-16, 10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Backprop through K steps at z* = K-term Neumann series; error ~ rho^K")
    fig.tight_layout()
    fig.savefig(out / "neumann_identity.png", dpi=130)
    plt.close(fig)
    dataset = xr.Dataset(
        {name: (("problem", "K"), np.stack([r[name] for r in rows]), {"units": "1"})
         for name in ("gap", "error_backprop", "error_neumann")},
        coords={"problem": [r["name"] for r in rows], "K": rows[0]["K"]})
    for name in ("rho", "rho_eff", "slope_backprop", "slope_neumann", "max_gap"):
        dataset[name] = ("problem", [r[name] for r in rows], {"units": "1"})
    dataset.to_netcdf(out / "neumann_identity.nc", engine="h5netcdf")
    (out / "neumann_identity.txt").write_text(table(rows) + "\n")


def run(args) -> list[dict]:
    rows = [measure(f"deq-{norm:g}", *deq_problem(args.width, norm, args.seed), args.max_terms)
            for norm in args.deq_norms]
    if args.cells:
        rows.append(measure("crystal", *crystal_problem(args.cells), args.max_terms))
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    rows = run(args)
    print(table(rows))
    save(rows, args.out)
    print(f"  written to {args.out}: neumann_identity.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
