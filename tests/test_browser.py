"""The portal and staff console in a real browser: Debian's chromium driven by Playwright,
against a real uvicorn server on loopback (never a downloaded browser)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings

CHROMIUM = os.environ.get("KBCRM_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    message = "Debian's chromium is not installed: `make test` installs it (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def base_url(portal_store: FalkorDBStore, portal_kb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(
        Settings(data_dir=tmp_path_factory.mktemp("browser")), store=portal_store, knowledge_base=portal_kb
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def csp_violations() -> Iterator[list[str]]:
    """What Chromium refused under the pages' Content-Security-Policy, in the test's browser contexts: nothing."""
    refused: list[str] = []
    yield refused
    assert refused == []


def _context(browser: Any, refused: list[str]) -> Any:
    """A browser context whose pages report every Content-Security-Policy violation into `refused`."""
    context = browser.new_context()
    context.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return context


def _login(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")


def test_customer_logs_in_searches_reads_rates_and_opens_a_case(
    browser: Any, base_url: str, portal_store: FalkorDBStore, tmp_path: Path, csp_violations: list[str]
) -> None:
    context = _context(browser, csp_violations)
    page = context.new_page()
    _login(page, base_url, "customer1", "customer-demo-1")
    page.wait_for_url(f"{base_url}/my")
    assert page.locator("h2", has_text="My products").is_visible()
    # Suggested articles for the customer's products: a reason in words, the graph path one click away.
    suggested = page.locator("ol#recommended li.recommendation").first
    assert suggested.locator("p.reason").inner_text().startswith(("You own the ", "You reported "))
    assert not suggested.locator("li.path").first.is_visible()
    suggested.locator("details.why summary").click()
    path = suggested.locator("li.path").first
    assert path.is_visible() and re.search(r"→ (owns|raised) →", path.inner_text()), path.inner_text()

    # Browsing without a question: a product's shelf on the home page, its articles, one of them.
    page.goto(base_url + "/")
    page.locator("#shelves ul.shelf a").first.click()
    page.wait_for_url(f"{base_url}/browse?product=*")
    page.locator("ol#articles li a.title").first.click()
    page.wait_for_selector("article.kb")

    code = portal_store.read(
        "MATCH (a:KnowledgeArticle {audience: 'customer', confidence: 'validated', language: 'en'})"
        "-[:RESOLVES]->(e:ErrorCode) "
        "RETURN e.code AS code ORDER BY code LIMIT 1"
    )[0]["code"]
    page.goto(base_url + "/")
    page.fill("input[name=q]", f"display shows {code}")
    page.click("form.search button")
    first = page.locator("ol.results li.result").first
    first.wait_for()
    assert first.locator("details.why").is_visible() and code in first.inner_text()
    # The evidence reads as words: the graph path's relationships as verbs, not their type names.
    why = first.locator("details.why").inner_text()
    assert "resolves" in why and not re.search(r"[A-Z]+_[A-Z]+|KnowledgeArticle", why), why

    first.locator("a.title").click()
    page.wait_for_selector("article.kb")
    assert page.locator("section.why-this").is_visible()
    page.click("section.rate button[value=yes]")
    page.wait_for_selector("section.rate p.ok")

    page.goto(f"{base_url}/my/cases/new")
    page.locator("#subject").press_sequentially(f"Unit shows {code} after restart", delay=15)
    page.wait_for_selector("#suggestion-list li.suggestion", timeout=20_000)
    shown = page.locator("#suggestion-list li.suggestion").count()
    assert shown >= 1 and page.locator("#suggestions").is_visible()
    suggested = page.locator("#suggestion-list li.suggestion").first.inner_text()
    assert "(article)" in suggested and not re.search(r"[A-Z]+_[A-Z]+|KnowledgeArticle", suggested), suggested
    page.click("#new-case button[type=submit]")
    page.wait_for_url(f"{base_url}/my/cases/C-W*")
    assert page.locator("h1").inner_text() == f"Unit shows {code} after restart"
    case_id = page.url.rsplit("/", 1)[1]
    opened = portal_store.read(
        "MATCH (e:AuditEvent {action: 'case_opened', target_id: $id}) RETURN e.detail AS detail", id=case_id
    )
    assert opened and '"suggestions_shown": ["' in opened[0]["detail"]

    # Second attempt: the suggestion solves it and no case is opened.
    cases_before = portal_store.count_nodes("ServiceCase")
    page.goto(f"{base_url}/my/cases/new")
    page.locator("#subject").press_sequentially(f"{code} again", delay=15)
    page.wait_for_selector("#suggestion-list li.suggestion button.solved", timeout=20_000)
    page.locator("#suggestion-list li.suggestion button.solved").first.click()
    page.wait_for_selector("#deflected:not([hidden])")
    assert portal_store.count_nodes("ServiceCase") == cases_before
    assert (
        portal_store.read("MATCH (e:AuditEvent {action: 'deflection', actor: 'user:customer1'}) RETURN count(e) AS n")[
            0
        ]["n"]
        >= 1
    )
    page.screenshot(path=str(tmp_path / "deflection.png"), full_page=True)

    # A subject nothing in the knowledge base is about: no suggestions at all, not the least unrelated ones.
    page.goto(f"{base_url}/my/cases/new")
    with page.expect_response(lambda r: "/api/v1/knowledge/suggest" in r.url and "bread" in r.url) as waited:
        page.locator("#subject").press_sequentially("How do I bake sourdough bread", delay=15)
    assert waited.value.json()["weak_match"] is not None and waited.value.json()["suggestions"]
    page.wait_for_timeout(300)
    assert page.locator("#suggestions").is_hidden() and page.locator("#suggestion-list li.suggestion").count() == 0
    context.close()


def test_case_deflection_on_the_chinese_ui_names_products_in_chinese(
    browser: Any, base_url: str, portal_store: FalkorDBStore, csp_violations: list[str]
) -> None:
    """The suggestions while typing are drawn in the browser (deflect.js) from the API's stored names."""
    row = portal_store.read(
        "MATCH (u:User {id: 'user:customer1'})-[:ACTS_FOR]->(:Customer)-[:OWNS]->(p:Product)"
        "<-[:APPLIES_TO]-(a:KnowledgeArticle {confidence: 'validated'})-[:RESOLVES]->(e:ErrorCode) "
        "WHERE a.audience IN ['customer', 'public'] AND p.name_zh IS NOT NULL "
        "RETURN e.code AS code, p.name AS name, p.name_zh AS name_zh ORDER BY code LIMIT 1"
    )[0]
    context = _context(browser, csp_violations)
    page = context.new_page()
    _login(page, base_url, "customer1", "customer-demo-1")
    page.goto(f"{base_url}/my/cases/new?lang=zh")
    page.locator("#subject").press_sequentially(f"{row['code']} 报警", delay=15)
    page.wait_for_selector("#suggestion-list li.suggestion", timeout=20_000)
    texts = page.locator("#suggestion-list li.suggestion small").all_inner_texts()
    assert any(f"{row['name_zh']} (产品)" in text for text in texts), texts  # the customer's product, in Chinese
    assert not any(row["name"] in text for text in texts), texts
    context.close()


