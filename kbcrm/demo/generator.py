"""Seeded, realistic demo data for a manufacturer of industrial equipment.

`generate(out_dir, customers=N, seed=S)` writes the exports a real company would hand
over: three departments' customer lists that spell the same customers differently,
orders with repeat-purchase behaviour and churn, interactions on several channels,
service cases with free-text engineer notes (English and Chinese), and expert know-how
articles in Markdown. Ground truth (true customers, note mentions) goes to `truth/`
so identity resolution and note linking can be measured. Streaming: one customer at a
time, so memory stays flat up to 1M customers.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from kbcrm.demo.catalog import COMPONENT_BY_ID, COMPONENTS, FAULTS, PRODUCTS, SYMPTOM_BY_ID, SYMPTOMS, TOPICS, Fault
from kbcrm.operations.opportunities.service import OPEN_STAGES, STAGES

# Written to the manifest; a demo set of another format is generated again (ingest.demo.ensure_demo).
# 2: Chinese articles name the English article they translate (translation_of); symptoms have Chinese aliases.
# 3: everyday words for vibration and noise (振动, vibration, noisy) are symptom aliases.
# 4: the bare "noise" is an alias of grinding noise.
FORMAT_VERSION = 4
START = date(2024, 1, 1)
AS_OF = date(2026, 10, 31)
MACHINE_CATEGORIES = {"pump", "compressor", "conveyor", "controller", "sensor"}
CHANNELS = ("phone", "email", "web", "visit", "chat", "fax")
CHANNEL_WEIGHTS = (30, 35, 15, 8, 10, 2)

COUNTRIES: dict[str, dict[str, Any]] = {
    "DE": {
        "w": 30,
        "cities": ["Berlin", "Hamburg", "München", "Stuttgart", "Köln", "Dortmund"],
        "suffix": ["GmbH", "AG", "KG"],
        "cc": "+49",
    },
    "US": {
        "w": 20,
        "cities": ["Chicago", "Houston", "Detroit", "Cleveland", "Atlanta"],
        "suffix": ["Inc.", "LLC", "Corp."],
        "cc": "+1",
    },
    "GB": {"w": 10, "cities": ["Manchester", "Birmingham", "Leeds", "Glasgow"], "suffix": ["Ltd", "PLC"], "cc": "+44"},
    "CN": {"w": 15, "cities": ["上海", "苏州", "深圳", "天津", "宁波"], "suffix": ["有限公司"], "cc": "+86"},
    "FR": {"w": 8, "cities": ["Lyon", "Lille", "Toulouse", "Nantes"], "suffix": ["SA", "SARL"], "cc": "+33"},
    "NL": {"w": 7, "cities": ["Rotterdam", "Eindhoven", "Utrecht"], "suffix": ["B.V."], "cc": "+31"},
    "SE": {"w": 5, "cities": ["Göteborg", "Malmö", "Västerås"], "suffix": ["AB"], "cc": "+46"},
    "JP": {"w": 5, "cities": ["Osaka", "Nagoya", "Yokohama"], "suffix": ["K.K."], "cc": "+81"},
}
# The sales CRM export's header (the bundled `sales` mapping reads these columns).
SALES_COLUMNS = [
    "sales_id",
    "customer_type",
    "name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "country",
    "registration_id",
    "birth_date",
]
STREETS = {
    "DE": ["Industriestr.", "Hafenweg", "Bahnhofstr."],
    "CN": ["工业路", "滨江大道", "科技园路"],
    "FR": ["Rue de la Gare", "Avenue de l'Industrie"],
    "NL": ["Havenweg", "Industrieweg"],
    "SE": ["Industrigatan", "Hamngatan"],
}
NAME_PARTS = [
    "Nord",
    "Süd",
    "Rhein",
    "Alpen",
    "Atlas",
    "Vector",
    "Granite",
    "Harbor",
    "Summit",
    "Pioneer",
    "Delta",
    "Falcon",
    "Orion",
    "Keystone",
    "Ridge",
    "Lakeside",
    "Iron",
    "Blue",
    "Prime",
    "Union",
]
NAME_TRADES = [
    "Metallbau",
    "Foods",
    "Logistics",
    "Chemicals",
    "Plastics",
    "Brewing",
    "Packaging",
    "Water Works",
    "Textiles",
    "Automotive",
    "Paper",
    "Pharma",
    "Mining",
    "Glass",
    "Farms",
    "Printing",
]
ZH_PARTS = ["恒力", "华东", "新锐", "东方", "振华", "金桥", "远大", "海川", "天成", "宏达"]
ZH_TRADES = ["机械", "食品", "化工", "物流", "包装", "纺织", "制药", "水务"]
GIVEN = [
    "Anna",
    "Lukas",
    "Maria",
    "James",
    "Sophie",
    "Noah",
    "Emma",
    "Liam",
    "Mia",
    "Jonas",
    "Olivia",
    "Felix",
    "Chloé",
    "Lars",
    "Yuki",
    "Wei",
    "Li",
    "Hannah",
    "Oscar",
    "Ines",
]
FAMILY = [
    "Müller",
    "Schmidt",
    "Smith",
    "Johnson",
    "Dubois",
    "Jansen",
    "Andersson",
    "Tanaka",
    "Wang",
    "Zhang",
    "Fischer",
    "Weber",
    "Brown",
    "Martin",
    "de Vries",
    "Nilsson",
    "Sato",
    "Chen",
    "Wagner",
    "Taylor",
]
INTERACTION_SUBJECTS = {
    "phone": ["question about {p}", "follow-up on quote", "delivery date for spare parts", "complaint about downtime"],
    "email": ["quote request for {p}", "invoice question", "documentation for {p}", "newsletter reply"],
    "web": ["downloaded {p} manual", "portal login", "searched knowledge base"],
    "visit": ["site visit: {p} inspection", "commissioning of {p}", "annual maintenance visit"],
    "chat": ["chat: {p} error message", "chat: order status"],
    "fax": ["order confirmation by fax"],
}
OUTCOMES = ["resolved", "follow-up needed", "quote sent", "no answer", "order placed", "complaint logged"]
SENTIMENT_OUTCOMES = {"complaint about downtime": "complaint logged"}


@dataclass
class Truth:
    """The generator's ground truth for one customer."""

    id: str
    kind: str
    name: str
    country: str
    city: str
    email: str
    phone: str
    registration_id: str
    birth_date: str
    street: str
    postal_code: str
    since: date
    account_number: str
    contacts: list[dict[str, str]] = field(default_factory=list)


