"""Store-level load of the demo data set into the graph.

This is the Foundation's straightforward loader: it trusts the generator's files and
its ground truth for which department records are the same customer. The validated,
resolving, provenance-tracking pipeline is `ingest/` (issue 3), which will replace it.
Every write goes through the store interface, in batches, streaming the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from kbcrm.demo.generator import read_csv, read_jsonl
from kbcrm.domain.values import split_list
from kbcrm.graph import GraphStore, cypher
from kbcrm.operations.opportunities.service import STAGES
from ontology.terms import Label, Rel

BATCH = 5000

COUNT_CUSTOMERS = cypher("demo.count_customers", "MATCH (c:Customer) RETURN count(c) AS customers")
PRODUCT_SKUS = cypher("demo.product_skus", "MATCH (p:Product) RETURN p.sku AS sku, p.id AS id")


def _batched[T](items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _num(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def read_article(path: Path) -> tuple[dict[str, Any], str]:
    """Front matter and body of a Markdown know-how file."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise ValueError(f"{path}: no YAML front matter")
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front) or {}
    return meta, body.strip()


def load_demo(
    store: GraphStore,
    directory: Path,
    *,
    customer_of: dict[str, str] | None = None,
    include_articles: bool = True,
    include_catalog: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Load a generated demo directory; returns node/relationship counts. Idempotent (MERGE by id).

    `customer_of` maps department source keys (sales id, service id, account number) to the
    customer ids identity resolution produced; without it the generator's ground truth
    decides which records are one customer, and Customer nodes are created from it.
    `include_articles=False` leaves the know-how articles to the articles connector;
    `include_catalog=False` leaves the catalogue and the staff directory to their ingest mappings
    (`make run` loads them so; they must be in the graph already).
    """
    say = progress or (lambda _step: None)
    source_id = f"source-demo-{json.loads((directory / 'manifest.json').read_text())['seed']}"
    store.upsert_nodes(Label.Source, [{"id": source_id, "source_kind": "demo", "file": str(directory)}])
    stamp = {"source_ids": [source_id]}

    if include_catalog:
        say("catalog")
        sku_to_product = load_catalog(store, directory, stamp)
        say("employees")
        _load_employees(store, directory, stamp)
    else:
        sku_to_product = {r["sku"]: r["id"] for r in store.read(PRODUCT_SKUS)}
        if not sku_to_product:
            raise ValueError("the catalogue is not loaded: ingest it before load_demo(include_catalog=False)")

    say("customers")
    record_to_customer: dict[str, str] = dict(customer_of or {})
    for batch in _batched(read_csv(directory / "truth" / "source_records.csv")):
        if customer_of is None:
            record_to_customer.update({r["source_key"]: r["customer_id"] for r in batch})
        store.upsert_nodes(
            Label.SourceRecord,
            [
                {
                    "id": f"{r['source_system']}:{r['source_key']}",
                    "source_system": r["source_system"],
                    "source_key": r["source_key"],
                    "true_customer": r["customer_id"],
                    **stamp,
                }
                for r in batch
            ],
        )
    if customer_of is None:
        _customers_from_truth(store, directory, stamp)
    for batch in _batched(read_csv(directory / "billing_accounts.csv")):
        store.upsert_nodes(
            Label.Account,
            [
                {
                    "id": r["account_number"],
                    "account_number": r["account_number"],
                    "payment_terms_days": int(r["payment_terms_days"]),
                    "credit_limit": float(r["credit_limit"]),
                    "status": "open",
                    **stamp,
                }
                for r in batch
            ],
        )
        store.upsert_relationships(
            Rel.HAS_ACCOUNT,
            [{"start": record_to_customer[r["account_number"]], "end": r["account_number"]} for r in batch],
            start_label=Label.Customer,
            end_label=Label.Account,
        )
    for batch in _batched(read_csv(directory / "contacts.csv")):
        store.upsert_nodes(
            Label.Contact,
            [
                {"id": r["contact_id"], "name": r["name"], "email": r["email"], "role": r["role"], **stamp}
                for r in batch
            ],
        )
        store.upsert_relationships(
            Rel.HAS_CONTACT,
            [{"start": record_to_customer[r["sales_id"]], "end": r["contact_id"], "role": r["role"]} for r in batch],
            start_label=Label.Customer,
            end_label=Label.Contact,
        )
    for batch in _batched(read_csv(directory / "account_managers.csv")):
        store.upsert_relationships(
            Rel.ACCOUNT_MANAGER,
            [{"start": record_to_customer[r["sales_id"]], "end": r["employee_id"]} for r in batch],
            start_label=Label.Customer,
            end_label=Label.Employee,
        )

    say("orders")
    for batch in _batched(read_csv(directory / "orders.csv")):
        store.upsert_nodes(
            Label.Order,
            [
                {
                    "id": r["order_number"],
                    "order_number": r["order_number"],
                    "order_date": r["order_date"],
                    "status": r["status"],
                    "currency": r["currency"],
                    "total_amount": float(r["total_amount"]),
                    **stamp,
                }
                for r in batch
            ],
        )
        store.upsert_relationships(
            Rel.PLACED,
            [{"start": record_to_customer[r["account_number"]], "end": r["order_number"]} for r in batch],
            start_label=Label.Customer,
            end_label=Label.Order,
        )
    if (directory / "payments.csv").exists():
        for batch in _batched(read_csv(directory / "payments.csv")):
            store.upsert_nodes(
                Label.Order,
                [
                    {
                        "id": r["order_number"],
                        "due_on": r["due_on"],
                        **({"paid_on": r["paid_on"]} if r["paid_on"] else {}),
                    }
                    for r in batch
                ],
            )
    if (directory / "relationships.csv").exists():
        rows = list(read_csv(directory / "relationships.csv"))
        store.upsert_relationships(
            Rel.REFERRED,
            [
                {
                    "start": record_to_customer[r["from_account"]],
                    "end": record_to_customer[r["to_account"]],
                    "since": r["since"],
                }
                for r in rows
                if r["kind"] == "referral"
            ],
            start_label=Label.Customer,
            end_label=Label.Customer,
        )
        store.upsert_relationships(
            Rel.SUBSIDIARY_OF,
            [
                {"start": record_to_customer[r["from_account"]], "end": record_to_customer[r["to_account"]]}
                for r in rows
                if r["kind"] == "subsidiary"
            ],
            start_label=Label.Organization,
            end_label=Label.Organization,
        )
    if (directory / "opportunities.csv").exists():
        _load_pipeline(store, directory, record_to_customer, stamp)
    for batch in _batched(read_csv(directory / "order_lines.csv")):
        store.upsert_nodes(
            Label.OrderLine,
            [
                {
                    "id": f"{r['order_number']}-{r['line_number']}",
                    "line_number": int(r["line_number"]),
                    "quantity": int(r["quantity"]),
                    "unit_price": float(r["unit_price"]),
                    **stamp,
                }
                for r in batch
            ],
        )
        store.upsert_relationships(
            Rel.CONTAINS,
            [{"start": r["order_number"], "end": f"{r['order_number']}-{r['line_number']}"} for r in batch],
            start_label=Label.Order,
            end_label=Label.OrderLine,
        )
        store.upsert_relationships(
            Rel.FOR_PRODUCT,
            [{"start": f"{r['order_number']}-{r['line_number']}", "end": sku_to_product[r["sku"]]} for r in batch],
            start_label=Label.OrderLine,
            end_label=Label.Product,
        )
    for batch in _batched(read_csv(directory / "installed_base.csv")):
        store.upsert_relationships(
            Rel.OWNS,
            [
                {
                    "start": record_to_customer[r["sales_id"]],
                    "end": r["product_id"],
                    "serial_number": r["serial_number"],
                    "installed_at": r["installed_at"],
                }
                for r in batch
            ],
            start_label=Label.Customer,
            end_label=Label.Product,
        )

    say("service cases")
    for batch in _batched(read_csv(directory / "cases.csv")):
        store.upsert_nodes(
            Label.ServiceCase,
            [
                {
                    "id": r["case_number"],
                    "case_number": r["case_number"],
                    "subject": r["subject"],
                    "priority": r["priority"],
                    "channel": r["channel"],
                    "status": r["status"],
                    "opened_at": r["opened_at"],
                    "first_response_at": r["first_response_at"] or None,
                    "closed_at": r["closed_at"] or None,
                    **stamp,
                }
                for r in batch
            ],
        )
        store.upsert_relationships(
            Rel.RAISED,
            [{"start": record_to_customer[r["sales_id"]], "end": r["case_number"]} for r in batch],
            start_label=Label.Customer,
            end_label=Label.ServiceCase,
        )
        store.upsert_relationships(
            Rel.ABOUT_PRODUCT,
            [{"start": r["case_number"], "end": r["product_id"]} for r in batch],
            start_label=Label.ServiceCase,
            end_label=Label.Product,
        )
        store.upsert_relationships(
            Rel.HANDLED_BY,
            [{"start": r["case_number"], "end": r["handled_by"]} for r in batch],
            start_label=Label.ServiceCase,
            end_label=Label.Employee,
        )
    for batch in _batched(read_jsonl(directory / "case_notes.jsonl")):
        store.upsert_nodes(
            Label.ServiceNote,
            [
                {
                    "id": r["note_id"],
                    "text": r["text"],
                    "written_at": r["written_at"],
                    "visibility": r["visibility"],
                    "language": r["language"],
                    **stamp,
                }
                for r in batch
            ],
        )
        store.upsert_relationships(
            Rel.HAS_NOTE,
            [{"start": r["case_number"], "end": r["note_id"]} for r in batch],
            start_label=Label.ServiceCase,
            end_label=Label.ServiceNote,
        )
        store.upsert_relationships(
            Rel.WROTE,
            [{"start": r["author"], "end": r["note_id"]} for r in batch],
            start_label=Label.Employee,
            end_label=Label.ServiceNote,
        )

    say("interactions")
    for number, batch in enumerate(_batched(read_csv(directory / "interactions.csv"))):
        rows = [dict(r, id=f"int-{number * BATCH + i:09d}") for i, r in enumerate(batch)]
        store.upsert_nodes(
            Label.Interaction,
            [
                {
                    "id": r["id"],
                    "channel": r["channel"],
                    "direction": r["direction"],
                    "occurred_at": r["occurred_at"],
                    "subject": r["subject"],
                    "outcome": r["outcome"],
                    "next_step": r["next_step"] or None,
                    **stamp,
                }
                for r in rows
            ],
        )
        store.upsert_relationships(
            Rel.HAD_INTERACTION,
            [{"start": record_to_customer[r["sales_id"]], "end": r["id"]} for r in rows],
            start_label=Label.Customer,
            end_label=Label.Interaction,
        )
        store.upsert_relationships(
            Rel.WITH_CONTACT,
            [{"start": r["id"], "end": r["contact_id"]} for r in rows if r["contact_id"]],
            start_label=Label.Interaction,
            end_label=Label.Contact,
        )

    if include_articles:
        say("knowledge articles")
        articles = [read_article(p) for p in sorted((directory / "articles").glob("*.md"))]
        store.upsert_nodes(
            Label.KnowledgeArticle,
            [
                {
                    "id": m["id"],
                    "title": m["title"],
                    "body": body,
                    "audience": m["audience"],
                    "language": m["language"],
                    "confidence": m["confidence"],
                    "version": 1,
                    "view_count": 0,
                    "helpful_count": 0,
                    "not_helpful_count": 0,
                    **stamp,
                }
                for m, body in articles
            ],
        )
        store.upsert_relationships(
            Rel.AUTHORED,
            [{"start": m["author"], "end": m["id"]} for m, _ in articles],
            start_label=Label.Employee,
            end_label=Label.KnowledgeArticle,
        )
        store.upsert_relationships(
            Rel.APPLIES_TO,
            [{"start": m["id"], "end": p} for m, _ in articles for p in m.get("products", [])],
            start_label=Label.KnowledgeArticle,
            end_label=Label.Product,
        )
        store.upsert_relationships(
            Rel.ON_TOPIC,
            [{"start": m["id"], "end": t} for m, _ in articles for t in m.get("topics", [])],
            start_label=Label.KnowledgeArticle,
            end_label=Label.Topic,
        )
    return {
        "nodes": store.count_nodes(),
        "relationships": store.count_relationships(),
        "customers": int(store.read(COUNT_CUSTOMERS)[0]["customers"]),
    }


def _load_pipeline(
    store: GraphStore, directory: Path, record_to_customer: dict[str, str], stamp: dict[str, Any]
) -> None:
    """Opportunities (customer, owner, product) and their stage history."""
    rows = list(read_csv(directory / "opportunities.csv"))
    store.upsert_nodes(
        Label.Opportunity,
        [
            {
                "id": r["opportunity_id"],
                "name": r["name"],
                "amount": float(r["amount"]),
                "currency": r["currency"],
                "stage": r["stage"],
                "probability": float(r["probability"]),
                "expected_close": r["expected_close"],
                "closed_on": r["closed_on"] or None,
                "close_reason": r["close_reason"] or None,
                "created_at": f"{r['created_on']}T09:00:00+00:00",
                **stamp,
            }
            for r in rows
        ],
    )
    store.upsert_relationships(
        Rel.HAS_OPPORTUNITY,
        [{"start": record_to_customer[r["sales_id"]], "end": r["opportunity_id"]} for r in rows],
        start_label=Label.Customer,
        end_label=Label.Opportunity,
    )
    store.upsert_relationships(
        Rel.ACCOUNT_MANAGER,
        [{"start": r["opportunity_id"], "end": r["owner_id"]} for r in rows],
        start_label=Label.Opportunity,
        end_label=Label.Employee,
    )
    store.upsert_relationships(
        Rel.FOR_PRODUCT,
        [{"start": r["opportunity_id"], "end": r["product_id"]} for r in rows],
        start_label=Label.Opportunity,
        end_label=Label.Product,
    )
    changes = list(read_csv(directory / "opportunity_stages.csv"))
    store.upsert_nodes(
        Label.StageChange,
        [
            {
                "id": f"{r['opportunity_id']}-S{r['sequence']}",
                "sequence": int(r["sequence"]),
                "from_stage": r["from_stage"] or None,
                "to_stage": r["to_stage"],
                "changed_at": r["changed_at"],
                "changed_by": r["changed_by"],
                "probability": STAGES[r["to_stage"]],
                "close_reason": r["close_reason"] or None,
                **stamp,
            }
            for r in changes
        ],
    )
    store.upsert_relationships(
        Rel.HAS_STAGE_CHANGE,
        [{"start": r["opportunity_id"], "end": f"{r['opportunity_id']}-S{r['sequence']}"} for r in changes],
        start_label=Label.Opportunity,
        end_label=Label.StageChange,
    )


def _customers_from_truth(store: GraphStore, directory: Path, stamp: dict[str, Any]) -> None:
    """Customer nodes and RESOLVED_FROM edges straight from the generator's ground truth."""
    for kind, extra in (("organization", Label.Organization), ("person", Label.Person)):
        for batch in _batched(r for r in read_csv(directory / "truth" / "customers.csv") if r["kind"] == kind):
            rows = []
            for r in batch:
                row: dict[str, Any] = {
                    "id": r["customer_id"],
                    "customer_kind": kind,
                    "name": r["name"],
                    "email": r["email"],
                    "phone": r["phone"],
                    "street": r["street"],
                    "city": r["city"],
                    "postal_code": r["postal_code"],
                    "country": r["country"],
                    "customer_since": r["customer_since"],
                    "status": "active",
                    **stamp,
                }
                if kind == "organization":
                    row["registration_id"] = r["registration_id"]
                else:
                    row["birth_date"] = r["birth_date"]
                rows.append(row)
            store.upsert_nodes(Label.Customer, rows, extra_labels=[extra])
    for batch in _batched(read_csv(directory / "truth" / "source_records.csv")):
        store.upsert_relationships(
            Rel.RESOLVED_FROM,
            [
                {
                    "start": r["customer_id"],
                    "end": f"{r['source_system']}:{r['source_key']}",
                    "score": 1.0,
                    "rule": "demo-truth",
                }
                for r in batch
            ],
            start_label=Label.Customer,
            end_label=Label.SourceRecord,
        )


def _load_employees(store: GraphStore, directory: Path, stamp: dict[str, Any]) -> None:
    """The staff directory; experts get the Expert label, their `expertise` and HAS_EXPERTISE to their topics."""
    employees = list(read_csv(directory / "employees.csv"))
    store.upsert_nodes(
        Label.Employee,
        [
            {
                "id": r["employee_id"],
                "name": r["name"],
                "email": r["email"],
                "department": r["department"],
                "job_title": r["job_title"],
                **stamp,
            }
            for r in employees
        ],
    )
    experts = [r for r in employees if r["expert"] == "yes"]
    store.upsert_nodes(
        Label.Employee,
        [{"id": r["employee_id"], "expertise": split_list(r["expertise"])} for r in experts],
        extra_labels=[Label.Expert],
    )
    store.upsert_relationships(
        Rel.HAS_EXPERTISE,
        [{"start": r["employee_id"], "end": t} for r in experts for t in split_list(r["expertise"])],
        start_label=Label.Employee,
        end_label=Label.Topic,
    )


def load_catalog(store: GraphStore, directory: Path, stamp: dict[str, Any]) -> dict[str, str]:
    """Products, components, symptoms, error codes and topics; returns SKU -> product id."""
    cat = directory / "catalog"
    store.upsert_nodes(
        Label.Component,
        [
            {
                "id": r["component_id"],
                "name": r["name"],
                "aliases": split_list(r["aliases"]),
                "name_zh": r["name_zh"],
                **stamp,
            }
            for r in read_csv(cat / "components.csv")
        ],
    )
    products = list(read_csv(cat / "products.csv"))
    sku_to_product = {r["sku"]: r["product_id"] for r in products}
    store.upsert_nodes(
        Label.Product,
        [
            {
                "id": r["product_id"],
                "sku": r["sku"],
                "name": r["name"],
                "aliases": split_list(r["aliases"]),
                "name_zh": r["name_zh"],
                "category": r["category"],
                "list_price": float(r["list_price"]),
                "launched_on": r["launched_on"],
                **stamp,
            }
            for r in products
        ],
    )
    store.upsert_relationships(
        Rel.HAS_COMPONENT,
        [{"start": r["product_id"], "end": c} for r in products for c in split_list(r["components"])],
        start_label=Label.Product,
        end_label=Label.Component,
    )
    symptoms = list(read_csv(cat / "symptoms.csv"))
    store.upsert_nodes(
        Label.Symptom,
        [
            {
                "id": r["symptom_id"],
                "name": r["name"],
                "aliases": split_list(r["aliases"]),
                "name_zh": r["name_zh"],
                **stamp,
            }
            for r in symptoms
        ],
    )
    store.upsert_relationships(
        Rel.HAS_SYMPTOM,
        [{"start": c, "end": r["symptom_id"]} for r in symptoms for c in split_list(r["components"])],
        start_label=Label.Component,
        end_label=Label.Symptom,
    )
    codes = list(read_csv(cat / "error_codes.csv"))
    store.upsert_nodes(
        Label.ErrorCode, [{"id": r["code"], "code": r["code"], "description": r["description"], **stamp} for r in codes]
    )
    store.upsert_relationships(
        Rel.INDICATES,
        [{"start": r["code"], "end": r["symptom_id"]} for r in codes],
        start_label=Label.ErrorCode,
        end_label=Label.Symptom,
    )
    store.upsert_nodes(
        Label.Topic,
        [
            {"id": r["topic_id"], "name": r["name"], "name_zh": r["name_zh"], **stamp}
            for r in read_csv(cat / "topics.csv")
        ],
    )
    return sku_to_product
