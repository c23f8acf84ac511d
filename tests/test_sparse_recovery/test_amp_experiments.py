"""AMP and its state evolution (against Monte Carlo and against AMP itself), and the LISTA,
group-LISTA and AMP experiments at a small size."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import amp_state_evolution, group_lista, lista_synthetic
from experiments.sparse_recovery import amp, proximal


@pytest.mark.parametrize("sigma, tau, sparsity", [(0.3, 0.4, 0.1), (1.0, 1.5, 0.3),
                                                  (0.05, 0.1, 0.05)])
def test_soft_threshold_mse_closed_form_matches_monte_carlo(sigma, tau, sparsity):
    rng = np.random.default_rng(0)
    count = 400_000
    x = np.where(rng.random(count) < sparsity, rng.normal(size=count), 0.0)
    noisy = x + sigma * rng.normal(size=count)
    errors = (np.asarray(proximal.soft_threshold(noisy, tau)) - x) ** 2
    estimate, standard_error = errors.mean(), errors.std() / np.sqrt(count)
    assert abs(float(amp.soft_threshold_mse(sigma, tau, sparsity)) - estimate) < 4 * standard_error


def test_state_evolution_settles_and_its_best_alpha_is_a_minimum():
    kwargs = dict(delta=0.5, sparsity=0.1, noise_variance=1e-3)
    alpha = amp.best_alpha(**kwargs)
    variances, mse = amp.state_evolution(60, alpha=alpha, **kwargs)
    assert mse[0] == pytest.approx(0.1) and np.all(np.diff(np.asarray(mse)) <= 1e-15)
    # At the fixed point sigma^2 = sigma_w^2 + mse / delta.
    assert float(variances[-1]) == pytest.approx(1e-3 + float(mse[-1]) / 0.5, rel=1e-6)
    for other in (alpha - 0.3, alpha + 0.3):
        assert float(amp.state_evolution(60, alpha=other, **kwargs)[1][-1]) > float(mse[-1])
    with pytest.raises(ValueError, match="exactly one of alpha"):
        amp.amp(jnp.eye(2), jnp.ones((1, 2)), 3)


def test_amp_follows_state_evolution_and_ista_does_not(tmp_path):
    args = amp_state_evolution.parse_args(["--sizes", "200", "1200", "--trials", "4",
                                           "--iterations", "6", "--fixed-point-iterations", "100",
                                           "--out", str(tmp_path)])
    result = amp_state_evolution.run(args)
    amp_gap, ista_gap = result["amp_gap"], result["ista_gap"]
    assert amp_gap[-1] < 0.25 and result["amp_spread"][-1] < result["amp_spread"][0]
    assert np.all(ista_gap > 3 * amp_gap)
    # AMP's fixed point is the lasso solution with the calibrated lambda.
    assert np.allclose(result["amp_fixed_point"][-1], result["lasso"][-1], rtol=0.05)
    amp_state_evolution.save(result, args)
    for name in ("amp.png", "amp.nc", "amp.txt"):
        assert (tmp_path / name).stat().st_size > 0


def test_iterations_to_reach_takes_the_best_penalty():
    paths = np.array([[0.0, -1.0, -2.0, -3.0], [0.0, -2.5, -2.6, -2.7]])
    assert lista_synthetic.iterations_to_reach(paths, -2.5) == (1, 1)
    assert lista_synthetic.iterations_to_reach(paths, -2.9) == (3, 0)
    assert lista_synthetic.iterations_to_reach(paths, -5.0) == (None, None)


@pytest.mark.parametrize("module, network", [(lista_synthetic, "lista-cpss"),
                                             (group_lista, "group-lista")])
def test_lista_experiments_run_at_a_small_size(module, network, tmp_path):
    args = module.parse_args(["--networks", network, "--m", "20", "--n", "40", "--layers", "3",
                              "--steps", "15", "--batch", "16", "--test", "16", "--snr-db", "inf",
                              "--lambdas", "0.05", "--ista-iterations", "100",
                              "--fista-iterations", "40", "--dtype", "float64",
                              "--out", str(tmp_path)])
    result = module.run_noise_level(args, args.snr[0])
    for row in result["rows"]:
        assert row["nmse"].shape == (4,) and row["nmse"][-1] < row["untrained"][-1]
        ista = row["ista_iterations"]
        assert ista is None or ista > 3  # three layers beat three ISTA iterations
    module.save([result], args)
    stem = module.__name__.split(".")[-1].replace("_synthetic", "")
    for suffix in (".png", ".nc", ".txt"):
        assert (tmp_path / f"{stem}{suffix}").stat().st_size > 0


def test_bad_arguments_name_the_option():
    with pytest.raises(SystemExit):
        lista_synthetic.parse_args(["--sparsity", "1.5"])
    with pytest.raises(SystemExit):
        group_lista.parse_args(["--n", "500", "--group-size", "7"])
    with pytest.raises(SystemExit):
        amp_state_evolution.parse_args(["--delta", "2"])
