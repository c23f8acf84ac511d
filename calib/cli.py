"""The ``calib`` command line.

Subcommands are thin wrappers: each hands its arguments to the ``main(argv) -> int`` of a module,
imported only when that subcommand runs: ``fit`` and ``report`` are the package's own (a configured
fit, the report of a saved result); the others are scripts of ``experiments``, so the package itself
never depends on them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._compilation_cache import enable_compilation_cache

SUBCOMMANDS = {
    "demo": ("experiments.demo",
             "the calibration demos: metal potentials and soil parameters fitted, with uncertainties"),
    "fit": ("calib.config._command", "fit a model to data as a TOML configuration says"),
    "report": ("calib.fit._report_command", "print the report of a saved fit result and plot it"),
    "compare-gradients": ("experiments.compare_gradients",
                          "implicit vs unrolled/truncated/checkpointed/Neumann gradients on a vacancy crystal"),
    "bench-equilibrium": ("experiments.bench_equilibrium",
                          "time and memory of the solvers and adjoints against jaxopt and optimistix"),
    "bench-atomistic": ("experiments.bench_atomistic",
                        "relaxations against ASE, implicit gradients of a vacancy energy, scaling in N"),
    "bench-lammps": ("experiments.bench_lammps",
                     "vacancy relaxations (Morse, tabulated EAM) against LAMMPS on one core, and "
                     "the time of one force evaluation, part by part"),
    "bench-calibration": ("experiments.bench_calibration",
                          "exact jacfwd Jacobians vs the finite-difference least-squares baseline: "
                          "solves, iterations, time, scaling in P"),
    "force-matching": ("experiments.force_matching",
                       "fit an EAM to the bundled Cu EMT training set (energies, forces, stresses, "
                       "crystal properties), on one or many devices; held-out errors"),
    "bench-force-matching": ("experiments.bench_force_matching",
                             "force-matching objective + gradient for 10 ... 10,000 configurations "
                             "on 1, 2, 4 devices and 2 processes: scaling, efficiency, set-up"),
    "neumann-identity": ("experiments.neumann_identity",
                         "backprop through K steps at a fixed point = the K-term Neumann series; "
                         "error against the implicit gradient ~ rho^K"),
    "truncation": ("experiments.truncation",
                   "truncated backprop error against rho^T and the T rule; the truncated "
                   "lambda-return of TD(lambda) on a random walk: the same geometric law"),
    "deq-digits": ("experiments.deq_digits",
                   "a deep equilibrium classifier on the digits trained with implicit, unrolled, "
                   "truncated and phantom gradients: accuracy, time, memory, gradient error"),
    "learned-steps": ("experiments.learned_steps",
                      "gradient descent with learned untied step sizes on FE energies vs the best "
                      "fixed step and the Chebyshev schedule"),
    "gnn-steps": ("experiments.gnn_steps",
                  "a message-passing network that picks a diagonal preconditioner at each unrolled "
                  "step, against fixed, Jacobi, learned untied steps and L-BFGS on unseen meshes"),
    "lista": ("experiments.lista_synthetic",
              "LISTA, LISTA-CP and LISTA-CPSS (untied, trained) against ISTA and FISTA: NMSE per "
              "layer, iterations ISTA/FISTA need to match 16 layers"),
    "group-lista": ("experiments.group_lista",
                    "group-sparse LISTA with block-diagonal weights against plain LISTA-CP on "
                    "group-sparse signals, at equal depth"),
    "amp": ("experiments.amp_state_evolution",
            "AMP's error per iteration against its state evolution as n grows, and ISTA's "
            "against the same prediction"),
    "pnp-admm": ("experiments.pnp_admm",
                 "plug-and-play ADMM with a CNN denoiser, unrolled and trained end to end, "
                 "against the untrained denoiser and TV-ADMM on bundled images"),
    "dictionary-learning": ("experiments.dictionary_learning",
                            "task-driven dictionary learning on the digits: implicit vs unrolled "
                            "FISTA gradients, and the task loss against an unsupervised dictionary"),
    "bench-fem": ("experiments.bench_fem",
                  "finite-element footing: forward vs implicit-gradient time from 1e4 to 1e6 DOFs"),
}
# Subcommands that compile nothing, for which the persistent compilation cache is not switched on.
NO_COMPILATION = {"report"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="calib", description="Differentiable equilibria and calibration of physical models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] not in SUBCOMMANDS:
        parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(SUBCOMMANDS)}")
    if argv[0] not in NO_COMPILATION:
        # Compiled programs are kept on disk between runs (CALIB_COMPILATION_CACHE=off to disable).
        enable_compilation_cache()
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
