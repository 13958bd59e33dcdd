"""BG/NBD (Fader, Hardie & Lee 2005, Marketing Science 24(2)): repeat purchases and P(alive).

While alive a customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they drop
out with probability p ~ Beta(a, b). Everything is vectorised over customers: the likelihood is
a weighted sum over the distinct (x, t_x, T) rows, terms that only depend on the integer
frequency x are computed once per distinct x, and the hypergeometric term of the expected
purchases once per distinct (x, T) (see `groups`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1

from kbcrm.loyalty.fitting import Fit, make_fit, maximise
from kbcrm.loyalty.groups import distinct_rows

NAMES = ("r", "alpha", "a", "b")


class _Data:
    """The distinct (x, t_x, T) rows with their sizes, and x split into its distinct values (for cheap gamma terms)."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        t_x = np.asarray(t_x, dtype=np.float64)
        T = np.asarray(T, dtype=np.float64)
        if len(x) == 0:
            raise ValueError("no customers to fit")
        if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9):
            raise ValueError("need x >= 0 and 0 <= t_x <= T for every customer")
        rows = distinct_rows(x, t_x, T)
        self.x, self.t_x, self.T, self.w = rows.take(x), rows.take(t_x), rows.take(T), rows.counts
        self.ux, self.inv = np.unique(self.x, return_inverse=True)
        self.counts = np.bincount(self.inv, weights=self.w, minlength=len(self.ux))
        self.repeat = self.x > 0
        self.n = len(x)


def _loglik(d: _Data, params: np.ndarray, *, with_gradient: bool) -> tuple[float, np.ndarray]:
    r, alpha, a, b = params
    ux = d.ux
    # Per distinct x: gamma/beta terms and their derivatives.
    a1 = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + ux) - gammaln(b) - gammaln(a + b + ux)
    log_a_over = np.log(a) - np.log(np.maximum(b + ux - 1, 1e-300))
    rx = r + d.x
    log_aT = np.log(alpha + d.T)
    log_at = np.log(alpha + d.t_x)
    a3 = -rx * log_aT
    a4 = np.where(d.repeat, log_a_over[d.inv] - rx * log_at, -np.inf)
    m = np.maximum(a3, a4)
    w3 = np.exp(a3 - m)
    w4 = np.exp(a4 - m)
    s = w3 + w4
    ll = float(np.dot(d.counts, a1 + a2) + np.dot(d.w, m + np.log(s)))
    if not with_gradient:
        return ll, np.empty(0)
    p3 = d.w * w3 / s  # weighted by how many customers share the row
    p4 = d.w * w4 / s
    dr_x = digamma(r + ux) - digamma(r)
    da_x = digamma(a + b) - digamma(a + b + ux)
    db_x = digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux)
    grad = np.empty(4)
    grad[0] = np.dot(d.counts, dr_x) + d.n * np.log(alpha) - np.sum(p3 * log_aT + p4 * log_at)
    grad[1] = d.n * r / alpha - np.sum(rx * (p3 / (alpha + d.T) + p4 / (alpha + d.t_x)))
    grad[2] = np.dot(d.counts, da_x) + np.sum(p4) / a
    inv_b = np.where(d.repeat, 1.0 / np.maximum(b + d.x - 1, 1e-300), 0.0)
    grad[3] = np.dot(d.counts, db_x) - np.sum(p4 * inv_b)
    return ll, grad


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    """Total log-likelihood of the BG/NBD at (r, α, a, b)."""
    return _loglik(_Data(x, t_x, T), np.asarray(params, dtype=np.float64), with_gradient=False)[0]


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> Fit:
    """Maximum-likelihood BG/NBD parameters with standard errors."""
    d = _Data(x, t_x, T)

    def ll(params: np.ndarray) -> float:
        return _loglik(d, params, with_gradient=False)[0]

    def grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        return _loglik(d, params, with_gradient=True)

    params, value, iterations = maximise(NAMES, n=d.n, log_likelihood=ll, gradient=grad)
    return make_fit("bgnbd", NAMES, params, value, n=d.n, iterations=iterations, log_likelihood=ll, gradient=grad)


def _odds_dead(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params
    x = np.asarray(x, dtype=np.float64)
    log_odds = (
        np.log(a)
        - np.log(np.maximum(b + x - 1, 1e-300))
        + (r + x) * (np.log(alpha + np.asarray(T)) - np.log(alpha + np.asarray(t_x)))
    )
    return np.where(x > 0, np.exp(np.minimum(log_odds, 700.0)), 0.0)


def p_alive(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(the customer is still alive at T | x, t_x, T)."""
    return 1.0 / (1.0 + _odds_dead(params, x, t_x, T))


def _scale(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(a+b+x−1)/(a−1) · P(alive), the part of equation 10 that does not depend on the horizon."""
    a, b = params[2], params[3]
    return (a + b + x - 1) / (a - 1) * p_alive(params, x, t_x, T)  # type: ignore[no-any-return]


def _bracket(params: np.ndarray, t: float | np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t)), the (x, T) part of equation 10."""
    r, alpha, a, b = params
    log_ratio = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
    return 1.0 - np.exp(log_ratio) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))  # type: ignore[no-any-return]


def expected_purchases(
    params: np.ndarray, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (equation 10 of the paper); t a number or one per customer."""
    if np.ndim(t):
        x = np.asarray(x, dtype=np.float64)
        return _scale(params, x, t_x, T) * _bracket(
            params, np.asarray(t, dtype=np.float64), x, np.asarray(T, dtype=np.float64)
        )
    return next(expected_purchases_over(params, [float(t)], x, t_x, T))


def expected_purchases_over(
    params: np.ndarray, horizons: Iterable[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> Iterator[np.ndarray]:
    """Equation 10 at each horizon in turn.

    The hypergeometric term depends on (x, T) only, so it is computed once per distinct pair
    (a day-dated log has a few thousand of them however many customers it has).
    """
    x = np.asarray(x, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    scale = _scale(params, x, t_x, T)
    pairs = distinct_rows(x, T)
    ux, uT = pairs.take(x), pairs.take(T)
    for t in horizons:
        yield scale * pairs.spread(_bracket(params, t, ux, uT))
