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


def simulate(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """x, t_x, T (weeks) and mean repeat spend of n customers from the BG/NBD + Gamma-Gamma processes."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(TRUE_BGNBD["r"], 1 / TRUE_BGNBD["alpha"], n)
    dropout = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], n)
    age = rng.uniform(26.0, 39.0, n)  # first purchases spread over 13 weeks, as in CDNOW
    x = np.zeros(n)
    t_x = np.zeros(n)
    clock = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        clock[idx] += rng.exponential(1.0, idx.size) / np.maximum(rate[idx], 1e-12)
        bought = clock[idx] <= age[idx]
        buyers = idx[bought]
        x[buyers] += 1
        t_x[buyers] = clock[buyers]
        active[idx[~bought]] = False
        active[buyers[rng.random(buyers.size) < dropout[buyers]]] = False
    nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["gamma"], n)
    safe_x = np.maximum(x, 1)
    monetary = np.where(x > 0, rng.gamma(TRUE_GG["p"] * safe_x, 1 / (nu * safe_x)), 0.0)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-customers", type=int, default=100_000)
    args = parser.parse_args()
    console = Console(width=150)
    data = simulate(args.customers)
    small = {k: v[: args.lifetimes_customers] for k, v in data.items()}

    big_fit, big_score, big_bg, big_gg = kbcrm_fit_and_score(data)
    tracemalloc.start()  # a second pass for memory: tracing slows numpy allocations down
    kbcrm_fit_and_score(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    small_fit, small_score, small_bg, small_gg = kbcrm_fit_and_score(small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lt_fit, lt_score, lt_bg, lt_gg = lifetimes_fit_and_score(small)

    table = Table(title="BG/NBD + Gamma-Gamma: fit, then score (P(alive), expected spend, 12-month CLV)")
    for column in (
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

    def row(name: str, n: int, fit: float, score: float, bg: dict[str, float], gg: dict[str, float]) -> None:
        table.add_row(
            name,
            f"{n:,}",
            f"{fit:.2f}",
            f"{score:.2f}",
            f"{fit + score:.2f}",
            *(f"{bg[k]:.3f}" for k in TRUE_BGNBD),
            *(f"{gg[k]:.2f}" for k in TRUE_GG),
        )

    row("true parameters", 0, 0.0, 0.0, TRUE_BGNBD, TRUE_GG)
    row("KBCRM", args.customers, big_fit, big_score, big_bg, big_gg)
    row("KBCRM", args.lifetimes_customers, small_fit, small_score, small_bg, small_gg)
    row("lifetimes 0.11.3", args.lifetimes_customers, lt_fit, lt_score, lt_bg, lt_gg)
    console.print(table)
    console.print(
        f"{args.customers:,} customers: {big_fit + big_score:.2f} s (goal <= 20 s), peak traced memory "
        f"{peak / 2**20:.0f} MB. Against lifetimes at {args.lifetimes_customers:,}: fit {lt_fit / small_fit:.1f}x, "
        f"score {lt_score / small_score:.1f}x, total {(lt_fit + lt_score) / (small_fit + small_score):.1f}x "
        "(goal >= 10x)"
    )


if __name__ == "__main__":
    main()
