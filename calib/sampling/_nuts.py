r"""The No-U-Turn sampler (blackjax) on a :class:`LogPosterior`, with exact gradients.

Hoffman & Gelman, "The No-U-Turn Sampler", JMLR 15, 1593 (2014); the step size and a diagonal mass
matrix are tuned by Stan's window adaptation (dual averaging, Nesterov 2009 / Hoffman & Gelman
2014; windowed variance estimates). Each leapfrog step needs :math:`\nabla_z \log p`, which flows
through every inner equilibrium by its adjoint (one relaxation and one adjoint solve per condition
and step, whatever the number of parameters).

Compilation: the warm-up of one chain and a chunk of ``chunk`` NUTS transitions are each compiled
once (ahead of time, so their time is reported apart); the chains are run one after the other
through the same two programs, so every inner solve is reported and counted exactly (a ``vmap``
over chains would run every chain's trajectory as long as the longest one). blackjax is imported
only when this function is called.
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


def nuts(posterior: LogPosterior, *, num_warmup: int = 500, num_samples: int = 500,
         chains: int = 4, seed: int = 0, init=None, init_scale: float = 0.1,
         precondition=None, dense_mass: bool = False, initial_step_size: float = 1.0,
         target_acceptance: float = 0.8, max_tree_depth: int = 10, chunk: int = 100,
         progress: bool = False):
    r"""Sample ``posterior`` with NUTS.

    Args:
        posterior: from :func:`calib.sampling.log_posterior`.
        num_warmup: adaptation steps per chain (discarded).
        num_samples: draws kept per chain.
        chains: independent chains.
        seed: the random seed (``jax.random.key(seed)``).
        init: starting ``z``, shape ``(p,)`` or ``(chains, p)``; default ``posterior.z0``.
        init_scale: each chain starts at ``init`` plus this times a standard normal (in ``z``).
        precondition: a covariance of ``z``, ``(p, p)``, or standard deviations ``(p,)`` (e.g. the
            Laplace approximation mapped to ``z``): NUTS then moves :math:`u` with
            :math:`z = z_c + L u` (:math:`LL^\top` that covariance, :math:`z_c` the mean of
            ``init``), where the posterior is near the unit scale. The window adaptation
            regularises its mass matrix towards a small multiple of the identity (Stan's rule),
            which is far too large for a posterior of width :math:`10^{-3}` in ``z``: without this
            the step size collapses and every draw costs many relaxations.
        dense_mass: adapt a dense mass matrix (for correlated parameters; cheap for few
            parameters) instead of a diagonal one.
        initial_step_size: the dual averaging's first step size.
        target_acceptance: the dual-averaging target of the mean acceptance probability.
        max_tree_depth: at most :math:`2^{d}` leapfrog steps per draw.
        chunk: draws per compiled call (the inner solves are checked after each).
        progress: print one line per chain.

    Returns:
        An ``xarray.Dataset`` (see ``calib.sampling``): each parameter ``(chain, draw)``, the
        statistics ``sample_stats.{lp, acceptance_rate, diverging, n_steps, tree_depth, energy,
        step_size, inner_failed}``, and the attributes ``compile_seconds``, ``warmup_seconds``,
        ``sampling_seconds``, ``run_seconds`` (warm-up + sampling), ``n_logdensity_evaluations``
        (= ``n_gradient_evaluations``: each leapfrog step is one value-and-gradient),
        ``n_inner_solves`` (counted from the solve reports), ``failed_inner_solves``,
        ``failed_draws``, ``divergences``, ``summary`` (JSON: per parameter mean, sd, R-hat, bulk
        and tail ESS), ``ess_bulk_min``, ``rhat_max``, ``ess_per_second``, ``ess_per_inner_solve``.
    """
    import blackjax

    for value, name in ((num_warmup, "num_warmup"), (num_samples, "num_samples"), (chains, "chains"),
                        (chunk, "chunk")):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise CalibValueError(f"nuts: {name} must be a positive int, got {value!r}")
    p = posterior.size
    chunk = int(min(chunk, num_samples))
    starts = _starts(posterior, init, chains, init_scale, seed)

    center = np.mean(starts, axis=0)
    factor = _factor(precondition, p)
    inverse_factor = np.linalg.inv(factor)
    factor_j = jnp.asarray(factor)
    center_j = jnp.asarray(center)

    def logdensity(u):  # the Jacobian of the affine map is a constant
        return posterior.logdensity(center_j + factor_j @ u)

    starts = (starts - center) @ inverse_factor.T
    warmup = blackjax.window_adaptation(blackjax.nuts, logdensity,
                                        is_mass_matrix_diagonal=not dense_mass,
                                        initial_step_size=initial_step_size,
                                        target_acceptance_rate=target_acceptance,
                                        max_num_doublings=max_tree_depth)

    def run_warmup(key, z):
        (state, parameters), info = warmup.run(key, z, num_steps=num_warmup)
        return state, parameters, jnp.sum(info.info.num_integration_steps)

    def run_chunk(state, keys, step_size, inverse_mass_matrix):
        kernel = blackjax.nuts(logdensity, step_size=step_size,
                               inverse_mass_matrix=inverse_mass_matrix,
                               max_num_doublings=max_tree_depth)

        def step(state, key):
            state, info = kernel.step(key, state)
            return state, (state.position, state.logdensity, info.acceptance_rate,
                           info.is_divergent, info.num_integration_steps,
                           info.num_trajectory_expansions, info.energy)

        return jax.lax.scan(step, state, keys)

    def check(zs):  # the density at each draw, in order: its solve reports say which ones failed
        return jax.lax.map(posterior.logdensity, zs)

    key = jax.random.key(seed)
    compile_start = time.perf_counter()
    warmup_program = jax.jit(run_warmup).lower(key, jnp.asarray(starts[0])).compile()
    compile_seconds = time.perf_counter() - compile_start
    programs = {}

    draws = np.zeros((chains, num_samples, p))
    names = ("lp", "acceptance_rate", "diverging", "n_steps", "tree_depth", "energy")
    stats = {n: np.zeros((chains, num_samples)) for n in names}
    stats["step_size"] = np.zeros((chains, num_samples))
    stats["inner_failed"] = np.zeros((chains, num_samples), dtype=bool)
    warmup_seconds = sampling_seconds = 0.0
    n_grad = 0
    with monitor() as m:
        counter = SolveCounter(m)
        warmup_solves = 0
        for c in range(chains):
            key, warm_key, sample_key = jax.random.split(key, 3)
            start = time.perf_counter()
            state, parameters, steps = warmup_program(warm_key, jnp.asarray(starts[c]))
            state = jax.block_until_ready(state)
            before = counter.solves
            counter.take()
            warmup_seconds += time.perf_counter() - start
            warmup_solves += counter.solves - before
            n_grad += int(steps) + 1
            step_size = jnp.asarray(parameters["step_size"])
            imm = jnp.asarray(parameters["inverse_mass_matrix"])
            stats["step_size"][c] = float(step_size)
            if progress:
                print(f"nuts: chain {c + 1}/{chains} warmed up in {time.perf_counter() - start:.1f} s "
                      f"({int(steps)} leapfrog steps), step size {float(step_size):.3g}", flush=True)
            keys_all = jax.random.split(sample_key, num_samples)
            done = 0
            while done < num_samples:
                n = min(chunk, num_samples - done)
                keys = keys_all[done:done + n]
                if n not in programs:
                    compile_start = time.perf_counter()
                    programs[n] = jax.jit(run_chunk).lower(state, keys, step_size, imm).compile()
                    compile_seconds += time.perf_counter() - compile_start
                start = time.perf_counter()
                state, out = programs[n](state, keys, step_size, imm)
                out = jax.block_until_ready(out)
                failed_before = counter.failed
                counter.take()
                positions = center + np.asarray(out[0]) @ factor.T
                draws[c, done:done + n] = positions
                for name, value in zip(names, out[1:]):
                    stats[name][c, done:done + n] = np.asarray(value)
                n_grad += int(np.sum(np.asarray(out[4])))
                if counter.failed > failed_before:
                    # Some solve in this chunk failed (perhaps only on a rejected trajectory point):
                    # find the kept draws whose own solves failed.
                    flags, seconds = _recheck(check, positions, m, programs)
                    stats["inner_failed"][c, done:done + n] = flags
                    compile_seconds += seconds
                    sampling_seconds -= seconds
                sampling_seconds += time.perf_counter() - start
                done += n
            if progress:
                print(f"nuts: chain {c + 1}/{chains} done, step size {float(step_size):.3g}, "
                      f"{int(np.sum(stats['diverging'][c]))} divergences", flush=True)
        counted_solves, failed_solves = counter.solves, counter.failed
        messages = counter.messages
    failed_draws = int(np.sum(stats["inner_failed"]))
    if failed_solves:
        warnings.warn(f"nuts: {failed_solves} inner solves failed while sampling ({failed_draws} "
                      f"kept draws are among them, flagged in sample_stats.inner_failed); "
                      f"first: {messages[0]}", RuntimeWarning, stacklevel=2)
    stats["diverging"] = stats["diverging"].astype(bool)
    for name in ("n_steps", "tree_depth"):
        stats[name] = stats[name].astype(np.int64)
    attrs = {"sampler": "nuts (blackjax window adaptation + NUTS)", "chains": chains,
             "draws": num_samples, "warmup": num_warmup, "seed": seed,
             "target_acceptance": target_acceptance, "max_tree_depth": max_tree_depth,
             "mass_matrix": "dense" if dense_mass else "diagonal",
             "preconditioned": precondition is not None,
             "compile_seconds": compile_seconds, "warmup_seconds": warmup_seconds,
             "sampling_seconds": sampling_seconds, "run_seconds": warmup_seconds + sampling_seconds,
             "n_logdensity_evaluations": n_grad, "n_gradient_evaluations": n_grad,
             "n_inner_solves": counted_solves,
             "n_inner_solves_warmup": warmup_solves,
             "inner_solves_counted": "from the solve reports (calib._monitor), warm-up included",
             "failed_inner_solves": failed_solves, "failed_draws": failed_draws,
             "divergences": int(np.sum(stats["diverging"])),
             "mean_acceptance": float(np.mean(stats["acceptance_rate"]))}
    return build_dataset(posterior, draws, stats, attrs)


def _recheck(check, positions, m, programs):
    """Which of ``positions`` ``(n, p)`` have a failing inner solve, from one batched evaluation
    (its solves are not added to the sampler's counts), and the seconds spent compiling it."""
    n = positions.shape[0]
    seconds = 0.0
    if ("check", n) not in programs:
        start = time.perf_counter()
        programs[("check", n)] = jax.jit(check).lower(jnp.asarray(positions)).compile()
        seconds = time.perf_counter() - start
    m.collect()
    values = np.asarray(programs[("check", n)](jnp.asarray(positions)))
    events = m.collect()
    return failed_members(events, n) | ~np.isfinite(values), seconds


def _factor(precondition, p):
    """``L`` with ``L L^T`` the preconditioning covariance (identity when None)."""
    if precondition is None:
        return np.eye(p)
    c = np.asarray(precondition, dtype=float)
    if c.shape == (p,):
        if not np.all(np.isfinite(c) & (c > 0)):
            raise CalibValueError("nuts: precondition standard deviations must be finite and > 0")
        return np.diag(c)
    if c.shape != (p, p):
        raise CalibValueError(f"nuts: precondition must have shape ({p},) or ({p}, {p}), got {c.shape}")
    try:
        return np.linalg.cholesky(0.5 * (c + c.T))
    except np.linalg.LinAlgError:
        raise CalibValueError("nuts: the precondition covariance is not positive definite") from None


def _starts(posterior, init, chains, scale, seed):
    p = posterior.size
    base = posterior.z0 if init is None else np.asarray(init, dtype=float)
    if base.shape == (p,):
        base = np.broadcast_to(base, (chains, p))
    if base.shape != (chains, p):
        raise CalibValueError(f"init must have shape ({p},) or ({chains}, {p}), got {base.shape}")
    rng = np.random.default_rng(seed)
    return base + scale * rng.standard_normal((chains, p))
