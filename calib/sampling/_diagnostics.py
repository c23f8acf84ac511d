r"""Convergence diagnostics of Markov chains: split R-hat and the effective sample size.

Both follow Vehtari, Gelman, Simpson, Carpenter & Bürkner, "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 16, 667
(2021), and Gelman et al., *Bayesian Data Analysis*, 3rd ed. (2013), ch. 11. ``draws`` is always an
array of shape ``(chains, draws)`` for one scalar quantity.

- **Split R-hat.** Each chain is cut into halves (so a chain that drifts is seen as two that
  disagree); with :math:`M` half-chains of :math:`N` draws, :math:`W` the mean within-chain
  variance and :math:`B/N` the variance of the chain means,
  :math:`\hat R = \sqrt{\big(\tfrac{N-1}{N}W + B/N\big)/W}`. The rank-normalised version applies it
  to the normal scores of the pooled ranks, :math:`\Phi^{-1}((\text{rank} - 3/8)/(S + 1/4))`
  (robust to heavy tails), and to those of the folded draws :math:`|x - \text{median}|` (sensitive
  to a difference in scale); the reported value is the larger. Values above 1.01 mean the chains
  have not mixed.
- **Effective sample size.** :math:`\text{ESS} = MN/\hat\tau` with the integrated autocorrelation
  time :math:`\hat\tau = -1 + 2\sum_{t} \hat\rho_t` estimated from the multi-chain
  autocorrelations :math:`\hat\rho_t = 1 - (W - \overline{\gamma_t})/\widehat{\text{var}}^+` and
  truncated by Geyer's initial monotone sequence (Geyer, Statistical Science 7, 473 (1992)): the
  sums of adjacent pairs :math:`\hat\rho_{2k} + \hat\rho_{2k+1}` are kept while positive and made
  non-increasing. *Bulk* ESS is that of the rank-normalised split chains; *tail* ESS the smaller of
  those of the indicators of the 5 % and 95 % quantiles.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from .._errors import CalibValueError


def _as_chains(draws) -> np.ndarray:
    x = np.asarray(draws, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise CalibValueError(f"diagnostics: draws must have shape (chains, draws), got {x.shape}")
    if x.shape[1] < 4:
        raise CalibValueError(f"diagnostics: need at least 4 draws per chain, got {x.shape[1]}")
    return x


def split_chains(draws) -> np.ndarray:
    """``(chains, draws)`` -> ``(2 chains, draws // 2)``: each chain's halves (a middle draw of an
    odd-length chain is dropped)."""
    x = _as_chains(draws)
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


def rank_normalize(draws) -> np.ndarray:
    r"""Normal scores of the pooled ranks, :math:`\Phi^{-1}((r - 3/8)/(S + 1/4))` (Blom), same
    shape; ties get their average rank."""
    x = np.asarray(draws, dtype=float)
    ranks = rankdata(x, method="average").reshape(x.shape)
    return ndtri((ranks - 0.375) / (x.size + 0.25))


def _rhat_basic(x) -> float:
    m, n = x.shape
    if not np.all(np.isfinite(x)):
        return np.nan
    within = np.mean(np.var(x, axis=1, ddof=1))
    between_over_n = np.var(np.mean(x, axis=1), ddof=1)
    if within == 0:
        return np.nan if between_over_n == 0 else np.inf
    return float(np.sqrt(((n - 1) / n * within + between_over_n) / within))


def rhat(draws, *, method: str = "rank") -> float:
    """Split R-hat of one quantity, ``draws`` of shape ``(chains, draws)``.

    Args:
        method: ``"rank"`` (rank-normalised and folded, the maximum of the two; Vehtari et al.
            2021) or ``"split"`` (the classic split R-hat of Gelman et al. 2013).
    """
    x = split_chains(draws)
    if method == "split":
        return _rhat_basic(x)
    if method != "rank":
        raise CalibValueError(f"rhat: method must be 'rank' or 'split', got {method!r}")
    if not np.all(np.isfinite(x)):
        return np.nan
    bulk = _rhat_basic(rank_normalize(x))
    folded = _rhat_basic(rank_normalize(np.abs(x - np.median(x))))
    return float(max(bulk, folded))


def _autocovariance(x) -> np.ndarray:
    """Biased autocovariance of each row (FFT, zero-padded): ``(chains, draws)``."""
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(centred, size, axis=1)
    return np.fft.irfft(f * np.conj(f), size, axis=1)[:, :n] / n


def ess_raw(draws) -> float:
    """Effective sample size of ``(chains, draws)`` as given (no splitting, no ranks): the
    multi-chain autocorrelation with Geyer's initial monotone sequence."""
    x = _as_chains(draws)
    m, n = x.shape
    if not np.all(np.isfinite(x)):
        return np.nan
    gamma = _autocovariance(x)
    within = np.mean(gamma[:, 0]) * n / (n - 1)
    var_plus = within * (n - 1) / n + (np.var(np.mean(x, axis=1), ddof=1) if m > 1 else 0.0)
    if var_plus <= 0:
        return np.nan
    rho = 1.0 - (within - np.mean(gamma, axis=0)) / var_plus
    rho[0] = 1.0
    # Initial positive sequence: pair sums P_k = rho_2k + rho_2k+1 while positive ...
    pairs = rho[: 2 * ((n - 1) // 2)].reshape(-1, 2).sum(axis=1)
    positive = np.flatnonzero(pairs <= 0)
    k = positive[0] if positive.size else pairs.size
    pairs = pairs[:k]
    # ... made monotone (non-increasing).
    pairs = np.minimum.accumulate(pairs) if pairs.size else pairs
    tau = -1.0 + 2.0 * float(np.sum(pairs))
    tau = max(tau, 1.0 / np.log10(m * n))  # antithetic chains: the bound of Stan and ArviZ
    return float(m * n / tau)


def ess(draws, *, method: str = "bulk") -> float:
    """Effective sample size of one quantity, ``draws`` of shape ``(chains, draws)``.

    Args:
        method: ``"bulk"`` (rank-normalised split chains; Vehtari et al. 2021), ``"tail"`` (the
            smaller of the ESS of the 5 % and 95 % quantile indicators), ``"mean"`` (split chains,
            no ranks: the ESS of the posterior mean's Monte-Carlo error).
    """
    x = split_chains(draws)
    if method == "bulk":
        return ess_raw(rank_normalize(x)) if np.all(np.isfinite(x)) else np.nan
    if method == "mean":
        return ess_raw(x)
    if method == "tail":
        low, high = np.quantile(x, [0.05, 0.95])
        return float(min(ess_raw((x <= low).astype(float)), ess_raw((x <= high).astype(float))))
    raise CalibValueError(f"ess: method must be 'bulk', 'tail' or 'mean', got {method!r}")


def summarize(draws: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per quantity: ``mean``, ``sd``, ``rhat``, ``ess_bulk``, ``ess_tail``, ``mcse_mean``
    (:math:`\\text{sd}/\\sqrt{\\text{ESS}_\\text{mean}}`)."""
    out = {}
    for name, x in draws.items():
        x = _as_chains(x)
        sd = float(np.std(x, ddof=1))
        e_mean = ess(x, method="mean")
        out[name] = {"mean": float(np.mean(x)), "sd": sd, "rhat": rhat(x),
                     "ess_bulk": ess(x, method="bulk"), "ess_tail": ess(x, method="tail"),
                     "mcse_mean": sd / np.sqrt(e_mean) if e_mean > 0 else np.nan}
    return out
