"""Campaign responses from a mailing tool: `kbcrm ingest campaign-responses FILE`.

The file is the layout `kbcrm export-records campaign-members` writes (or any CSV with
`campaign_id`, `customer_id`, `response` and optionally `responded_at`). Every row is
checked — a known response, a valid time, a customer who is a member of that campaign —
and a bad row goes to the quarantine file with the reason, like every other ingest. A row
with no response yet, or the response already recorded, is unchanged, so re-running the
same file changes nothing. The run is kept as an IngestRun report.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ingest.readers import SourceFileError, read_csv
from ingest.runner import IngestReport, _save_run
from ingest.validate import Rejection, write_quarantine
from kbcrm.access.models import Principal
from kbcrm.domain.values import InvalidValue, coerce
from kbcrm.graph import GraphStore
from kbcrm.graph.store import utc_now
from kbcrm.operations.campaigns.service import RESPONSES, member, record_response
from ontology.terms import Label

COLUMNS = ("campaign_id", "customer_id", "response")


def ingest_responses(
    store: GraphStore,
    *,
    path: Path,
    principal: Principal,
    data_dir: Path,
    dry_run: bool = False,
    on_rows: Callable[[int], None] | None = None,
) -> IngestReport:
    """Record each row's response on its campaign membership; see the module docstring."""
    if not path.exists():
        raise SourceFileError(f"{path}: no such file")
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    report = IngestReport(run_id=run_id, source_kind="campaign-responses", file=str(path), dry_run=dry_run)
    quarantine = data_dir / "quarantine" / f"{run_id}{'-dry-run' if dry_run else ''}.csv"
    report.quarantine_file = str(quarantine)
    started_at = utc_now()
    rows = read_csv(path, expected_columns=COLUMNS)
    if not dry_run:
        store.upsert_nodes(
            Label.Source,
            [
                {
                    "id": f"source:{run_id}",
                    "source_kind": report.source_kind,
                    "file": str(path.resolve()),
                    "run_id": run_id,
                    "ingested_at": started_at,
                }
            ],
        )
        _save_run(store, report, started_at, status="running")
    for row in rows:
        report.read += 1
        data = {k: str(v or "").strip() for k, v in row.data.items()}
        problem = _check(store, principal, report.file, row.line, data)
        if problem is not None:
            report.rejected += 1
            if len(report.rejections) < 1000:
                report.rejections.append(problem)
            write_quarantine(quarantine, [problem], row.data)
        elif data["response"] == "" or data["response"] == data["_stored"]:
            report.unchanged += 1
        else:
            report.updated += 1
            if not dry_run:
                record_response(
                    store,
                    principal=principal,
                    campaign_id=data["campaign_id"],
                    customer_id=data["customer_id"],
                    response=data["response"],
                    at=data["responded_at"] or None,
                )
        if on_rows is not None and report.read % 500 == 0:
            on_rows(report.read)
    if not dry_run:
        _save_run(store, report, started_at, status="finished")
    return report


def _check(store: GraphStore, principal: Principal, file: str, line: int, data: dict[str, str]) -> Rejection | None:
    """The reason to reject a row, or None; leaves the stored response in data['_stored']."""
    for column in ("campaign_id", "customer_id"):
        if not data[column]:
            return Rejection(file, line, column, "", f"{column} is empty")
    if data["response"] and data["response"] not in RESPONSES:
        return Rejection(file, line, "response", data["response"], f"must be one of {', '.join(RESPONSES)}")
    at = data.get("responded_at", "")
    if at:
        try:
            data["responded_at"] = str(coerce(at, "datetime"))
        except InvalidValue as exc:
            return Rejection(file, line, "responded_at", at, str(exc))
    else:
        data["responded_at"] = ""
    stored = member(store, principal=principal, campaign_id=data["campaign_id"], customer_id=data["customer_id"])
    if stored is None:
        what = f"customer {data['customer_id']!r} is not a member of campaign {data['campaign_id']!r}"
        return Rejection(file, line, "customer_id", data["customer_id"], what)
    data["_stored"] = str(stored.get("response") or "")
    return None