class Writers:
    """Open CSV / JSON-lines files for the whole run."""

    def __init__(self, stack: ExitStack, out: Path) -> None:
        self._stack, self._out = stack, out
        self._csv: dict[str, csv.DictWriter[str]] = {}
        self._jsonl: dict[str, IO[str]] = {}

    def csv(self, name: str, fields: list[str]) -> csv.DictWriter[str]:
        """The CSV writer of `name` (created with its header on first use)."""
        if name not in self._csv:
            path = self._out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._stack.enter_context(path.open("w", newline="", encoding="utf-8"))
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            self._csv[name] = writer
        return self._csv[name]

    def jsonl(self, name: str, record: dict[str, Any]) -> None:
        """Append one record to the JSON-lines file `name`."""
        if name not in self._jsonl:
            path = self._out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._jsonl[name] = self._stack.enter_context(path.open("w", encoding="utf-8"))
        self._jsonl[name].write(json.dumps(record, ensure_ascii=False) + "\n")


def _ascii(text: str) -> str:
    """Lower-case ASCII letters of a name, for e-mail addresses."""
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalpha()) or "x"


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    op = rng.random()
    if op < 0.4:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op < 0.7:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _phone(rng: random.Random, cc: str) -> str:
    return f"{cc} {rng.randint(20, 99)} {rng.randint(1000000, 9999999)}"


def _phone_variant(rng: random.Random, phone: str) -> str:
    cc, area, number = phone.split(" ")
    style = rng.random()
    if style < 0.33:
        return f"0{area}{number}"
    if style < 0.66:
        return f"{cc}-{area}-{number[:3]}-{number[3:]}"
    return f"({area}) {number}"


def _company_variant(rng: random.Random, name: str, country: str) -> str:
    if country == "CN":
        return name.replace("有限公司", "") if rng.random() < 0.5 else name
    variant = name
    replacements = {
        "GmbH": ["Gmbh", "G.m.b.H."],
        "Inc.": ["Inc", "Incorporated"],
        "Ltd": ["Ltd.", "Limited"],
        "Corp.": ["Corporation"],
        "LLC": ["L.L.C."],
        "B.V.": ["BV"],
    }
    for key, options in replacements.items():
        if key in variant and rng.random() < 0.6:
            variant = variant.replace(key, rng.choice(options))
    if rng.random() < 0.3:
        variant = _typo(rng, variant)
    if rng.random() < 0.15:
        variant = variant.upper()
    return variant


def _make_customer(rng: random.Random, index: int) -> Truth:
    country = rng.choices(list(COUNTRIES), weights=[c["w"] for c in COUNTRIES.values()])[0]
    info = COUNTRIES[country]
    city = rng.choice(info["cities"])
    is_person = rng.random() < 0.18
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    if is_person:
        name = f"{given} {family}" if country != "CN" else f"{family}{given}"
        kind, registration_id = "person", ""
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50))
        birth_date = birth.isoformat()
    else:
        if country == "CN":
            name = f"{city}{rng.choice(ZH_PARTS)}{rng.choice(ZH_TRADES)}有限公司"
        else:
            name = f"{rng.choice(NAME_PARTS)} {rng.choice(NAME_TRADES)} {rng.choice(info['suffix'])}"
        kind, registration_id, birth_date = "organization", f"{country}{rng.randint(10**8, 10**9 - 1)}", ""
    slug = "".join(ch for ch in (family if is_person else name.split(" ")[0]).lower() if ch.isascii() and ch.isalnum())
    local = "".join(ch for ch in given.lower() if ch.isascii() and ch.isalpha()) or "info"
    email = f"{local}.{slug or 'info'}{index}@example.{country.lower()}"
    since = START + timedelta(days=rng.randrange(540))
    truth = Truth(
        id=f"cust-{index:07d}",
        kind=kind,
        name=name,
        country=country,
        city=city,
        email=email,
        phone=_phone(rng, info["cc"]),
        registration_id=registration_id,
        birth_date=birth_date,
        street=f"{rng.choice(STREETS.get(country, ['Main St', 'Harbour Rd', 'Station Rd']))} {rng.randint(1, 200)}",
        postal_code=f"{rng.randint(10000, 99999)}",
        since=since,
        account_number=f"ACC-{index:07d}",
    )
    if kind == "organization":
        for c in range(rng.choice([1, 1, 2, 3])):
            cg, cf = rng.choice(GIVEN), rng.choice(FAMILY)
            truth.contacts.append(
                {
                    "id": f"contact-{index:07d}-{c}",
                    "name": f"{cg} {cf}",
                    "email": f"{_ascii(cg)}.{_ascii(cf)}{index}@example.{country.lower()}",
                    "role": rng.choice(["purchasing", "maintenance lead", "plant manager", "finance"]),
                }
            )
    return truth


