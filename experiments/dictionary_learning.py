r"""Task-driven dictionary learning on scikit-learn's digits: the lasso differentiated implicitly.

A dictionary :math:`D` (``--atoms`` unit-norm atoms of 64 pixels) encodes each image by the lasso
:math:`\alpha^*(D, y) = \arg\min_\alpha \tfrac12\|y - D\alpha\|^2 + \lambda\|\alpha\|_1`
(``--lam``), and a linear softmax classifier (``W``, ``b``, ridge ``--ridge``) reads the code
(Mairal, Bach & Ponce, IEEE TPAMI 34, 2012; see :mod:`experiments.sparse_recovery.dictionary`).
The task is digit classification, the supervised task of the paper's own digit experiments: ten
classes, 1797 images, so a run takes minutes, and a linear read-out keeps what the dictionary adds
visible. The images are centred on the mean training image and divided by one scalar, the
pixels' overall standard deviation, rather than standardised pixel by pixel: that would inflate
the near-constant border pixels, which then dominate the atoms.

Three measurements:

1. **Gradient check** at the unsupervised dictionary and its classifier, on the first ``--batch``
   training images: the directional derivatives of the task loss along ``--directions`` random
   unit directions in :math:`D`, from the implicit gradient (``calib.Implicit()``, GMRES on
   :math:`I - \partial T/\partial\alpha` of the ISTA map) and from backpropagation through ``K``
   FISTA iterations for each ``K`` of ``--unrolled-steps``, against central finite differences
   (step ``--fd-step``) of the loss with the codes refined to round-off on their support, and the
   unrolled gradients against the implicit one. The finite differences are valid only if no
   support changes between :math:`D \pm hV`; the check verifies it and reports the margins (the
   smallest code on the support, the smallest :math:`\lambda - |d_i^\top r|` off it).
2. **Cost** of one compiled gradient on that batch (the implicit one is the program training
   runs): median wall time over ``--repeats`` calls and the peak temporary memory of the
   compiled program (XLA's memory analysis), as ratios against the implicit gradient.
3. **Task**: the unsupervised dictionary (``--dictionary-iterations`` alternations of lasso codes
   and a block-coordinate sweep over the atoms, the same ``p`` and :math:`\lambda`) with the
   classifier fitted on its fixed codes, against task-driven training from it (Adam on ``D``,
   ``W``, ``b`` jointly, ``--epochs`` epochs of ``--batch`` images, the implicit gradient; the
   classifier is also refitted on the final codes), and a linear classifier on the raw pixels as
   a reference. Test cross-entropy and accuracy on the images left out of ``--train-size``.

Output under ``--out``: ``dictionary_learning.txt``, ``.nc`` and ``.png``. Run as
``calib dictionary-learning`` or ``python experiments/dictionary_learning.py``.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

from experiments._figures import enable_x64, finish, two_panels

CLASSES = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib dictionary-learning",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--atoms", type=int, default=32, help="dictionary size p (default 32)")
    parser.add_argument("--lam", type=float, default=2.0,
                        help="lasso penalty lambda, in units of the scaled pixels (default 2)")
    parser.add_argument("--ridge", type=float, default=1e-3,
                        help="ridge penalty on the classifier weights (default 1e-3)")
    parser.add_argument("--train-size", type=int, default=1200,
                        help="training images, the rest test (default 1200 of 1797)")
    parser.add_argument("--test-size", type=int, default=None,
                        help="test images (default: all the others)")
    parser.add_argument("--dictionary-iterations", type=int, default=30,
                        help="alternations of the unsupervised dictionary learning (default 30)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs of task-driven training (default 10)")
    parser.add_argument("--batch", type=int, default=200, help="training batch (default 200)")
    parser.add_argument("--learning-rate", type=float, default=1e-2,
                        help="Adam step of task-driven training (default 1e-2)")
    parser.add_argument("--unrolled-steps", type=int, nargs="+", default=[10, 30, 100, 300],
                        help="FISTA iterations K of the unrolled gradients (default 10 30 100 300)")
    parser.add_argument("--directions", type=int, default=6,
                        help="random directions of the finite differences (default 6)")
    parser.add_argument("--fd-step", type=float, default=1e-6,
                        help="step h of the central differences (default 1e-6)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed calls of each compiled gradient (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("results/dictionary_learning"))
    args = parser.parse_args(argv)
    if not 0 < args.train_size < 1797:
        parser.error(f"--train-size must lie in (0, 1797), got {args.train_size}")
    if not 2 <= args.atoms <= args.train_size:
        parser.error(f"--atoms must lie in [2, --train-size] (atoms start as training images), "
                     f"got {args.atoms}")
    if args.lam <= 0 or args.ridge < 0 or args.learning_rate <= 0 or args.fd_step <= 0:
        parser.error("--lam, --learning-rate and --fd-step must be positive, --ridge at least 0")
    if args.test_size is None:
        args.test_size = 1797 - args.train_size
    if not 1 <= args.test_size <= 1797 - args.train_size:
        parser.error(f"--test-size must lie in [1, {1797 - args.train_size}] (the images not "
                     f"used for training), got {args.test_size}")
    if not 1 <= args.batch <= args.train_size:
        parser.error("--batch must lie in [1, --train-size]")
    if args.epochs < 1 or args.dictionary_iterations < 1 or args.directions < 1 \
            or args.repeats < 1:
        parser.error("--epochs, --dictionary-iterations, --directions and --repeats must be >= 1")
    if min(args.unrolled_steps) < 1:
        parser.error("--unrolled-steps must be positive")
    args.unrolled_steps = sorted(set(args.unrolled_steps))
    return args


def digits(train_size: int, seed: int, test_size: int | None = None):
    """Scaled digits ``(y_train, c_train, y_test, c_test)``: images ``(N, 64)`` float64, centred
    on the mean training image and divided by the training pixels' standard deviation; labels
    int32. ``test_size`` images after the training ones are the test set (default: all)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit("dictionary-learning needs scikit-learn (its bundled digits): pip install "
                         "'.[experiments]'") from error
    data = load_digits()
    x, c = data.data.astype(float), data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(c))
    x, c = x[order], c[order]
    x = x - x[:train_size].mean(0)
    x = x / x[:train_size].std()
    end = len(c) if test_size is None else train_size + test_size
    return x[:train_size], c[:train_size], x[train_size:end], c[train_size:end]


