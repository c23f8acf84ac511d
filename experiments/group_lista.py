r"""Group-sparse LISTA against plain LISTA-CP on group-sparse signals, at equal depth.

The set-up of ``lista_synthetic.py`` (Gaussian :math:`A`, default 250 x 500) with signals made of
``n / --group-size`` consecutive groups, each on with probability ``--sparsity`` (the same mean
number of non-zeros as the Bernoulli–Gaussian set-up). Three networks of ``--layers`` layers,
trained alike (Adam on fresh signals, analytic initial weights, geometric initial thresholds):

* ``lista-cp``: LISTA-CP with the elementwise soft threshold and a full trained :math:`W_k`;
* ``lista-cp-group``: the same with the group soft threshold (the structure in the prox only);
* ``group-lista``: :class:`~experiments.sparse_recovery.lista.GroupLISTA`, the group threshold
  and block-diagonal trained weights :math:`B_k` on a fixed coupling weight (n g numbers a layer
  instead of n m).

Baselines: group ISTA and group FISTA (the prox of :math:`\lambda\sum_g\|x_g\|_2`) for each
:math:`\lambda` in ``--lambdas``, with the iterations they need to reach each network's final
NMSE. Output under ``--out``: ``group_lista.txt``, ``.nc``, ``.png``. Run as ``calib
group-lista`` or ``python experiments/group_lista.py``.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys

import numpy as np

from experiments import lista_synthetic as base
from experiments._figures import finish, two_panels

NETWORKS = ("lista-cp", "lista-cp-group", "group-lista")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib group-lista", description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--group-size", type=int, default=5)
    base.add_common_arguments(parser, out="results/group_lista")
    parser.set_defaults(snr_db=["40"])
    args = parser.parse_args(argv)
    base.check_common_arguments(parser, args)
    if args.group_size < 1 or args.n % args.group_size:
        parser.error(f"--group-size must divide --n={args.n}, got {args.group_size}")
    return args


def build(name: str, setup, args):
    from experiments.sparse_recovery import lista

    # A group's norm is about sqrt(g) times an entry's: so are the initial group thresholds.
    scale = 1.0 if name == "lista-cp" else math.sqrt(args.group_size)
    thresholds = lista.geometric_thresholds(args.layers, scale * args.first_threshold,
                                            args.threshold_ratio, setup.dtype)
    if name == "lista-cp":
        return lista.LISTACP(setup.A, thresholds)
    if name == "lista-cp-group":
        return lista.LISTACP(setup.A, thresholds, group_size=args.group_size)
    return lista.GroupLISTA(setup.A, thresholds, args.group_size)


def run_noise_level(args, snr) -> dict:
    """The three networks and group ISTA/FISTA on group-sparse signals."""
    from experiments.sparse_recovery import problems

    return base.compare(
        args, snr, lambda key, batch, n: problems.group_sparse(key, batch, n, args.group_size,
                                                               args.sparsity),
        build, prox=functools.partial(_group_prox, group_size=args.group_size))


def _group_prox(u, tau, group_size):
    from experiments.sparse_recovery import proximal

    return proximal.group_soft_threshold(u, tau, group_size)


def table(results, args) -> str:
    text = base.table(results, args).splitlines()
    text[0] = (f"Group LISTA vs LISTA-CP: A {args.m}x{args.n}, groups of {args.group_size} on "
               f"with probability {args.sparsity:g}, {args.layers} layers, {args.steps} Adam "
               f"steps of {args.batch}; baselines group ISTA/FISTA ({args.dtype})")
    return "\n".join(text)


def save(results, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out)
    result = results[0]
    for r in result["rows"]:
        left.plot(np.arange(args.layers + 1), r["nmse"], "-o", ms=3,
                  label=f"{r['network']} ({r['parameters']} weights)")
    for method, style in (("ista", ":"), ("fista", "--")):
        paths = result["baselines"][method]
        best = int(np.argmin(paths[:, args.layers]))
        left.plot(np.arange(args.layers + 1), paths[best, :args.layers + 1], style,
                  label=f"group {method.upper()} (lambda {args.lambdas[best]:g})")
    left.set_xlabel("layer / iteration")
    left.set_ylabel("test NMSE (dB)")
    left.set_title(base.snr_label(result["snr"]))
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    for r in result["rows"]:
        right.plot(np.arange(1, args.steps + 1), r["training"], label=r["network"])
    right.set_xlabel("Adam step")
    right.set_ylabel("training NMSE of the last layer (dB)")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    finish(plt, fig, out / "group_lista.png",
           f"Group-sparse signals (groups of {args.group_size}), {args.layers} layers")
    rows = result["rows"]
    dataset = xr.Dataset(
        {"nmse": (("network", "layer"), np.stack([r["nmse"] for r in rows])),
         "untrained_nmse": (("network", "layer"), np.stack([r["untrained"] for r in rows])),
         "training_nmse": (("network", "step"), np.stack([r["training"] for r in rows])),
         "parameters": ("network", [r["parameters"] for r in rows]),
         "group_ista_nmse": (("lam", "ista_iteration"), result["baselines"]["ista"]),
         "group_fista_nmse": (("lam", "fista_iteration"), result["baselines"]["fista"])},
        coords={"network": [r["network"] for r in rows], "layer": np.arange(args.layers + 1),
                "step": np.arange(args.steps), "lam": args.lambdas,
                "ista_iteration": np.arange(args.ista_iterations + 1),
                "fista_iteration": np.arange(args.fista_iterations + 1)},
        attrs={"snr_db": math.inf if result["snr"] is None else result["snr"],
               "group_size": args.group_size})
    for name in dataset.data_vars:
        if "nmse" in name:
            dataset[name].attrs["units"] = "dB"
    dataset.to_netcdf(out / "group_lista.nc", engine="h5netcdf")
    (out / "group_lista.txt").write_text(table(results, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    results = [run_noise_level(args, snr) for snr in args.snr]
    print(table(results, args))
    save(results, args)
    print(f"  written to {args.out}: group_lista.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
