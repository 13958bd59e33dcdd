"""The loyalty job against the real embedded graph: scores, reasons, tiers, segments, idempotence, resume, report."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbcrm.cli import app
from kbcrm.demo.generator import generate
from kbcrm.demo.load import load_demo
from kbcrm.graph.embedded import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.loyalty.features import CHURN_FEATURES, churn_row
from kbcrm.loyalty.job import run_loyalty
from kbcrm.loyalty.purchasing import credit_rating
from kbcrm.loyalty.report import build_report
from kbcrm.loyalty.service import CustomerActivity
from kbcrm.settings import Settings

DATA = Path(__file__).parent / "data"
SCORES = (
    "MATCH (c:Customer) RETURN c.id AS id, c.clv AS clv, c.p_alive AS p_alive, c.churn_risk AS churn_risk, "
    "c.churn_reasons AS churn_reasons, c.loyalty_tier AS tier, c.loyalty_score AS score, "
    "c.loyalty_reasons AS reasons, c.rfm_segment AS rfm, c.rfm_score AS rfm_score, c.credit_rating AS credit, "
    "c.model_version AS version, c.community AS community ORDER BY id"
)


@pytest.fixture(scope="module")
def loyalty_store(embedded: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FalkorDBStore]:
    directory = tmp_path_factory.mktemp("loyalty_demo")
    generate(directory, customers=160, seed=5)
    store = FalkorDBStore(graph_name="loyalty_module", socket_path=embedded.socket_path)
    store.drop_graph()
    store.ensure_schema(vector_dimension=4)
    load_demo(store, directory, include_articles=False)
    _campaign_history(store)
    yield store
    store.drop_graph()
    store.close()


CAMPAIGN_MEMBERS = {  # customer position → (control group, response)
    0: (False, "converted"),
    1: (False, "clicked"),
    2: (False, None),
    3: (True, None),
}


def _campaign_history(store: FalkorDBStore) -> None:
    """One past campaign: two responses, one member without a response, one held back as control."""
    from ontology.terms import Label, Rel

    ids = [r["id"] for r in store.read("MATCH (c:Customer) RETURN c.id AS id ORDER BY c.id LIMIT 4")]
    store.upsert_nodes(
        Label.Campaign,
        [{"id": "campaign:spring", "name": "Spring spare parts", "channel": "email", "status": "done"}],
    )
    rows = []
    for position, (control, response) in CAMPAIGN_MEMBERS.items():
        row = {"start": ids[position], "end": "campaign:spring", "control_group": control, "status": "targeted"}
        if response:
            row |= {"response": response, "responded_at": "2026-04-02T10:00:00", "status": "responded"}
        rows.append(row)
    store.upsert_relationships(Rel.IN_CAMPAIGN, rows, start_label=Label.Customer, end_label=Label.Campaign)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("loyalty_data"))


@pytest.fixture(scope="module")
def first_run(loyalty_store: FalkorDBStore, settings: Settings) -> dict:
    summary = run_loyalty(loyalty_store, settings, as_of=date(2026, 10, 31))
    return {"summary": summary, "scores": loyalty_store.read(SCORES)}


def test_every_customer_is_scored_with_reasons(first_run: dict, settings: Settings) -> None:
    summary, scores = first_run["summary"], first_run["scores"]
    assert summary.customers == len(scores) == 160 and summary.written == 160
    assert summary.purchases["model"] == settings.clv_model and summary.spend and summary.churn
    buyers = [s for s in scores if s["tier"] != "prospect"]
    assert len(buyers) == summary.buyers > 100
    for s in buyers:
        assert s["clv"] >= 0 and 0 <= s["p_alive"] <= 1 and 0 <= s["churn_risk"] <= 1
        assert s["version"] == summary.model_version
        assert re.fullmatch(r"[1-5]{3}", s["rfm_score"]) and s["rfm"]
        assert any(r.startswith("12-month CLV") for r in s["reasons"])
    labels = {f.label for f in CHURN_FEATURES}
    risky = [s for s in buyers if s["churn_risk"] >= 0.5]
    assert risky and all(s["churn_reasons"] for s in risky)
    assert all(any(r.startswith(label) for label in labels) for s in risky for r in s["churn_reasons"])
    # Numbers in reasons read as people write them: no exponent, at most two significant decimals (0.1, 2.86, 0.00035).
    for reason in (r.split(" (+")[0] for s in risky for r in s["churn_reasons"]):
        for number in re.findall(r"\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?", reason.split(": ", 1)[1]):
            assert "e" not in number and len(number.partition(".")[2].lstrip("0")) <= 2, reason
    # Tiers follow the documented shares and rules.
    assert sum(s["tier"] == "vip" for s in buyers) == round(settings.loyalty_vip_share * len(buyers))
    vip_floor = min(s["score"] for s in buyers if s["tier"] == "vip")
    assert all(s["score"] <= vip_floor for s in buyers if s["tier"] not in ("vip",))
    assert all(s["p_alive"] < 0.25 for s in buyers if s["tier"] == "lapsed")
    # Customers who referred others get it named as a reason.
    referrers = {r["id"] for r in first_run_referrers(first_run)}
    assert referrers, "the demo has referrals"
    for s in buyers:
        if s["id"] in referrers:
            assert any(r.startswith("referred") for r in s["reasons"])


def first_run_referrers(first_run: dict) -> list[dict]:
    return first_run["referrers"]


@pytest.fixture(autouse=True, scope="module")
def _referrers(first_run: dict, loyalty_store: FalkorDBStore) -> None:
    first_run["referrers"] = loyalty_store.read(
        "MATCH (a:Customer)-[:REFERRED]->(:Customer) RETURN DISTINCT a.id AS id"
    )


def test_segments_are_graph_nodes_campaigns_can_target(first_run: dict, loyalty_store: FalkorDBStore) -> None:
    summary = first_run["summary"]
    assert 3 <= len(summary.segments) <= 6
    names = [s["name"] for s in summary.segments]
    assert len(set(names)) == len(names)
    for kind in ("cluster", "tier", "rfm"):
        rows = loyalty_store.read(
            "MATCH (c:Customer)-[m:MEMBER_OF]->(s:Segment {segment_kind: $kind}) "
            "RETURN c.id AS c, s.id AS s, s.size AS size, m.model_version AS v",
            kind=kind,
        )
        per_customer: dict[str, int] = {}
        for row in rows:
            per_customer[row["c"]] = per_customer.get(row["c"], 0) + 1
            assert row["v"] == summary.model_version
        assert set(per_customer.values()) == {1}  # one segment of each kind per customer
        sizes = {row["s"]: row["size"] for row in rows}
        for segment_id, size in sizes.items():
            assert size == sum(1 for row in rows if row["s"] == segment_id)
    described = loyalty_store.read("MATCH (s:Segment {segment_kind: 'cluster'}) RETURN s.description AS d, s.rule AS r")
    assert all("customers: median 12-month CLV" in r["d"] and "k-means" in r["r"] for r in described)


def test_rerun_for_the_same_date_changes_nothing(
    first_run: dict, loyalty_store: FalkorDBStore, settings: Settings
) -> None:
    edges = loyalty_store.count_relationships("MEMBER_OF")
    segments = loyalty_store.count_nodes("Segment")
    again = run_loyalty(loyalty_store, settings, as_of=date(2026, 10, 31))
    assert again.model_version == first_run["summary"].model_version
    assert loyalty_store.read(SCORES) == first_run["scores"]
    assert loyalty_store.count_relationships("MEMBER_OF") == edges
    assert loyalty_store.count_nodes("Segment") == segments


def test_an_interrupted_run_resumes_after_its_last_page(
    first_run: dict, loyalty_store: FalkorDBStore, settings: Settings
) -> None:
    version = first_run["summary"].model_version
    ids = [s["id"] for s in first_run["scores"]]
    checkpoint = settings.data_dir / "loyalty" / "checkpoint-2026-10-31.json"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    # As a run killed after writing two pages of 50 leaves it.
    checkpoint.write_text(json.dumps({"model_version": version, "written_until": ids[99]}))
    loyalty_store.run("MATCH (c:Customer) WHERE c.id > $after SET c.loyalty_tier = 'stale'", after=ids[99])
    resumed = run_loyalty(loyalty_store, settings, as_of=date(2026, 10, 31), page_size=50)
    assert resumed.skipped_pages == 2 and resumed.written == len(ids) - 100
    assert not checkpoint.exists()
    assert loyalty_store.read(SCORES) == first_run["scores"]
    # A checkpoint of another model version is ignored: everything is written.
    checkpoint.write_text(json.dumps({"model_version": "loyalty-other", "written_until": ids[-1]}))
    assert run_loyalty(loyalty_store, settings, as_of=date(2026, 10, 31), page_size=50).written == len(ids)


def test_features_never_look_past_the_as_of_date() -> None:
    past = {"day": "2025-01-10", "amount": 100.0, "due_on": None, "paid_on": None}
    future = {"day": "2025-06-01", "amount": 900.0, "due_on": None, "paid_on": None}
    case = {
        "priority": "P1",
        "opened_at": "2025-05-01T10:00:00",
        "first_response_at": "2025-05-01T15:00:00",
        "closed_at": None,
    }
    a = CustomerActivity(id="c", name="c", since="2024-06-01", kind="person", orders=[past])
    b = CustomerActivity(id="c", name="c", since="2024-06-01", kind="person", orders=[past, future], cases=[case])
    as_of = date(2025, 3, 1)
    assert churn_row(a, as_of, 0.5) == churn_row(b, as_of, 0.5)
    assert churn_row(b, date(2025, 7, 1), 0.5)["sla_breaches"] == 1  # P1 answered after 5 h > 1 h


def test_credit_rating_rules() -> None:
    day = date(2026, 1, 1)
    on_time = [(date(2025, m, 1), date(2025, m, 1)) for m in range(1, 11)]
    assert credit_rating(on_time, day)[0] == "A"
    some_late = [*on_time[:8], (date(2025, 11, 1), date(2025, 11, 20)), (date(2025, 12, 1), date(2025, 12, 20))]
    assert credit_rating(some_late, day)[0] == "B"
    overdue = [*on_time[:9], (date(2025, 9, 1), None)]  # 122 days overdue
    rating, reasons = credit_rating(overdue, day)
    assert rating == "D" and any("122 days overdue" in r for r in reasons)
    assert credit_rating([], day) == (None, ["no invoices due yet"])


def test_report_is_self_contained(first_run: dict, loyalty_store: FalkorDBStore, settings: Settings) -> None:
    html = build_report(loyalty_store, settings)
    assert html.count("<svg") >= 5  # CLV histogram, P(alive) heat map, tiers, segments, RFM, calibration
    for section in ("CLV models", "P(alive) by recency and frequency", "Churn warning", "VIP customers"):
        assert section in html
    assert "<script" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert first_run["summary"].model_version in html


def test_report_renders_in_a_real_browser(
    first_run: dict, loyalty_store: FalkorDBStore, settings: Settings, tmp_path: Path
) -> None:
    """Opened from disk in Debian's chromium with the network off: every plot has a size and nothing fails to load."""
    from tests.test_browser import FLAGS, _chromium

    executable = _chromium()
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(build_report(loyalty_store, settings), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("console", lambda message: failed.append(message.text) if message.type == "error" else None)
            page.goto(path.as_uri())
            boxes = page.evaluate(
                "Array.from(document.querySelectorAll('svg')).map(s => {"
                "const r = s.getBoundingClientRect();"
                "return [r.width, r.height, s.querySelectorAll('rect,circle,line,polyline,path').length]; })"
            )
            assert len(boxes) >= 5 and all(w > 100 and h > 50 and shapes > 0 for w, h, shapes in boxes), boxes
            assert page.locator("h1").inner_text() == "KBCRM loyalty report"
            assert failed == []
        finally:
            browser.close()


def test_cli_clv_json_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "loyalty",
            "clv",
            "--transactions",
            str(DATA / "cdnow" / "CDNOW_sample.txt"),
            "--calibration-end",
            "1997-09-30",
            "--model",
            "pareto-nbd",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert round(out["purchases"]["params"]["r"], 3) == 0.553 and out["holdout"]["actual"] == 1882
    bad = runner.invoke(
        app, ["loyalty", "clv", "--transactions", str(tmp_path / "none.csv"), "--calibration-end", "2020-01-01"]
    )
    assert bad.exit_code == 1 and "file not found" in bad.output
    bad = runner.invoke(
        app,
        [
            "loyalty",
            "clv",
            "--transactions",
            str(DATA / "cdnow" / "CDNOW_sample.txt"),
            "--calibration-end",
            "30.9.1997",
        ],
    )
    assert bad.exit_code == 1 and "is not a date" in bad.output


def test_cli_eval_churn() -> None:
    result = CliRunner().invoke(app, ["eval", "churn", str(DATA / "telco_churn" / "Telco-Customer-Churn.csv")])
    assert result.exit_code == 0, result.output
    auc = float(re.search(r"AUC (\d\.\d+)", result.output).group(1))
    assert auc >= 0.84


def test_loyalty_run_on_an_empty_graph_says_what_to_do(
    embedded: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kbcrm.settings import get_settings

    monkeypatch.setenv("KBCRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KBCRM_GRAPH_URI", f"falkordb+embedded://{embedded.directory}")
    monkeypatch.setenv("KBCRM_GRAPH_NAME", f"never_{tmp_path.name}")  # a graph nothing was written to
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["loyalty", "run"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "holds no customers" in result.output and "kbcrm load-demo" in result.output


SEVEN_P_FACTS = (
    "MATCH (c:Customer {id: $id}) "
    "OPTIONAL MATCH (c)-[:PLACED]->(o:Order) WHERE o.order_date <= $as_of "
    "WITH c, sum(coalesce(o.total_amount, 0)) AS revenue "
    "OPTIONAL MATCH (c)-[:OWNS]->(p:Product) WITH c, revenue, count(DISTINCT p) AS installed "
    "OPTIONAL MATCH (c)-[:HAS_OPPORTUNITY]->(x:Opportunity) WHERE NOT x.stage IN ['won', 'lost'] "
    "RETURN revenue, installed, count(x) AS open, sum(coalesce(x.amount, 0) * coalesce(x.probability, 0)) AS weighted"
)


def test_seven_p_profile_of_every_customer_agrees_with_the_graph(first_run: dict, loyalty_store: FalkorDBStore) -> None:
    from kbcrm.loyalty.profile import SECTIONS

    rows = loyalty_store.read("MATCH (c:Customer) RETURN c.id AS id, c.profile_7p AS p ORDER BY c.id")
    assert rows and all(r["p"] for r in rows)
    with_lines = 0
    for row in rows:
        profile = json.loads(row["p"])
        assert list(profile) == list(SECTIONS)
        assert all(profile[k]["summary"] for k in SECTIONS)
        facts = loyalty_store.read(SEVEN_P_FACTS, id=row["id"], as_of="2026-10-31")[0]
        assert profile["profitability"]["revenue"] == pytest.approx(facts["revenue"], abs=0.05)
        assert profile["product_mix"]["installed_products"] == facts["installed"]
        assert profile["prospects"]["open_opportunities"] == facts["open"]
        assert profile["prospects"]["weighted_pipeline"] == pytest.approx(facts["weighted"], abs=0.05)
        if profile["product_mix"].get("categories"):
            with_lines += 1
            assert sum(profile["product_mix"]["categories"].values()) == pytest.approx(1.0, abs=1e-3)
            assert profile["performance"]["products"][0]["category"] == next(iter(profile["product_mix"]["categories"]))
        channels = profile["performance"]["channels"]
        assert [c["interactions"] for c in channels] == sorted((c["interactions"] for c in channels), reverse=True)
    assert with_lines > len(rows) / 2

    ids = [r["id"] for r in rows]
    promotion = [json.loads(rows[i]["p"])["promotion"] for i in CAMPAIGN_MEMBERS]
    assert promotion[0]["campaigns"] == 1 and promotion[0]["converted"] == 1 and promotion[0]["response_rate"] == 1.0
    assert "converted to 'Spring spare parts'" in promotion[0]["summary"]
    assert promotion[1]["responded"] == 1 and promotion[1]["converted"] == 0
    assert promotion[2]["responded"] == 0 and promotion[2]["response_rate"] == 0.0
    assert promotion[3]["campaigns"] == 0 and "control group" in promotion[3]["summary"]
    assert json.loads(rows[4]["p"])["promotion"]["summary"] == "not targeted by any campaign yet"
    assert ids[0] < ids[4]


def test_seven_p_profile_on_the_customer_360(first_run: dict, loyalty_store: FalkorDBStore, settings: Settings) -> None:
    from api.app import create_app
    from kbcrm.access.demo import ensure_demo_users
    from tests.portal_client import Client

    ensure_demo_users(loyalty_store, enabled=True)
    app = create_app(settings, store=loyalty_store)
    customer = first_run["scores"][0]["id"]
    stored = json.loads(
        loyalty_store.read("MATCH (c:Customer {id: $id}) RETURN c.profile_7p AS p", id=customer)[0]["p"]
    )
    engineer = Client(app, "engineer")
    view = engineer.get(f"/api/v1/customers/{customer}").json()
    assert [s["key"] for s in view["seven_p"]] == list(stored)
    assert view["seven_p"][1]["summary"] == stored["persistency"]["summary"]
    assert "profile_7p" not in view["profile"]
    page = engineer.get(f"/staff/customers/{customer}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="seven-p"') :]
    assert "Promotion response" in section and "converted to" in section
    assert stored["profitability"]["summary"].split(";")[0] in section
    # Profile and loyalty read as labels and rounded values, not property names and raw floats or ISO times.
    assert '<dt data-field="churn_risk">Churn risk</dt>' in page.text
    assert '<dt data-field="p_alive">P(still buying)</dt>' in page.text
    assert f"<dd>{view['loyalty']['churn_risk']:.3g}</dd>" in page.text
    assert not re.search(r"<dd>\d{4}-\d\d-\d\dT", page.text)
    assert "<dt>churn_risk</dt>" not in page.text and "<dt>created_at</dt>" not in page.text
    # Stored values of closed sets read as words of the page's language.
    chinese = engineer.get(f"/staff/customers/{customer}", params={"lang": "zh"}).text
    tiers = {"vip": "VIP", "loyal": "忠诚", "regular": "普通", "at-risk": "有流失风险", "lapsed": "已流失"}
    tier = tiers[view["loyalty"]["loyalty_tier"]]
    assert f'<dt data-field="loyalty_tier">忠诚度等级</dt><dd>{tier}</dd>' in chinese
    kind = {"person": "个人", "organization": "企业"}[view["profile"]["customer_kind"]]
    assert f'<dt data-field="customer_kind">类型</dt><dd>{kind}</dd>' in chinese


def test_every_sentence_the_job_writes_has_its_chinese_form(first_run: dict, loyalty_store: FalkorDBStore) -> None:
    """Reasons, 7P summaries and segments are stored in English; a Chinese page shows each through one table."""
    from api.pages.i18n import STRINGS
    from kbcrm.loyalty.phrases import in_chinese, untranslated

    zh = STRINGS["zh"]
    sentences: list[str] = []
    rows = loyalty_store.read(
        "MATCH (c:Customer) RETURN c.churn_reasons AS churn, c.loyalty_reasons AS loyalty, "
        "c.purchasing_power_reasons AS power, c.profile_7p AS p"
    )
    for row in rows:
        sentences += [*(row["churn"] or []), *(row["loyalty"] or []), *(row["power"] or [])]
        sentences += [section["summary"] for section in json.loads(row["p"] or "{}").values()]
    for segment in loyalty_store.read("MATCH (s:Segment) RETURN s.name AS name, s.description AS description"):
        sentences += [segment["name"], segment["description"]]
    assert len(sentences) > 1000 and any("log-odds" in s for s in sentences)
    missing = sorted({part for s in sentences for part in untranslated(s, zh)})
    assert missing == []  # a sentence the job writes that no template of kbcrm/loyalty/phrases.py reads
    shown = [in_chinese(s, zh) for s in sentences]
    # What is left in Latin letters is data (names, ids, a campaign) and the model names: no English words.
    english = re.compile(r"\b(?:the|of|in|and|by|to|orders?|customers?|days?|years?|months?|risk|tier|value)\b")
    assert not [s for s in shown if english.search(s) and "'" not in s and "“" not in s]

    # The templates, one of each kind: nested (a churn reason), words, a list of categories, an RFM rule.
    assert in_chinese("days since the last order is high: 954 (typical 123) (+0.24 log-odds)", zh) == (
        "距上次下单天数偏高：954（典型值 123）（对数几率 +0.24）"
    )
    assert in_chinese("organization in DE; vip tier; RFM 'at risk'", zh) == "企业（DE）；等级：VIP；RFM“有流失风险”"
    assert in_chinese("3 product(s) in 2 categories: pump 65%, spare part 35%; top AX-200", zh) == (
        "3 个产品，2 个类别：泵 65%，备件 35%；最主要的产品：AX-200"
    )
    assert in_chinese("R <= 2 and FM >= 4", zh) == "R <= 2 且 FM >= 4"
    # A word no table knows leaves the part in English rather than half-translated.
    odd = "most contact by pigeon (3, 50% led to an order, quote or resolution, 0% complaints or no answer)"
    assert in_chinese(odd, zh) == odd and untranslated(odd, zh) == [odd]


def test_the_chinese_customer_360_shows_the_job_s_sentences_in_chinese(
    first_run: dict, loyalty_store: FalkorDBStore, settings: Settings
) -> None:
    from api.app import create_app
    from kbcrm.access.demo import ensure_demo_users
    from tests.portal_client import Client

    ensure_demo_users(loyalty_store, enabled=True)
    engineer = Client(create_app(settings, store=loyalty_store), "engineer")
    customer = next(s["id"] for s in first_run["scores"] if s.get("churn_reasons"))
    view = engineer.get(f"/api/v1/customers/{customer}").json()
    assert "P(alive)" in view["loyalty"]["loyalty_reasons"][1]  # the JSON keeps the stored English
    page = html.unescape(engineer.get(f"/staff/customers/{customer}", params={"lang": "zh"}).text)
    assert "仍活跃概率" in page and "流失风险" in page and "对数几率" in page
    persistency = next(p for p in view["seven_p"] if p["key"] == "persistency")["summary"]
    assert persistency not in page and "最近一次下单在" in page
    for reason in view["loyalty"]["loyalty_reasons"] + view["loyalty"]["churn_reasons"]:
        assert f"<li>{reason}</li>" not in page
    english = html.unescape(engineer.get(f"/staff/customers/{customer}", params={"lang": "en"}).text)
    assert persistency in english and f"<li>{view['loyalty']['churn_reasons'][0]}</li>" in english
    # The customer list: tiers in words of the page's language, column names too.
    listed = engineer.get("/staff/customers", params={"format": "json"}).json()["customers"]
    words = {"vip": "VIP", "loyal": "忠诚", "regular": "普通", "at-risk": "有流失风险", "lapsed": "已流失"}
    words["prospect"] = "潜在客户"
    rows = engineer.get("/staff/customers", params={"lang": "zh"}).text
    assert "<th>流失风险</th>" in rows and "<th>churn</th>" not in rows
    for c in [c for c in listed if c["tier"]][:20]:
        assert f'<td data-tier="{c["tier"]}">{words[c["tier"]]}</td>' in rows
    engineer.get("/staff", params={"lang": "en"})
