"""CSV export per record type and import through the ingest machinery: round trip, idempotence, quarantine;
and the operations commands of the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from ingest.mapping import Mapping, load_mapping
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
    "orders": "MATCH (c:Customer)-[:PLACED]->(o:Order) RETURN o.id AS id, c.id AS c, o.order_number AS n, "
    "o.order_date AS d, o.status AS s, o.currency AS cur, o.total_amount AS total, o.due_on AS due, "
    "o.paid_on AS paid ORDER BY id",
    "order-lines": "MATCH (o:Order)-[:CONTAINS]->(l:OrderLine)-[:FOR_PRODUCT]->(p:Product) RETURN l.id AS id, "
    "o.id AS o, p.id AS p, l.line_number AS n, l.quantity AS q, l.unit_price AS price ORDER BY id",
    "cases": "MATCH (c:Customer)-[:RAISED]->(s:ServiceCase) OPTIONAL MATCH (s)-[:ABOUT_PRODUCT]->(p:Product) "
    "OPTIONAL MATCH (s)-[:HANDLED_BY]->(e:Employee) RETURN s.id AS id, c.id AS c, p.id AS p, e.id AS e, "
    "s.subject AS subject, s.priority AS priority, s.status AS status, s.opened_at AS opened, "
    "s.first_response_at AS first, s.closed_at AS closed ORDER BY id",
    "case-notes": "MATCH (s:ServiceCase)-[:HAS_NOTE]->(n:ServiceNote) OPTIONAL MATCH (e:Employee)-[:WROTE]->(n) "
    "RETURN n.id AS id, s.id AS s, e.id AS e, n.text AS text, n.visibility AS v, n.written_at AS at, "
    "n.language AS lang ORDER BY id",
}
# Dependencies first: order lines need their orders, stage changes their opportunities, notes their cases.
ROUND_TRIP = (
    "opportunities",
    "stage-changes",
    "contacts",
    "touches",
    "orders",
    "order-lines",
    "cases",
    "case-notes",
)


def test_export_then_import_round_trips_every_kind(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    for label, query in COPY.items():  # the records these link to, by id
        falkordb_store.upsert_nodes(label, [{"id": r["id"]} for r in demo_store.read(query)])
    assert set(ROUND_TRIP) | {"customers", "campaign-members"} == set(EXPORTS)  # tested below and in test_campaigns
    for kind in ROUND_TRIP:
        path = tmp_path / f"{kind}.csv"
        written = export_records(demo_store, kind=kind, path=path)
        assert written == len(demo_store.read(SNAPSHOT[kind])) > 0
        mapping = load_mapping(EXPORTS[kind].mapping)
        report = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind=kind, data_dir=tmp_path)
        assert (report.read, report.created, report.rejected) == (written, written, 0), report.rejections[:3]
        assert falkordb_store.read(SNAPSHOT[kind]) == demo_store.read(SNAPSHOT[kind]), kind
        if kind == "case-notes":  # the export is for staff: internal notes are in it
            assert {r["v"] for r in falkordb_store.read(SNAPSHOT[kind])} == {"internal", "customer"}
        again = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind=kind, data_dir=tmp_path)
        assert (again.created, again.updated, again.unchanged) == (0, 0, written)


def test_an_edited_export_updates_one_row_and_quarantines_a_bad_one(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    path, mapping, rows = _opportunities_imported(demo_store, falkordb_store, tmp_path)
    rows[0]["amount"] = "12345.00"
    rows[1]["stage"] = "dreaming"
    _write(path, rows)
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
        for kind in ("cases", "case-notes", "customers", "touches", "campaign-members"):
            out = tmp_path / f"{kind}.csv"
            exported = runner.invoke(app, ["export-records", kind, str(out)])
            assert exported.exit_code == 0, exported.output
            command = exported.output.split("read back with: ")[1].split(")")[0].split()
            assert command[:2] == ["kbcrm", "ingest"]
            loaded = runner.invoke(app, command[1:])  # the printed command works as printed
            assert loaded.exit_code == 0, loaded.output
            row = next(line for line in reversed(loaded.output.splitlines()) if line.startswith("│"))
            counts = [c.strip() for c in row.split("│")[1:-1]]
            assert len(counts) == 5 and counts[1] == counts[4] == "0", loaded.output
            assert counts[0] != "0" or kind == "campaign-members", loaded.output  # load-demo makes no campaigns
        wrong = runner.invoke(app, ["ingest", "cases", str(out), "--mapping", "kbcrm-touches"])
        assert wrong.exit_code == 1 and "maps to Interaction, but cases files become ServiceCase" in wrong.output
        timeline = runner.invoke(app, ["customers", "timeline", "cust-0000001", "--limit", "200"])
        assert timeline.exit_code == 0 and "timeline of cust-0000001" in timeline.output
        assert "order" in timeline.output and "touch" in timeline.output
        unknown = runner.invoke(app, ["customers", "timeline", "cust-0000001", "--kind", "gossip"])
        assert unknown.exit_code == 1 and "gossip" in unknown.output
    finally:
        embedded_server().destroy()
        get_settings.cache_clear()


def test_an_edited_link_moves_the_relationship_and_an_emptied_cell_clears_it(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    path, mapping, rows = _opportunities_imported(demo_store, falkordb_store, tmp_path)
    closed = next(i for i, r in enumerate(rows) if r["close_reason"])
    other_owner = next(r["owner_id"] for r in rows if r["owner_id"] != rows[0]["owner_id"])
    rows[0]["owner_id"] = other_owner  # re-assigned
    rows[1]["product_id"] = ""  # the product is no longer known
    rows[closed]["close_reason"] = ""  # a cell emptied
    _write(path, rows)
    report = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="opportunities", data_dir=tmp_path)
    assert (report.updated, report.rejected) == (3 if closed > 1 else 2, 0), report.rejections[:3]
    owners = falkordb_store.read(
        "MATCH (o:Opportunity {id: $id})-[:ACCOUNT_MANAGER]->(e:Employee) RETURN e.id AS e",
        id=rows[0]["opportunity_id"],
    )
    assert owners == [{"e": other_owner}]  # moved, not added
    products = falkordb_store.read(
        "MATCH (o:Opportunity {id: $id})-[:FOR_PRODUCT]->(p) RETURN p.id AS p", id=rows[1]["opportunity_id"]
    )
    assert products == []
    assert "close_reason" not in falkordb_store.get_node("Opportunity", rows[closed]["opportunity_id"])
    again = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="opportunities", data_dir=tmp_path)
    assert (again.updated, again.unchanged) == (0, len(rows))
    rows[2]["owner_id"] = "emp-nobody"  # a filled link column must name a real node
    _write(path, rows)
    bad = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="opportunities", data_dir=tmp_path)
    assert bad.rejected == 1 and bad.rejections[0].field == "owner_id" and "no Employee" in bad.rejections[0].message


def test_customer_edits_change_existing_customers_only_and_are_marked_edited(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    written = export_records(demo_store, kind="customers", path=path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))[:20]
    falkordb_store.upsert_nodes(
        "Customer",
        [
            {k: v for k, v in r.items() if v and k in ("name", "email", "phone", "city", "country")}
            | {"id": r["customer_id"]}
            for r in rows
        ],
    )
    assert written >= 20
    _write(path, rows)
    mapping = load_mapping("kbcrm-customers")
    first = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="customers", data_dir=tmp_path)
    changed = [r for r in rows if r["street"] or r["postal_code"]]  # only street and postal code were not copied
    assert (first.created, first.updated, first.rejected) == (0, len(changed), 0), first.rejections[:3]
    rows[0]["city"] = "Newtown"
    rows[1]["customer_id"] = "cust:nobody"
    rows[1]["name"] = "Nobody Ltd"
    _write(path, rows)
    second = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="customers", data_dir=tmp_path)
    assert (second.created, second.updated, second.rejected) == (0, 1, 1)
    assert second.rejections[0].value == "cust:nobody" and "no Customer" in second.rejections[0].message
    edited = falkordb_store.get_node("Customer", rows[0]["customer_id"])
    assert edited["city"] == "Newtown" and "city" in edited["edited_fields"]
    assert falkordb_store.get_node("Customer", "cust:nobody") is None  # never created
    third = ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="customers", data_dir=tmp_path)
    assert (third.updated, third.unchanged, third.rejected) == (0, len(rows) - 1, 1)


def _opportunities_imported(
    demo_store: FalkorDBStore, falkordb_store: FalkorDBStore, tmp_path: Path
) -> tuple[Path, Mapping, list[dict[str, str]]]:
    """The demo's opportunities exported and imported into an empty graph (with what they link to)."""
    for label, query in COPY.items():
        falkordb_store.upsert_nodes(label, [{"id": r["id"]} for r in demo_store.read(query)])
    path = tmp_path / "opportunities.csv"
    export_records(demo_store, kind="opportunities", path=path)
    mapping = load_mapping("kbcrm-opportunities")
    ingest_file(falkordb_store, path=path, mapping=mapping, source_kind="opportunities", data_dir=tmp_path)
    return path, mapping, list(csv.DictReader(path.open(encoding="utf-8")))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