def _jax():
    """``(jax, jax.numpy, the dictionary module)``, float64 on (imported late: ``--help`` is
    fast)."""
    enable_x64()
    import jax
    import jax.numpy as jnp

    from experiments.sparse_recovery import dictionary

    return jax, jnp, dictionary


# ---------------------------------------------------------------------------------------------
# Task: unsupervised dictionary, raw pixels, task-driven training
# ---------------------------------------------------------------------------------------------


def evaluate(params, Y, labels, lam, ridge, x0=None):
    """``(objective, cross-entropy, accuracy, codes)`` of a parameter set on a data set (the
    objective adds the ridge term)."""
    _, jnp, dl = _jax()
    codes = dl.solve_codes(params["D"], jnp.asarray(Y), lam, x0=x0)
    objective, ce, acc, _ = dl.scores(params["W"], params["b"], codes, jnp.asarray(labels), ridge)
    return float(objective), float(ce), float(acc), codes


def _active(codes) -> float:
    return float(np.mean(np.sum(np.asarray(codes) != 0, axis=1)))


def unsupervised(data, args) -> dict:
    """The reconstruction dictionary, the classifier fitted on its codes, and their scores."""
    _, _, dl = _jax()
    y_train, c_train, y_test, c_test = data
    started = time.perf_counter()
    D0 = dl.init_dictionary(y_train, args.atoms, args.seed)
    D, codes, history = dl.unsupervised_dictionary(y_train, D0, args.lam,
                                                   args.dictionary_iterations)
    W, b = dl.fit_classifier(codes, c_train, CLASSES, args.ridge)
    params = {"D": D, "W": W, "b": b}
    train = evaluate(params, y_train, c_train, args.lam, args.ridge, x0=codes)
    test = evaluate(params, y_test, c_test, args.lam, args.ridge)
    return {"params": params, "train_codes": train[3], "test_codes": test[3],
            "reconstruction": history, "train_objective": train[0], "train_ce": train[1],
            "test_ce": test[1], "test_accuracy": test[2],
            "active": _active(test[3]),
            "seconds": time.perf_counter() - started}


