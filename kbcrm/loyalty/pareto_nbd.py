"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases while alive, exponential lifetime.

While alive a customer buys at a Poisson rate λ ~ Gamma(r, α) and lives an exponential time
with rate μ ~ Gamma(s, β). The likelihood follows Fader & Hardie's "A Note on Deriving the
Pareto/NBD Model" (2005), in log space with scipy's Gauss hypergeometric function.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from scipy.special import gammaln, hyp2f1

from kbcrm.loyalty.fitting import Fit, make_fit, maximise
from kbcrm.loyalty.groups import distinct_rows

NAMES = ("r", "alpha", "s", "beta")


def _log_a0(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, s, beta = params
    rsx = r + s + x
    top, low = max(alpha, beta), min(alpha, beta)
    second = s + 1 if alpha >= beta else r + x
    gap = top - low
    log1 = np.log(hyp2f1(rsx, second, rsx + 1, gap / (top + t_x))) - rsx * np.log(top + t_x)
    log2 = np.log(hyp2f1(rsx, second, rsx + 1, gap / (top + T))) - rsx * np.log(top + T)
    # log(exp(log1) - exp(log2)); log1 >= log2 because t_x <= T.
    return log1 + np.log1p(-np.exp(np.minimum(log2 - log1, 0.0)) + 1e-300)


def _customer_loglik(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-customer log-likelihood, log of the 'alive at T' term, log of the 'died in (t_x, T]' term)."""
    r, alpha, s, beta = params
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) - np.log(r + s + x) + _log_a0(params, x, t_x, T)
    return base + np.logaddexp(alive, died), alive, died


def _total(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        value = float(np.dot(weights, _customer_loglik(np.asarray(params, dtype=np.float64), x, t_x, T)[0]))
    return value if np.isfinite(value) else -np.inf


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    """Total log-likelihood of the Pareto/NBD at (r, α, s, β)."""
    rows = distinct_rows(*(np.asarray(v, dtype=np.float64) for v in (x, t_x, T)))
    return _total(params, rows.take(x), rows.take(t_x), rows.take(T), rows.counts)


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> Fit:
    """Maximum-likelihood Pareto/NBD parameters with standard errors (over the distinct (x, t_x, T) rows)."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    if len(x) == 0:
        raise ValueError("no customers to fit")
    rows = distinct_rows(x, t_x, T)
    ux, ut_x, uT = rows.take(x), rows.take(t_x), rows.take(T)

    def ll(params: np.ndarray) -> float:
        return _total(params, ux, ut_x, uT, rows.counts)

    params, value, iterations = maximise(NAMES, n=len(x), log_likelihood=ll)
    return make_fit("pareto-nbd", NAMES, params, value, n=len(x), iterations=iterations, log_likelihood=ll)


def p_alive(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive at T | x, t_x, T), computed once per distinct (x, t_x, T)."""
    rows = distinct_rows(*(np.asarray(v, dtype=np.float64) for v in (x, t_x, T)))
    with np.errstate(all="ignore"):
        _, alive, died = _customer_loglik(
            np.asarray(params, dtype=np.float64), rows.take(x), rows.take(t_x), rows.take(T)
        )
    return rows.spread(np.exp(alive - np.logaddexp(alive, died)))


def expected_purchases(
    params: np.ndarray, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T]; t a number or one per customer."""
    return next(expected_purchases_over(params, [t], x, t_x, T))


def expected_purchases_over(
    params: np.ndarray, horizons: Iterable[float | np.ndarray], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> Iterator[np.ndarray]:
    """E[purchases in (T, T + t]] at each horizon in turn (P(alive) is computed once)."""
    r, alpha, s, beta = params
    x = np.asarray(x, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    rate = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * p_alive(params, x, t_x, T)
    for t in horizons:
        yield rate * (1.0 - ((beta + T) / (beta + T + np.asarray(t, dtype=np.float64))) ** (s - 1))
