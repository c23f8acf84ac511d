r"""A deep equilibrium classifier on scikit-learn's digits, trained with four gradients.

The model (Bai, Kolter & Koltun, NeurIPS 2019) maps an 8x8 image :math:`x` (64 pixels,
standardised) to class scores through the fixed point of one layer,

.. math:: z^* = \tanh(W z^* + U x + b), \qquad \text{logits} = A z^* + a,

with the spectral norm :math:`\|W\|_2 \le` ``--max-norm`` < 1 enforced after every step (a
projection: :math:`W \leftarrow W \cdot \min(1, \kappa/\|W\|_2)`), so the layer is a contraction
and the fixed point is unique. It is trained with Adam on the cross-entropy, the fixed point
solved by :func:`calib.fixed_point` for the whole batch at once, with each of

* ``implicit``: ``calib.Implicit()`` (GMRES on :math:`(I - J)^\top`), forward by Anderson;
* ``unrolled``: ``calib.Unrolled(steps=K)`` through ``K`` plain iterations (``--unrolled-steps``);
* ``truncated``: ``calib.Truncated(steps=K, backprop=T)`` (``--truncated-backprop``);
* ``phantom``: ``calib.Phantom()``, the Jacobian-free gradient, forward by Anderson.

Reported for each: test accuracy after ``--epochs``, the median time per epoch (the first, which
compiles, excluded), the peak temporary memory of the compiled training step (XLA's memory analysis
of the program, in MiB), and along training the relative error of the gradient against the implicit
one at the same parameters on a fixed batch. The digits ship with scikit-learn (no download;
the ``experiments`` extra). Output under ``--out``: ``deq_digits.txt``, ``deq_digits.nc`` and
``deq_digits.png``. Run as ``calib deq-digits`` or ``python experiments/deq_digits.py``.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

from experiments._figures import enable_x64, finish, two_panels

MODES = ("implicit", "unrolled", "truncated", "phantom")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="calib deq-digits", description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--width", type=int, default=64, help="hidden width (default 64)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--max-norm", type=float, default=0.9,
                        help="bound on the spectral norm of W (default 0.9)")
    parser.add_argument("--unrolled-steps", type=int, default=30, help="K of Unrolled (default 30)")
    parser.add_argument("--truncated-backprop", type=int, default=5,
                        help="T of Truncated(steps=K, backprop=T) (default 5)")
    parser.add_argument("--train-size", type=int, default=1400,
                        help="training images, the rest test (default 1400 of 1797)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/deq_digits"))
    args = parser.parse_args(argv)
    if not 0 < args.max_norm < 1:
        parser.error(f"--max-norm must lie in (0, 1) (a contraction), got {args.max_norm}")
    if args.epochs < 2 or args.batch < 1 or args.width < 2 or not 0 < args.train_size < 1797:
        parser.error("--epochs >= 2, --batch >= 1, --width >= 2 and 0 < --train-size < 1797")
    if args.truncated_backprop > args.unrolled_steps:
        parser.error("--truncated-backprop must be at most --unrolled-steps")
    return args


def _jax():
    return enable_x64()


def digits(train_size: int, seed: int):
    """Standardised digits ``(x_train, y_train, x_test, y_test)``, float64 and int32."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit("deq-digits needs scikit-learn (its bundled digits): pip install "
                         "'.[experiments]'") from error
    data = load_digits()
    x, y = data.data.astype(float), data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    mean, std = x[:train_size].mean(0), x[:train_size].std(0) + 1e-6
    x = (x - mean) / std
    return x[:train_size], y[:train_size], x[train_size:], y[train_size:]


def init_params(width: int, max_norm: float, seed: int):
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    W = rng.standard_normal((width, width)) / np.sqrt(width)
    W = 0.5 * max_norm * W / np.linalg.norm(W, 2)
    return {"W": jnp.asarray(W), "U": jnp.asarray(rng.standard_normal((width, 64)) / 8.0),
            "b": jnp.zeros(width),
            "A": jnp.asarray(rng.standard_normal((10, width)) / np.sqrt(width)),
            "a": jnp.zeros(10)}


