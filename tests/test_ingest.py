"""Ingest: validation, quarantine, idempotency, encodings, provenance and resume — on the real graph."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ingest.mapping import MappingError, load_mapping
from ingest.readers import SourceFileError
from ingest.runner import ingest_file, run_report, why
from kbcrm.graph import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore

HEADER = [
    "sales_id",
    "customer_type",
    "name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "country",
    "registration_id",
    "birth_date",
]
GOOD = [
    [
        "S1",
        "organization",
        "Atlas Foods GmbH",
        "info@atlas.example",
        "+49 30 1234567",
        "Hafenweg 1",
        "Berlin",
        "10115",
        "DE",
        "DE123456789",
        "",
    ],
    ["S2", "person", "Anna Müller", "anna@example.de", "030 7654321", "", "Köln", "50667", "DE", "", "1980-04-02"],
    [
        "S3",
        "organization",
        "上海恒力机械有限公司",
        "sales@hengli.example",
        "+86 21 5550000",
        "工业路 8",
        "上海",
        "200000",
        "CN",
        "CN91310000",
        "",
    ],
]


def write_csv(
    path: Path,
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    header: list[str] | None = None,
) -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header or HEADER)
        writer.writerows(rows)
    return path


def run(store: FalkorDBStore, path: Path, tmp_path: Path, mapping: str = "sales", **kwargs: object):
    return ingest_file(
        store, path=path, mapping=load_mapping(mapping), source_kind="customers", data_dir=tmp_path / "var", **kwargs
    )  # type: ignore[arg-type]


def test_every_rejection_reason_is_quarantined_with_file_line_field_value(
    falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    bad = [
        ["", "person", "No Key", "a@b.example", "", "", "", "", "DE", "", ""],  # line 5: empty key
        ["S10", "person", "", "x@y.example", "", "", "", "", "DE", "", ""],  # 6: required empty
        ["S11", "person", "Bad Mail", "not-an-email", "", "", "", "", "DE", "", ""],  # 7: e-mail
        ["S12", "person", "Bad Date", "c@d.example", "", "", "", "", "DE", "", "1980-13-45"],  # 8: date
        ["S13", "alien", "Bad Kind", "e@f.example", "", "", "", "", "DE", "", ""],  # 9: ontology value set
        ["S14", "person", "Bad Country", "g@h.example", "", "", "", "", "Germany", "", ""],  # 10: country
        ["S15", "person", "Bad Phone", "i@j.example", "12", "", "", "", "DE", "", ""],  # 11: phone
        ["S1", "organization", "Atlas again", "k@l.example", "", "", "", "", "DE", "", ""],  # 12: duplicate key
    ]
    path = write_csv(tmp_path / "sales.csv", GOOD + bad)
    report = run(falkordb_store, path, tmp_path, batch_size=2)
    assert report.read == 11 and report.rejected == 8 and report.created == 3
    assert report.read == report.stored + report.rejected
    with Path(report.quarantine_file).open() as handle:
        quarantined = list(csv.DictReader(handle))
    by_line = {int(r["line"]): r for r in quarantined}
    assert set(by_line) == set(range(5, 13))
    assert by_line[5]["field"] == "sales_id" and "key column is empty" in by_line[5]["message"]
    assert by_line[6]["field"] == "name" and "required" in by_line[6]["message"]
    assert by_line[7]["value"] == "not-an-email" and "e-mail" in by_line[7]["message"]
    assert by_line[8]["value"] == "1980-13-45" and "date" in by_line[8]["message"]
    assert by_line[9]["value"] == "alien" and "person, organization" in by_line[9]["message"]
    assert "country" in by_line[10]["message"]
    assert "phone" in by_line[11]["message"]
    assert "duplicate key; first on line 2" in by_line[12]["message"]
    assert all(r["file"] == str(path) for r in quarantined)
    assert falkordb_store.count_nodes("SourceRecord") == 3  # nothing rejected reached the graph
    stored = run_report(falkordb_store, report.run_id)
    assert stored is not None and stored["rows_rejected"] == 8 and stored["rows_read"] == 11
    assert stored["status"] == "finished" and stored["quarantine_file"] == report.quarantine_file


def test_rerun_is_idempotent_and_a_changed_row_updates_only_that_record(
    falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "sales.csv", GOOD)
    assert run(falkordb_store, path, tmp_path).counts() == {
        "read": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert run(falkordb_store, path, tmp_path).counts() == {
        "read": 3,
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
    }
    changed = [row.copy() for row in GOOD]
    changed[1][6] = "Bonn"
    write_csv(path, changed)
    assert run(falkordb_store, path, tmp_path).counts() == {
        "read": 3,
        "created": 0,
        "updated": 1,
        "unchanged": 2,
        "rejected": 0,
    }
    assert falkordb_store.get_node("SourceRecord", "sales:S2")["city"] == "Bonn"  # type: ignore[index]
    assert falkordb_store.count_nodes("SourceRecord") == 3


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_encodings_are_detected(falkordb_store: FalkorDBStore, tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / f"sales-{encoding}.csv", GOOD, encoding=encoding)
    report = run(falkordb_store, path, tmp_path)
    assert report.created == 3 and report.rejected == 0
    assert falkordb_store.get_node("SourceRecord", "sales:S3")["name"] == "上海恒力机械有限公司"  # type: ignore[index]
    assert falkordb_store.get_node("SourceRecord", "sales:S2")["city"] == "Köln"  # type: ignore[index]


def test_file_level_problems_are_one_line_errors_naming_the_file(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(",".join(HEADER).encode() + b"\nS1,person,J\xfcrgen \x80\xff\xfe,a@b.example,,,,,DE,,\n")
    with pytest.raises(SourceFileError, match=r"latin1.csv: encoding is not UTF-8"):
        run(falkordb_store, latin, tmp_path)
    with pytest.raises(SourceFileError, match="no such file"):
        run(falkordb_store, tmp_path / "missing.csv", tmp_path)
    with pytest.raises(SourceFileError, match="is a directory"):
        (tmp_path / "adir.csv").mkdir()
        run(falkordb_store, tmp_path / "adir.csv", tmp_path)
    short = tmp_path / "short.csv"
    short.write_text("sales_id,name\nS1,Atlas\n")
    with pytest.raises(SourceFileError, match=r"short.csv: mapped column\(s\) 'birth_date', 'city'"):
        run(falkordb_store, short, tmp_path)
    semicolons = write_csv(tmp_path / "semi.csv", GOOD, delimiter=";")
    strict = tmp_path / "strict.yaml"
    strict.write_text(load_mapping("sales").path.read_text() + 'delimiter: ","\n')
    with pytest.raises(SourceFileError, match="wrong delimiter: the header is separated by ';'"):
        run(falkordb_store, semicolons, tmp_path, mapping=str(strict))
    assert run(falkordb_store, semicolons, tmp_path).created == 3  # sniffed when the mapping does not say
    assert falkordb_store.count_nodes("SourceRecord") == 3


def test_mapping_files_are_checked_against_the_ontology(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source_system: x\nlabel: SourceRecord\nkey: id\nfields:\n  shoe_size: {from: shoe}\n")
    with pytest.raises(MappingError, match="'shoe_size' is not a property of SourceRecord"):
        load_mapping(bad)
    with pytest.raises(
        MappingError,
        match="bundled mappings: billing, interactions, kbcrm-case-notes, kbcrm-cases, kbcrm-components, "
        "kbcrm-contacts, kbcrm-customers, kbcrm-employees, kbcrm-error-codes, kbcrm-opportunities, kbcrm-order-lines, "
        "kbcrm-orders, kbcrm-products, kbcrm-stage-changes, kbcrm-symptoms, kbcrm-topics, kbcrm-touches, order_lines, "
        "orders, sales, service",
    ):
        load_mapping("nonexistent")
    edits = tmp_path / "edits.yaml"
    edits.write_text(
        "source_system: x\nlabel: Customer\nkey: id\nupdate_only: true\nfields:\n  name: {from: name}\n"
        "links:\n  - {rel: OWNS, from: product, label: Product, match: id, direction: out}\n"
    )
    with pytest.raises(MappingError, match=r"update_only mapping .* cannot have links"):
        load_mapping(edits)
    optional = load_mapping("kbcrm-cases")
    assert [(link.rel, link.required) for link in optional.links] == [
        ("RAISED", True),
        ("ABOUT_PRODUCT", False),
        ("HANDLED_BY", False),
    ]


def test_list_fields_and_many_links_are_checked_against_the_ontology(tmp_path: Path) -> None:
    head = "source_system: x\nlabel: Product\nkey: id\nfields:\n  sku: {from: sku}\n  name: {from: name}\n"
    cases = {
        "  aliases: {from: aliases}\n": "field 'aliases' is a list in the ontology: use type: list",
        "  category: {from: category, type: list}\n": "field 'category' is not a list in the ontology",
    }
    for line, message in cases.items():
        path = tmp_path / "m.yaml"
        path.write_text(head + line)
        with pytest.raises(MappingError, match=message):
            load_mapping(path)
    path.write_text(
        "source_system: x\nlabel: ServiceCase\nkey: id\nfields:\n  case_number: {from: id}\n  subject: {from: s}\n"
        "  priority: {from: p}\n  status: {from: st}\n  opened_at: {from: o, type: datetime}\n"
        "links:\n  - {rel: RAISED, from: org, customer_of: service, many: true}\n"
    )
    with pytest.raises(MappingError, match="'many' does not apply"):
        load_mapping(path)


def test_list_fields_and_many_links_load_update_and_unlink(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    """A row naming several targets gets one relationship each; an edited list moves them; JSON arrays work too."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "components.csv").write_text("component_id,name,aliases,name_zh\nc1,impeller,,\nc2,seal,,\nc3,motor,,\n")
    (catalog / "symptoms.csv").write_text("symptom_id,name,aliases,name_zh,components\ns1,noise,,,c1\ns2,leak,,,\n")
    for name, mapping in (("components.csv", "kbcrm-components"), ("symptoms.csv", "kbcrm-symptoms")):
        assert run(falkordb_store, catalog / name, tmp_path, mapping=mapping).created >= 2
    mapping = tmp_path / "products.yaml"
    mapping.write_text(
        "source_system: shop\nlabel: Product\nkey: id\nid_prefix: ''\n"
        "fields:\n  sku: {from: sku, required: true}\n  name: {from: name, required: true}\n"
        "  aliases: {from: aliases, type: list, values: {pmp: pump}}\n"
        "links:\n  - {rel: HAS_COMPONENT, from: parts, label: Component, many: true, required: false}\n"
        "  - {rel: HAS_SYMPTOM, from: problems, label: Symptom, many: true, required: false}\n"
    )
    products = tmp_path / "products.jsonl"

    def load(*rows: str):
        products.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
        return run(falkordb_store, products, tmp_path, mapping=str(mapping))

    def links() -> list[tuple[str, str, str]]:
        found = falkordb_store.read(
            "MATCH (p:Product)-[r]->(t) WHERE type(r) IN ['HAS_COMPONENT', 'HAS_SYMPTOM'] "
            "RETURN p.id AS p, type(r) AS rel, t.id AS t ORDER BY p, rel, t"
        )
        return [(r["p"], r["rel"], r["t"]) for r in found]

    first = load(
        '{"id": "p1", "sku": "A", "name": "Pump", "aliases": ["pmp", " AX "], '
        '"parts": ["c1", "c2"], "problems": "s1;s2"}',
        '{"id": "p2", "sku": "B", "name": "Mixer", "parts": "c3", "problems": []}',
        '{"id": "p3", "sku": "C", "name": "Ghost", "parts": ["c1", "c9", "c8"]}',
    )
    assert (first.created, first.rejected) == (2, 1)
    assert [(r.field, r.value, r.message) for r in first.rejections] == [
        ("parts", "c9", "no Component with id 'c9'"),
        ("parts", "c8", "no Component with id 'c8'"),
    ]
    assert links() == [
        ("p1", "HAS_COMPONENT", "c1"),
        ("p1", "HAS_COMPONENT", "c2"),
        ("p1", "HAS_SYMPTOM", "s1"),
        ("p1", "HAS_SYMPTOM", "s2"),
        ("p2", "HAS_COMPONENT", "c3"),
    ]
    assert falkordb_store.get_node("Product", "p1")["aliases"] == ["pump", "AX"]
    assert falkordb_store.get_node("Product", "p3") is None  # nothing of a rejected row is written
    edited = load(
        '{"id": "p1", "sku": "A", "name": "Pump", "aliases": ["pmp", " AX "], "parts": ["c2", "c3"], "problems": ""}',
        '{"id": "p2", "sku": "B", "name": "Mixer", "parts": "c3", "problems": []}',
    )
    assert (edited.updated, edited.unchanged) == (1, 1)
    assert links() == [("p1", "HAS_COMPONENT", "c2"), ("p1", "HAS_COMPONENT", "c3"), ("p2", "HAS_COMPONENT", "c3")]
    assert load(
        '{"id": "p1", "sku": "A", "name": "Pump", "aliases": "pmp;AX", "parts": "c2; c3", "problems": null}',
        '{"id": "p2", "sku": "B", "name": "Mixer", "parts": ["c3"]}',
    ).counts() == {"read": 2, "created": 0, "updated": 0, "unchanged": 2, "rejected": 0}


