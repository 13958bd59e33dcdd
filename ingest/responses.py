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

from ingest.readers import SourceFileError, SourceRow, read_csv
from ingest.runner import IngestReport, open_run, reject_row, save_run
from ingest.validate import Rejection
from kbcrm.access.models import Principal
from kbcrm.domain.values import InvalidValue, coerce
from kbcrm.graph import GraphStore
from kbcrm.graph.store import utc_now
from kbcrm.operations.campaigns.service import RESPONSES, memberships, record_responses

COLUMNS = ("campaign_id", "customer_id", "response")
BATCH = 500


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
    report.quarantine_file = str(data_dir / "quarantine" / f"{run_id}{'-dry-run' if dry_run else ''}.csv")
    started_at = utc_now()
    rows = read_csv(path, expected_columns=COLUMNS)
    if not dry_run:
        open_run(store, report, path, started_at)
    batch: list[SourceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            _batch(store, principal, report, batch, dry_run)
            batch = []
            if on_rows is not None:
                on_rows(report.read)
    _batch(store, principal, report, batch, dry_run)
    if not dry_run:
        save_run(store, report, started_at, status="finished")
    return report


def _batch(
    store: GraphStore, principal: Principal, report: IngestReport, batch: list[SourceRow], dry_run: bool
) -> None:
    """Check a batch of rows (one membership lookup for all), then record the new responses in one statement."""
    checked: list[tuple[SourceRow, dict[str, str]]] = []
    for row in batch:
        report.read += 1
        data = {k: str(v or "").strip() for k, v in row.data.items()}
        problem = _check(report.file, row.line, data)
        if problem is None:
            checked.append((row, data))
        else:
            reject_row(report, Path(report.quarantine_file), [problem], row)
    known = memberships(store, principal=principal, pairs=[(d["campaign_id"], d["customer_id"]) for _, d in checked])
    writes: list[dict[str, str]] = []
    for row, data in checked:
        stored = known.get((data["campaign_id"], data["customer_id"]))
        if stored is None:
            what = f"customer {data['customer_id']!r} is not a member of campaign {data['campaign_id']!r}"
            problem = Rejection(report.file, row.line, "customer_id", data["customer_id"], what)
            reject_row(report, Path(report.quarantine_file), [problem], row)
        elif not data["response"] or data["response"] == (stored.get("response") or ""):
            report.unchanged += 1
        else:
            report.updated += 1
            at = data["responded_at"] or utc_now()
            writes.append(
                {
                    "campaign": data["campaign_id"],
                    "customer": data["customer_id"],
                    "response": data["response"],
                    "at": at,
                }
            )
    if writes and not dry_run:
        record_responses(store, principal=principal, rows=writes)


def _check(file: str, line: int, data: dict[str, str]) -> Rejection | None:
    """The reason to reject a row before looking at the graph, or None (normalises responded_at)."""
    for column in ("campaign_id", "customer_id"):
        if not data[column]:
            return Rejection(file, line, column, "", f"{column} is empty")
    if data["response"] and data["response"] not in RESPONSES:
        return Rejection(file, line, "response", data["response"], f"must be one of {', '.join(RESPONSES)}")
    at = data.get("responded_at", "")
    data["responded_at"] = ""
    if at:
        try:
            data["responded_at"] = str(coerce(at, "datetime"))
        except InvalidValue as exc:
            return Rejection(file, line, "responded_at", at, str(exc))
    return None