def layer(z, params, x):
    """One application of the layer to a batch: ``z`` (B, h), ``x`` (B, 64)."""
    import jax.numpy as jnp

    return jnp.tanh(z @ params["W"].T + x @ params["U"].T + params["b"])


def configuration(mode: str, args):
    """``(solver, adjoint)`` of a mode."""
    import calib

    if mode == "implicit":
        return calib.Anderson(tol=1e-8, max_steps=200), calib.Implicit()
    if mode == "phantom":
        return calib.Anderson(tol=1e-8, max_steps=200), calib.Phantom()
    plain = calib.FixedPointIteration(tol=1e-8, max_steps=args.unrolled_steps)
    if mode == "unrolled":
        return plain, calib.Unrolled(steps=args.unrolled_steps, check=False)
    return plain, calib.Truncated(steps=args.unrolled_steps, backprop=args.truncated_backprop,
                                  check=False)


def loss_fn(params, x, y, solver, adjoint):
    import jax
    import jax.numpy as jnp

    import calib

    z = calib.fixed_point(layer, jnp.zeros((x.shape[0], params["W"].shape[0])), params, x,
                          solver=solver, adjoint=adjoint, warn=False).z
    logits = z @ params["A"].T + params["a"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def project(params, max_norm: float):
    """Keep ``||W||_2 <= max_norm`` (the layer contracts)."""
    import jax.numpy as jnp

    norm = jnp.linalg.norm(params["W"], 2)
    return {**params, "W": params["W"] * jnp.minimum(1.0, max_norm / norm)}


def train(mode: str, data, args) -> dict:
    jax = _jax()
    import jax.numpy as jnp
    import optax

    x_train, y_train, x_test, y_test = (jnp.asarray(a) for a in data)
    solver, adjoint = configuration(mode, args)
    implicit_solver, implicit_adjoint = configuration("implicit", args)
    optimiser = optax.adam(args.learning_rate)
    params = init_params(args.width, args.max_norm, args.seed)
    state = optimiser.init(params)

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, solver, adjoint)
        updates, state = optimiser.update(grads, state, params)
        return project(optax.apply_updates(params, updates), args.max_norm), state, loss

    n_batches = len(y_train) // args.batch
    x0, y0 = x_train[:args.batch], y_train[:args.batch]
    compiled = jax.jit(step).lower(params, state, x0, y0).compile()
    memory = compiled.memory_analysis()
    peak_mib = float(getattr(memory, "temp_size_in_bytes", float("nan"))) / 2**20

    grad_mode = jax.jit(jax.grad(lambda p: loss_fn(p, x0, y0, solver, adjoint)))
    grad_implicit = jax.jit(jax.grad(lambda p: loss_fn(p, x0, y0, implicit_solver,
                                                       implicit_adjoint)))

    @jax.jit
    def accuracy(params, x, y):
        z = jax.lax.stop_gradient(__import__("calib").fixed_point(
            layer, jnp.zeros((x.shape[0], args.width)), params, x, solver=implicit_solver,
            warn=False).z)
        return jnp.mean(jnp.argmax(z @ params["A"].T + params["a"], axis=1) == y)

    def gradient_error(params):
        g, ref = grad_mode(params), grad_implicit(params)
        flat = np.concatenate([np.ravel(g[k] - ref[k]) for k in sorted(ref)])
        scale = np.concatenate([np.ravel(ref[k]) for k in sorted(ref)])
        return float(np.linalg.norm(flat) / np.linalg.norm(scale))

    rng = np.random.default_rng(args.seed + 1)
    epoch_seconds, losses, errors = [], [], [gradient_error(params)]
    for _ in range(args.epochs):
        order = rng.permutation(len(y_train))
        started = time.perf_counter()
        total = 0.0
        for i in range(n_batches):
            batch = order[i * args.batch:(i + 1) * args.batch]
            params, state, loss = compiled(params, state, x_train[batch], y_train[batch])
            total += float(loss)
        epoch_seconds.append(time.perf_counter() - started)
        losses.append(total / n_batches)
        errors.append(gradient_error(params))
    return {"mode": mode, "test_accuracy": float(accuracy(params, x_test, y_test)),
            "train_accuracy": float(accuracy(params, x_train, y_train)),
            "epoch_s": statistics.median(epoch_seconds[1:]), "peak_mib": peak_mib,
            "loss": np.asarray(losses), "gradient_error": np.asarray(errors),
            "final_loss": losses[-1]}


