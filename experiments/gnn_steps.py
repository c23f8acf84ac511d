r"""A graph neural network that chooses the step: learned preconditioned gradient descent on meshes.

Deep unrolling of the inner solver with a *learned, state-dependent* update. On the P1 diffusion
energies of ``experiments/learned_steps.py`` (:math:`E = \tfrac12 u^\top K u - b^\top u`, random
log-normal conductivity per element, random smooth load), each iteration is

.. math:: u_{j+1} = u_j - \frac{s_j}{\operatorname{diag} K} \odot r_j, \qquad r_j = K u_j - b,
          \qquad s_j = \operatorname{softplus}(\mathrm{GNN}(r_j, K)) \in \mathbb{R}^n_{>0},

a diagonal preconditioner chosen at every step by a small message-passing network on the mesh
graph (the sparsity of :math:`K`, edge weights :math:`|K_{ik}|/K_{ii}`): per-node features
:math:`(r_i/\|r\|_\infty,\ \log(K_{ii}/\overline{K_{ii}}))`, an encoder MLP, ``--layers`` rounds of
messages :math:`h_i \leftarrow h_i + \mathrm{MLP}(h_i, \sum_k w_{ik} h_k)`, a decoder to
:math:`s_i`. The same weights act at every step and on any mesh (the network sees only local
quantities), so it runs for any number of steps. It is trained end to end by backpropagation
through ``--depth`` unrolled steps (Adam on the mean log residual, gradients clipped, the best
network kept) on ``--train`` problems of one
mesh (``--train-cells``), then evaluated on unseen problems on meshes of every size in
``--test-cells`` against:

* the best fixed step :math:`2/(\lambda_{min} + \lambda_{max})` (an oracle), and Jacobi with the
  best fixed step for :math:`D^{-1}K` (also an oracle);
* the learned untied schedule of ``learned_steps.py`` (trained on the same problems and depth);
* L-BFGS (``calib.equilibrium`` with ``calib.LBFGS``).

Reported: the median relative residual :math:`\|r_K\|/\|b\|` after ``--depth`` steps, and the
iterations and wall time (compiled, median over the test problems) to reach ``--tolerance``.
The network is written with equinox (the package already depends on it, and its modules are
pytrees that ``jax.grad`` differentiates directly). Output under ``--out``: ``gnn_steps.txt``,
``gnn_steps.nc``, ``gnn_steps.png``. Run as ``calib gnn-steps`` or ``python
experiments/gnn_steps.py``.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

from experiments._figures import enable_x64, finish, two_panels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib gnn-steps", description=__doc__.split("\n")[0])
    parser.add_argument("--train-cells", type=int, default=8)
    parser.add_argument("--test-cells", type=int, nargs="+", default=[8, 12, 16])
    parser.add_argument("--contrast", type=float, default=1.0)
    parser.add_argument("--train", type=int, default=32)
    parser.add_argument("--test", type=int, default=16)
    parser.add_argument("--depth", type=int, default=20,
                        help="unrolled training depth (default 20)")
    parser.add_argument("--width", type=int, default=16, help="hidden width (default 16)")
    parser.add_argument("--layers", type=int, default=2, help="message-passing rounds (default 2)")
    parser.add_argument("--iterations", type=int, default=400, help="Adam steps (default 400)")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/gnn_steps"))
    args = parser.parse_args(argv)
    if args.depth < 1 or args.width < 1 or args.layers < 1 or args.train < 1 or args.test < 1:
        parser.error("--depth, --width, --layers, --train and --test must be positive")
    return args


def _jax():
    return enable_x64()


def build_network(width: int, layers: int, seed: int):
    jax = _jax()
    import equinox as eqx
    import jax.numpy as jnp

    class Network(eqx.Module):
        encoder: eqx.nn.MLP
        messages: list
        decoder: eqx.nn.MLP

        def __init__(self, key):
            keys = jax.random.split(key, layers + 2)
            self.encoder = eqx.nn.MLP(2, width, width, 1, activation=jnp.tanh, key=keys[0])
            self.messages = [eqx.nn.MLP(2 * width, width, width, 1, activation=jnp.tanh, key=k)
                             for k in keys[1:-1]]
            self.decoder = eqx.nn.MLP(width, 1, width, 1, activation=jnp.tanh, key=keys[-1])

        def __call__(self, r, diagonal, weights):
            """Per-node step factors ``(n,)`` from the residual ``(n,)``, ``diag K`` and the
            normalised adjacency ``(n, n)``."""
            scale = jnp.max(jnp.abs(r)) + jnp.finfo(r.dtype).tiny
            features = jnp.stack([r / scale, jnp.log(diagonal / jnp.mean(diagonal))], axis=1)
            h = jax.vmap(self.encoder)(features)
            for mlp in self.messages:
                h = h + jax.vmap(mlp)(jnp.concatenate([h, weights @ h], axis=1))
            return jax.nn.softplus(jax.vmap(self.decoder)(h)[:, 0])

    return Network(jax.random.PRNGKey(seed))


def graph(K):
    """``(diag K, w)`` with :math:`w_{ik} = |K_{ik}| / K_{ii}` off the diagonal."""
    import jax.numpy as jnp

    diagonal = jnp.diagonal(K, axis1=-2, axis2=-1)
    off = jnp.abs(K) * (1.0 - jnp.eye(K.shape[-1]))
    return diagonal, off / diagonal[..., :, None]


def gnn_iterate(network, K, b, steps: int):
    """Residual norms ``(steps,)`` relative to ``|b|`` of the GNN-preconditioned iteration."""
    import jax
    import jax.numpy as jnp

    diagonal, weights = graph(K)

    def step(u, _):
        r = K @ u - b
        u = u - network(r, diagonal, weights) / diagonal * r
        return u, jnp.linalg.norm(K @ u - b) / jnp.linalg.norm(b)

    return jax.lax.scan(step, jnp.zeros_like(b), None, length=steps)[1]


def train_network(args, K, b):
    jax = _jax()
    import equinox as eqx
    import jax.numpy as jnp
    import optax

    network = build_network(args.width, args.layers, args.seed)
    K, b = jnp.asarray(K), jnp.asarray(b)

    def loss(network):
        final = jax.vmap(lambda K, b: gnn_iterate(network, K, b, args.depth)[-1])(K, b)
        return jnp.mean(jnp.log(final))

    # Backprop through the unrolled steps has occasional large gradients (a step factor that
    # overshoots amplifies the high modes): clip them, and keep the best network seen.
    optimiser = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))
    state = optimiser.init(eqx.filter(network, eqx.is_array))

    @eqx.filter_jit
    def update(network, state):
        value, grads = eqx.filter_value_and_grad(loss)(network)
        updates, state = optimiser.update(grads, state)
        return eqx.apply_updates(network, updates), state, value

    history, best, best_value = [], network, np.inf
    for _ in range(args.iterations):
        candidate = network
        network, state, value = update(network, state)
        history.append(float(value))
        if float(value) < best_value:        # value is the loss of the network before the step
            best, best_value = candidate, float(value)
    return best, np.asarray(history)


def steps_to_tolerance(residuals: np.ndarray, tolerance: float):
    hit = np.flatnonzero(residuals <= tolerance)
    return int(hit[0]) + 1 if hit.size else None


def _timed(function, *arguments, repeats: int = 3):
    """``(fastest seconds of repeats calls after a compiling one, the result)``."""
    import jax

    result = jax.block_until_ready(function(*arguments))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(function(*arguments))
        times.append(time.perf_counter() - started)
    return min(times), result


def evaluate(args, network, schedule, cells: int, seed: int) -> dict:
    """Every method on ``args.test`` unseen problems of a ``cells`` x ``cells`` mesh."""
    jax = _jax()
    import equinox as eqx
    import jax.numpy as jnp

    import calib
    from experiments.learned_steps import problems, residuals

    K_all, b_all, lam = problems(args.test, cells, args.contrast, seed)
    limit = args.max_steps

    @eqx.filter_jit
    def gnn_curve(network, K, b):
        return gnn_iterate(network, K, b, limit)

    @jax.jit
    def fixed_curve(K, b, alpha, jacobi):
        scale = jnp.where(jacobi, 1.0 / jnp.diagonal(K), 1.0)

        def step(u, _):
            u = u - alpha * scale * (K @ u - b)
            return u, jnp.linalg.norm(K @ u - b) / jnp.linalg.norm(b)
        return jax.lax.scan(step, jnp.zeros_like(b), None, length=limit)[1]

    def energy(u, theta, K, b):
        return 0.5 * u @ (K @ u) - b @ u

    rows = {m: {"residual_at_depth": [], "steps": [], "seconds": []}
            for m in ("fixed", "jacobi", "untied", "gnn", "lbfgs")}
    for K, b, (lo, hi) in zip(K_all, b_all, lam):
        K, b = jnp.asarray(K), jnp.asarray(b)
        D = np.diag(1.0 / np.sqrt(np.diag(np.asarray(K))))
        w = np.linalg.eigvalsh(D @ np.asarray(K) @ D)
        curves = {"fixed": (fixed_curve, (K, b, 2.0 / (lo + hi), False)),
                  "jacobi": (fixed_curve, (K, b, 2.0 / (w[0] + w[-1]), True)),
                  "gnn": (gnn_curve, (network, K, b))}
        for name, (function, arguments) in curves.items():
            seconds, curve = _timed(function, *arguments)
            curve = np.asarray(curve)
            k = steps_to_tolerance(curve, args.tolerance)
            rows[name]["residual_at_depth"].append(curve[args.depth - 1])
            rows[name]["steps"].append(k)
            # Time to tolerance: the per-step time of the compiled loop times the steps needed.
            rows[name]["seconds"].append(None if k is None else seconds / limit * k)
        rows["untied"]["residual_at_depth"].append(
            float(residuals(jnp.asarray(schedule), K[None], b[None])[0]))
        rows["untied"]["steps"].append(None)          # defined for its own depth only
        rows["untied"]["seconds"].append(None)
        tol = float(args.tolerance * jnp.max(jnp.abs(b)))
        solver = calib.LBFGS(tol=tol, max_steps=limit)
        run = jax.jit(lambda K, b: calib.equilibrium(energy, jnp.zeros_like(b), 0.0, K, b,
                                                     solver=solver, warn=False))
        seconds, solution = _timed(run, K, b)
        rows["lbfgs"]["steps"].append(int(solution.steps))
        rows["lbfgs"]["residual_at_depth"].append(float("nan"))
        rows["lbfgs"]["seconds"].append(seconds)
    summary = {"cells": cells, "n": int(K_all.shape[1]),
               "kappa_median": float(np.median(lam[:, 1] / lam[:, 0]))}
    for name, row in rows.items():
        steps = [s for s in row["steps"] if s is not None]
        seconds = [s for s in row["seconds"] if s is not None]
        summary[name] = {
            "residual_at_depth": float(np.nanmedian(row["residual_at_depth"]))
            if not np.all(np.isnan(row["residual_at_depth"])) else float("nan"),
            "steps": statistics.median(steps) if len(steps) == len(row["steps"]) else None,
            "seconds": statistics.median(seconds) if len(seconds) == len(row["seconds"]) else None,
            "reached": len(steps)}
    return summary


def _ms(seconds):
    return None if seconds is None else 1e3 * seconds


def table(results, args) -> str:
    lines = [f"GNN-chosen steps (diagonal preconditioner per step) on P1 diffusion energies; "
             f"trained on {args.train_cells}x{args.train_cells} cells, depth {args.depth}; "
             f"{args.test} unseen problems per mesh; tolerance |r| <= {args.tolerance:g} |b| "
             "(L-BFGS: max|r| <= tol max|b|)",
             f"  {'mesh':>6} {'n':>5} {'kappa':>6} | residual after {args.depth} steps: "
             f"{'fixed':>8} {'jacobi':>8} {'untied':>8} {'gnn':>8} | steps to tol: "
             f"{'fixed':>6} {'jacobi':>6} {'gnn':>6} {'lbfgs':>6} | ms to tol: "
             f"{'jacobi':>7} {'gnn':>7} {'lbfgs':>7}"]

    def n(value, width: int, spec: str = "") -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"

    for s in results:
        lines.append(
            f"  {s['cells']:>3}^2 {s['n']:>5} {s['kappa_median']:>6.0f} | {'':>26}"
            f"{s['fixed']['residual_at_depth']:>8.2e} {s['jacobi']['residual_at_depth']:>8.2e} "
            f"{s['untied']['residual_at_depth']:>8.2e} {s['gnn']['residual_at_depth']:>8.2e} | "
            f"{'':>14}{n(s['fixed']['steps'], 6)} {n(s['jacobi']['steps'], 6)} "
            f"{n(s['gnn']['steps'], 6)} {n(s['lbfgs']['steps'], 6)} | {'':>11}"
            f"{n(_ms(s['jacobi']['seconds']), 7, '.2f')} {n(_ms(s['gnn']['seconds']), 7, '.2f')} "
            f"{n(_ms(s['lbfgs']['seconds']), 7, '.2f')}")
    lines.append("  medians over the test problems; '-': not every problem reached the tolerance "
                 f"within {args.max_steps} steps")
    return "\n".join(lines)


def save(results, history, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out)
    left.plot(history)
    left.set_xlabel("Adam step")
    left.set_ylabel(f"mean log residual after {args.depth} steps (training)")
    left.grid(alpha=0.3)
    cells = [s["cells"] for s in results]
    for name, marker in (("fixed", "s"), ("jacobi", "^"), ("untied", "d"), ("gnn", "o")):
        right.semilogy(cells, [s[name]["residual_at_depth"] for s in results], marker + "-",
                       label=name)
    right.axvline(args.train_cells, color="grey", lw=0.8, ls=":")
    right.set_xlabel("cells per side of the unseen test mesh (dotted: training mesh)")
    right.set_ylabel(f"median residual after {args.depth} steps")
    right.legend()
    right.grid(alpha=0.3)
    finish(plt, fig, out / "gnn_steps.png",
           "A GNN that chooses a diagonal preconditioner at each unrolled step")
    methods = ("fixed", "jacobi", "untied", "gnn")
    dataset = xr.Dataset(
        {f"residual_{m}": ("mesh", [s[m]["residual_at_depth"] for s in results]) for m in methods},
        coords={"mesh": cells})
    dataset["training_loss"] = ("adam_step", history)
    dataset.to_netcdf(out / "gnn_steps.nc", engine="h5netcdf")
    (out / "gnn_steps.txt").write_text(table(results, args) + "\n")


def run(args):
    from experiments.learned_steps import learn, problems

    K, b, lam = problems(args.train, args.train_cells, args.contrast, args.seed)
    network, history = train_network(args, K, b)
    schedule = learn(args.depth, K, b, lam, args.iterations, args.seed)
    results = [evaluate(args, network, schedule, cells, args.seed + 100 + cells)
               for cells in args.test_cells]
    return results, history


def main(argv=None) -> int:
    args = parse_args(argv)
    results, history = run(args)
    print(table(results, args))
    save(results, history, args)
    print(f"  written to {args.out}: gnn_steps.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
