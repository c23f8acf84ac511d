r"""Truncated backpropagation and the truncated λ-return of TD(λ): one geometric law, measured twice.

**Truncated backprop.** ``calib.Truncated(steps=K, backprop=T)`` runs ``K`` iterations of a map
and differentiates only the last ``T``. Once the iterates have converged, the last ``T`` steps sit
at the fixed point and the truncated gradient is the ``T``-term Neumann series of
:math:`(I - J)^{-1}`, so its relative error against ``calib.Implicit`` is the series' tail,
:math:`e_T \approx \rho^T` (:math:`\rho` the spectral radius of :math:`J = \partial F/\partial z`
among the modes the gradient sees). For a tolerance :math:`\varepsilon` the rule

.. math:: T(\varepsilon) = \lceil \log\varepsilon / \log\rho \rceil

should then give :math:`e_T \lesssim \varepsilon`; it is checked for each ε of ``--tolerances``
on a deep-equilibrium layer :math:`z = \tanh(Wz + Ux + b)` (``--width``, ``--deq-norm``) iterated
plainly (``calib.FixedPointIteration``).

**TD(λ).** On the ``--states``-state random walk (Sutton & Barto, *Reinforcement Learning*, 2nd ed.,
example 7.1: start in the middle, step left or right with probability 1/2, reward −1 on leaving at
the left end, +1 at the right, no discount), the expected λ-return of a value estimate :math:`V`
solves the linear fixed point

.. math:: G = F(G) = r + (1-\lambda) P V + \lambda P G, \qquad \partial F/\partial G = \lambda P,

with :math:`P` the transition matrix among the non-terminal states and :math:`r` the expected
reward. The λ-return truncated at horizon ``K`` (Sutton & Barto §12.3: the weight
:math:`\lambda^{K-1}` of every longer return put on the ``K``-step return) is exactly :math:`F^K(V)`,
``K`` iterations from :math:`V`: the discarded returns carry weight :math:`\lambda^K`, and the error
:math:`(\lambda P)^K (V - G)` falls like :math:`(\lambda\rho(P))^K`, with
:math:`\rho(P) = \cos(\pi/(n+1))` for ``n`` states, or rather like
:math:`(\lambda\rho_{\text{eff}})^K` with :math:`\rho_{\text{eff}} = \cos(2\pi/(n+1))`: the walk is
symmetric and :math:`G` antisymmetric, so the slowest (symmetric) mode carries no weight. The fixed point comes from ``calib.fixed_point``
(Newton–Krylov), :math:`V = 0`.

Output under ``--out``: ``truncation.txt`` (the tables, also printed), ``truncation.nc`` and
``truncation.png``. Run as ``calib truncation`` or ``python experiments/truncation.py``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np

from experiments._figures import enable_x64, finish, two_panels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib truncation", description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=40, help="DEQ width (default 40)")
    parser.add_argument("--deq-norm", type=float, default=1.5,
                        help="spectral norm of W (default 1.5; the layer must contract)")
    parser.add_argument("--max-backprop", type=int, default=40, help="largest T (default 40)")
    parser.add_argument("--tolerances", type=float, nargs="*", default=[1e-2, 1e-4, 1e-6, 1e-8],
                        help="ε of the rule T = ceil(log ε / log ρ) (default 1e-2 … 1e-8)")
    parser.add_argument("--states", type=int, default=19, help="random-walk states (default 19)")
    parser.add_argument("--lambdas", type=float, nargs="*", default=[0.5, 0.8, 0.9, 0.95],
                        help="TD(λ) trace parameters (default 0.5 0.8 0.9 0.95)")
    parser.add_argument("--horizon", type=int, default=100, help="largest TD horizon K (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/truncation"))
    args = parser.parse_args(argv)
    if args.width < 2 or args.max_backprop < 2 or args.horizon < 2 or args.states < 3:
        parser.error("--width, --max-backprop, --horizon must be at least 2, --states at least 3")
    if any(not 0 < lam < 1 for lam in args.lambdas):
        parser.error(f"--lambdas must lie in (0, 1), got {args.lambdas}")
    if any(not 0 < eps < 1 for eps in args.tolerances):
        parser.error(f"--tolerances must lie in (0, 1), got {args.tolerances}")
    return args


def _jax():
    return enable_x64()


def _slope(K, errors):
    """Slope of log error against K over the later half of the range above the round-off floor."""
    errors = np.asarray(errors)
    above = np.flatnonzero(errors > max(1e-13, 100.0 * float(np.min(errors))))
    if above.size < 6:
        return float("nan")
    keep = above[above.size // 2:]
    return float(np.polyfit(np.asarray(K)[keep], np.log(errors[keep]), 1)[0])


def truncated_backprop(args) -> dict:
    """Truncation error of calib.Truncated on a DEQ layer against rho^T, and the T-rule."""
    jax = _jax()
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    import calib
    from experiments.neumann_identity import _flat_jacobian, deq_problem

    F, z0, theta, cotangent, _ = deq_problem(args.width, args.deq_norm, args.seed)
    z_star = calib.fixed_point(F, z0, theta, solver=calib.NewtonKrylov(tol=1e-13, forcing=1e-12),
                               throw=True).z
    c = cotangent(z_star)
    J = np.asarray(jax.jacfwd(lambda z: F(z, theta))(z_star))
    eigenvalues, vectors = np.linalg.eig(J)
    weights = (np.linalg.norm(_flat_jacobian(jax, F, z_star, theta).T @ vectors, axis=0)
               * np.abs(np.linalg.inv(vectors) @ np.asarray(c)))
    rho = float(np.max(np.abs(eigenvalues[weights > 1e-8 * np.max(weights)])))
    # Enough plain iterations that the state has converged before the differentiated tail.
    settle = int(math.ceil(math.log(1e-15) / math.log(rho))) + 5
    iteration = calib.FixedPointIteration(tol=1e-12, max_steps=settle + args.max_backprop)

    def loss(t, adjoint):
        return jnp.vdot(c, calib.fixed_point(F, z0, t, solver=iteration, adjoint=adjoint,
                                             warn=False).z)

    implicit = np.asarray(ravel_pytree(jax.grad(lambda t: loss(t, calib.Implicit()))(theta))[0])
    scale = np.linalg.norm(implicit)
    Ts = np.arange(1, args.max_backprop + 1)
    errors = []
    for T in Ts:
        adjoint = calib.Truncated(steps=settle + int(T), backprop=int(T), check=False)
        g = np.asarray(ravel_pytree(jax.grad(lambda t: loss(t, adjoint))(theta))[0])
        errors.append(np.linalg.norm(g - implicit) / scale)
    errors = np.asarray(errors)
    rule = []
    for eps in args.tolerances:
        T = int(math.ceil(math.log(eps) / math.log(rho)))
        measured = float(errors[T - 1]) if T <= Ts[-1] else float("nan")
        rule.append({"tolerance": eps, "T": T, "error": measured,
                     "met": bool(measured <= eps) if T <= Ts[-1] else None})
    return {"rho": rho, "T": Ts, "error": errors, "slope": _slope(Ts, errors),
            "log_rho": math.log(rho), "rule": rule, "settle": settle}


def random_walk(states: int):
    """``(P, r)``: transitions among the non-terminal states and the expected reward per state."""
    P = np.zeros((states, states))
    for s in range(states):
        if s > 0:
            P[s, s - 1] = 0.5
        if s < states - 1:
            P[s, s + 1] = 0.5
    r = np.zeros(states)
    r[0], r[-1] = -0.5, 0.5       # half the time the walk leaves at that end
    return P, r


def td_lambda(args) -> dict:
    """Error of the truncated λ-return F^K(V) against the λ-return, for each λ."""
    jax = _jax()
    import jax.numpy as jnp

    import calib

    P, r = random_walk(args.states)
    rho_P = float(np.max(np.abs(np.linalg.eigvals(P))))
    V = jnp.zeros(args.states)
    Ks = np.arange(1, args.horizon + 1)
    rows = []
    for lam in args.lambdas:
        def F(G, lam):
            return jnp.asarray(r) + (1.0 - lam) * jnp.asarray(P) @ V + lam * jnp.asarray(P) @ G

        G = calib.fixed_point(F, V, jnp.asarray(lam), solver=calib.NewtonKrylov(tol=1e-14),
                              throw=True).z
        # Closed form as a check: G = (I - lam P)^{-1} (r + (1 - lam) P V).
        closed = np.linalg.solve(np.eye(args.states) - lam * P, r + (1 - lam) * P @ np.asarray(V))
        # The walk is symmetric and G antisymmetric, so the slowest (symmetric) mode of P carries
        # no weight: the rate is lambda times the largest |eigenvalue| among the modes of V - G.
        values, vectors = np.linalg.eigh(P)
        weights = np.abs(vectors.T @ (np.asarray(V) - np.asarray(G)))
        rho_eff = float(np.max(np.abs(values[weights > 1e-8 * np.max(weights)])))
        iterates = jax.lax.scan(lambda g, _: (F(g, lam), F(g, lam)), V, None, length=args.horizon)[1]
        errors = np.max(np.abs(np.asarray(iterates) - np.asarray(G)), axis=1)
        errors = errors / np.max(np.abs(np.asarray(V) - np.asarray(G)))
        rows.append({"lambda": lam, "rate": lam * rho_eff, "rho_eff": rho_eff, "error": errors,
                     "slope": _slope(Ks, errors), "closed_form_error":
                         float(np.max(np.abs(np.asarray(G) - closed))),
                     "weight_beyond": lam ** Ks})
    return {"rho_P": rho_P, "K": Ks, "rows": rows,
            "true_values": (np.arange(1, args.states + 1) - (args.states + 1) / 2)
            / ((args.states + 1) / 2)}


def tables(truncated, td) -> str:
    lines = ["Truncated backprop on a DEQ layer (calib.Truncated vs calib.Implicit)",
             f"  rho (slowest mode the gradient sees) {truncated['rho']:.4f}, log rho "
             f"{truncated['log_rho']:.4f}; fitted slope of log error against T "
             f"{truncated['slope']:.4f} (ratio {truncated['slope'] / truncated['log_rho']:.3f}); "
             f"{truncated['settle']} settling steps before the tail",
             f"  {'epsilon':>9} {'T rule':>7} {'error at T':>11} {'met':>4}"]
    for row in truncated["rule"]:
        met = "-" if row["met"] is None else "yes" if row["met"] else "no"
        lines.append(f"  {row['tolerance']:>9.0e} {row['T']:>7d} {row['error']:>11.2e} {met:>4}")
    lines += ["", f"Truncated λ-return on the {len(td['true_values'])}-state random walk "
                  f"(rho(P) = {td['rho_P']:.4f}): error of F^K(V) relative to |V - G|",
              f"  {'lambda':>7} {'rho_eff':>8} {'lambda rho_eff':>14} {'log rate':>9} {'fitted slope':>12} "
              f"{'ratio':>6} {'error K=10':>10} {'lambda^10':>9} {'G check':>8}"]
    for row in td["rows"]:
        lines.append(f"  {row['lambda']:>7.2f} {row['rho_eff']:>8.4f} {row['rate']:>14.4f} "
                     f"{math.log(row['rate']):>9.4f} "
                     f"{row['slope']:>12.4f} {row['slope'] / math.log(row['rate']):>6.3f} "
                     f"{row['error'][9]:>10.2e} {row['lambda'] ** 10:>9.2e} "
                     f"{row['closed_form_error']:>8.0e}")
    lines.append("  rho_eff: the largest |eigenvalue| of P among the modes of V - G (the slowest, "
                 "symmetric mode of P is absent from the antisymmetric G)")
    lines.append("  G check: max |G - (I - lambda P)^{-1}(r + (1 - lambda) P V)| of the fixed point")
    return "\n".join(lines)


def save(truncated, td, out: pathlib.Path) -> None:
    import xarray as xr

    plt, fig, (left, right) = two_panels(out, height=4.3)
    T = truncated["T"]
    left.semilogy(T, truncated["error"], "o", ms=3, label="Truncated(backprop=T) vs Implicit")
    left.semilogy(T, truncated["error"][0] * truncated["rho"] ** (T - 1), ":",
                  label=f"rho^T, rho = {truncated['rho']:.3f}")
    for row in truncated["rule"]:
        if row["met"] is not None:
            left.plot(row["T"], row["tolerance"], "k+", ms=9)
    left.plot([], [], "k+", label="(T rule, epsilon)")
    left.set_xlabel("T (steps backpropagated)")
    left.set_ylabel("relative gradient error")
    left.set_title("Truncated backprop, DEQ layer")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    K = td["K"]
    for i, row in enumerate(td["rows"]):
        right.semilogy(K, row["error"], "-", color=f"C{i}", label=f"lambda = {row['lambda']:g}")
        right.semilogy(K, row["rate"] ** K, ":", color=f"C{i}")
        right.semilogy(K, row["weight_beyond"], "--", lw=0.8, color=f"C{i}")
    right.plot([], [], "k:", label="(lambda rho_eff)^K")
    right.plot([], [], "k--", lw=0.8, label="lambda^K (weight beyond K)")
    right.set_ylim(1e-16, 2)
    right.set_xlabel("K (horizon of the truncated lambda-return)")
    right.set_ylabel("max error / max |V - G|")
    right.set_title(f"TD(lambda), {len(td['true_values'])}-state random walk")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    finish(plt, fig, out / "truncation.png")
    dataset = xr.Dataset(
        {"backprop_error": ("T", truncated["error"], {"units": "1"}),
         "td_error": (("lambda", "K"), np.stack([r["error"] for r in td["rows"]]), {"units": "1"}),
         "rule_T": ("tolerance", [r["T"] for r in truncated["rule"]]),
         "rule_error": ("tolerance", [r["error"] for r in truncated["rule"]])},
        coords={"T": T, "K": K, "lambda": [r["lambda"] for r in td["rows"]],
                "tolerance": [r["tolerance"] for r in truncated["rule"]]},
        attrs={"rho": truncated["rho"], "rho_P": td["rho_P"]})
    dataset.to_netcdf(out / "truncation.nc", engine="h5netcdf")
    (out / "truncation.txt").write_text(tables(truncated, td) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    truncated, td = truncated_backprop(args), td_lambda(args)
    print(tables(truncated, td))
    save(truncated, td, args.out)
    print(f"  written to {args.out}: truncation.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
