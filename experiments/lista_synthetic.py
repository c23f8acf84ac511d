r"""LISTA, LISTA-CP and LISTA-CPSS against ISTA and FISTA on the classic synthetic set-up.

Gaussian :math:`A \in \mathbb R^{m\times n}` (default 250 x 500, entries :math:`\mathcal N(0,1/m)`),
Bernoulli–Gaussian signals (sparsity ``--sparsity`` 0.1), noiseless and at 40 dB SNR
(``--snr-db``; ``inf`` is noiseless), as in Chen, Liu, Wang & Yin (NeurIPS 2018). Each network
(:mod:`experiments.sparse_recovery.lista`) has ``--layers`` (16) untied layers, starts from the
analytic ALISTA weight and a geometric threshold schedule, and is trained end to end by Adam on
fresh signals every step (``--steps``, ``--batch``) to the NMSE of its last layer. ISTA and FISTA
run on the same test signals for every :math:`\lambda` in ``--lambdas`` (their step :math:`1/L`).

Reported per noise level: each network's test NMSE after layers 4, 8, 12 and 16 (and its
untrained NMSE at 16), and the number of ISTA and FISTA iterations needed to reach that 16-layer
NMSE, at the best :math:`\lambda` of the grid (``>N`` when no :math:`\lambda` reached it within
``--ista-iterations`` / ``--fista-iterations``), with its ratio to the 16 layers. The figure
shows NMSE per layer or iteration. The experiment computes in float32 by default
(``--dtype``): the NMSEs reached are far above its round-off, and it halves the time. Output under
``--out``: ``lista.txt``, ``lista.nc``, ``lista.png``. Run as ``calib lista`` or ``python
experiments/lista_synthetic.py``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

from experiments._figures import enable_x64, finish, two_panels

NETWORKS = ("lista", "lista-cp", "lista-cpss")


def add_common_arguments(parser: argparse.ArgumentParser, *, out: str) -> None:
    """The set-up and training arguments shared with ``group_lista.py``."""
    parser.add_argument("--m", type=int, default=250, help="measurements (default 250)")
    parser.add_argument("--n", type=int, default=500, help="signal length (default 500)")
    parser.add_argument("--sparsity", type=float, default=0.1)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--snr-db", nargs="+", default=["inf", "40"],
                        help="noise levels in dB; inf: noiseless (default: inf 40)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per network")
    parser.add_argument("--batch", type=int, default=64, help="fresh signals per Adam step")
    parser.add_argument("--learning-rate", type=float, default=1e-4,
                        help="Adam rate of the weights, relative to their initial RMS "
                             "(default 1e-4)")
    parser.add_argument("--threshold-learning-rate", type=float, default=3e-3,
                        help="Adam rate of the thresholds, absolute (default 3e-3)")
    parser.add_argument("--first-threshold", type=float, default=0.3,
                        help="initial threshold of layer 0 (default 0.3)")
    parser.add_argument("--threshold-ratio", type=float, default=0.7,
                        help="initial threshold ratio between layers (default 0.7)")
    parser.add_argument("--test", type=int, default=100, help="test signals (default 100)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1],
                        help="lasso penalties of the ISTA/FISTA baselines")
    parser.add_argument("--ista-iterations", type=int, default=3000)
    parser.add_argument("--fista-iterations", type=int, default=1000)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(out))


def check_common_arguments(parser: argparse.ArgumentParser, args) -> None:
    if min(args.m, args.n, args.layers, args.steps, args.batch, args.test) < 1:
        parser.error("--m, --n, --layers, --steps, --batch and --test must be positive")
    if not 0 < args.sparsity < 1:
        parser.error(f"--sparsity must lie in (0, 1), got {args.sparsity}")
    try:
        args.snr = [None if s.lower() == "inf" else float(s) for s in args.snr_db]
    except ValueError:
        parser.error(f"--snr-db takes numbers in dB or inf, got {args.snr_db}")
    if min(args.lambdas) <= 0 or min(args.ista_iterations, args.fista_iterations) < 1:
        parser.error("--lambdas must be positive and the iteration limits at least 1")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib lista", description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    add_common_arguments(parser, out="results/lista")
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    return args


def snr_label(snr) -> str:
    return "noiseless" if snr is None else f"{snr:g} dB"


class Setup:
    """The sensing matrix, a sampler of training batches and a fixed test set for one noise
    level. ``signals(key, batch, n)`` draws ``(batch, n)`` signals."""

    def __init__(self, args, snr, signals):
        jax = enable_x64()
        import jax.numpy as jnp

        from experiments.sparse_recovery import problems

        self.dtype = jnp.dtype(args.dtype)
        key = jax.random.PRNGKey(args.seed)
        matrix_key, test_key = jax.random.split(key)
        self.A = problems.gaussian_matrix(matrix_key, args.m, args.n, self.dtype)
        n, snr_db = args.n, snr
        dtype = self.dtype

        def sample(key, A, batch=args.batch):
            signal_key, noise_key = jax.random.split(key)
            x = signals(signal_key, batch, n).astype(dtype)
            return x, problems.measure(noise_key, A, x, snr_db)

        self.sample = sample
        self.x_test, self.y_test = sample(test_key, self.A, args.test)


def nmse_path(x_hat_path, x):
    """NMSE in dB of each leading entry of ``x_hat_path`` ``(K + 1, batch, n)``."""
    from experiments.sparse_recovery import problems

    return np.asarray(problems.nmse_db(x_hat_path, x), float)


def baseline_paths(setup: Setup, lambdas, iterations: int, method: str, prox=None):
    """NMSE in dB per iteration ``(len(lambdas), iterations + 1)`` of ISTA or FISTA on the test
    set, one compiled run per penalty; only the error is kept, never the iterates."""
    import jax
    import jax.numpy as jnp

    from experiments.sparse_recovery import proximal

    run = {"ista": proximal.ista, "fista": proximal.fista}[method]
    prox = proximal.soft_threshold if prox is None else prox
    x = setup.x_test
    norm = jnp.sum(x**2)

    @jax.jit
    def path(A, y, lam):
        error = lambda x_hat: jnp.sum((x_hat - x) ** 2)  # noqa: E731
        return 10.0 * jnp.log10(run(A, y, lam, iterations, prox=prox, record=error) / norm)

    return np.stack([np.asarray(path(setup.A, setup.y_test, jnp.asarray(lam, setup.dtype)))
                     for lam in lambdas])


def iterations_to_reach(paths: np.ndarray, target: float):
    """The fewest iterations over all penalties at which the NMSE is at most ``target`` and the
    penalty index, or ``(None, None)`` when none reaches it."""
    best, where = None, None
    for index, path in enumerate(paths):
        below = np.nonzero(path <= target)[0]
        if below.size and (best is None or below[0] < best):
            best, where = int(below[0]), index
    return best, where


def trained(network, setup: Setup, args, label: str):
    """Train ``network`` on ``setup``; returns it, the training curve (dB) and seconds."""
    import jax

    from experiments.sparse_recovery import lista

    started = time.perf_counter()
    network, losses = lista.train(network, setup.sample, steps=args.steps,
                                  learning_rate=args.learning_rate,
                                  threshold_learning_rate=args.threshold_learning_rate,
                                  key=jax.random.PRNGKey(args.seed + 1), data=(setup.A,))
    seconds = time.perf_counter() - started
    print(f"  ... {label}: trained {args.steps} steps in {seconds:.1f} s, last training NMSE "
          f"{float(losses[-1]):.1f} dB", flush=True)
    return network, np.asarray(losses, float), seconds


def build(name: str, setup: Setup, args):
    from experiments.sparse_recovery import lista

    thresholds = lista.geometric_thresholds(args.layers, args.first_threshold,
                                            args.threshold_ratio, setup.dtype)
    if name == "lista":
        return lista.LISTA(setup.A, thresholds)
    return lista.LISTACP(setup.A, thresholds, support_selection=name == "lista-cpss")


def compare(args, snr, signals, build, prox=None) -> dict:
    """Train every network of ``args.networks`` (made by ``build(name, setup, args)``) on the
    signals ``signals(key, batch, n)`` at one noise level, run ISTA and FISTA with ``prox``
    (default: the soft threshold), and count the iterations they need to match each network."""
    from experiments.sparse_recovery import lista

    setup = Setup(args, snr, signals)
    rows = []
    for name in args.networks:
        network = build(name, setup, args)
        untrained = nmse_path(network(setup.y_test), setup.x_test)
        network, losses, seconds = trained(network, setup, args, f"{name}, {snr_label(snr)}")
        rows.append({"network": name, "parameters": lista.parameter_count(network),
                     "nmse": nmse_path(network(setup.y_test), setup.x_test),
                     "untrained": untrained, "training": losses, "seconds": seconds})
    baselines = {method: baseline_paths(setup, args.lambdas, limit, method, prox=prox)
                 for method, limit in (("ista", args.ista_iterations),
                                       ("fista", args.fista_iterations))}
    for row in rows:
        for method, paths in baselines.items():
            row[f"{method}_iterations"], _ = iterations_to_reach(paths, row["nmse"][-1])
    return {"snr": snr, "rows": rows, "baselines": baselines}


def run_noise_level(args, snr) -> dict:
    """LISTA, LISTA-CP, LISTA-CPSS and the baselines on Bernoulli-Gaussian signals."""
    from experiments.sparse_recovery import problems

    return compare(args, snr, lambda key, batch, n: problems.bernoulli_gaussian(
        key, batch, n, args.sparsity), build)


def _count(value, limit: int) -> str:
    return f">{limit}" if value is None else str(value)


def _ratio(value, limit: int, layers: int) -> str:
    return f">{limit / layers:.0f}" if value is None else f"{value / layers:.0f}"


def table(results, args) -> str:
    lines = [f"LISTA vs ISTA/FISTA: A {args.m}x{args.n} Gaussian, Bernoulli-Gaussian sparsity "
             f"{args.sparsity:g}, {args.layers} layers, {args.steps} Adam steps of {args.batch} "
             f"fresh signals, test NMSE on {args.test} signals ({args.dtype})"]
    for result in results:
        lines.append(f"  {snr_label(result['snr'])}:")
        K = args.layers
        lines.append(f"    {'network':<14} {'params':>8} {'untrained':>9} {'L4':>7} {'L8':>7} "
                     f"{'L12':>7} {f'L{K} (dB)':>9} {'ISTA its':>9} {f'x{K}':>5} {'FISTA its':>9} "
                     f"{f'x{K}':>5} {'train s':>7}")
        for r in result["rows"]:
            at = lambda k: r["nmse"][min(k, K)]  # noqa: E731
            lines.append(
                f"    {r['network']:<14} {r['parameters']:>8} {r['untrained'][-1]:>9.1f} "
                f"{at(4):>7.1f} {at(8):>7.1f} {at(12):>7.1f} {at(K):>9.1f} "
                f"{_count(r['ista_iterations'], args.ista_iterations):>9} "
                f"{_ratio(r['ista_iterations'], args.ista_iterations, K):>5} "
                f"{_count(r['fista_iterations'], args.fista_iterations):>9} "
                f"{_ratio(r['fista_iterations'], args.fista_iterations, K):>5} "
                f"{r['seconds']:>7.1f}")
        for method in ("ista", "fista"):
            paths = result["baselines"][method]
            at16 = ", ".join(f"{lam:g}: {p[min(K, len(p) - 1)]:.1f}"
                             for lam, p in zip(args.lambdas, paths))
            floor = ", ".join(f"{lam:g}: {p[-1]:.1f}" for lam, p in zip(args.lambdas, paths))
            lines.append(f"    {method.upper()} NMSE (dB) by lambda after {K} iterations: {at16}; "
                         f"after {len(paths[0]) - 1}: {floor}")
    lines.append(f"  its: iterations for ISTA/FISTA to reach the network's {args.layers}-layer "
                 f"NMSE, at the best lambda of the grid; x{args.layers}: that count / the number "
                 "of layers")
    return "\n".join(lines)


def save(results, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, axes = two_panels(out)
    for axis, result in zip(axes, results[:2]):
        for r in result["rows"]:
            axis.plot(np.arange(args.layers + 1), r["nmse"], "-o", ms=3, label=r["network"])
        for method, style in (("ista", ":"), ("fista", "--")):
            paths = result["baselines"][method]
            best = int(np.argmin(paths[:, -1]))
            axis.plot(np.arange(paths.shape[1]), paths[best], style,
                      label=f"{method.upper()} (lambda {args.lambdas[best]:g})")
        axis.set_xscale("symlog", linthresh=args.layers)
        axis.set_xlabel("layer / iteration (linear to 16, then log)")
        axis.set_ylabel("test NMSE (dB)")
        axis.set_title(snr_label(result["snr"]))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper right")
    finish(plt, fig, out / "lista.png", f"LISTA vs ISTA/FISTA, A {args.m}x{args.n}")
    datasets = []
    for result in results:
        rows = result["rows"]
        variables = {
            "nmse": (("network", "layer"), np.stack([r["nmse"] for r in rows])),
            "untrained_nmse": (("network", "layer"), np.stack([r["untrained"] for r in rows])),
            "training_nmse": (("network", "step"), np.stack([r["training"] for r in rows])),
            "parameters": ("network", [r["parameters"] for r in rows]),
            "train_seconds": ("network", [r["seconds"] for r in rows]),
        }
        for method in ("ista", "fista"):
            variables[f"{method}_iterations_to_reach"] = (
                "network", [-1 if r[f"{method}_iterations"] is None else r[f"{method}_iterations"]
                            for r in rows])
            paths = result["baselines"][method]
            variables[f"{method}_nmse"] = (("lam", f"{method}_iteration"), paths)
        datasets.append(xr.Dataset(variables, coords={
            "network": [r["network"] for r in rows], "layer": np.arange(args.layers + 1),
            "step": np.arange(args.steps), "lam": args.lambdas,
            "ista_iteration": np.arange(args.ista_iterations + 1),
            "fista_iteration": np.arange(args.fista_iterations + 1)}))
    snr = [math.inf if r["snr"] is None else r["snr"] for r in results]
    dataset = xr.concat(datasets, dim="snr_db").assign_coords(snr_db=snr)
    for name in dataset.data_vars:
        if "nmse" in name:
            dataset[name].attrs["units"] = "dB"
    dataset["train_seconds"].attrs["units"] = "s"
    dataset["ista_iterations_to_reach"].attrs["description"] = "-1: not reached"
    dataset.to_netcdf(out / "lista.nc", engine="h5netcdf")
    (out / "lista.txt").write_text(table(results, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    results = [run_noise_level(args, snr) for snr in args.snr]
    print(table(results, args))
    save(results, args)
    print(f"  written to {args.out}: lista.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
