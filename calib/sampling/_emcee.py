r"""The affine-invariant ensemble sampler (emcee) on a :class:`LogPosterior`: the gradient-free
baseline.

Goodman & Weare, "Ensemble samplers with affine invariance", Comm. App. Math. Comp. Sci. 5, 65
(2010); Foreman-Mackey, Hogg, Lang & Goodman, "emcee: the MCMC hammer", PASP 125, 306 (2013). The
stretch move updates half of the walkers at a time from the positions of the other half, so each
call of the log density evaluates ``walkers / 2`` points: they go through one compiled program
(``jax.lax.map`` or ``jax.vmap`` over them), compiled once for that batch size (the first call,
on the whole ensemble, is cut in two). A point whose
inner solves failed gets :math:`-\infty` on the host, from the solve reports of its batch member,
so it is rejected exactly. emcee is imported only when this function is called.

The walkers are the chains of the result (ArviZ's convention for emcee); they are not
independent, so their R-hat and ESS are those of a correlated ensemble: compare the ESS per inner
solve with that of NUTS, and check emcee's own integrated autocorrelation time in the attributes.
"""

from __future__ import annotations

import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibValueError
from ._output import SolveCounter, build_dataset, failed_members, monitor
from ._posterior import LogPosterior


def emcee(posterior: LogPosterior, *, walkers: int = 32, steps: int = 2000, burn: int | None = None,
          seed: int = 0, init=None, init_scale: float = 1e-2, moves=None, batch: str = "map",
          progress: bool = False):
    r"""Sample ``posterior`` with emcee's ``EnsembleSampler`` (stretch move by default).

    Args:
        posterior: from :func:`calib.sampling.log_posterior`.
        walkers: ensemble size (even, at least ``2 p``).
        steps: ensemble steps in all, burn-in included.
        burn: the first steps discarded (default ``steps // 2``).
        seed: the random seed (numpy, for the start and for emcee).
        init: starting ``z``, shape ``(p,)`` (scattered by ``init_scale`` times a standard normal)
            or ``(walkers, p)``; default ``posterior.z0``.
        moves: emcee moves (default: the stretch move).
        batch: how the points of one call are evaluated in the compiled program: ``"map"``
            (``jax.lax.map``: one after the other, each relaxation as long as it needs; compiles
            in the time of one point) or ``"vmap"`` (batched relaxations, which run as long as the
            slowest member; for accelerators; the solve reports of a batch make its compilation
            grow with the batch size).
        progress: emcee's progress bar.

    Returns:
        An ``xarray.Dataset`` like :func:`calib.sampling.nuts`'s, chain = walker, draws after the
        burn-in; statistics ``sample_stats.{lp, accepted, inner_failed}``; attributes as for NUTS
        (``n_gradient_evaluations`` is 0) plus ``acceptance_fraction`` and
        ``autocorrelation_time`` (emcee's estimate, per parameter, JSON).
    """
    import emcee as _emcee

    p = posterior.size
    if not isinstance(walkers, (int, np.integer)) or walkers < 2 * p or walkers % 2:
        raise CalibValueError(f"emcee: walkers must be an even int >= 2 * {p} parameters, got "
                              f"{walkers!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        raise CalibValueError(f"emcee: steps must be an int >= 2, got {steps!r}")
    burn = steps // 2 if burn is None else int(burn)
    if not 0 <= burn < steps - 3:
        raise CalibValueError(f"emcee: burn must be in [0, steps - 4], got {burn}")
    rng = np.random.default_rng(seed)
    base = posterior.z0 if init is None else np.asarray(init, dtype=float)
    if base.shape == (p,):
        start = base + init_scale * rng.standard_normal((walkers, p))
    elif base.shape == (walkers, p):
        start = base
    else:
        raise CalibValueError(f"emcee: init must have shape ({p},) or ({walkers}, {p}), got {base.shape}")

    if batch == "map":
        batched = jax.jit(lambda zs: jax.lax.map(posterior.logdensity, zs))
    elif batch == "vmap":
        batched = jax.jit(jax.vmap(posterior.logdensity))
    else:
        raise CalibValueError(f"emcee: batch must be 'map' or 'vmap', got {batch!r}")
    size = walkers // 2  # the stretch move's batch; other batches are cut (and padded) to it
    compile_start = time.perf_counter()
    program = batched.lower(jnp.zeros((size, p))).compile()
    compile_seconds = time.perf_counter() - compile_start

    def evaluate(z):
        n = z.shape[0]
        padded = np.concatenate([z, np.repeat(z[-1:], (-n) % size, axis=0)])
        out = [np.array(program(jnp.asarray(padded[i:i + size])), dtype=float)
               for i in range(0, padded.shape[0], size)]
        return np.concatenate(out)[:n], padded.shape[0]

    with monitor() as m:
        counter = SolveCounter(m)
        state = {"evaluations": 0, "rejected_failed": 0}

        def log_prob(z):
            z = np.asarray(z, dtype=float)
            n = z.shape[0]
            values, evaluated = evaluate(z)
            events = counter.take()
            bad = failed_members(events, evaluated)[:n]
            state["evaluations"] += evaluated
            state["rejected_failed"] += int(np.sum(bad & np.isfinite(values)))
            values[bad | ~np.isfinite(values)] = -np.inf
            return values

        sampler = _emcee.EnsembleSampler(walkers, p, log_prob, vectorize=True, moves=moves)
        sampler.random_state = np.random.RandomState(int(rng.integers(2 ** 31))).get_state()
        run_start = time.perf_counter()
        sampler.run_mcmc(start, steps, progress=progress)
        run_seconds = time.perf_counter() - run_start
        solves, failed = counter.solves, counter.failed
        messages = counter.messages
    chain = sampler.get_chain()  # (steps, walkers, p)
    lp = sampler.get_log_prob()  # (steps, walkers)
    z = np.transpose(chain[burn:], (1, 0, 2))
    lps = lp[burn:].T
    accepted = np.zeros_like(lps, dtype=bool)
    moved = np.any(chain[1:] != chain[:-1], axis=2).T  # (walkers, steps - 1)
    accepted[:, 1:] = moved[:, burn:]
    if burn > 0:
        accepted[:, 0] = moved[:, burn - 1]
    try:
        tau = sampler.get_autocorr_time(discard=burn, quiet=True)
    except Exception:  # too short a chain for emcee's own estimate
        tau = np.full(p, np.nan)
    if failed:
        warnings.warn(f"emcee: {failed} inner solves failed; those proposals were rejected; first: "
                      f"{messages[0]}", RuntimeWarning, stacklevel=2)
    attrs = {"sampler": "emcee (EnsembleSampler, stretch move)" if moves is None else "emcee",
             "chains": walkers, "draws": steps - burn, "warmup": burn, "seed": seed,
             "compile_seconds": compile_seconds, "warmup_seconds": np.nan,
             "sampling_seconds": run_seconds, "run_seconds": run_seconds,
             "n_logdensity_evaluations": state["evaluations"], "n_gradient_evaluations": 0,
             "n_inner_solves": solves,
             "inner_solves_counted": "from the solve reports (calib._monitor), burn-in included",
             "batch": batch, "failed_inner_solves": failed, "failed_draws": 0,
             "rejected_for_failed_solves": state["rejected_failed"],
             "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
             "autocorrelation_time": {n: float(t) for n, t in zip(posterior.names, tau)}}
    stats = {"lp": lps, "accepted": accepted, "inner_failed": np.zeros_like(lps, dtype=bool)}
    return build_dataset(posterior, z, stats, attrs)
