"""The demo logins `make run` creates: one per staff role and customer logins for three companies.

Their passwords are public (README and start-up console), so KBCRM_DEMO_USERS=false turns
them off: none are created and existing ones are disabled.
"""

from __future__ import annotations

from typing import Any

from kbcrm.access import users
from kbcrm.access.models import Role
from kbcrm.graph import GraphStore, cypher
from ontology.terms import Label

STAFF_LOGINS = (
    ("admin", "admin-demo-1", Role.admin, "Ada Admin"),
    ("engineer", "engineer-demo-1", Role.engineer, None),
    ("analyst", "analyst-demo-1", Role.analyst, "Ana Analyst"),
    ("marketer", "marketer-demo-1", Role.marketer, "Mark Marketer"),
)
CUSTOMER_PASSWORD = "customer-demo-1"

ENGINEER = cypher(
    "demo_users.engineer",
    "MATCH (e:Employee)-[:WROTE]->(:ServiceNote) WHERE e.department IN ['service', 'engineering'] "
    "RETURN e.id AS id, e.name AS name, count(*) AS notes ORDER BY notes DESC, id LIMIT 1",
)
COMPANIES = cypher(
    "demo_users.companies",
    "MATCH (c:Customer:Organization)-[:RAISED]->(k:ServiceCase) MATCH (c)-[:OWNS]->(:Product) "
    "WITH c, count(DISTINCT k) AS cases WHERE cases >= 2 "
    "RETURN c.id AS id, c.name AS name ORDER BY c.id LIMIT $limit",
    example={"limit": 3},
    ordered=True,
)


def ensure_demo_users(store: GraphStore, *, enabled: bool) -> list[dict[str, Any]]:
    """Create (or, when not `enabled`, disable) the demo logins; returns them with their passwords."""
    names = [u[0] for u in STAFF_LOGINS] + [f"customer{i}" for i in (1, 2, 3)]
    if not enabled:
        existing = [users.user_id(n) for n in names if store.get_node(Label.User, users.user_id(n))]
        store.upsert_nodes(Label.User, [{"id": uid, "status": "disabled", "password_hash": None} for uid in existing])
        return []
    created: list[dict[str, Any]] = []
    engineer = store.read(ENGINEER)
    for username, password, role, name in STAFF_LOGINS:
        employee = engineer[0] if role == Role.engineer and engineer else None
        user = users.create_user(
            store,
            username=username,
            password=password,
            role=role,
            name=name or (employee["name"] if employee else "Eve Engineer"),
            employee_id=employee["id"] if employee else None,
        )
        created.append({"username": username, "password": password, "role": role.value, "name": user.name})
    for i, company in enumerate(store.read(COMPANIES, limit=3), start=1):
        user = users.create_user(
            store,
            username=f"customer{i}",
            password=CUSTOMER_PASSWORD,
            role=Role.customer,
            name=f"{company['name']} (portal)",
            customer_id=company["id"],
        )
        created.append(
            {
                "username": f"customer{i}",
                "password": CUSTOMER_PASSWORD,
                "role": "customer",
                "name": user.name,
                "customer_id": company["id"],
            }
        )
    return created
