"""CSV export per record type, in the layout of the bundled `kbcrm-*` ingest mappings.

`kbcrm export-records KIND FILE` writes every record of a kind, paged by id; `kbcrm ingest
KIND FILE --mapping kbcrm-KIND` reads such a file back through the ingest machinery
(validation, quarantine, idempotence, provenance). So a file can be exported, edited in a
spreadsheet and imported again: unchanged rows are reported unchanged, edited rows updated,
bad rows quarantined with the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbcrm.graph import Cypher, GraphStore, cypher

PAGE = 5000


@dataclass(frozen=True)
class RecordExport:
    """One exportable record type: its paged query and the CSV columns (the mapping's source columns)."""

    kind: str
    query: Cypher
    columns: tuple[str, ...]
    mapping: str


EXPORTS: dict[str, RecordExport] = {
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
        ("contact_id", "customer_id", "name", "email", "phone", "role", "job_title", "status"),
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
        ("touch_id", "customer_id", "channel", "direction", "occurred_at", "subject", "outcome", "next_step"),
        "kbcrm-touches",
    ),
    "opportunities": RecordExport(
        "opportunities",
        cypher(
            "records.opportunities",
            "MATCH (c:Customer)-[:HAS_OPPORTUNITY]->(o:Opportunity)-[:ACCOUNT_MANAGER]->(e:Employee) "
            "WHERE o.id > $after MATCH (o)-[:FOR_PRODUCT]->(p:Product) WITH c, o, e, p ORDER BY o.id LIMIT $limit "
            "RETURN o.id AS opportunity_id, c.id AS customer_id, o.name AS name, o.amount AS amount, "
            "o.currency AS currency, o.stage AS stage, o.probability AS probability, "
            "o.expected_close AS expected_close, o.closed_on AS closed_on, o.close_reason AS close_reason, "
            "e.id AS owner_id, p.id AS product_id ORDER BY opportunity_id",
            example={"after": "", "limit": 10},
            ordered=True,
        ),
        (
            "opportunity_id",
            "customer_id",
            "name",
            "amount",
            "currency",
            "stage",
            "probability",
            "expected_close",
            "closed_on",
            "close_reason",
            "owner_id",
            "product_id",
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
        (
            "change_id",
            "opportunity_id",
            "sequence",
            "from_stage",
            "to_stage",
            "changed_at",
            "changed_by",
            "probability",
            "close_reason",
        ),
        "kbcrm-stage-changes",
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
