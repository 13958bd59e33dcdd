"""CSV export per record type, in the layout of the bundled `kbcrm-*` ingest mappings.

`kbcrm export-records KIND FILE` writes every record of a kind, paged by id; `kbcrm ingest
KIND FILE --mapping kbcrm-KIND` reads such a file back through the ingest machinery
(validation, quarantine, idempotence, provenance). So a file can be exported, edited in a
spreadsheet and imported again: unchanged rows are reported unchanged, edited rows updated,
bad rows quarantined with the reason.

Customers are exported for editing: their import (`kbcrm-customers`) only changes existing
customers, records the changed fields in `edited_fields` (identity resolution keeps them)
and ignores the read-only columns (kind, status, scores); archiving asks for a reason in
the console or API. Case notes include internal notes: the export is for staff.
Campaign members are exported for the mailing tool (control-group members without an
address, so they cannot be contacted by mistake); the tool's responses come back with
`kbcrm ingest campaign-responses`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbcrm.graph import Cypher, GraphStore, cypher

PAGE = 5000


@dataclass(frozen=True)
class RecordExport:
    """One exportable record type: its paged query, whose returned names are the CSV columns.

    Those are the source columns of the record type's `kbcrm-*` ingest mapping.
    """

    kind: str
    query: Cypher
    mapping: str
    read_only: tuple[str, ...] = ()  # shown for reference; the import mapping does not read them
    read_back: str = ""  # the import command, when it is not `kbcrm ingest KIND PATH --mapping MAPPING`

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV columns: the names the query returns, in its order (the first is the paging id)."""
        text = self.query.text
        return tuple(re.findall(r"\bAS\s+(\w+)", text[text.rfind("RETURN") :]))

    def import_command(self, path: Path) -> str:
        """The command that reads an exported file back."""
        if self.read_back:
            return self.read_back.format(path=path)
        return f"kbcrm ingest {self.kind} {path} --mapping {self.mapping}"


