"""CLV benchmark: KBCRM's BG/NBD + Gamma-Gamma fit and scoring at 1M customers, and against `lifetimes`.

Customers are simulated from the BG/NBD and Gamma-Gamma processes with known parameters
(the CDNOW estimates), so the table also shows how well each fit recovers them. KBCRM fits
and scores (P(alive), expected purchases, expected spend, 12-month CLV) all N customers;
lifetimes 0.11.3 fits the same models on the first M customers (a size it handles), and
KBCRM repeats that size in the same run for the speed ratio.

    python bench/loyalty.py [--customers 1000000] [--lifetimes-customers 100000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from rich.console import Console
from rich.table import Table

from kbcrm.loyalty import bgnbd, gamma_gamma
from kbcrm.loyalty.clv import lifetime_value

TRUE_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def simulate(n: int, seed: int = 1, *, dated: bool = True) -> dict[str, np.ndarray]:
    """x, t_x, T (weeks) and mean repeat spend of n customers from the BG/NBD + Gamma-Gamma processes.

    As in CDNOW, first purchases fall in the first 13 of 39 calibration weeks. `dated` records
    purchases by their day, as every transaction log does (purchases on the same day merge into
    one, as the CDNOW preparation merges them); otherwise times are exact real numbers and no two
    customers share a (t_x, T), the worst case for the models' per-distinct-row work.
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(TRUE_BGNBD["r"], 1 / TRUE_BGNBD["alpha"], n)
    dropout = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], n)
    # First purchase on one of the first 91 days (dated), or at any moment of those 13 weeks.
    age = (273 - rng.integers(0, 91, n)) / 7.0 if dated else rng.uniform(26.0, 39.0, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    clock = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        clock[idx] += rng.exponential(1.0, idx.size) / np.maximum(rate[idx], 1e-12)
        when = np.floor(clock[idx] * 7) / 7 if dated else clock[idx]
        bought = when <= age[idx]
        buyers = idx[bought]
        new_day = when[bought] > t_x[buyers] if dated else np.ones(buyers.size, dtype=bool)
        x[buyers[new_day]] += 1
        t_x[buyers] = when[bought]
        active[idx[~bought]] = False
        active[buyers[rng.random(buyers.size) < dropout[buyers]]] = False
    nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["gamma"], n)
    safe_x = np.maximum(x, 1)
    monetary = np.where(x > 0, rng.gamma(TRUE_GG["p"] * safe_x, 1 / (nu * safe_x)), 0.0)
    if dated:
        monetary = np.round(monetary, 2)  # cents
    return {"x": x, "t_x": t_x, "T": age, "m": monetary}


def kbcrm_fit_and_score(d: dict[str, np.ndarray]) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """(fit seconds, score seconds, BG/NBD params, Gamma-Gamma params)."""
    start = time.perf_counter()
    purchases = bgnbd.fit(d["x"], d["t_x"], d["T"])
    spend = gamma_gamma.fit(d["x"], d["m"])
    fitted = time.perf_counter()
    bgnbd.p_alive(purchases.vector(), d["x"], d["t_x"], d["T"])
    gamma_gamma.expected_spend(spend.vector(), d["x"], d["m"])
    lifetime_value(purchases, spend, d["x"], d["t_x"], d["T"], d["m"], unit="weeks", months=12)
    return fitted - start, time.perf_counter() - fitted, purchases.params, spend.params


def lifetimes_fit_and_score(d: dict[str, np.ndarray]) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """The same with lifetimes 0.11.3 (its documented API)."""
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    frame = pd.DataFrame({"frequency": d["x"], "recency": d["t_x"], "T": d["T"], "monetary_value": d["m"]})
    repeat = frame[frame["frequency"] > 0]
    start = time.perf_counter()
    bg = BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["T"])
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    fitted = time.perf_counter()
    bg.conditional_probability_alive(frame["frequency"], frame["recency"], frame["T"])
    gg.conditional_expected_average_profit(frame["frequency"], frame["monetary_value"])
    gg.customer_lifetime_value(
        bg, frame["frequency"], frame["recency"], frame["T"], frame["monetary_value"], time=12, freq="W"
    )
    scored = time.perf_counter()
    gg_params = {"p": gg.params_["p"], "q": gg.params_["q"], "gamma": gg.params_["v"]}
    return fitted - start, scored - fitted, dict(bg.params_), gg_params