def test_provenance_and_dry_run(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sales.csv", GOOD)
    dry = run(falkordb_store, path, tmp_path, dry_run=True)
    assert dry.created == 3 and falkordb_store.count_nodes("SourceRecord") == 0
    report = run(falkordb_store, path, tmp_path)
    origin = why(falkordb_store, "sales:S2")
    assert len(origin) == 1
    assert origin[0]["file"] == str(path.resolve()) and origin[0]["line"] == 3
    assert origin[0]["run_id"] == report.run_id and origin[0]["ingested_at"] and origin[0]["source_kind"] == "customers"


def test_json_lines_with_nested_fields_and_a_broken_line(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    path = tmp_path / "service.jsonl"
    path.write_text(
        '{"svc_id": "SV-1", "display_name": "Atlas Foods Gmbh", "kind": "organization", '
        '"contact_email": "INFO@ATLAS.EXAMPLE", "contact_phone": "030-1234567", '
        '"site": {"city": "Berlin", "country": "de"}}\n'
        '{"svc_id": "SV-2", "display_name": "broken\n'
        '{"svc_id": "SV-3", "display_name": "Anna Muller", "kind": "person", "site": {"city": null, "country": "DE"},'
        ' "dob": "1980-04-02"}\n',
        encoding="utf-8",
    )
    report = run(falkordb_store, path, tmp_path, mapping="service")
    assert report.counts() == {"read": 3, "created": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert "invalid JSON" in report.rejections[0].message and report.rejections[0].line == 2
    node = falkordb_store.get_node("SourceRecord", "service:SV-1")
    assert node is not None and node["email"] == "info@atlas.example" and node["country"] == "DE"
    assert node["phone"] == "0301234567" and node["city"] == "Berlin"


def test_demo_department_exports_ingest_cleanly(falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> None:
    for mapping, name in [
        ("sales", "sales_customers.csv"),
        ("service", "service_customers.jsonl"),
        ("billing", "billing_accounts.csv"),
    ]:
        report = run(falkordb_store, demo_dir / name, tmp_path, mapping=mapping)
        assert report.rejected == 0 and report.created == report.read > 0, (mapping, report.rejections[:3])
    truth_rows = sum(1 for _ in (demo_dir / "truth" / "source_records.csv").open()) - 1
    assert falkordb_store.count_nodes("SourceRecord") == truth_rows


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ingest.mapping import load_mapping
    from ingest.runner import ingest_file
    from kbcrm.graph.falkordb_backend import FalkorDBStore
    store = FalkorDBStore(graph_name=sys.argv[2], socket_path=Path(sys.argv[1]))
    ingest_file(store, path=Path(sys.argv[3]), mapping=load_mapping("sales"), source_kind="customers",
                data_dir=Path(sys.argv[4]), batch_size=500, on_rows=lambda n: print(n, flush=True))
    """
)


def test_sigkill_mid_run_then_rerun_finishes_without_duplicates_or_partial_records(
    falkordb_store: FalkorDBStore, embedded: EmbeddedServer, tmp_path: Path
) -> None:
    rows = [
        [f"S{i:06d}", "person", f"Person {i}", f"p{i}@example.org", "", "", "Berlin", "", "DE", "", ""]
        for i in range(20_000)
    ]
    path = write_csv(tmp_path / "big.csv", rows)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_WRITER,
            str(embedded.socket_path),
            falkordb_store.graph_name,
            str(path),
            str(tmp_path / "var"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    done = 0
    while done < 3000:
        line = writer.stdout.readline()
        assert line, "the writer ended before it was killed"
        done = int(line)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    time.sleep(0.2)
    partial = falkordb_store.count_nodes("SourceRecord")
    assert 3000 <= partial < 20_000
    report = run(falkordb_store, path, tmp_path)
    assert report.resumed_after_line >= 3000
    assert report.read == 20_000 and report.rejected == 0
    assert report.created + report.unchanged == 20_000
    assert falkordb_store.count_nodes("SourceRecord") == 20_000
    orphans = falkordb_store.read(
        "MATCH (n:SourceRecord) WHERE NOT (n)-[:DERIVED_FROM]->(:Source) RETURN count(n) AS n"
    )[0]["n"]
    assert orphans == 0  # every stored record carries its provenance: no partial records
    runs = falkordb_store.read("MATCH (r:IngestRun) RETURN r.status AS status, r.rows_read AS n")
    assert runs == [{"status": "finished", "n": 20_000}]  # the re-run finished the same run


def test_row_estimate_for_the_progress_bar_never_falls_short(tmp_path: Path) -> None:
    from ingest.readers import estimate_rows, read_csv

    plain = tmp_path / "plain.csv"
    plain.write_text("id,name\n1,Ann\n2,Bob\n3,Cy")  # no newline at the end
    assert estimate_rows(plain) == 3
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('id,note\n1,"two\nlines"\n2,one\n', encoding="utf-8-sig")
    rows = list(read_csv(quoted, expected_columns=("id", "note")))
    assert len(rows) == 2 and estimate_rows(quoted) == 3  # an upper bound: the bar may end early, never overrun
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"id": 1}\n{"id": 2}\n')
    assert estimate_rows(lines) == 2
    array = tmp_path / "events.json"
    array.write_text(' [{"id": 1}, {"id": 2}]')
    assert estimate_rows(array) is None  # a JSON array is parsed whole: no ETA
    assert estimate_rows(tmp_path / "missing.csv") is None
    big = tmp_path / "big.csv"
    big.write_text("id\n" + "".join(f"{i}\n" for i in range(300_000)))  # spans several read chunks
    assert estimate_rows(big) == 300_000


def test_rows_are_checked_against_the_ontologys_shacl_shapes(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    # A foreign export mapped loosely (everything a string): the shapes still hold every row to the ontology.
    mapping = tmp_path / "touches.yaml"
    mapping.write_text(
        textwrap.dedent(
            """\
            source_system: crm
            label: Interaction
            key: touch_id
            fields:
              channel: {from: channel}
              direction: {from: direction}
              occurred_at: {from: when}
              subject: {from: subject}
            """
        ),
        encoding="utf-8",
    )
    path = write_csv(
        tmp_path / "touches.csv",
        [
            ["T1", "email", "inbound", "2026-03-01T10:00:00", "Invoice question"],
            ["T2", "sms", "inbound", "2026-03-01T11:00:00", "Text message"],  # line 3: channel not in sh:in
            ["T3", "phone", "sideways", "2026-03-01T12:00:00", "Call"],  # 4: direction not in sh:in
            ["T4", "phone", "outbound", "1 March 2026", "Call back"],  # 5: not an xsd:dateTime
            ["T5", "", "outbound", "2026-03-02T09:00:00", "No channel"],  # 6: sh:minCount 1
            ["T6", "chat", "outbound", "2026-03-02T09:30:00", "Chat"],
        ],
        header=["touch_id", "channel", "direction", "when", "subject"],
    )
    report = ingest_file(
        falkordb_store, path=path, mapping=load_mapping(mapping), source_kind="interactions", data_dir=tmp_path
    )
    assert report.read == 6 and report.created == 2 and report.rejected == 4
    with Path(report.quarantine_file).open() as handle:
        by_line = {int(r["line"]): r for r in csv.DictReader(handle)}
    assert by_line[3]["field"] == "channel" and by_line[3]["value"] == "sms"
    assert "must be one of phone, email, web" in by_line[3]["message"]
    assert by_line[4]["field"] == "direction" and "inbound, outbound" in by_line[4]["message"]
    assert by_line[5]["field"] == "when" and "'occurred_at' must be an xsd:dateTime" in by_line[5]["message"]
    assert by_line[6]["field"] == "channel" and "required by the ontology's InteractionShape" in by_line[6]["message"]
    assert falkordb_store.count_nodes("Interaction") == 2


def test_a_mapping_that_leaves_out_a_property_the_shapes_require_is_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "orders.yaml"
    mapping.write_text(
        "source_system: erp\nlabel: Order\nkey: no\nfields:\n  order_number: {from: no}\n", encoding="utf-8"
    )
    with pytest.raises(MappingError, match="OrderShape requires 'order_date' on every Order: map a column to it"):
        load_mapping(mapping)


@pytest.mark.parametrize(
    ("label", "props"),
    [
        ("Order", {"order_number": "O1", "order_date": "2026-01-05", "total_amount": 10.5}),
        ("Order", {"order_number": "O2", "order_date": "5.1.2026", "total_amount": -1.0}),
        ("OrderLine", {"quantity": 0, "unit_price": 2.5}),
        ("OrderLine", {"quantity": 3, "unit_price": -2.5}),
        ("Interaction", {"channel": "sms", "direction": "up", "occurred_at": "2026-01-05T10:00:00"}),
        ("Interaction", {"channel": "web", "occurred_at": "yesterday"}),
        ("ServiceCase", {"case_number": "C1", "priority": "P9", "opened_at": "2026-01-05T10:00:00"}),
        ("SourceRecord", {"source_system": "crm", "source_key": "1", "email": "no mail", "country": "Germany"}),
        ("SourceRecord", {"source_system": "crm", "source_key": "2", "customer_kind": "alien", "birth_date": "1980"}),
        ("Customer", {"name": "", "customer_kind": "person", "email": "a@b.c", "country": "de"}),
        ("ServiceNote", {"text": "Reset the unit.", "visibility": "secret"}),
        ("Product", {"sku": "S", "name": "N", "list_price": -3.0}),
    ],
)
def test_the_row_rules_agree_with_pyshacl_on_the_same_node(label: str, props: dict[str, object]) -> None:
    from pyshacl import validate as shacl_validate
    from rdflib import Graph
    from rdflib.namespace import SH

    from kbcrm.rdf import add_node
    from ontology import SHAPES_PATH, load_graph, load_vocabulary
    from ontology.shapes import rules_for

    vocabulary = load_vocabulary()
    rules = rules_for(label)
    assert rules  # every label here has a shape
    ours = {r.property for r in rules if props.get(r.property) is not None and r.violation(props[r.property])}
    ours |= {r.property for r in rules if r.min_count and r.property != "id" and props.get(r.property) is None}
    data = Graph()
    add_node(data, "n1", [label, *sorted(vocabulary.ancestors(label) - {label})], {"id": "n1", **props})
    _conforms, report, _text = shacl_validate(
        data, shacl_graph=Graph().parse(SHAPES_PATH), ont_graph=load_graph(), inference="none"
    )
    flagged = {str(path).rsplit("#", 1)[-1] for path in report.objects(None, SH.resultPath)}
    theirs = {name for name in flagged if name in vocabulary.properties}  # not relationship paths: they need the graph
    assert ours == theirs
