"""Today's service desk for the demo: open cases opened in the hours before the demo starts.

The generated history ends on the generator's as-of date, so its few open cases are long
past every SLA target by the time someone runs the demo. This adds a dozen open cases
whose times are relative to `now` (the moment `make run` loads the graph): some fresh,
some close to their first-response or resolution target, some breached, some answered,
so the SLA watchlist and the case queue show a working day. Which customers, products,
symptoms and priorities is seeded; only the clock follows the load time.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from kbcrm.graph import GraphStore, cypher
from ontology.terms import Label, Rel

CANDIDATES = cypher(
    "demo.service_desk_candidates",
    "MATCH (c:Customer)-[:OWNS]->(p:Product)-[:HAS_COMPONENT]->(:Component)-[:HAS_SYMPTOM]->(s:Symptom) "
    "RETURN DISTINCT c.id AS customer, p.id AS product, p.sku AS sku, s.name AS symptom "
    "ORDER BY customer, product, symptom",
)
ENGINEERS = cypher(
    "demo.service_desk_engineers",
    "MATCH (e:Employee) WHERE e.department IN ['service', 'engineering'] RETURN e.id AS id ORDER BY id",
)
# (priority, hours since opened, answered?, status) — a spread over every SLA state.
SCENARIOS = (
    ("P1", 0.3, False, "open"),
    ("P1", 0.9, False, "open"),
    ("P1", 5.0, True, "in-progress"),
    ("P2", 1.0, False, "open"),
    ("P2", 3.5, False, "open"),
    ("P2", 30.0, True, "in-progress"),
    ("P3", 2.0, False, "open"),
    ("P3", 9.0, True, "waiting-for-customer"),
    ("P3", 60.0, True, "in-progress"),
    ("P3", 120.0, False, "open"),
    ("P4", 20.0, False, "open"),
    ("P4", 200.0, True, "waiting-for-customer"),
)


def seed_service_desk(store: GraphStore, *, now: datetime, seed: int = 7) -> int:
    """Open the demo's current cases relative to `now` (idempotent by case id); returns how many."""
    candidates = store.read(CANDIDATES)
    engineers = [r["id"] for r in store.read(ENGINEERS)]
    if not candidates or not engineers:
        return 0
    rng = random.Random(f"{seed}-service-desk")
    picks = rng.sample(candidates, min(len(SCENARIOS), len(candidates)))
    cases, notes, raised, about, handled, has_note = [], [], [], [], [], []
    for number, (pick, (priority, hours, answered, status)) in enumerate(zip(picks, SCENARIOS, strict=False), 1):
        case_id = f"CS-TODAY-{number:03d}"
        opened = now - timedelta(hours=hours)
        engineer = rng.choice(engineers)
        case = {
            "id": case_id,
            "case_number": case_id,
            "subject": f"{pick['sku']}: {pick['symptom']}",
            "priority": priority,
            "channel": rng.choice(["phone", "email", "web", "chat"]),
            "status": status,
            "opened_at": opened.isoformat(timespec="seconds"),
            "created_at": opened.isoformat(timespec="seconds"),
        }
        if answered:
            first = opened + timedelta(minutes=rng.randint(10, 50))
            case["first_response_at"] = first.isoformat(timespec="seconds")
            note_id = f"{case_id}-N1"
            notes.append(
                {
                    "id": note_id,
                    "text": f"We are looking into the {pick['symptom'].lower()} on your {pick['sku']}; "
                    "an engineer will call you back.",
                    "visibility": "customer",
                    "written_at": first.isoformat(timespec="seconds"),
                    "language": "en",
                }
            )
            has_note.append({"start": case_id, "end": note_id})
        cases.append(case)
        raised.append({"start": pick["customer"], "end": case_id})
        about.append({"start": case_id, "end": pick["product"]})
        handled.append({"start": case_id, "end": engineer})
    store.upsert_nodes(Label.ServiceCase, cases)
    store.upsert_nodes(Label.ServiceNote, notes)
    store.upsert_relationships(Rel.RAISED, raised, start_label=Label.Customer, end_label=Label.ServiceCase)
    store.upsert_relationships(Rel.ABOUT_PRODUCT, about, start_label=Label.ServiceCase, end_label=Label.Product)
    store.upsert_relationships(Rel.HANDLED_BY, handled, start_label=Label.ServiceCase, end_label=Label.Employee)
    store.upsert_relationships(Rel.HAS_NOTE, has_note, start_label=Label.ServiceCase, end_label=Label.ServiceNote)
    return len(cases)
