"""CSV export per record type and import through the ingest machinery: round trip, idempotence, quarantine;
and the operations commands of the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from ingest.mapping import load_mapping
from ingest.runner import ingest_file
from kbcrm.cli import app
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.operations.records.service import EXPORTS, export_records

COPY = {
    "Customer": "MATCH (n:Customer) RETURN n.id AS id",
    "Employee": "MATCH (n:Employee) RETURN n.id AS id",
    "Product": "MATCH (n:Product) RETURN n.id AS id",
}
SNAPSHOT = {
    "opportunities": "MATCH (c:Customer)-[:HAS_OPPORTUNITY]->(o:Opportunity)-[:ACCOUNT_MANAGER]->(e:Employee) "
    "MATCH (o)-[:FOR_PRODUCT]->(p:Product) RETURN o.id AS id, c.id AS c, e.id AS e, p.id AS p, o.name AS name, "
    "o.amount AS amount, o.stage AS stage, o.probability AS probability, o.expected_close AS close, "
    "o.closed_on AS closed_on, o.close_reason AS reason ORDER BY id",
    "stage-changes": "MATCH (o:Opportunity)-[:HAS_STAGE_CHANGE]->(s:StageChange) RETURN s.id AS id, o.id AS o, "
    "s.sequence AS seq, s.from_stage AS f, s.to_stage AS t, s.changed_at AS at, s.close_reason AS r ORDER BY id",
    "contacts": "MATCH (c:Customer)-[:HAS_CONTACT]->(k:Contact) RETURN k.id AS id, c.id AS c, k.name AS name, "
    "k.email AS email, k.role AS role ORDER BY id",
    "touches": "MATCH (c:Customer)-[:HAD_INTERACTION]->(i:Interaction) RETURN i.id AS id, c.id AS c, "
    "i.channel AS channel, i.occurred_at AS at, i.subject AS subject, i.next_step AS next ORDER BY id",
}


def test_export_then_import_round_trips_every_kind(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    for label, query in COPY.items():  # the records these link to, by id
        falkordb_store.upsert_nodes(label, [{"id": r["id"]} for r in demo_store.read(query)])
    for kind in ("opportunities", "stage-changes", "contacts", "touches"):  # stage changes after opportunities
        path = tmp_path / f"{kind}.csv"
        written = export_records(demo_store, kind=kind, path=path)
        assert written == len(demo_store.read(SNAPSHOT[kind])) > 0
        mapping = load_mapping(EXPORTS[kind].mapping)
        report = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind=kind, data_dir=tmp_path)
        assert (report.read, report.created, report.rejected) == (written, written, 0), report.rejections[:3]
        assert falkordb_store.read(SNAPSHOT[kind]) == demo_store.read(SNAPSHOT[kind]), kind
        again = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind=kind, data_dir=tmp_path)
        assert (again.created, again.updated, again.unchanged) == (0, 0, written)


def test_an_edited_export_updates_one_row_and_quarantines_a_bad_one(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    for label, query in COPY.items():
        falkordb_store.upsert_nodes(label, [{"id": r["id"]} for r in demo_store.read(query)])
    path = tmp_path / "opportunities.csv"
    export_records(demo_store, kind="opportunities", path=path)
    mapping = load_mapping("kbcrm-opportunities")
    ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="opportunities", data_dir=tmp_path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    rows[0]["amount"] = "12345.00"
    rows[1]["stage"] = "dreaming"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="opportunities", data_dir=tmp_path)
    assert (report.updated, report.rejected, report.unchanged) == (1, 1, len(rows) - 2)
    assert report.rejections[0].line == 3 and report.rejections[0].field == "stage"
    assert falkordb_store.get_node("Opportunity", rows[0]["opportunity_id"])["amount"] == 12345.0
    assert Path(report.quarantine_file).exists()


def test_operations_commands(tmp_path: Path, monkeypatch: object) -> None:
    from kbcrm.graph import embedded_server
    from kbcrm.settings import get_settings

    setenv = monkeypatch.setenv  # type: ignore[attr-defined]
    setenv("KBCRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        demo = tmp_path / "demo"
        assert runner.invoke(app, ["demo-data", "--customers", "12", "--seed", "3", "--out", str(demo)]).exit_code == 0
        assert runner.invoke(app, ["load-demo", str(demo)]).exit_code == 0
        listed = runner.invoke(app, ["opportunities", "list", "--stage", "", "--json"])
        assert listed.exit_code == 0, listed.output
        assert "OPP-" in listed.output
        forecast = runner.invoke(app, ["opportunities", "forecast", "--start", "2026-11-01", "--months", "3"])
        assert forecast.exit_code == 0 and "weighted forecast" in forecast.output
        bad = runner.invoke(app, ["opportunities", "forecast", "--start", "Nov"])
        assert bad.exit_code == 1 and "--start" in bad.output
        open_one = next(line for line in listed.output.splitlines() if '"id": "OPP-' in line).split('"')[3]
        refused = runner.invoke(app, ["opportunities", "move", open_one, "lost"])
        assert refused.exit_code == 1 and "reason" in refused.output
        moved = runner.invoke(app, ["opportunities", "move", open_one, "lost", "--reason", "price"])
        assert moved.exit_code == 0 and "lost" in moved.output
        out = tmp_path / "opps.csv"
        exported = runner.invoke(app, ["export-records", "opportunities", str(out)])
        assert exported.exit_code == 0 and "kbcrm ingest opportunities" in exported.output
        again = runner.invoke(app, ["ingest", "opportunities", str(out)])
        assert again.exit_code == 0, again.output
        timeline = runner.invoke(app, ["customers", "timeline", "cust-0000001", "--limit", "200"])
        assert timeline.exit_code == 0 and "timeline of cust-0000001" in timeline.output
        assert "order" in timeline.output and "touch" in timeline.output
        unknown = runner.invoke(app, ["customers", "timeline", "cust-0000001", "--kind", "gossip"])
        assert unknown.exit_code == 1 and "gossip" in unknown.output
    finally:
        embedded_server().destroy()
        get_settings.cache_clear()