def _write_department_records(rng: random.Random, w: Writers, t: Truth, index: int) -> None:
    """The same customer as sales, service and billing each keep it."""
    w.csv(
        "sales_customers.csv",
        SALES_COLUMNS,
    ).writerow(
        {
            "sales_id": f"S{index:07d}",
            "customer_type": t.kind,
            "name": t.name,
            "email": t.email if rng.random() > 0.05 else "",
            "phone": t.phone,
            "street": t.street,
            "city": t.city,
            "postal_code": t.postal_code,
            "country": t.country,
            "registration_id": t.registration_id,
            "birth_date": t.birth_date,
        }
    )
    w.csv("truth/source_records.csv", ["source_system", "source_key", "customer_id"]).writerow(
        {"source_system": "sales", "source_key": f"S{index:07d}", "customer_id": t.id}
    )
    if rng.random() < 0.85:  # not every customer ever called service
        w.jsonl(
            "service_customers.jsonl",
            {
                "svc_id": f"SV-{index * 7 + 13:08d}",
                "display_name": _company_variant(rng, t.name, t.country)
                if t.kind == "organization"
                else (_typo(rng, t.name) if rng.random() < 0.3 else t.name),
                "kind": t.kind,
                "contact_email": (t.email.upper() if rng.random() < 0.2 else t.email) if rng.random() > 0.15 else None,
                "contact_phone": _phone_variant(rng, t.phone),
                "site": {"city": t.city, "country": t.country}
                if rng.random() > 0.1
                else {"city": None, "country": t.country},
                "dob": t.birth_date or None,
            },
        )
        w.csv("truth/source_records.csv", ["source_system", "source_key", "customer_id"]).writerow(
            {"source_system": "service", "source_key": f"SV-{index * 7 + 13:08d}", "customer_id": t.id}
        )
    w.csv(
        "billing_accounts.csv",
        [
            "account_number",
            "legal_name",
            "vat_id",
            "billing_email",
            "billing_street",
            "billing_postal_code",
            "billing_city",
            "billing_country",
            "payment_terms_days",
            "credit_limit",
        ],
    ).writerow(
        {
            "account_number": t.account_number,
            "legal_name": (t.name.upper() if rng.random() < 0.3 else _company_variant(rng, t.name, t.country))
            if t.kind == "organization"
            else t.name,
            "vat_id": t.registration_id,
            "billing_email": f"invoices+{t.email}" if rng.random() < 0.3 else t.email,
            "billing_street": t.street,
            "billing_postal_code": t.postal_code,
            "billing_city": t.city,
            "billing_country": t.country,
            "payment_terms_days": rng.choice([14, 30, 30, 45, 60]),
            "credit_limit": rng.choice([5000, 10000, 25000, 50000, 100000]),
        }
    )
    w.csv("truth/source_records.csv", ["source_system", "source_key", "customer_id"]).writerow(
        {"source_system": "billing", "source_key": t.account_number, "customer_id": t.id}
    )
    w.csv(
        "truth/customers.csv",
        [
            "customer_id",
            "kind",
            "name",
            "email",
            "phone",
            "street",
            "city",
            "postal_code",
            "country",
            "registration_id",
            "birth_date",
            "customer_since",
            "account_number",
        ],
    ).writerow(
        {
            "customer_id": t.id,
            "kind": t.kind,
            "name": t.name,
            "email": t.email,
            "phone": t.phone,
            "street": t.street,
            "city": t.city,
            "postal_code": t.postal_code,
            "country": t.country,
            "registration_id": t.registration_id,
            "birth_date": t.birth_date,
            "customer_since": t.since.isoformat(),
            "account_number": t.account_number,
        }
    )
    for contact in t.contacts:
        w.csv("contacts.csv", ["contact_id", "sales_id", "name", "email", "role"]).writerow(
            {
                "contact_id": contact["id"],
                "sales_id": f"S{index:07d}",
                "name": contact["name"],
                "email": contact["email"],
                "role": contact["role"],
            }
        )


def _purchase_dates(rng: random.Random, since: date) -> list[date]:
    """BG/NBD-like buying: Poisson purchases at a personal rate until a dropout after some purchase."""
    rate_per_year = rng.gammavariate(2.0, 2.0)  # heterogeneous purchase rates (mean 4 per year)
    # Chance of churning after each purchase (mean 1/13): about half the customers are still
    # buying at the demo's as-of date, the rest lapsed at different times.
    dropout = rng.betavariate(1.0, 12.0)
    dates, current = [since], since
    while True:
        if rng.random() < dropout:
            break
        gap = rng.expovariate(max(rate_per_year, 0.05)) * 365.0
        current = current + timedelta(days=max(1, int(gap)))
        if current > AS_OF:
            break
        dates.append(current)
    return dates