EXPORTS: dict[str, RecordExport] = {
    "customers": RecordExport(
        "customers",
        cypher(
            "records.customers",
            "MATCH (c:Customer) WHERE c.id > $after WITH c ORDER BY c.id LIMIT $limit "
            "RETURN c.id AS customer_id, c.customer_kind AS customer_kind, c.name AS name, c.email AS email, "
            "c.phone AS phone, c.street AS street, c.city AS city, c.postal_code AS postal_code, "
            "c.country AS country, coalesce(c.status, 'active') AS status, c.loyalty_tier AS loyalty_tier, "
            "c.clv AS clv, c.churn_risk AS churn_risk ORDER BY customer_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-customers",
        read_only=("customer_kind", "status", "loyalty_tier", "clv", "churn_risk"),
    ),
    "contacts": RecordExport(
        "contacts",
        cypher(
            "records.contacts",
            "MATCH (c:Customer)-[h:HAS_CONTACT]->(k:Contact) WHERE k.id > $after "
            "WITH c, h, k ORDER BY k.id LIMIT $limit "
            "RETURN k.id AS contact_id, c.id AS customer_id, k.name AS name, k.email AS email, k.phone AS phone, "
            "coalesce(h.role, k.role) AS role, k.job_title AS job_title, coalesce(k.status, 'active') AS status "
            "ORDER BY contact_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-contacts",
    ),
    "touches": RecordExport(
        "touches",
        cypher(
            "records.touches",
            "MATCH (c:Customer)-[:HAD_INTERACTION]->(i:Interaction) WHERE i.id > $after "
            "WITH c, i ORDER BY i.id LIMIT $limit "
            "RETURN i.id AS touch_id, c.id AS customer_id, i.channel AS channel, i.direction AS direction, "
            "i.occurred_at AS occurred_at, i.subject AS subject, i.outcome AS outcome, i.next_step AS next_step "
            "ORDER BY touch_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-touches",
        read_back="kbcrm ingest interactions {path} --mapping kbcrm-touches",  # touches are interactions
    ),
    "opportunities": RecordExport(
        "opportunities",
        cypher(
            "records.opportunities",
            "MATCH (c:Customer)-[:HAS_OPPORTUNITY]->(o:Opportunity) WHERE o.id > $after "
            "WITH c, o ORDER BY o.id LIMIT $limit "
            "OPTIONAL MATCH (o)-[:ACCOUNT_MANAGER]->(e:Employee) OPTIONAL MATCH (o)-[:FOR_PRODUCT]->(p:Product) "
            "RETURN o.id AS opportunity_id, c.id AS customer_id, o.name AS name, o.amount AS amount, "
            "o.currency AS currency, o.stage AS stage, o.probability AS probability, "
            "o.expected_close AS expected_close, o.closed_on AS closed_on, o.close_reason AS close_reason, "
            "e.id AS owner_id, p.id AS product_id ORDER BY opportunity_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-opportunities",
    ),
    "stage-changes": RecordExport(
        "stage-changes",
        cypher(
            "records.stage_changes",
            "MATCH (o:Opportunity)-[:HAS_STAGE_CHANGE]->(s:StageChange) WHERE s.id > $after "
            "WITH o, s ORDER BY s.id LIMIT $limit "
            "RETURN s.id AS change_id, o.id AS opportunity_id, s.sequence AS sequence, s.from_stage AS from_stage, "
            "s.to_stage AS to_stage, s.changed_at AS changed_at, s.changed_by AS changed_by, "
            "s.probability AS probability, s.close_reason AS close_reason ORDER BY change_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-stage-changes",
    ),
    "orders": RecordExport(
        "orders",
        cypher(
            "records.orders",
            "MATCH (c:Customer)-[:PLACED]->(o:Order) WHERE o.id > $after WITH c, o ORDER BY o.id LIMIT $limit "
            "RETURN o.id AS order_id, o.order_number AS order_number, c.id AS customer_id, o.order_date AS order_date, "
            "o.status AS status, o.currency AS currency, o.total_amount AS total_amount, o.due_on AS due_on, "
            "o.paid_on AS paid_on ORDER BY order_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-orders",
        read_only=("order_id",),
    ),
    "order-lines": RecordExport(
        "order-lines",
        cypher(
            "records.order_lines",
            "MATCH (o:Order)-[:CONTAINS]->(l:OrderLine) WHERE l.id > $after WITH o, l ORDER BY l.id LIMIT $limit "
            "OPTIONAL MATCH (l)-[:FOR_PRODUCT]->(p:Product) "
            "RETURN l.id AS line_id, o.order_number AS order_number, l.line_number AS line_number, "
            "p.id AS product_id, p.sku AS sku, l.quantity AS quantity, l.unit_price AS unit_price ORDER BY line_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-order-lines",
        read_only=("line_id", "sku"),
    ),
    "cases": RecordExport(
        "cases",
        cypher(
            "records.cases",
            "MATCH (c:Customer)-[:RAISED]->(s:ServiceCase) WHERE s.id > $after WITH c, s ORDER BY s.id LIMIT $limit "
            "OPTIONAL MATCH (s)-[:ABOUT_PRODUCT]->(p:Product) OPTIONAL MATCH (s)-[:HANDLED_BY]->(e:Employee) "
            "RETURN s.id AS case_id, s.case_number AS case_number, c.id AS customer_id, s.subject AS subject, "
            "s.description AS description, s.category AS category, s.priority AS priority, s.channel AS channel, "
            "s.status AS status, s.opened_at AS opened_at, s.first_response_at AS first_response_at, "
            "s.closed_at AS closed_at, p.id AS product_id, e.id AS handler_id ORDER BY case_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-cases",
    ),
    "case-notes": RecordExport(
        "case-notes",
        cypher(
            "records.case_notes",
            "MATCH (s:ServiceCase)-[:HAS_NOTE]->(n:ServiceNote) WHERE n.id > $after "
            "WITH s, n ORDER BY n.id LIMIT $limit OPTIONAL MATCH (e:Employee)-[:WROTE]->(n) "
            "RETURN n.id AS note_id, s.id AS case_id, n.visibility AS visibility, n.written_at AS written_at, "
            "n.language AS language, e.id AS author_id, n.text AS text ORDER BY note_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "kbcrm-case-notes",
    ),
    "campaign-members": RecordExport(
        "campaign-members",
        cypher(
            "records.campaign_members",
            "MATCH (c:Customer)-[m:IN_CAMPAIGN]->(k:Campaign) WITH c, m, k, k.id + '/' + c.id AS member_id "
            "WHERE member_id > $after WITH c, m, k, member_id ORDER BY member_id LIMIT $limit "
            "RETURN member_id AS member_id, k.id AS campaign_id, k.channel AS channel, c.id AS customer_id, "
            "c.name AS name, CASE WHEN m.control_group THEN NULL ELSE c.email END AS email, "
            "m.control_group AS control_group, m.status AS status, m.response AS response, "
            "m.responded_at AS responded_at ORDER BY member_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        "",
        read_only=("member_id", "channel", "name", "email", "control_group", "status"),
        read_back="kbcrm ingest campaign-responses {path}",
    ),
}


class ExportError(ValueError):
    """An unknown record kind."""


def export_records(store: GraphStore, *, kind: str, path: Path, on_rows: Callable[[int], None] | None = None) -> int:
    """Write every record of `kind` to a CSV file (UTF-8, header row); returns the number of rows."""
    spec = EXPORTS.get(kind)
    if spec is None:
        raise ExportError(f"kind must be one of {', '.join(EXPORTS)}, not {kind!r}")
    id_column = spec.columns[0]
    written = 0
    tmp = path.with_suffix(path.suffix + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, spec.columns)
        writer.writeheader()
        after = ""
        while rows := store.read(spec.query, after=after, limit=PAGE):
            for row in rows:
                writer.writerow({k: _cell(row.get(k)) for k in spec.columns})
            written += len(rows)
            after = str(rows[-1][id_column])
            if on_rows is not None:
                on_rows(written)
    tmp.replace(path)
    return written


def _cell(value: Any) -> Any:
    return "" if value is None else value