def raw_pixels(data, args) -> dict:
    """The same linear classifier on the 64 raw (scaled) pixels: a reference line."""
    _, jnp, dl = _jax()
    y_train, c_train, y_test, c_test = data
    W, b = dl.fit_classifier(y_train, c_train, CLASSES, args.ridge)
    _, ce, acc, _ = dl.scores(W, b, jnp.asarray(y_test), jnp.asarray(c_test), args.ridge)
    return {"test_ce": float(ce), "test_accuracy": float(acc)}


def task_driven(data, start: dict, args) -> dict:
    """Adam on ``(D, W, b)`` from the unsupervised solution, the implicit gradient; the scores on
    the whole training and test sets after every epoch (index 0: the start)."""
    _, jnp, dl = _jax()
    import optax

    y_train, c_train, y_test, c_test = (jnp.asarray(a) for a in data)
    params = start["params"]
    optimiser = optax.adam(args.learning_rate)
    state = optimiser.init(params)
    update = dl.projected_update(optimiser)
    # The codes of every image at its last visit warm-start the next lasso solve of that image.
    train_codes, test_codes = start["train_codes"], start["test_codes"]
    gradient = None
    history = {"train_objective": [start["train_objective"]], "test_ce": [start["test_ce"]],
               "test_accuracy": [start["test_accuracy"]]}
    rng = np.random.default_rng(args.seed + 1)
    n_batches = len(c_train) // args.batch
    started = time.perf_counter()
    for _ in range(args.epochs):
        order = rng.permutation(len(c_train))
        for i in range(n_batches):
            batch = order[i * args.batch:(i + 1) * args.batch]
            inputs = (params, y_train[batch], c_train[batch], train_codes[batch])
            if gradient is None:
                gradient, _ = compiled_gradient("implicit", 0, inputs, args)
            (_, codes), grads = gradient(*inputs)
            params, state = update(params, state, grads)
            train_codes = train_codes.at[batch].set(codes)
        objective, _, _, train_codes = evaluate(params, y_train, c_train, args.lam, args.ridge,
                                                x0=train_codes)
        _, ce, acc, test_codes = evaluate(params, y_test, c_test, args.lam, args.ridge,
                                          x0=test_codes)
        history["train_objective"].append(objective)
        history["test_ce"].append(ce)
        history["test_accuracy"].append(acc)
    seconds = time.perf_counter() - started
    # The same protocol as the baseline: the classifier refitted on the final codes.
    W, b = dl.fit_classifier(train_codes, c_train, CLASSES, args.ridge, W0=params["W"],
                             b0=params["b"])
    refit = {**params, "W": W, "b": b}
    _, ce, acc, _ = evaluate(refit, y_test, c_test, args.lam, args.ridge, x0=test_codes)
    return {"params": params, **{k: np.asarray(v) for k, v in history.items()},
            "refit_test_ce": ce, "refit_test_accuracy": acc,
            "active": _active(test_codes), "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# Gradient check and cost
# ---------------------------------------------------------------------------------------------

# Compiled gradients by (method, K, lambda, ridge, shapes): the gradient check and the training
# share the implicit one when the check batch is a training batch.
_PROGRAMS: dict = {}


def compiled_gradient(method: str, steps: int, inputs, args):
    """``(compiled, memory analysis)`` of :func:`dictionary.task_gradient` for ``inputs =
    (params, Y, labels, x0)``, compiled once per method, ``K`` and shapes."""
    jax, _, dl = _jax()
    shapes = tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(inputs))
    key = (method, steps, args.lam, args.ridge, shapes)
    if key not in _PROGRAMS:
        program = dl.task_gradient(args.lam, args.ridge, method=method, steps=steps)
        compiled = jax.jit(program).lower(*inputs).compile()
        _PROGRAMS[key] = (compiled, compiled.memory_analysis())
    return _PROGRAMS[key]