def _employees(w: Writers) -> list[dict[str, Any]]:
    staff = [
        (
            "emp-001",
            "Greta Hoffmann",
            "service",
            "senior service engineer",
            True,
            ["topic-troubleshooting", "topic-maintenance"],
        ),
        ("emp-002", "Wang Lei", "service", "field engineer", True, ["topic-troubleshooting", "topic-installation"]),
        ("emp-003", "Tom Becker", "service", "field engineer", False, []),
        (
            "emp-004",
            "Priya Nair",
            "engineering",
            "controls engineer",
            True,
            ["topic-firmware", "topic-troubleshooting"],
        ),
        ("emp-005", "Lucas Moreau", "service", "service engineer", False, []),
        ("emp-006", "Chen Jing", "service", "support engineer", True, ["topic-maintenance", "topic-energy"]),
        (
            "emp-007",
            "Erik Lund",
            "engineering",
            "compressor specialist",
            True,
            ["topic-troubleshooting", "topic-energy"],
        ),
        ("emp-008", "Sara Klein", "service", "support engineer", False, []),
        ("emp-009", "Mark Evans", "sales", "account manager", False, []),
        ("emp-010", "Julia Roth", "sales", "account manager", False, []),
        ("emp-011", "Kenji Ito", "sales", "account manager", False, []),
        ("emp-012", "Nina Vogel", "engineering", "safety engineer", True, ["topic-safety", "topic-installation"]),
    ]
    rows = []
    for emp_id, name, dept, title, expert, expertise in staff:
        row = {
            "employee_id": emp_id,
            "name": name,
            "email": f"{emp_id}@kbcrm-demo.example",
            "department": dept,
            "job_title": title,
            "expert": "yes" if expert else "no",
            "expertise": ";".join(expertise),
        }
        w.csv("employees.csv", list(row)).writerow(row)
        rows.append(row)
    return rows


def _write_catalog(w: Writers) -> None:
    for p in PRODUCTS:
        w.csv(
            "catalog/products.csv",
            ["product_id", "sku", "name", "aliases", "name_zh", "category", "list_price", "launched_on", "components"],
        ).writerow(
            {
                "product_id": p.id,
                "sku": p.sku,
                "name": p.name,
                "aliases": ";".join(p.aliases),
                "name_zh": p.name_zh,
                "category": p.category,
                "list_price": p.list_price,
                "launched_on": p.launched_on,
                "components": ";".join(p.components),
            }
        )
    for c in COMPONENTS:
        w.csv("catalog/components.csv", ["component_id", "name", "aliases", "name_zh"]).writerow(
            {"component_id": c.id, "name": c.name, "aliases": ";".join(c.aliases), "name_zh": c.name_zh}
        )
    for s in SYMPTOMS:
        w.csv("catalog/symptoms.csv", ["symptom_id", "name", "aliases", "name_zh", "components"]).writerow(
            {
                "symptom_id": s.id,
                "name": s.name,
                "aliases": ";".join((*s.aliases, *s.aliases_zh)),  # alternate names, in either language
                "name_zh": s.name_zh,
                "components": ";".join(s.components),
            }
        )
    for f in FAULTS:
        w.csv("catalog/error_codes.csv", ["code", "description", "symptom_id", "component_id"]).writerow(
            {"code": f.code, "description": f.description, "symptom_id": f.symptom, "component_id": f.component}
        )
    for topic_id, name, name_zh in TOPICS:
        w.csv("catalog/topics.csv", ["topic_id", "name", "name_zh"]).writerow(
            {"topic_id": topic_id, "name": name, "name_zh": name_zh}
        )


def _mention(text: str, kind: str, node_id: str, surface: str, spans: list[dict[str, Any]]) -> str:
    spans.append({"type": kind, "id": node_id, "start": len(text), "end": len(text) + len(surface), "text": surface})
    return text + surface


def _note_texts(
    rng: random.Random, fault: Fault, product_id: str, zh: bool, closed: bool
) -> list[tuple[str, list[dict[str, Any]], dict[str, str]]]:
    """Engineer notes for one case, with the exact spans they mention (the truth)."""
    product = next(p for p in PRODUCTS if p.id == product_id)
    symptom = SYMPTOM_BY_ID[fault.symptom]
    component = COMPONENT_BY_ID[fault.component]
    code = fault.code if rng.random() < 0.7 else fault.code.replace("-", "")
    notes: list[tuple[str, list[dict[str, Any]], dict[str, str]]] = []
    spans: list[dict[str, Any]] = []
    if zh:
        text = _mention("客户报告", "Product", product.id, rng.choice([product.sku, product.name_zh]), spans)
        text = _mention(text + "出现", "Symptom", symptom.id, symptom.name_zh, spans)
        text = _mention(text + "，控制器显示故障码", "ErrorCode", fault.code, code, spans) + "。"
    else:
        product_surface = rng.choice([product.name, product.sku, *product.aliases])
        text = _mention(
            rng.choice(["Customer reports ", "Call from site: ", "Ticket opened: "]),
            "Product",
            product.id,
            product_surface,
            spans,
        )
        text = _mention(text + " shows ", "Symptom", symptom.id, rng.choice([symptom.name, *symptom.aliases]), spans)
        text = _mention(text + ", display shows error ", "ErrorCode", fault.code, code, spans) + "."
    notes.append((text, spans, {}))
    if rng.random() < 0.7:
        spans = []
        if zh:
            text = (
                _mention("远程诊断：检查了", "Component", component.id, component.name_zh, spans) + "，需要现场处理。"
            )
        else:
            text = (
                _mention(
                    "Remote diagnosis: checked the ",
                    "Component",
                    component.id,
                    rng.choice([component.name, *component.aliases]),
                    spans,
                )
                + "; site visit planned."
            )
        notes.append((text, spans, {}))
    if closed:
        spans = []
        if zh:
            text = f"根本原因：{fault.cause_zh}。解决方法：{fault.resolution_zh}。"
            outcome = {"cause": fault.cause_zh, "resolution": fault.resolution_zh}
        else:
            text = f"Root cause: {fault.cause}. Resolution: {fault.resolution}."
            outcome = {"cause": fault.cause, "resolution": fault.resolution}
        # The catalogue's cause and fix texts name the fault's component: label every such span.
        surfaces = [component.name_zh] if zh else sorted([component.name, *component.aliases], key=len, reverse=True)
        taken: list[tuple[int, int]] = []
        for surface in surfaces:
            start = text.lower().find(surface.lower())
            while start >= 0:
                end = start + len(surface)
                whole_word = zh or not (end < len(text) and text[end].isalnum())
                if whole_word and not any(start < e and s < end for s, e in taken):
                    taken.append((start, end))
                    spans.append(
                        {"type": "Component", "id": component.id, "start": start, "end": end, "text": text[start:end]}
                    )
                start = text.lower().find(surface.lower(), end)
        spans.sort(key=lambda m: m["start"])
        notes.append((text, spans, outcome))
    return notes