def table(rows, args) -> str:
    base = next((r for r in rows if r["mode"] == "implicit"), rows[0])
    lines = [f"DEQ classifier on the digits: width {args.width}, |W|_2 <= {args.max_norm}, "
             f"{args.epochs} epochs, batch {args.batch}, Adam {args.learning_rate:g}; "
             f"Unrolled K = {args.unrolled_steps}, Truncated T = {args.truncated_backprop}",
             f"  {'mode':<10} {'test acc':>8} {'train acc':>9} {'final loss':>10} {'s/epoch':>8} "
             f"{'vs implicit':>11} {'peak MiB':>9} {'vs implicit':>11} {'grad err: start':>15} "
             f"{'end':>8}"]
    for r in rows:
        lines.append(f"  {r['mode']:<10} {r['test_accuracy']:>8.3f} {r['train_accuracy']:>9.3f} "
                     f"{r['final_loss']:>10.4f} {r['epoch_s']:>8.3f} "
                     f"{r['epoch_s'] / base['epoch_s']:>11.2f} {r['peak_mib']:>9.2f} "
                     f"{r['peak_mib'] / base['peak_mib']:>11.2f} {r['gradient_error'][0]:>15.1e} "
                     f"{r['gradient_error'][-1]:>8.1e}")
    lines.append("  peak MiB: temporary memory of the compiled training step (XLA memory analysis);"
                 " "
                 "grad err: |g - g_implicit| / |g_implicit| on a fixed batch")
    return "\n".join(lines)


def save(rows, args) -> None:
    import xarray as xr

    out = args.out
    plt, fig, (left, right) = two_panels(out)
    for r in rows:
        left.plot(np.arange(1, args.epochs + 1), r["loss"], "-o", ms=3, label=r["mode"])
        if r["mode"] != "implicit":
            right.semilogy(np.arange(args.epochs + 1), r["gradient_error"], "-o", ms=3,
                           label=r["mode"])
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (cross-entropy)")
    left.legend()
    left.grid(alpha=0.3)
    right.set_xlabel("epoch (0: initial parameters)")
    right.set_ylabel("relative gradient error vs implicit")
    right.legend()
    right.grid(alpha=0.3)
    finish(plt, fig, out / "deq_digits.png",
           "Deep equilibrium classifier on the digits")
    dataset = xr.Dataset(
        {"loss": (("mode", "epoch"), np.stack([r["loss"] for r in rows])),
         "gradient_error": (("mode", "checkpoint"), np.stack([r["gradient_error"] for r in rows])),
         **{k: ("mode", [r[k] for r in rows]) for k in ("test_accuracy", "train_accuracy",
                                                        "epoch_s", "peak_mib")}},
        coords={"mode": [r["mode"] for r in rows], "epoch": np.arange(1, args.epochs + 1),
                "checkpoint": np.arange(args.epochs + 1)})
    dataset["epoch_s"].attrs["units"] = "s"
    dataset["peak_mib"].attrs["units"] = "MiB"
    dataset.to_netcdf(out / "deq_digits.nc", engine="h5netcdf")
    (out / "deq_digits.txt").write_text(table(rows, args) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    data = digits(args.train_size, args.seed)
    rows = []
    for mode in args.modes:
        print(f"  ... training with the {mode} gradient", flush=True)
        rows.append(train(mode, data, args))
    print(table(rows, args))
    save(rows, args)
    print(f"  written to {args.out}: deq_digits.txt, .nc, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
