"""Browsing the knowledge base without a question: service, API and pages on the real portal graph."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi import FastAPI

from api.app import create_app
from kbcrm.access.models import Principal, Role
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings
from knowledge_transfer.browse import BrowseError, ShelfNotFound, articles, shelves
from tests.portal_client import Client

VISITOR = None
CUSTOMER = Principal("user:browse-c", "c", Role.customer, customer_id="cust:any")
ENGINEER = Principal("user:browse-e", "e", Role.engineer)


@pytest.fixture(scope="module")
def app(portal_store: FalkorDBStore, portal_kb: Any, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    settings = Settings(data_dir=tmp_path_factory.mktemp("browse"))
    return create_app(settings, store=portal_store, knowledge_base=portal_kb)


def _graph(store: FalkorDBStore) -> dict[str, dict[str, Any]]:
    """Every article with what decides where it is listed, straight from the graph."""
    rows = store.read(
        "MATCH (a:KnowledgeArticle) OPTIONAL MATCH (a)-[:TRANSLATION_OF]->(o:KnowledgeArticle) "
        "OPTIONAL MATCH (a)-[:LINKED_TO_CASE]->(k:ServiceCase) "
        "RETURN a.id AS id, a.audience AS audience, a.confidence AS confidence, a.language AS language, "
        "coalesce(o.id, a.id) AS work, coalesce(a.view_count, 0) AS views, count(DISTINCT k) AS reused"
    )
    return {r["id"]: r for r in rows}


def _everything(store: FalkorDBStore, principal: Principal | None, **kwargs: Any) -> list[dict[str, Any]]:
    found = articles(store, principal=principal, limit=1000, **kwargs)
    listed: list[dict[str, Any]] = found["articles"]
    assert found["total"] == len(listed)
    return listed


def test_readers_see_one_entry_per_article_and_only_what_they_may_open(portal_store: FalkorDBStore) -> None:
    graph = _graph(portal_store)
    published = {
        i for i, a in graph.items() if a["audience"] in ("customer", "public") and a["confidence"] == "validated"
    }
    for principal, allowed in ((VISITOR, published), (CUSTOMER, published), (ENGINEER, set(graph))):
        for language in ("en", "zh"):
            listed = _everything(portal_store, principal, language=language)
            entries = [a["id"] for a in listed] + [t["id"] for a in listed for t in a["translations"]]
            # Every article the reader may open is listed exactly once, as an entry or as one's translation.
            assert sorted(entries) == sorted(allowed)
            works = [graph[a["id"]]["work"] for a in listed]
            assert len(works) == len(set(works))
            for entry in listed:
                versions = [entry["id"], *(t["id"] for t in entry["translations"])]
                assert {graph[v]["work"] for v in versions} == {graph[entry["id"]]["work"]}
                languages = {graph[v]["language"] for v in versions}
                # The reader's language where there is such a version, else the original.
                assert entry["language"] == language or language not in languages
                if language not in languages:
                    assert entry["id"] == graph[entry["id"]]["work"] or graph[entry["id"]]["work"] not in versions
                assert entry["views"] == sum(graph[v]["views"] for v in versions)
                assert entry["reused"] == sum(graph[v]["reused"] for v in versions)
    # The Chinese reader gets Chinese versions, the English reader none where the original is published.
    assert any(a["language"] == "zh" for a in _everything(portal_store, VISITOR, language="zh"))
    english = _everything(portal_store, VISITOR, language="en")
    assert all(a["language"] == "en" or graph[a["id"]]["work"] not in published for a in english)


def test_sort_orders_and_pages(portal_store: FalkorDBStore) -> None:
    popular = _everything(portal_store, ENGINEER, sort="popular")
    used = [a["views"] + a["reused"] for a in popular]
    assert used == sorted(used, reverse=True) and used[0] > used[-1]
    recent = _everything(portal_store, ENGINEER, sort="recent")
    assert [a["updated_at"] for a in recent] == sorted((a["updated_at"] for a in recent), reverse=True)
    titles = [a["title"].casefold() for a in _everything(portal_store, ENGINEER, sort="title")]
    assert titles == sorted(titles)
    pages = []
    for offset in range(0, len(popular), 7):
        page = articles(portal_store, principal=ENGINEER, sort="popular", offset=offset, limit=7)
        assert page["total"] == len(popular)
        pages += page["articles"]
    assert [a["id"] for a in pages] == [a["id"] for a in popular]


def test_shelves_count_what_their_lists_hold(portal_store: FalkorDBStore) -> None:
    for principal in (VISITOR, ENGINEER):
        found = shelves(portal_store, principal=principal)
        assert found["products"] and found["topics"]
        assert all(p["category"] for p in found["products"])
        for kind in ("products", "topics"):
            for shelf in found[kind]:
                listed = _everything(portal_store, principal, **{kind[:-1]: shelf["id"]})
                assert shelf["articles"] == len(listed) > 0, shelf
                node = "Product" if kind == "products" else "Topic"
                rel = "APPLIES_TO" if kind == "products" else "ON_TOPIC"
                for entry in listed:
                    assert portal_store.read(
                        f"MATCH (a:KnowledgeArticle {{id: $a}})-[:{rel}]->(:{node} {{id: $n}}) RETURN count(*) AS n",
                        a=entry["id"],
                        n=shelf["id"],
                    )[0]["n"], (entry["id"], shelf["id"])
    staff, public = shelves(portal_store, principal=ENGINEER), shelves(portal_store, principal=VISITOR)
    assert sum(p["articles"] for p in staff["products"]) > sum(p["articles"] for p in public["products"])


def test_unknown_shelves_and_bad_requests(portal_store: FalkorDBStore) -> None:
    with pytest.raises(ShelfNotFound):
        articles(portal_store, principal=VISITOR, product="prod-none")
    topic = shelves(portal_store, principal=VISITOR)["topics"][0]["id"]
    with pytest.raises(ShelfNotFound):
        articles(portal_store, principal=VISITOR, product=topic)  # a topic is not a product
    with pytest.raises(BrowseError, match="not both"):
        articles(portal_store, principal=VISITOR, product="prod-ax200", topic=topic)
    with pytest.raises(BrowseError, match="sort"):
        articles(portal_store, principal=VISITOR, sort="best")  # type: ignore[arg-type]


def test_browse_api_and_pages(app: FastAPI, portal_store: FalkorDBStore) -> None:
    visitor, engineer = Client(app), Client(app, "engineer")
    shelf = visitor.get("/api/v1/knowledge/shelves").json()
    product = shelf["products"][0]
    listed = visitor.get("/api/v1/knowledge/articles", params={"product": product["id"], "limit": 100}).json()
    assert listed["shelf"]["id"] == product["id"] and listed["total"] == product["articles"]
    assert visitor.get("/api/v1/knowledge/articles", params={"product": "prod-none"}).status_code == 404
    both = visitor.get("/api/v1/knowledge/articles", params={"product": product["id"], "topic": "x"})
    assert both.status_code == 400 and both.json()["error"]["field"] == "topic"
    assert visitor.get("/api/v1/knowledge/articles", params={"sort": "best"}).status_code == 422

    # The home page without a question: the shelves with their counts, most used and newest.
    home = html.unescape(visitor.get("/", params={"lang": "en"}).text)
    assert f'<a href="/browse?product={product["id"]}">{product["name"]}</a> <small>' in home
    assert 'id="popular-articles"' in home and 'id="recent-articles"' in home
    chinese = html.unescape(visitor.get("/", params={"lang": "zh"}).text)
    assert f">{product['name_zh']}</a>" in chinese and "按产品浏览" in chinese
    categories = {p["category"] for p in shelf["products"]}
    assert "<h3>压缩机</h3>" in chinese and "compressor" in categories

    # A shelf's page: its articles in order, a pager, the staff's states.
    page = html.unescape(visitor.get("/browse", params={"product": product["id"], "lang": "en"}).text)
    ids = re.findall(r'<li data-id="([^"]+)">', page)
    assert ids == [a["id"] for a in listed["articles"]][:20]
    assert f"Articles for the {product['name']}" in page
    everything = visitor.get("/api/v1/knowledge/articles", params={"limit": 1}).json()["total"]
    assert everything > 20
    first = html.unescape(visitor.get("/browse", params={"sort": "title"}).text)
    assert f"1–20 of {everything}" in first and 'rel="next" href="/browse?sort=title&offset=20"' in first
    second = html.unescape(visitor.get("/browse", params={"sort": "title", "offset": 20}).text)
    assert 'rel="prev" href="/browse?sort=title&offset=0"' in second
    assert visitor.get("/browse", params={"product": "prod-none"}).status_code == 404
    staff = html.unescape(engineer.get("/browse", params={"sort": "title", "lang": "en"}).text)
    assert '<span class="tag state">validated · internal</span>' in staff
    assert "· internal</span>" not in first


def test_search_links_a_named_product_to_its_shelf_and_articles_say_their_state_in_words(app: FastAPI) -> None:
    visitor = Client(app)
    product = visitor.get("/api/v1/knowledge/shelves").json()["products"][0]
    page = html.unescape(visitor.get("/", params={"q": f"{product['name']} problem", "lang": "en"}).text)
    assert f'<a href="/browse?product={product["id"]}">{product["name"]}</a>' in page
    article = visitor.get("/api/v1/knowledge/articles", params={"limit": 1}).json()["articles"][0]
    english = html.unescape(visitor.get(f"/articles/{article['id']}", params={"lang": "en"}).text)
    chinese = html.unescape(visitor.get(f"/articles/{article['id']}", params={"lang": "zh"}).text)
    audience = {"customer": ("customers", "客户"), "public": ("public", "公开")}[article["audience"]]
    assert f"· validated · {audience[0]}" in english and f"· 已审核 · {audience[1]}" in chinese


def test_a_customers_home_page_puts_their_own_products_first(app: FastAPI, portal_store: FalkorDBStore) -> None:
    customer = Client(app, "customer1")
    owned = {
        r["id"]
        for r in portal_store.read(
            "MATCH (:Customer {id: $c})-[:OWNS]->(p:Product) RETURN p.id AS id", c=customer.me["customer_id"]
        )
    }
    shelved = {p["id"] for p in customer.get("/api/v1/knowledge/shelves").json()["products"]}
    assert owned & shelved and shelved - owned
    home = customer.get("/", params={"lang": "en"}).text
    mine = home[home.index('id="my-shelves"') :].split("</ul>")[0]
    assert set(re.findall(r"/browse\?product=([^\"]+)", mine)) == owned & shelved
    assert 'id="my-shelves"' not in Client(app).get("/").text  # a visitor owns nothing


def test_staff_list_articles_by_kcs_state_and_customers_only_ever_get_validated_ones(
    app: FastAPI, portal_store: FalkorDBStore
) -> None:
    graph = _graph(portal_store)
    for state in ("work-in-progress", "not-validated", "validated"):
        listed = _everything(portal_store, ENGINEER, state=state)
        versions = [a["id"] for a in listed] + [t["id"] for a in listed for t in a["translations"]]
        assert sorted(versions) == sorted(i for i, a in graph.items() if a["confidence"] == state), state
    assert _everything(portal_store, CUSTOMER, state="not-validated") == []
    assert _everything(portal_store, CUSTOMER, state="validated") == _everything(portal_store, CUSTOMER)
    with pytest.raises(BrowseError, match="state"):
        articles(portal_store, principal=ENGINEER, state="draft")

    engineer, customer = Client(app, "engineer"), Client(app, "customer1")
    assert engineer.get("/api/v1/knowledge/articles", params={"state": "draft"}).status_code == 422
    page = html.unescape(engineer.get("/browse", params={"state": "not-validated", "lang": "en"}).text)
    drafts = _everything(portal_store, ENGINEER, state="not-validated", sort="popular")
    assert re.findall(r'<li data-id="([^"]+)">', page) == [a["id"] for a in drafts][:20] and drafts
    assert (
        "State: <a" in page
        and "<strong>not validated</strong>" in page
        and "<h1>All articles · not validated</h1>" in page
    )
    assert 'href="/browse?state=not-validated&sort=recent"' in engineer.get("/staff/knowledge-health").text
    mine = html.unescape(customer.get("/browse", params={"state": "not-validated", "lang": "en"}).text)
    assert "No article here yet." in mine and "State:" not in mine