def test_engineer_works_a_case(
    browser: Any, base_url: str, portal_store: FalkorDBStore, csp_violations: list[str]
) -> None:
    context = _context(browser, csp_violations)
    page = context.new_page()
    _login(page, base_url, "engineer", "engineer-demo-1")
    page.wait_for_url(f"{base_url}/staff")
    page.locator("table.cases a").first.click()
    page.wait_for_selector("ol.results li.result")
    case_id = page.url.rsplit("/", 1)[1]
    assert page.locator("ol.results li.result details.why").count() >= 1

    note = f"Internal check {time.time_ns()}: firmware log shows watchdog resets."
    page.fill("#note-form textarea[name=text]", note)
    page.select_option("#note-form select[name=visibility]", "internal")
    page.click("#note-form button")
    page.wait_for_selector(f"text={note}")

    article = page.locator("ol.results li.article").first.get_attribute("data-id")
    page.locator("ol.results li.article form.link-form button").first.click()
    page.wait_for_selector("ul.linked-articles")
    page.select_option("#status-form select[name=status]", "resolved")
    page.click("#status-form button")
    page.wait_for_selector("strong.status:text('resolved')")

    row = portal_store.read(
        "MATCH (k:ServiceCase {id: $id}) OPTIONAL MATCH (a:KnowledgeArticle {id: $article})-[r:LINKED_TO_CASE]->(k) "
        "RETURN k.status AS status, r.kind AS kind",
        id=case_id,
        article=article,
    )[0]
    assert row == {"status": "resolved", "kind": "reused"}
    # The customer of that case never sees the internal note, in the browser either.
    customer = portal_store.read(
        "MATCH (c:Customer)-[:RAISED]->(:ServiceCase {id: $id}) RETURN c.id AS id", id=case_id
    )[0]["id"]
    assert note not in str(portal_store.read("MATCH (c:Customer {id: $id}) RETURN c.name AS n", id=customer))
    context.close()


