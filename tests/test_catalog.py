"""The product catalogue ingest: validation with quarantine, provenance, idempotency, links replaced on change."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ingest.articles import ingest_articles
from ingest.catalog import ingest_catalog
from ingest.mapping import load_mapping
from ingest.notes import NoteLinker
from ingest.readers import SourceFileError
from ingest.runner import ingest_file, why
from kbcrm.graph.falkordb_backend import FalkorDBStore


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _count(store: FalkorDBStore, query: str) -> int:
    return int(store.read(query)[0]["n"])


def test_the_demo_catalogue_loads_with_its_links_and_a_rerun_changes_nothing(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    catalog = demo_dir / "catalog"
    report = ingest_catalog(falkordb_store, catalog, data_dir=tmp_path)
    sizes = {p.name: len(_rows(p)) for p in catalog.glob("*.csv")}
    assert report.rejected == 0 and {name: c["created"] for name, c in report.files.items()} == sizes
    products = _rows(catalog / "products.csv")
    assert _count(falkordb_store, "MATCH (p:Product) RETURN count(p) AS n") == len(products)
    components = sum(len([c for c in r["components"].split(";") if c]) for r in products)
    assert _count(falkordb_store, "MATCH (:Product)-[r:HAS_COMPONENT]->(:Component) RETURN count(r) AS n") == components
    codes = _rows(catalog / "error_codes.csv")
    assert _count(falkordb_store, "MATCH (:ErrorCode)-[r:INDICATES]->(:Symptom) RETURN count(r) AS n") == len(codes)
    first = products[0]
    stored = falkordb_store.get_node("Product", first["product_id"])
    assert stored is not None
    assert (stored["sku"], stored["list_price"], stored["aliases"]) == (
        first["sku"],
        float(first["list_price"]),
        first["aliases"].split(";"),
    )
    origin = why(falkordb_store, first["product_id"])
    assert origin[-1]["file"] == str((catalog / "products.csv").resolve()) and origin[-1]["line"] == 2
    # What the note linker and article checks read: a Chinese customer's word links its symptom.
    linked = NoteLinker.from_graph(falkordb_store).link("水泵噪音很大", "zh")
    assert [m.node_id for m in linked] == ["sym-noise"]

    again = ingest_catalog(falkordb_store, catalog, data_dir=tmp_path)
    assert again.counts() == {
        "read": sum(sizes.values()),
        "created": 0,
        "updated": 0,
        "unchanged": sum(sizes.values()),
        "rejected": 0,
    }


def test_bad_catalogue_rows_are_quarantined_with_their_reasons(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "components.csv").write_text(
        "component_id,name,aliases,name_zh\ncomp-a,impeller,,叶轮\ncomp-a,impeller again,,\ncomp-b,,,\n"
    )
    (folder / "products.csv").write_text(
        "product_id,sku,name,aliases,name_zh,category,list_price,launched_on,components\n"
        "prod-ok,OK-1,Good pump,,,pump,100.0,2024-01-01,comp-a\n"
        "prod-nosku,,No SKU pump,,,pump,1,2024-01-01,comp-a\n"
        "prod-price,P-1,Priceless,,,pump,abc,2024-01-01,comp-a\n"
        "prod-date,D-1,Undated,,,pump,1,yesterday,comp-a\n"
        "prod-part,X-1,Unknown part,,,pump,1,2024-01-01,comp-a;comp-zzz\n"
    )
    (folder / "error_codes.csv").write_text("code,description,symptom_id\nE-1,Something,sym-nowhere\nE-2,Nothing,\n")
    report = ingest_catalog(falkordb_store, folder, data_dir=tmp_path)
    assert report.files["components.csv"] == {"read": 3, "created": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    assert report.files["products.csv"] == {"read": 5, "created": 1, "updated": 0, "unchanged": 0, "rejected": 4}
    assert report.files["error_codes.csv"]["rejected"] == 2
    with Path(report.quarantine_file).open(encoding="utf-8") as handle:
        reasons = {(Path(r["file"]).name, r["line"], r["field"], r["message"]) for r in csv.DictReader(handle)}
    assert ("components.csv", "3", "component_id", "duplicate key; first on line 2") in reasons
    assert ("components.csv", "4", "name", "required field 'name' is empty") in reasons
    assert ("products.csv", "3", "sku", "required field 'sku' is empty") in reasons
    assert any(r[:3] == ("products.csv", "4", "list_price") for r in reasons)
    assert any(r[:3] == ("products.csv", "5", "launched_on") for r in reasons)
    assert ("products.csv", "6", "components", "no Component with id 'comp-zzz'") in reasons
    assert ("error_codes.csv", "2", "symptom_id", "no Symptom with id 'sym-nowhere'") in reasons
    assert ("error_codes.csv", "3", "symptom_id", "the INDICATES link column is empty") in reasons
    stored = falkordb_store.read("MATCH (n) WHERE n:Product OR n:Component OR n:ErrorCode RETURN n.id AS id")
    assert sorted(r["id"] for r in stored) == ["comp-a", "prod-ok"]  # nothing of a rejected row is written
    with pytest.raises(SourceFileError, match="none of the catalogue files"):
        ingest_catalog(falkordb_store, tmp_path / "quarantine", data_dir=tmp_path)


def test_a_changed_row_replaces_its_properties_and_links(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(demo_dir / "catalog", folder)
    ingest_catalog(falkordb_store, folder, data_dir=tmp_path)
    products = _rows(folder / "products.csv")
    first = products[0]
    kept = first["components"].split(";")[:1]
    first.update(components=";".join(kept), name_zh="", list_price="999.5")
    with (folder / "products.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first))
        writer.writeheader()
        writer.writerows(products)
    report = ingest_catalog(falkordb_store, folder, data_dir=tmp_path)
    assert report.files["products.csv"]["updated"] == 1 and report.updated == 1
    parts = falkordb_store.read(
        "MATCH (:Product {id: $id})-[:HAS_COMPONENT]->(c:Component) RETURN c.id AS id", id=first["product_id"]
    )
    assert [r["id"] for r in parts] == kept  # the components the row no longer lists are unlinked
    stored = falkordb_store.get_node("Product", first["product_id"])
    assert stored is not None and stored["list_price"] == 999.5 and stored.get("name_zh") is None


def test_a_deployment_without_the_demo_loads_catalogue_staff_and_articles(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    """What the articles' front matter names (products, authors) can come from the connectors alone."""
    assert ingest_catalog(falkordb_store, demo_dir / "catalog", data_dir=tmp_path).rejected == 0
    staff = tmp_path / "employees.csv"
    shutil.copy(demo_dir / "employees.csv", staff)
    with staff.open("a", encoding="utf-8") as handle:
        handle.write("emp-bad,No Mail,not-an-email,service,engineer,no,\n")
        handle.write("emp-odd,Odd Topic,odd@example.com,service,engineer,yes,topic-maintenance;topic-nowhere\n")
    employees = ingest_file(
        falkordb_store,
        path=staff,
        mapping=load_mapping("kbcrm-employees"),
        source_kind="employees",
        data_dir=tmp_path,
    )
    listed = _rows(demo_dir / "employees.csv")
    assert (employees.created, employees.rejected) == (len(listed), 2)
    assert employees.rejections[0].field == "email" and employees.rejections[0].value == "not-an-email"
    assert (employees.rejections[1].field, employees.rejections[1].value) == ("expertise", "topic-nowhere")
    declared = falkordb_store.read(
        "MATCH (e:Employee)-[:HAS_EXPERTISE]->(t:Topic) RETURN e.id AS person, t.id AS topic ORDER BY person, topic"
    )
    expected = sorted((r["employee_id"], t) for r in listed for t in r["expertise"].split(";") if t)
    assert expected and [(r["person"], r["topic"]) for r in declared] == expected
    articles = ingest_articles(falkordb_store, demo_dir / "articles", data_dir=tmp_path)
    assert articles.rejected == 0 and articles.created == len(list((demo_dir / "articles").glob("*.md")))
    authors = falkordb_store.read("MATCH (e:Expert)-[:AUTHORED]->(:KnowledgeArticle) RETURN DISTINCT e.id AS id")
    assert authors and all(falkordb_store.get_node("Employee", r["id"])["name"] for r in authors)