def _write_articles(rng: random.Random, out: Path, experts: list[dict[str, Any]]) -> int:
    folder = out / "articles"
    folder.mkdir(parents=True, exist_ok=True)
    count = 0

    def write(article_id: str, meta: dict[str, Any], body: str) -> None:
        nonlocal count
        lines = ["---", f"id: {article_id}"]
        for key, value in meta.items():
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
        lines += ["---", "", body.strip(), ""]
        (folder / f"{article_id}.md").write_text("\n".join(lines), encoding="utf-8")
        count += 1

    def products_for(fault: Fault) -> list[str]:
        return [p.id for p in PRODUCTS if fault.component in p.components and p.category in MACHINE_CATEGORIES]

    for i, fault in enumerate(FAULTS):
        symptom, component = SYMPTOM_BY_ID[fault.symptom], COMPONENT_BY_ID[fault.component]
        prods = products_for(fault)
        names = ", ".join(next(p.sku for p in PRODUCTS if p.id == pid) for pid in prods)
        author = experts[i % len(experts)]
        write(
            f"kb-{fault.code.lower()}",
            {
                "title": f"{symptom.name.capitalize()} with error {fault.code} on {names}",
                "author": author["employee_id"],
                "audience": "customer",
                "products": prods,
                "topics": ["topic-troubleshooting"],
                "language": "en",
                "confidence": "validated" if i % 5 else "not-validated",
            },
            f"""
## Issue
The unit shows {symptom.name} and the display reports {fault.code} ({fault.description}).

## Environment
{names}; the {component.name} is involved.

## Cause
{fault.cause.capitalize()}.

## Resolution
{fault.resolution.capitalize()}.
""",
        )
        write(
            f"kb-{fault.code.lower()}-internal",
            {
                "title": f"Engineering notes: {fault.code} field failures",
                "author": experts[(i + 1) % len(experts)]["employee_id"],
                "audience": "internal",
                "products": prods,
                "topics": ["topic-troubleshooting"],
                "language": "en",
                "confidence": "validated",
            },
            f"""
## Issue
Field reports of {fault.code} on {names}.

## Internal notes
INTERNAL ONLY: warranty claims for the {component.name} on {names} are approved up to 24 months after
installation without inspection; supplier batch analysis is tracked in the quality system.

## Resolution
{fault.resolution.capitalize()}.
""",
        )
        if i % 2 == 0:
            write(
                f"kb-{fault.code.lower()}-zh",
                {
                    "title": f"{fault.code}故障：{symptom.name_zh}的处理方法",
                    "author": next((e for e in experts if e["employee_id"] in ("emp-002", "emp-006")), author)[
                        "employee_id"
                    ],
                    "audience": "customer",
                    "products": prods,
                    "topics": ["topic-troubleshooting"],
                    "language": "zh",
                    "confidence": "validated",
                    "translation_of": f"kb-{fault.code.lower()}",
                },
                f"""
## 问题
设备出现{symptom.name_zh}，显示故障码{fault.code}。

## 原因
{fault.cause_zh}。

## 解决方法
{fault.resolution_zh}。
""",
            )
    for j, product in enumerate(p for p in PRODUCTS if p.category in MACHINE_CATEGORIES):
        comps = ", ".join(COMPONENT_BY_ID[c].name for c in product.components)
        write(
            f"kb-maint-{product.sku.lower()}",
            {
                "title": f"{product.name}: preventive maintenance schedule",
                "author": experts[j % len(experts)]["employee_id"],
                "audience": "public",
                "products": [product.id],
                "topics": ["topic-maintenance"],
                "language": "en",
                "confidence": "validated" if j % 4 else "work-in-progress",
            },
            f"""
## Purpose
Keep the {product.name} ({product.sku}) running: inspect the {comps} on a fixed schedule.

## Schedule
- Every 500 hours: visual inspection, check for leaks and unusual noise.
- Every 2,000 hours: lubricate bearings, check belt tension and filters.
- Every 8,000 hours: replace wear parts; update firmware where applicable.
""",
        )
    return count