def test_engineer_turns_a_resolved_case_into_an_article_customers_read(
    browser: Any, base_url: str, portal_store: FalkorDBStore, csp_violations: list[str]
) -> None:
    """KCS in the console: draft from the case, revise it (its graph links follow the text), validate it."""
    case = portal_store.read(
        "MATCH (k:ServiceCase)-[:RESOLVED_BY]->(:Resolution) MATCH (k)-[:REPORTED_ERROR]->(e:ErrorCode) "
        "RETURN k.id AS id, min(e.id) AS code ORDER BY id DESC SKIP 1 LIMIT 1"
    )[0]
    context = _context(browser, csp_violations)
    page = context.new_page()
    _login(page, base_url, "engineer", "engineer-demo-1")
    page.wait_for_url(f"{base_url}/staff")
    page.goto(f"{base_url}/staff/cases/{case['id']}")
    page.click("form[action$='/draft'] button")
    page.wait_for_url(re.compile(r".*/staff/articles/kb-draft-.*"))
    draft = page.url.rsplit("/", 1)[1]
    assert page.locator(f"span.tag[data-rel=RESOLVES][data-id='{case['code']}']").count() == 1

    title = f"Unit runs hot {time.time_ns()}: clean the air filter"
    page.fill("#edit-form input[name=title]", title)
    page.select_option("#edit-form select[name=audience]", "customer")
    page.fill(
        "#edit-form textarea[name=body]", "## Issue\nThe unit is overheating.\n\n## Resolution\nClean the air filter."
    )
    page.click("#edit-form button")
    page.wait_for_selector("#saved")
    assert page.locator("span.tag[data-rel=RESOLVES][data-id='sym-overheat']").count() == 1
    assert page.locator(f"span.tag[data-rel=RESOLVES][data-id='{case['code']}']").count() == 0
    assert page.locator("ul.history li").count() == 2
    page.click("#state-form button[value=validated]")
    page.wait_for_selector("strong.state[data-state=validated]")

    reader = _context(browser, csp_violations)
    customer = reader.new_page()
    _login(customer, base_url, "customer1", "customer-demo-1")
    customer.wait_for_url(f"{base_url}/my")
    customer.goto(f"{base_url}/articles/{draft}")
    assert customer.locator("h1").inner_text() == title
    reader.close()
    page.click("#state-form button[value=archived]")  # the shared demo graph as other tests expect it
    page.wait_for_selector("strong.state[data-state=archived]")
    context.close()


