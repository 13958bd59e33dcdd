"""CLV and churn models against published values on real public data (copies in tests/data)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from kbcrm.loyalty import bgnbd, gamma_gamma, pareto_nbd
from kbcrm.loyalty.clv import analyse, lifetime_value
from kbcrm.loyalty.evaluation import ChurnDataError, evaluate_churn
from kbcrm.loyalty.transactions import TransactionError, read_transactions, summarise

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow" / "CDNOW_sample.txt"
TELCO = DATA / "telco_churn" / "Telco-Customer-Churn.csv"


@pytest.fixture(scope="module")
def cdnow() -> object:
    tx = read_transactions(CDNOW)
    return summarise(tx, calibration_end=date(1997, 9, 30), observation_end=date(1998, 6, 30))


def test_cdnow_summary_matches_the_papers_data(cdnow: object) -> None:
    s = cdnow
    assert len(s) == 2357
    assert int((s.frequency > 0).sum()) == 946
    assert s.frequency.sum() == 2457  # repeat transactions in weeks 1-39
    assert s.holdout_frequency.sum() == 1882  # weeks 40-78
    assert s.holdout_length == 39.0
    assert s.age.max() == pytest.approx(272 / 7)  # first purchase 1997-01-01


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow: object) -> None:
    s = cdnow
    fit = bgnbd.fit(s.frequency, s.recency, s.age)
    p = fit.params
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (0.243, 4.414, 0.793, 2.426)
    assert round(fit.log_likelihood, 1) == -9582.4
    assert all(0 < fit.standard_errors[k] < p[k] for k in ("r", "alpha", "a", "b"))
    # The analytic gradient is right: a finite-difference check at a point away from the optimum.
    point = np.array([0.5, 3.0, 1.2, 3.0])
    eps = 1e-6
    numeric = [
        (
            bgnbd.log_likelihood(point + eps * np.eye(4)[i], s.frequency, s.recency, s.age)
            - bgnbd.log_likelihood(point - eps * np.eye(4)[i], s.frequency, s.recency, s.age)
        )
        / (2 * eps)
        for i in range(4)
    ]
    from kbcrm.loyalty.bgnbd import _Data, _loglik

    analytic = _loglik(_Data(s.frequency, s.recency, s.age), point, with_gradient=True)[1]
    assert np.allclose(analytic, numeric, rtol=1e-5)


def test_pareto_nbd_reproduces_the_published_fit(cdnow: object) -> None:
    s = cdnow
    fit = pareto_nbd.fit(s.frequency, s.recency, s.age)
    p = fit.params
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["s"], 3), round(p["beta"], 3)) == (
        0.553,
        10.578,
        0.606,
        11.669,
    )
    assert round(fit.log_likelihood, 1) == -9595.0


def test_gamma_gamma_reproduces_the_published_fit(cdnow: object) -> None:
    s = cdnow
    fit = gamma_gamma.fit(s.frequency, s.monetary)
    assert fit.customers == 946
    p = fit.params
    assert (round(p["p"], 2), round(p["q"], 2), round(p["gamma"], 2)) == (6.25, 3.74, 15.44)
    assert round(fit.log_likelihood, 1) == -4055.9
    # The conditional mean lies between the customer's own mean and the population mean.
    spend = gamma_gamma.expected_spend(fit.vector(), np.array([1.0, 20.0]), np.array([100.0, 100.0]))
    population = p["p"] * p["gamma"] / (p["q"] - 1)
    assert population < spend[0] < spend[1] < 100.0


def test_holdout_and_clv(cdnow: object) -> None:
    analysis = analyse(read_transactions(CDNOW), calibration_end=date(1997, 9, 30))
    holdout = analysis.holdout
    assert holdout is not None and holdout.actual == 1882
    # BG/NBD's conditional forecast for weeks 40-78 (lifetimes 0.11.3 gives 1,653.4 on the same fit).
    assert holdout.predicted == pytest.approx(1653.4, abs=0.5)
    assert [b[0] for b in holdout.by_frequency] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    means = [b[3] for b in holdout.by_frequency]
    assert means == sorted(means)  # more past purchases, more expected
    assert analysis.clv is not None and np.all(analysis.clv >= 0)
    # Discounting lowers value; a longer horizon raises it.
    s = analysis.summary
    args = (analysis.purchases, analysis.spend, s.frequency, s.recency, s.age, s.monetary)
    base = lifetime_value(*args, unit="weeks", months=12, annual_discount=0.1).sum()
    assert lifetime_value(*args, unit="weeks", months=12, annual_discount=0.5).sum() < base
    assert lifetime_value(*args, unit="weeks", months=24, annual_discount=0.1).sum() > base


def test_p_alive_behaves(cdnow: object) -> None:
    fit = bgnbd.fit(cdnow.frequency, cdnow.recency, cdnow.age)
    p = fit.vector()
    # Same frequency, older last purchase → less likely alive; no repeat purchase → alive by the model.
    recent, old = bgnbd.p_alive(p, np.array([5.0, 5.0]), np.array([35.0, 5.0]), np.array([38.0, 38.0]))
    assert 0 < old < recent <= 1
    assert bgnbd.p_alive(p, np.array([0.0]), np.array([0.0]), np.array([38.0]))[0] == 1.0


def test_transaction_files_fail_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "tx.csv"
    bad.write_text("customer_id,date,amount\nc1,2024-01-01,10\nc1,2024-13-45,5\n", encoding="utf-8")
    with pytest.raises(TransactionError, match=r"tx.csv: line 3: field 'date'"):
        read_transactions(bad)
    bad.write_text("who,when,amount\nc1,2024-01-01,10\n", encoding="utf-8")
    with pytest.raises(TransactionError, match="cannot tell which column is the customer"):
        read_transactions(bad)
    bad.write_text("who,when,amount\nc1,2024-01-01,10\nc1,2024-01-01,5\nc1,2024-02-01,7\n", encoding="utf-8")
    tx = read_transactions(bad, customer_col="who", date_col="when")
    assert tx.amount.tolist() == [15.0, 7.0]  # same-day purchases merged


def test_telco_churn_auc_and_calibration() -> None:
    evaluation = evaluate_churn(TELCO, seed=42)
    q = evaluation.quality
    assert q.customers == 1409 and evaluation.train_customers == 5634
    assert q.auc >= 0.84  # published best 0.84 (Lalwani et al. 2022)
    assert q.calibration_error < 0.05
    assert q.brier < 0.15
    # Every shown reason names a real input and raises the risk.
    for _, probability, reasons in evaluation.examples:
        assert probability > 0.5 and reasons
        assert all(r.contribution > 0 and r.text for r in reasons)


def test_churn_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "churn.csv"
    bad.write_text("customerID,tenure,Churn\na,1,Yes\nb,x,No\n", encoding="utf-8")
    with pytest.raises(ChurnDataError, match=r"line 3: field 'tenure'"):
        evaluate_churn(bad)
    bad.write_text("customerID,tenure,Churn\na,1,maybe\n", encoding="utf-8")
    with pytest.raises(ChurnDataError, match=r"line 2: field 'Churn'"):
        evaluate_churn(bad)


def test_distinct_rows_group_equal_rows_whichever_key_is_used() -> None:
    from kbcrm.loyalty import groups

    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 500).astype(float)
    b = rng.integers(0, 3, 500) / 7.0
    rows = groups.distinct_rows(a, b)
    assert len(rows) == len({(p, q) for p, q in zip(a, b, strict=True)})
    assert rows.counts.sum() == 500
    assert np.array_equal(rows.spread(rows.take(a)), a) and np.array_equal(rows.spread(rows.take(b)), b)
    # Columns with too many combinations for one integer key compare whole rows instead; same groups.
    wide = [rng.random(500) for _ in range(4)] + [a]
    whole = groups.distinct_rows(*wide)
    assert len(whole) == 500 and all(np.array_equal(whole.spread(whole.take(c)), c) for c in wide)


def test_models_computed_per_distinct_row_equal_the_per_customer_sums(cdnow: object) -> None:
    """The fits weight distinct (x, t_x, T) rows and the scores spread them back: no value may change."""
    s = cdnow
    assert len(np.unique(np.stack([s.frequency, s.recency, s.age], 1), axis=0)) < len(s)  # CDNOW shares rows
    sample = np.random.default_rng(0).choice(len(s), 300, replace=False)
    x, t_x, T = s.frequency[sample], s.recency[sample], s.age[sample]
    x, t_x, T = np.concatenate([x, x[:100]]), np.concatenate([t_x, t_x[:100]]), np.concatenate([T, T[:100]])
    bg = np.array([0.243, 4.414, 0.793, 2.426])
    pn = np.array([0.553, 10.578, 0.606, 11.669])
    for model, params in ((bgnbd, bg), (pareto_nbd, pn)):
        one_by_one = sum(
            model.log_likelihood(params, x[i : i + 1], t_x[i : i + 1], T[i : i + 1]) for i in range(len(x))
        )
        assert model.log_likelihood(params, x, t_x, T) == pytest.approx(one_by_one, rel=1e-12)
        each = np.array(
            [
                model.expected_purchases(params, 39.0, x[i : i + 1], t_x[i : i + 1], T[i : i + 1])[0]
                for i in range(len(x))
            ]
        )
        assert np.allclose(model.expected_purchases(params, 39.0, x, t_x, T), each, rtol=1e-12)
        assert np.allclose(model.expected_purchases(params, np.full(len(x), 39.0), x, t_x, T), each, rtol=1e-12)
        months = list(model.expected_purchases_over(params, [4.0, 8.0], x, t_x, T))
        assert np.allclose(months[1], model.expected_purchases(params, 8.0, x, t_x, T), rtol=1e-12)
        assert np.all(months[1] >= months[0])