def lifetimes_best(d: dict[str, np.ndarray]) -> tuple[str, float, float, dict[str, float], dict[str, float]]:
    """lifetimes as installed and with one BLAS thread (what KBCRM's fits use); the faster of the two."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = lifetimes_fit_and_score(d)
        with threadpool_limits(limits=1, user_api="blas"):
            one = lifetimes_fit_and_score(d)
    if one[0] + one[1] < default[0] + default[1]:
        return ("lifetimes 0.11.3, 1 BLAS thread", *one)
    return ("lifetimes 0.11.3", *default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-customers", type=int, default=100_000)
    args = parser.parse_args()
    console = Console(width=170)
    data = simulate(args.customers)
    small = {k: v[: args.lifetimes_customers] for k, v in data.items()}
    exact = simulate(args.lifetimes_customers, dated=False)

    kbcrm_fit_and_score(small)  # warm-up: first calls import and compile scipy's optimiser paths
    big_fit, big_score, big_bg, big_gg = kbcrm_fit_and_score(data)
    tracemalloc.start()  # a second pass for memory: tracing slows numpy allocations down
    kbcrm_fit_and_score(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    small_fit, small_score, small_bg, small_gg = kbcrm_fit_and_score(small)
    lt_name, lt_fit, lt_score, lt_bg, lt_gg = lifetimes_best(small)
    ex_fit, ex_score, ex_bg, ex_gg = kbcrm_fit_and_score(exact)
    ltx_name, ltx_fit, ltx_score, ltx_bg, ltx_gg = lifetimes_best(exact)

    table = Table(title="BG/NBD + Gamma-Gamma: fit, then score (P(alive), expected spend, 12-month CLV)")
    for column in (
        "data",
        "implementation",
        "customers",
        "fit s",
        "score s",
        "total s",
        "r",
        "alpha",
        "a",
        "b",
        "p",
        "q",
        "gamma",
    ):
        table.add_column(column, justify="right")

    def row(
        data_name: str, name: str, n: int, fit: float, score: float, bg: dict[str, float], gg: dict[str, float]
    ) -> None:
        table.add_row(
            data_name,
            name,
            f"{n:,}" if n else "",
            f"{fit:.3f}",
            f"{score:.3f}",
            f"{fit + score:.3f}",
            *(f"{bg[k]:.3f}" for k in TRUE_BGNBD),
            *(f"{gg[k]:.2f}" for k in TRUE_GG),
        )

    row("", "true parameters", 0, 0.0, 0.0, TRUE_BGNBD, TRUE_GG)
    row("day-dated", "KBCRM", args.customers, big_fit, big_score, big_bg, big_gg)
    row("day-dated", "KBCRM", args.lifetimes_customers, small_fit, small_score, small_bg, small_gg)
    row("day-dated", lt_name, args.lifetimes_customers, lt_fit, lt_score, lt_bg, lt_gg)
    row("exact times", "KBCRM", args.lifetimes_customers, ex_fit, ex_score, ex_bg, ex_gg)
    row("exact times", ltx_name, args.lifetimes_customers, ltx_fit, ltx_score, ltx_bg, ltx_gg)
    console.print(table)

    def ratio(ours: tuple[float, float], theirs: tuple[float, float]) -> str:
        return f"fit {theirs[0] / ours[0]:.1f}x, score {theirs[1] / ours[1]:.1f}x, total {sum(theirs) / sum(ours):.1f}x"

    console.print(
        f"{args.customers:,} day-dated customers: {big_fit + big_score:.2f} s (goal <= 20 s), peak traced memory "
        f"{peak / 2**20:.0f} MB.\nAgainst lifetimes at {args.lifetimes_customers:,} (goal >= 10x): day-dated "
        f"{ratio((small_fit, small_score), (lt_fit, lt_score))}; exact times (no two customers alike) "
        f"{ratio((ex_fit, ex_score), (ltx_fit, ltx_score))}"
    )


if __name__ == "__main__":
    main()
