"""The demo logins `make run` creates: one per staff role and customer logins for three companies.

Their passwords are public (README and start-up console), so KBCRM_DEMO_USERS=false turns
them off: none are created and existing ones are disabled.
"""

from __future__ import annotations

from typing import Any

from kbcrm.access import users
from kbcrm.access.models import Role
from kbcrm.analyst.service import save_query
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


# Example queries the demo analyst finds saved: what the graph answers that a table would not.
DEMO_QUERIES = (
    (
        "Customers per loyalty tier",
        "cypher",
        "MATCH (c:Customer) RETURN c.loyalty_tier AS tier, count(*) AS customers, round(avg(c.clv)) AS mean_clv "
        "ORDER BY customers DESC",
    ),
    (
        "Valuable customers at risk of churning",
        "cypher",
        "MATCH (c:Customer) WHERE c.churn_risk >= 0.5 AND c.clv > 0 "
        "RETURN c.id AS id, c.name AS name, round(c.clv) AS clv, c.churn_risk AS churn_risk "
        "ORDER BY clv DESC LIMIT 20",
    ),
    (
        "Error codes by cases, with the articles that resolve them (knowledge gaps)",
        "cypher",
        "MATCH (k:ServiceCase)-[:REPORTED_ERROR]->(e:ErrorCode) OPTIONAL MATCH (a:KnowledgeArticle)-[:RESOLVES]->(e) "
        "RETURN e.code AS code, count(DISTINCT k) AS cases, collect(DISTINCT a.id) AS articles "
        "ORDER BY cases DESC LIMIT 15",
    ),
    (
        "Customers per country (SPARQL over the RDF export)",
        "sparql",
        "SELECT ?country (COUNT(?c) AS ?customers) WHERE { ?c a kb:Customer ; kb:country ?country } "
        "GROUP BY ?country ORDER BY DESC(?customers)",
    ),
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
        if role == Role.analyst:
            for i, (title, language, query) in enumerate(DEMO_QUERIES, start=1):
                save_query(
                    store, principal=user, name=title, language=language, query=query, query_id=f"query:demo-{i}"
                )
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
