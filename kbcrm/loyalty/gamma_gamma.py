"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, JMR 42(4)) for repeat buyers.

A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ); the likelihood is of
the mean repeat spend m̄ over x repeat transactions. Only customers with x > 0 are fitted.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from kbcrm.loyalty.fitting import Fit, make_fit, maximise

NAMES = ("p", "q", "gamma")


class _Data:
    """Repeat buyers' x and m̄, with the sums and distinct x values the likelihood reuses."""

    def __init__(self, x: np.ndarray, m: np.ndarray) -> None:
        self.x, self.m = x, m
        self.n = len(x)
        self.mx = m * x
        self.ux, inverse = np.unique(x, return_inverse=True)
        self.counts = np.bincount(inverse).astype(np.float64)
        log_m, log_x = np.log(m), np.log(x)
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_m = float((x * log_m).sum())
        self.sum_x_log_x = float((x * log_x).sum())


def _loglik(params: np.ndarray, d: _Data, *, with_gradient: bool) -> tuple[float, np.ndarray]:
    # Gamma terms depend on x only: computed once per distinct x.
    p, q, g = params
    pux = p * d.ux
    log_gmx = np.log(g + d.mx)
    ll = float(
        np.dot(d.counts, gammaln(pux + q) - gammaln(pux))
        + p * (d.sum_x_log_m + d.sum_x_log_x)
        - d.sum_log_m
        - np.dot(p * d.x + q, log_gmx)
        + d.n * (q * np.log(g) - gammaln(q))
    )
    if not with_gradient:
        return ll, np.empty(0)
    psi_puxq = digamma(pux + q)
    grad = np.array(
        [
            np.dot(d.counts, d.ux * (psi_puxq - digamma(pux))) + d.sum_x_log_m + d.sum_x_log_x - np.dot(d.x, log_gmx),
            np.dot(d.counts, psi_puxq) - log_gmx.sum() + d.n * (np.log(g) - digamma(q)),
            d.n * q / g - np.sum((p * d.x + q) / (g + d.mx)),
        ]
    )
    return ll, grad


def _repeat(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    keep = (x > 0) & (m > 0)
    return x[keep], m[keep]


def log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
    """Total log-likelihood over the repeat buyers (x > 0, m̄ > 0)."""
    xs, ms = _repeat(x, m)
    return _loglik(np.asarray(params, dtype=np.float64), _Data(xs, ms), with_gradient=False)[0]


def fit(x: np.ndarray, m: np.ndarray) -> Fit:
    """Maximum-likelihood (p, q, γ) with standard errors, on the customers with x > 0."""
    xs, ms = _repeat(x, m)
    if len(xs) < 3:
        raise ValueError("the Gamma-Gamma model needs at least 3 repeat buyers")
    d = _Data(xs, ms)

    def ll(params: np.ndarray) -> float:
        return _loglik(params, d, with_gradient=False)[0]

    def grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        return _loglik(params, d, with_gradient=True)

    params, value, iterations = maximise(NAMES, n=len(xs), log_likelihood=ll, gradient=grad)
    return make_fit(
        "gamma-gamma", NAMES, params, value, n=len(xs), iterations=iterations, log_likelihood=ll, gradient=grad
    )


def expected_spend(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[spend per transaction | x, m̄]: shrinks a customer's mean towards the population mean."""
    p, q, g = params
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    population = p * g / (q - 1) if q > 1 else np.nan
    conditional = p * (g + x * m) / (p * x + q - 1)
    return np.where(x > 0, conditional, population)