def _relative(a, b) -> float:
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b)))


def random_directions(params, count: int, seed: int):
    """``count`` directions of unit Frobenius norm in ``D`` (zero in ``W``, ``b``): the code
    gradient is the part of the gradient under test."""
    _, jnp, _ = _jax()
    rng = np.random.default_rng(seed)
    directions = []
    for _ in range(count):
        v = rng.standard_normal(params["D"].shape)
        directions.append({"D": jnp.asarray(v / np.linalg.norm(v)),
                           "W": np.zeros(params["W"].shape), "b": np.zeros(params["b"].shape)})
    return directions


def gradient_check(params, Y, labels, args) -> dict:
    """Errors, time and memory of the implicit and unrolled gradients at ``params`` on a batch."""
    jax, jnp, dl = _jax()
    Y, labels = jnp.asarray(Y), jnp.asarray(labels)
    lam, ridge, h = args.lam, args.ridge, args.fd_step
    directions = random_directions(params, args.directions, args.seed + 2)

    # Finite differences with refined codes, and a check that no support moves under +-h.
    fd = dl.finite_differences(lambda p: dl.refined_task_loss(p, Y, labels, lam, ridge), params,
                               directions, h)

    def support(D):
        return np.asarray(dl.solve_codes(D, Y, lam)) != 0

    base = support(params["D"])
    D = np.asarray(params["D"])
    changed = sum(int(np.any(support(jnp.asarray(D + s * h * np.asarray(v["D"]))) != base))
                  for v in directions for s in (1.0, -1.0))
    codes = dl.solve_codes(params["D"], Y, lam)
    on_margin, off_margin, _ = dl.kkt_margins(params["D"], Y, codes, lam)

    inputs = (params, Y, labels, jnp.asarray(np.zeros(codes.shape)))
    rows = []
    for method, steps in [("implicit", 0)] + [("unrolled", k) for k in args.unrolled_steps]:
        compiled, memory = compiled_gradient(method, steps, inputs, args)
        _, grad = jax.block_until_ready(compiled(*inputs))
        seconds = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            jax.block_until_ready(compiled(*inputs))
            seconds.append(time.perf_counter() - t)
        rows.append({"method": method, "steps": steps, "grad": grad,
                     "fd_error": _relative(dl.directional(grad, directions), fd),
                     "seconds": statistics.median(seconds),
                     "temp_bytes": float(getattr(memory, "temp_size_in_bytes", np.nan))})
    implicit = rows[0]
    for row in rows:
        row["vs_implicit"] = _relative(row["grad"]["D"], implicit["grad"]["D"])
        row["time_ratio"] = row["seconds"] / implicit["seconds"]
        row["memory_ratio"] = row["temp_bytes"] / implicit["temp_bytes"]
    return {"rows": rows, "fd": fd, "support_changes": changed,
            "perturbations": 2 * len(directions), "on_margin": float(on_margin),
            "off_margin": float(off_margin), "images": int(Y.shape[0]),
            "active": _active(codes)}


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def table(check: dict, baseline: dict, raw: dict, task: dict, args) -> str:
    lines = [f"Task-driven dictionary learning on the digits: p = {args.atoms} atoms, "
             f"lambda = {args.lam:g}, ridge {args.ridge:g}, {args.train_size} training images",
             f"Gradient check on {check['images']} training images at the unsupervised (D, W, b), "
             f"{args.directions} random directions in D, central differences h = "
             f"{args.fd_step:g} with refined codes; supports changed in "
             f"{check['support_changes']} of {check['perturbations']} perturbations (margins: "
             f"smallest |code| {check['on_margin']:.1e}, smallest lambda - |d_i.r| "
             f"{check['off_margin']:.1e}; {check['active']:.1f} active atoms per image)",
             f"  {'gradient':<16} {'err vs FD':>10} {'err vs implicit':>15} {'time ms':>8} "
             f"{'time ratio':>10} {'temp MiB':>9} {'memory ratio':>12}"]
    for r in check["rows"]:
        name = "implicit" if r["method"] == "implicit" else f"FISTA K={r['steps']}"
        lines.append(f"  {name:<16} {r['fd_error']:>10.1e} {r['vs_implicit']:>15.1e} "
                     f"{1e3 * r['seconds']:>8.2f} {r['time_ratio']:>10.2f} "
                     f"{r['temp_bytes'] / 2**20:>9.3f} {r['memory_ratio']:>12.2f}")
    lines += ["  err: relative error of the directional derivatives (vs FD) or of the D gradient "
              "(vs implicit); time: median of one compiled gradient; temp: XLA temporary memory",
              f"Task ({len(task['test_ce']) - 1} epochs of task-driven training, batch "
              f"{args.batch}, Adam {args.learning_rate:g}):",
              f"  {'model':<36} {'train objective':>15} {'test CE':>8} {'test acc':>8} "
              f"{'active':>6}",
              f"  {'unsupervised D, classifier fitted':<36} {baseline['train_objective']:>15.4f} "
              f"{baseline['test_ce']:>8.4f} {baseline['test_accuracy']:>8.4f} "
              f"{baseline['active']:>6.1f}",
              f"  {'task-driven D, W, b (joint)':<36} {task['train_objective'][-1]:>15.4f} "
              f"{task['test_ce'][-1]:>8.4f} {task['test_accuracy'][-1]:>8.4f} "
              f"{task['active']:>6.1f}",
              f"  {'task-driven D, classifier refitted':<36} {'':>15} "
              f"{task['refit_test_ce']:>8.4f} {task['refit_test_accuracy']:>8.4f} {'':>6}",
              f"  {'raw pixels, linear classifier':<36} {'':>15} {raw['test_ce']:>8.4f} "
              f"{raw['test_accuracy']:>8.4f} {'':>6}",
              "  train objective: cross-entropy + ridge on all training images; active: mean "
              "nonzero codes per test image",
              f"  time: unsupervised dictionary and classifier {baseline['seconds']:.1f} s, "
              f"task-driven training {task['seconds']:.1f} s"]
    return "\n".join(lines)


