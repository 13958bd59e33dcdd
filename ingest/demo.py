"""What `make run` does before serving: generate the demo set if absent and load it.

The catalogue, the staff directory, the department exports and the articles go through ingest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingest.articles import ingest_articles
from ingest.catalog import ingest_catalog
from ingest.identity.graph import customer_of_source_key, quality_against_truth, resolve_customers
from ingest.mapping import load_mapping
from ingest.notes import NoteLinker, evaluate_demo_linking, link_notes
from ingest.runner import ingest_file
from kbcrm.access.demo import ensure_demo_users
from kbcrm.access.models import Principal, Role
from kbcrm.demo.consents import seed_demo_consents
from kbcrm.demo.generator import FORMAT_VERSION, generate
from kbcrm.demo.kcs_reuse import seed_kcs_reuse
from kbcrm.demo.load import COUNT_CUSTOMERS, load_demo
from kbcrm.demo.responses import seed_demo_responses
from kbcrm.demo.service_desk import seed_service_desk
from kbcrm.graph import GraphStore, open_store
from kbcrm.loyalty.job import run_loyalty
from kbcrm.operations.campaigns.service import TargetRule, create_campaign
from kbcrm.settings import Settings

# The demo's files that go through an ingest mapping, in order: (mapping, file, source kind). The staff
# directory first (cases, notes and logins name employees), then the departments' customer exports.
MAPPED_FILES = (
    ("kbcrm-employees", "employees.csv", "employees"),
    ("sales", "sales_customers.csv", "customers"),
    ("service", "service_customers.jsonl", "customers"),
    ("billing", "billing_accounts.csv", "customers"),
)


def ensure_demo(
    settings: Settings,
    *,
    say: Callable[[str], Any] = print,
    after_load: Callable[[GraphStore], Any] | None = None,
) -> dict[str, int]:
    """Generate the demo set under DATA_DIR/demo if absent and load it when the graph has no customers.

    `after_load(store)` runs once the articles and notes are in (the CLI embeds them there).
    """
    directory = settings.data_dir / "demo"
    manifest_path = directory / "manifest.json"
    wanted = {"customers": settings.demo_customers, "seed": settings.demo_seed, "format_version": FORMAT_VERSION}
    current = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if {k: current.get(k) for k in wanted} != wanted:
        say(f"generating demo data ({settings.demo_customers} customers, seed {settings.demo_seed}) in {directory}")
        generate(directory, customers=settings.demo_customers, seed=settings.demo_seed)
    with open_store(settings) as store:
        store.ensure_schema(vector_dimension=settings.embedding_dim)
        customers = int(store.read(COUNT_CUSTOMERS)[0]["customers"])
        if customers == 0:
            # The catalogue, then the mapped files (validated, with provenance).
            catalog = ingest_catalog(store, directory / "catalog", data_dir=settings.data_dir)
            say(f"  ingested the catalogue: {catalog.counts()}")
            for mapping, name, kind in MAPPED_FILES:
                report = ingest_file(
                    store,
                    path=directory / name,
                    mapping=load_mapping(mapping),
                    source_kind=kind,
                    data_dir=settings.data_dir,
                )
                say(f"  ingested {name}: {report.counts()}")
            resolved = resolve_customers(store, threshold=settings.identity_threshold, actor="demo-setup")
            say(f"  identity resolution: {resolved['records']} department records -> {resolved['customers']} customers")
            load_demo(
                store,
                directory,
                customer_of=customer_of_source_key(store),
                include_articles=False,
                include_catalog=False,
                progress=lambda s: say(f"  {s}"),
            )
            linker = NoteLinker.from_graph(store)  # one set of span rulers for articles, notes and the evaluation
            articles = ingest_articles(store, directory / "articles", data_dir=settings.data_dir, linker=linker)
            say(f"  ingested articles: {articles.counts()}")
            linked = link_notes(store, linker)
            if after_load is not None:
                after_load(store)
            linking = evaluate_demo_linking(store, directory, linker)
            say(
                f"  note linking: {linked['mentions']} mentions in {linked['notes']} notes, {linked['causes']} causes; "
                f"vs the generator's labels: precision {linking['span_precision']:.3f}, "
                f"recall {linking['span_recall']:.3f} (exact spans)"
            )
            quality = quality_against_truth(store)
            if quality is not None:
                say(
                    f"  identity resolution vs the generator's truth ({settings.demo_customers} customers): "
                    f"precision {quality['precision']:.3f}, recall {quality['recall']:.3f}, F1 {quality['f1']:.3f}"
                )
            loyalty = run_loyalty(store, settings)
            say(
                f"  loyalty scores as of {loyalty.as_of}: "
                + ", ".join(f"{tier} {n}" for tier, n in loyalty.tiers.items())
                + f"; {len(loyalty.segments)} segments"
            )
            desk = seed_service_desk(store, now=datetime.now(UTC), seed=settings.demo_seed)
            say(f"  service desk today: {desk} open cases, opened in the hours before now (SLA clocks running)")
            consents = seed_demo_consents(store)
            say(f"  demo consents: {consents} (email 65 %, phone 35 %, post 20 % granted)")
            reused = seed_kcs_reuse(store)
            say(f"  KCS reuse: {reused} resolved cases linked to the article their engineer solved them with")
            if store.get_node("Segment", "tier-at-risk") is not None:
                # Started 90 days before the scoring date, so its results (revenue, retention
                # against the control group) have orders to count in the demo.
                admin = Principal("user:demo-setup", "demo set-up", Role.admin)
                starts_on = date.fromisoformat(str(loyalty.as_of)) - timedelta(days=90)
                plan = create_campaign(
                    store,
                    principal=admin,
                    name="Win back at-risk customers",
                    channel="email",
                    rule=TargetRule(segment_id="tier-at-risk"),
                    control_share=0.2,
                    starts_on=starts_on,
                    attribution_days=90,
                )
                responses = seed_demo_responses(
                    store, principal=admin, campaign_id=plan.id, campaign_name=plan.name, starts_on=starts_on
                )
                say(
                    f"  demo campaign {plan.name!r}: {plan.targeted} targeted, {plan.control} control, "
                    f"{plan.without_consent} left out for lack of email consent; {responses} responses"
                )
                # Scored again so the 7P profiles' promotion response includes the campaign.
                run_loyalty(store, settings)
        logins = ensure_demo_users(store, enabled=settings.demo_users)
        if logins:
            say("demo logins (KBCRM_DEMO_USERS=false turns them off):")
            for login in logins:
                say(f"  {login['username']:<10} {login['password']:<16} {login['role']:<9} {login['name']}")
        else:
            say("demo logins are off (KBCRM_DEMO_USERS=false)")
        customers = int(store.read(COUNT_CUSTOMERS)[0]["customers"])
        return {"nodes": store.count_nodes(), "relationships": store.count_relationships(), "customers": customers}