def test_sales_console_duplicate_answer_touch_and_stage_move(
    browser: Any, base_url: str, portal_store: FalkorDBStore, csp_violations: list[str]
) -> None:
    known = portal_store.read(
        "MATCH (c:Customer:Organization) WHERE c.email IS NOT NULL RETURN c.id AS id, c.name AS name, "
        "c.email AS email ORDER BY c.id LIMIT 1"
    )[0]
    context = _context(browser, csp_violations)
    page = context.new_page()
    _login(page, base_url, "admin", "admin-demo-1")
    page.goto(f"{base_url}/staff/customers")
    page.click("#new-customer")
    page.fill("#new-customer-form input[name=name]", known["name"])
    page.fill("#new-customer-form input[name=email]", known["email"])
    page.click("#new-customer-form button")
    page.wait_for_selector("section.duplicates")
    assert known["name"] in page.locator("section.duplicates").inner_text()
    assert page.locator("#new-customer-form input[name=force]").count() == 1  # asked, not created

    page.goto(f"{base_url}/staff/customers/{known['id']}")
    street = f"{time.time_ns() % 1000} Browser Street"
    page.click("text=Edit details")
    page.fill("#edit-form input[name=street]", street)
    page.click("#edit-form button")
    page.wait_for_selector(f"dd:text('{street}')")  # the profile shows the edited field
    page.click("text=Timeline")
    subject = f"Browser call {time.time_ns()}"
    page.select_option("#touch-form select[name=channel]", "phone")
    page.fill("#touch-form input[name=subject]", subject)
    page.fill("#touch-form input[name=next_step]", "send the quote")
    page.click("#touch-form button")
    page.wait_for_selector(f"text={subject}")

    page.goto(f"{base_url}/staff/opportunities")
    page.locator("#opportunities a").first.click()
    page.wait_for_selector("#stage-history")
    before = page.locator("#stage-history tr").count()
    page.select_option("#stage-form select[name=stage]", "lost")
    page.fill("#stage-form input[name=reason]", "budget frozen by the browser test")
    page.click("#stage-form button")
    page.wait_for_selector("strong.stage:text('lost')")
    assert page.locator("#stage-history tr").count() == before + 1
    assert "budget frozen by the browser test" in page.locator("#stage-history").inner_text()
    context.close()


def test_two_contacts_of_one_company_invited_from_the_console_each_get_a_login(
    browser: Any, base_url: str, portal_store: FalkorDBStore, csp_violations: list[str]
) -> None:
    company = portal_store.read(
        "MATCH (c:Customer)-[:HAS_CONTACT]->(k:Contact) WHERE NOT (:User)-[:ACTS_FOR]->(c) "
        "AND (k.status IS NULL OR k.status <> 'archived') "
        "WITH c, collect(k.id) AS contacts WHERE size(contacts) >= 2 "
        "RETURN c.id AS id, c.name AS name, contacts ORDER BY id LIMIT 1"
    )[0]
    chosen = sorted(company["contacts"])[:2]
    staff = _context(browser, csp_violations)
    page = staff.new_page()
    _login(page, base_url, "engineer", "engineer-demo-1")
    page.goto(f"{base_url}/staff/customers/{company['id']}")
    for contact in chosen:
        page.check(f"#contacts tr[data-contact='{contact}'] input[type=checkbox]")
    page.click("#invite-button")
    page.wait_for_selector("#invitations")
    links = {
        contact: page.locator(f"#invitations tr[data-contact='{contact}'] input.invite-link").input_value()
        for contact in chosen
    }
    assert all(f"{base_url}/invite/kbi_" in link for link in links.values())
    page.goto(f"{base_url}/staff/customers/{company['id']}")
    for contact in chosen:
        assert "invited" in page.locator(f"#contacts tr[data-contact='{contact}'] .portal-state").inner_text()
    staff.close()

    for n, contact in enumerate(chosen):
        invited = _context(browser, csp_violations)
        page = invited.new_page()
        page.goto(links[contact])
        assert company["name"] in page.locator("main").inner_text()
        page.fill("#accept-form input[name=username]", f"browser.invitee{n}")
        page.fill("#accept-form input[name=password]", f"invitee-password-{n}")
        page.fill("#accept-form input[name=password_again]", f"invitee-password-{n}")
        page.click("#accept-form button")
        page.wait_for_url(f"{base_url}/my")
        me = page.request.get(f"{base_url}/api/v1/auth/me").json()
        assert me["customer_id"] == company["id"] and me["username"] == f"browser.invitee{n}"
        page.goto(links[contact])  # the link is used up
        assert "already used" in page.locator("main").inner_text()
        invited.close()
    logins = portal_store.read(
        "MATCH (u:User)-[:LOGIN_OF]->(k:Contact)<-[:HAS_CONTACT]-(c:Customer {id: $id}) "
        "MATCH (u)-[:ACTS_FOR]->(c) RETURN k.id AS contact ORDER BY contact",
        id=company["id"],
    )
    assert [r["contact"] for r in logins] == chosen