def save(check: dict, baseline: dict, raw: dict, task: dict, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out)
    unrolled = [r for r in check["rows"] if r["method"] == "unrolled"]
    implicit = check["rows"][0]
    K = [r["steps"] for r in unrolled]
    left.loglog(K, [r["fd_error"] for r in unrolled], "-o", ms=4, label="unrolled FISTA vs FD")
    left.loglog(K, [r["vs_implicit"] for r in unrolled], "--s", ms=4,
                label="unrolled FISTA vs implicit")
    left.axhline(implicit["fd_error"], color="k", lw=1.2,
                 label=f"implicit vs FD ({implicit['fd_error']:.0e})")
    left.set_xlabel("FISTA iterations K")
    left.set_ylabel("relative gradient error (D)")
    left.set_title(f"gradient of the task loss in D, {check['images']} images", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3, which="both")

    # Both scores fall as the model improves and lie in (0.01, 1): one log axis, no twin axes.
    # Colour: the score; line style: the model.
    epochs = np.arange(len(task["test_ce"]))
    curves = {"test cross-entropy": ("C0", task["test_ce"], baseline["test_ce"], raw["test_ce"]),
              "test error (1 - accuracy)": ("C3", 1.0 - task["test_accuracy"],
                                            1.0 - baseline["test_accuracy"],
                                            1.0 - raw["test_accuracy"])}
    for colour, trained, unsupervised, pixels in curves.values():
        right.semilogy(epochs, trained, "-o", ms=3, color=colour)
        right.axhline(unsupervised, color=colour, ls="--", lw=1.2)
        right.axhline(pixels, color=colour, ls=":", lw=1.2)
    # Two small legends, one per encoding, in the free band below the curves.
    from matplotlib.lines import Line2D

    low = min(min(np.min(c[1]), c[2], c[3]) for c in curves.values())
    right.set_ylim(bottom=low / 2.2)
    scores = right.legend([Line2D([], [], color=c[0], lw=2) for c in curves.values()],
                          list(curves), fontsize=7, loc="lower left")
    right.add_artist(scores)
    right.legend([Line2D([], [], color="k", ls=ls, marker=m, ms=3) for ls, m in
                  (("-", "o"), ("--", ""), (":", ""))],
                 ["task-driven D, W, b", "unsupervised D, classifier fitted",
                  "raw pixels, linear classifier"], fontsize=7, loc="lower right")
    right.set_xlabel("epoch of task-driven training (0: the unsupervised start)")
    right.set_ylabel("test score (lower is better)")
    right.set_title(f"p = {args.atoms} atoms, lambda = {args.lam:g}: task-driven vs unsupervised",
                    fontsize=10)
    right.grid(alpha=0.3, which="both")
    finish(plt, fig, out / "dictionary_learning.png",
           "Task-driven dictionary learning on the digits (implicit lasso gradient)")

    rows = check["rows"]
    gradient = [r["method"] if r["method"] == "implicit" else f"unrolled_{r['steps']}"
                for r in rows]
    dataset = xr.Dataset(
        {"fd_error": ("gradient", [r["fd_error"] for r in rows]),
         "error_vs_implicit": ("gradient", [r["vs_implicit"] for r in rows]),
         "gradient_seconds": ("gradient", [r["seconds"] for r in rows]),
         "temp_bytes": ("gradient", [r["temp_bytes"] for r in rows]),
         "unrolled_steps": ("gradient", [r["steps"] for r in rows]),
         "finite_differences": ("direction", check["fd"]),
         "task_train_objective": ("epoch", task["train_objective"]),
         "task_test_cross_entropy": ("epoch", task["test_ce"]),
         "task_test_accuracy": ("epoch", task["test_accuracy"]),
         "unsupervised_reconstruction": ("iteration", baseline["reconstruction"]),
         "dictionary": (("model", "pixel", "atom"),
                        np.stack([np.asarray(baseline["params"]["D"]),
                                  np.asarray(task["params"]["D"])]))},
        coords={"gradient": gradient, "direction": np.arange(len(check["fd"])),
                "epoch": np.arange(len(task["test_ce"])),
                "iteration": np.arange(1, len(baseline["reconstruction"]) + 1),
                "model": ["unsupervised", "task_driven"]},
        attrs={"atoms": args.atoms, "lam": args.lam, "ridge": args.ridge,
               "fd_step": args.fd_step, "support_changes": check["support_changes"],
               "unsupervised_test_cross_entropy": baseline["test_ce"],
               "unsupervised_test_accuracy": baseline["test_accuracy"],
               "unsupervised_train_objective": baseline["train_objective"],
               "refit_test_cross_entropy": task["refit_test_ce"],
               "refit_test_accuracy": task["refit_test_accuracy"],
               "raw_pixels_test_cross_entropy": raw["test_ce"],
               "raw_pixels_test_accuracy": raw["test_accuracy"]})
    units = {"fd_error": "1", "error_vs_implicit": "1", "gradient_seconds": "s",
             "temp_bytes": "bytes", "unrolled_steps": "iterations", "finite_differences": "nats",
             "task_train_objective": "nats", "task_test_cross_entropy": "nats",
             "task_test_accuracy": "1", "unsupervised_reconstruction": "scaled pixels^2",
             "dictionary": "1"}
    for name, unit in units.items():
        dataset[name].attrs["units"] = unit
    dataset.to_netcdf(out / "dictionary_learning.nc", engine="h5netcdf")
    (out / "dictionary_learning.txt").write_text(table(check, baseline, raw, task, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    data = digits(args.train_size, args.seed, args.test_size)
    print("  ... unsupervised dictionary and its classifier", flush=True)
    baseline = unsupervised(data, args)
    raw = raw_pixels(data, args)
    print("  ... gradient check and cost", flush=True)
    check = gradient_check(baseline["params"], data[0][:args.batch], data[1][:args.batch],
                           args)
    print("  ... task-driven training", flush=True)
    task = task_driven(data, baseline, args)
    print(table(check, baseline, raw, task, args))
    save(check, baseline, raw, task, args)
    print(f"  written to {args.out}: dictionary_learning.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