def generate(
    out_dir: Path, *, customers: int, seed: int, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Write the demo data set to `out_dir`; return its manifest (counts, seed, as-of date)."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {
        "customers": 0,
        "orders": 0,
        "order_lines": 0,
        "interactions": 0,
        "cases": 0,
        "notes": 0,
        "installed": 0,
        "contacts": 0,
    }
    machines = [p for p in PRODUCTS if p.category in MACHINE_CATEGORIES]
    spares = [p for p in PRODUCTS if p.category not in MACHINE_CATEGORIES]
    with ExitStack() as stack:
        w = Writers(stack, out_dir)
        _write_catalog(w)
        employees = _employees(w)
        engineers = [e for e in employees if e["department"] in ("service", "engineering")]
        managers = [e for e in employees if e["department"] == "sales"]
        experts = [e for e in employees if e["expert"] == "yes"]
        for index in range(1, customers + 1):
            truth = _make_customer(rng, index)
            _write_department_records(rng, w, truth, index)
            counts["customers"] += 1
            counts["contacts"] += len(truth.contacts)
            manager = rng.choice(managers)["employee_id"]
            w.csv("account_managers.csv", ["sales_id", "employee_id"]).writerow(
                {"sales_id": f"S{index:07d}", "employee_id": manager}
            )
            owned: list[tuple[str, date]] = []
            for n, order_day in enumerate(_purchase_dates(rng, truth.since)):
                order_number = f"SO-{index:07d}-{n:03d}"
                lines = []
                if n == 0 or rng.random() < 0.25:
                    product = rng.choice(machines)
                    lines.append((product, rng.choice([1, 1, 1, 2])))
                    owned.append((product.id, order_day))
                for _ in range(rng.choice([0, 1, 1, 2])):
                    lines.append((rng.choice(spares), rng.randint(1, 4)))
                if not lines:
                    lines.append((rng.choice(spares), 1))
                total = 0.0
                for ln, (product, qty) in enumerate(lines, start=1):
                    price = round(product.list_price * rng.uniform(0.85, 1.0), 2)
                    total += price * qty
                    w.csv("order_lines.csv", ["order_number", "line_number", "sku", "quantity", "unit_price"]).writerow(
                        {
                            "order_number": order_number,
                            "line_number": ln,
                            "sku": product.sku,
                            "quantity": qty,
                            "unit_price": price,
                        }
                    )
                    counts["order_lines"] += 1
                status = "delivered" if order_day < AS_OF - timedelta(days=14) else rng.choice(["open", "shipped"])
                w.csv(
                    "orders.csv", ["order_number", "account_number", "order_date", "status", "currency", "total_amount"]
                ).writerow(
                    {
                        "order_number": order_number,
                        "account_number": truth.account_number,
                        "order_date": order_day.isoformat(),
                        "status": status,
                        "currency": "CNY" if truth.country == "CN" else ("USD" if truth.country == "US" else "EUR"),
                        "total_amount": round(total, 2),
                    }
                )
                counts["orders"] += 1
            for m, (product_id, installed) in enumerate(owned):
                w.csv("installed_base.csv", ["sales_id", "product_id", "serial_number", "installed_at"]).writerow(
                    {
                        "sales_id": f"S{index:07d}",
                        "product_id": product_id,
                        "serial_number": f"SN{index:07d}{m:02d}",
                        "installed_at": installed.isoformat(),
                    }
                )
                counts["installed"] += 1
                years = max((AS_OF - installed).days / 365.0, 0.05)
                product = next(p for p in PRODUCTS if p.id == product_id)
                candidate_faults = [f for f in FAULTS if f.component in product.components]
                case_count = min(_poisson(rng, 0.5 * years), 6) if candidate_faults else 0
                for k in range(case_count):
                    fault = rng.choice(candidate_faults)
                    opened = datetime.combine(installed, datetime.min.time()) + timedelta(
                        minutes=rng.randrange(max(1, int(years * 365 * 24 * 60)))
                    )
                    closed = (
                        opened < datetime.combine(AS_OF, datetime.min.time()) - timedelta(days=10) or rng.random() < 0.3
                    )
                    case_number = f"CS-{index:07d}-{m:02d}{k:02d}"
                    zh = truth.country == "CN" and rng.random() < 0.7
                    priority = rng.choices(["P1", "P2", "P3", "P4"], weights=[1, 3, 5, 2])[0]
                    first_response = opened + timedelta(minutes=rng.randint(5, 60 * 30))
                    w.csv(
                        "cases.csv",
                        [
                            "case_number",
                            "sales_id",
                            "product_id",
                            "priority",
                            "channel",
                            "status",
                            "opened_at",
                            "first_response_at",
                            "closed_at",
                            "subject",
                            "handled_by",
                        ],
                    ).writerow(
                        {
                            "case_number": case_number,
                            "sales_id": f"S{index:07d}",
                            "product_id": product_id,
                            "priority": priority,
                            "channel": rng.choice(["phone", "email", "web", "chat"]),
                            "status": "closed"
                            if closed
                            else rng.choice(["open", "in-progress", "waiting-for-customer"]),
                            "opened_at": opened.isoformat(timespec="seconds"),
                            "first_response_at": first_response.isoformat(timespec="seconds"),
                            "closed_at": (first_response + timedelta(hours=rng.randint(2, 24 * 12))).isoformat(
                                timespec="seconds"
                            )
                            if closed
                            else "",
                            "subject": (
                                f"{product.sku} {SYMPTOM_BY_ID[fault.symptom].name_zh}"
                                if zh
                                else f"{product.sku}: {SYMPTOM_BY_ID[fault.symptom].name}"
                            ),
                            "handled_by": rng.choice(engineers)["employee_id"],
                        }
                    )
                    counts["cases"] += 1
                    for n, (text, spans, outcome) in enumerate(_note_texts(rng, fault, product_id, zh, closed)):
                        note_id = f"{case_number}-N{n + 1}"
                        author = rng.choice(engineers)["employee_id"]
                        w.jsonl(
                            "case_notes.jsonl",
                            {
                                "note_id": note_id,
                                "case_number": case_number,
                                "author": author,
                                "written_at": (opened + timedelta(hours=4 * n + 1)).isoformat(timespec="seconds"),
                                "visibility": "internal" if n == 1 else "customer",
                                "language": "zh" if zh else "en",
                                "text": text,
                            },
                        )
                        w.jsonl(
                            "truth/note_mentions.jsonl",
                            {"note_id": note_id, "mentions": spans, **outcome, "fault": fault.code},
                        )
                        counts["notes"] += 1
            active_until = min(AS_OF, truth.since + timedelta(days=int(365 * rng.uniform(0.5, 3.0))))
            span_days = max((active_until - truth.since).days, 1)
            for _ in range(_poisson(rng, 5.0 * span_days / 365.0)):
                channel = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
                subject = rng.choice(INTERACTION_SUBJECTS[channel]).format(p=rng.choice(machines).sku)
                when = datetime.combine(truth.since, datetime.min.time()) + timedelta(
                    minutes=rng.randrange(span_days * 1440)
                )
                w.csv(
                    "interactions.csv",
                    [
                        "sales_id",
                        "channel",
                        "direction",
                        "occurred_at",
                        "subject",
                        "outcome",
                        "next_step",
                        "contact_id",
                    ],
                ).writerow(
                    {
                        "sales_id": f"S{index:07d}",
                        "channel": channel,
                        "direction": "inbound" if channel in ("web", "chat") or rng.random() < 0.5 else "outbound",
                        "occurred_at": when.isoformat(timespec="seconds"),
                        "subject": subject,
                        "outcome": SENTIMENT_OUTCOMES.get(subject, rng.choice(OUTCOMES)),
                        "next_step": rng.choice(["", "", "send quote", "call back in a week", "schedule visit"]),
                        "contact_id": truth.contacts[0]["id"] if truth.contacts and rng.random() < 0.6 else "",
                    }
                )
                counts["interactions"] += 1
            if progress is not None:
                progress(index)
        counts["articles"] = _write_articles(rng, out_dir, experts)
    # Written after the rest with their own random stream, so adding them left every other file unchanged.
    counts.update(_write_relationships_and_payments(out_dir, seed))
    counts.update(_write_pipeline(out_dir, seed))
    manifest = {
        "seed": seed,
        "customers": customers,
        "as_of": AS_OF.isoformat(),
        "counts": counts,
        "generator": "kbcrm.demo.generator",
        "format_version": FORMAT_VERSION,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _write_relationships_and_payments(out_dir: Path, seed: int) -> dict[str, int]:
    """Referrals, company groups (subsidiaries) and invoice payments with per-customer payment habits."""
    rng = random.Random(f"{seed}-relationships-payments")
    customers = list(read_csv(out_dir / "truth" / "customers.csv"))
    terms = {r["account_number"]: int(r["payment_terms_days"]) for r in read_csv(out_dir / "billing_accounts.csv")}
    relationships = 0
    with (out_dir / "relationships.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["kind", "from_account", "to_account", "since"])
        writer.writeheader()
        by_since = sorted(customers, key=lambda c: c["customer_since"])
        for position, customer in enumerate(by_since):
            # About one customer in six came through a referral by an earlier customer.
            if position > 5 and rng.random() < 0.17:
                referrer = rng.choice(by_since[: position - 1])
                writer.writerow(
                    {
                        "kind": "referral",
                        "from_account": referrer["account_number"],
                        "to_account": customer["account_number"],
                        "since": customer["customer_since"],
                    }
                )
                relationships += 1
        organisations: dict[str, list[dict[str, str]]] = {}
        for customer in customers:
            if customer["kind"] == "organization":
                organisations.setdefault(customer["country"], []).append(customer)
        for members in organisations.values():
            parents = members[: max(1, len(members) // 12)]
            for member in members[len(parents) :]:
                if rng.random() < 0.12:
                    parent = rng.choice(parents)
                    writer.writerow(
                        {
                            "kind": "subsidiary",
                            "from_account": member["account_number"],
                            "to_account": parent["account_number"],
                            "since": max(member["customer_since"], parent["customer_since"]),
                        }
                    )
                    relationships += 1
    habit = {c["account_number"]: rng.choices(["punctual", "slow", "late"], weights=[70, 22, 8])[0] for c in customers}
    payments = 0
    with (out_dir / "payments.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["order_number", "due_on", "paid_on"])
        writer.writeheader()
        for order in read_csv(out_dir / "orders.csv"):
            ordered = date.fromisoformat(order["order_date"])
            due = ordered + timedelta(days=terms.get(order["account_number"], 30))
            # A habit sets how often an invoice is paid late and by how much; most invoices are on time.
            share_late, late_by = PAYMENT_HABITS[habit[order["account_number"]]]
            delay = rng.randint(*late_by) if rng.random() < share_late else rng.randint(-10, 3)
            paid = max(due + timedelta(days=delay), ordered)
            writer.writerow(
                {
                    "order_number": order["order_number"],
                    "due_on": due.isoformat(),
                    "paid_on": paid.isoformat() if paid <= AS_OF else "",
                }
            )
            payments += 1
    return {"relationships": relationships, "payments": payments}


# Payment habit: (share of invoices paid late, range of days late when late).
PAYMENT_HABITS = {"punctual": (0.04, (6, 20)), "slow": (0.25, (6, 40)), "late": (0.55, (20, 120))}

WON_REASONS = ("best total cost of ownership", "service coverage", "delivery time", "existing installed base")
LOST_REASONS = ("price", "competitor's delivery time", "budget frozen", "chose to repair old machine", "no decision")


def _write_pipeline(out_dir: Path, seed: int) -> dict[str, int]:
    """Sales opportunities with their stage history, owned by each customer's account manager.

    About half the organisations and one person in eight have one to three opportunities
    over the last 18 months: closed ones (won or lost, with the reason) and open ones at
    every stage, a few past their expected close date. Written with their own random
    stream, after everything else, so every earlier file stays byte-identical.
    """
    rng = random.Random(f"{seed}-pipeline")
    customers = list(read_csv(out_dir / "truth" / "customers.csv"))
    managers = {r["sales_id"]: r["employee_id"] for r in read_csv(out_dir / "account_managers.csv")}
    machines = [p for p in PRODUCTS if p.category in MACHINE_CATEGORIES]
    opportunities = changes = 0
    with (
        (out_dir / "opportunities.csv").open("w", encoding="utf-8", newline="") as opp_handle,
        (out_dir / "opportunity_stages.csv").open("w", encoding="utf-8", newline="") as stage_handle,
    ):
        opp_writer = csv.DictWriter(
            opp_handle,
            [
                "opportunity_id",
                "sales_id",
                "name",
                "product_id",
                "amount",
                "currency",
                "stage",
                "probability",
                "expected_close",
                "owner_id",
                "created_on",
                "closed_on",
                "close_reason",
            ],
        )
        stage_writer = csv.DictWriter(
            stage_handle,
            ["opportunity_id", "sequence", "from_stage", "to_stage", "changed_at", "changed_by", "close_reason"],
        )
        opp_writer.writeheader()
        stage_writer.writeheader()
        for customer in customers:
            sales_id = "S" + customer["customer_id"].split("-")[-1]  # cust-0000001 is sales record S0000001
            share = 0.5 if customer["kind"] == "organization" else 0.12
            if sales_id not in managers or rng.random() >= share:
                continue
            currency = "CNY" if customer["country"] == "CN" else ("USD" if customer["country"] == "US" else "EUR")
            for _ in range(rng.choice([1, 1, 2, 3])):
                opportunities += 1
                opportunity_id = f"OPP-{opportunities:07d}"
                product = rng.choice(machines)
                quantity = rng.choice([1, 1, 1, 2, 3])
                amount = round(product.list_price * quantity * rng.uniform(0.85, 1.05), -1)
                created = AS_OF - timedelta(days=rng.randint(5, 540))
                outcome = (
                    rng.choices(["open", "won", "lost"], weights=[45, 30, 25])[0]
                    if (AS_OF - created).days > 60
                    else "open"
                )
                furthest = rng.randint(0, 3)
                path = list(OPEN_STAGES[: furthest + 1])
                if outcome != "open":
                    path.append(outcome)
                span = max((AS_OF - created).days, len(path))
                days = sorted(rng.sample(range(span), len(path) - 1)) if len(path) > 1 else []
                when = [created, *(created + timedelta(days=d + 1) for d in days)]
                owner = managers[sales_id]
                reason = rng.choice(WON_REASONS if outcome == "won" else LOST_REASONS) if outcome != "open" else ""
                previous = ""
                for sequence, (stage, day) in enumerate(zip(path, when, strict=True), start=1):
                    clock = f"{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}:00+00:00"
                    stage_writer.writerow(
                        {
                            "opportunity_id": opportunity_id,
                            "sequence": sequence,
                            "from_stage": previous,
                            "to_stage": stage,
                            "changed_at": f"{min(day, AS_OF).isoformat()}T{clock}",
                            "changed_by": f"employee:{owner}",
                            "close_reason": reason if stage in ("won", "lost") else "",
                        }
                    )
                    changes += 1
                    previous = stage
                final = path[-1]
                closed_on = min(when[-1], AS_OF).isoformat() if outcome != "open" else ""
                closes = min(when[-1], AS_OF)
                expected = AS_OF + timedelta(days=rng.randint(-30, 180)) if outcome == "open" else closes
                opp_writer.writerow(
                    {
                        "opportunity_id": opportunity_id,
                        "sales_id": sales_id,
                        "name": f"{quantity}× {product.name}" + (" (replacement)" if rng.random() < 0.3 else ""),
                        "product_id": product.id,
                        "amount": f"{amount:.2f}",
                        "currency": currency,
                        "stage": final,
                        "probability": STAGES[final],
                        "expected_close": expected.isoformat(),
                        "owner_id": owner,
                        "created_on": created.isoformat(),
                        "closed_on": closed_on,
                        "close_reason": reason,
                    }
                )
    return {"opportunities": opportunities, "stage_changes": changes}


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method (small means only)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """Stream a CSV written by the generator."""
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Stream a JSON-lines file written by the generator."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
