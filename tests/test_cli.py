"""The `kbcrm` command line, end to end against a real embedded graph in a temporary data dir."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rdflib import Graph
from typer.testing import CliRunner

from kbcrm.cli import app
from kbcrm.graph import embedded_server, open_store
from kbcrm.settings import get_settings
from knowledge_transfer.kcs import edit_article


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KBCRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    embedded_server().destroy()
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_load_export_sparql_stop(data_dir: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    _ok("demo-data", "--customers", "15", "--seed", "2", "--out", str(demo))
    assert json.loads((demo / "manifest.json").read_text())["customers"] == 15
    _ok("load-demo", str(demo))
    status = _ok("store", "status")
    assert "embedded FalkorDB" in status and "nodes" in status

    ttl = tmp_path / "graph.ttl"
    assert "triples" in _ok("export", "--out", str(ttl), "--format", "turtle")
    jsonld = tmp_path / "graph.jsonld"
    _ok("export", "--out", str(jsonld), "--format", "json-ld")
    assert len(Graph().parse(ttl)) == len(Graph().parse(jsonld, format="json-ld")) > 1000

    out = _ok("sparql", "SELECT (COUNT(?c) AS ?n) WHERE { ?c a kb:Customer }", "--rdf-file", str(ttl))
    assert "15" in out
    refused = CliRunner().invoke(app, ["sparql", "DELETE WHERE { ?s ?p ?o }", "--rdf-file", str(ttl)])
    assert refused.exit_code == 1 and "refused" in refused.output

    first = _ok("ingest", "customers", str(demo / "sales_customers.csv"), "--mapping", "sales")
    assert "15" in first and "run " in first
    again = _ok("ingest", "customers", str(demo / "sales_customers.csv"), "--mapping", "sales")
    assert "│ 15   │ 0       │ 0       │ 15        │ 0        │" in again
    origin = _ok("why", "sales:S0000001")
    assert "customers" in origin and "│ 2 " in origin
    _ok("ingest", "customers", str(demo / "service_customers.jsonl"), "--mapping", "service")
    _ok("ingest", "customers", str(demo / "billing_accounts.csv"), "--mapping", "billing")
    resolved = _ok("identity", "resolve")
    assert "-> 15 customers" in resolved and "F1 1.000" in resolved
    bad_kind = CliRunner().invoke(app, ["ingest", "spaceships", str(ttl), "--mapping", "sales"])
    assert bad_kind.exit_code == 2 and "No such command" in bad_kind.output

    assert "stopped" in _ok("store", "stop")
    assert embedded_server().running_pid() is None


def _vector_parts(data_dir: Path) -> dict[str, set[str]]:
    return {d.name: {p.name for p in d.glob("part-*.npz")} for d in (data_dir / "vectors").iterdir() if d.is_dir()}


def test_knowledge_is_embedded_at_ingest_then_answered(data_dir: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    _ok("demo-data", "--customers", "15", "--seed", "2", "--out", str(demo))
    loaded = _ok("load-demo", str(demo))
    embedded = re.findall(r"vectors (\S+) \((\d+)-d\): (\d+) articles and resolved cases, (\d+) newly embedded", loaded)
    assert {(m, d) for m, d, _, _ in embedded} == {
        ("all-MiniLM-L6-v2-int8", "384"),
        ("use-multilingual-v3-int8", "512"),
    }
    assert all(int(n) == int(new) > 50 for _, _, n, new in embedded)
    parts = _vector_parts(data_dir)
    assert set(parts) == {"all-MiniLM-L6-v2-int8", "use-multilingual-v3-int8"} and all(parts.values())

    answer = json.loads(_ok("ask", "error E-1012 after restart", "--json"))
    top = answer["suggestions"][0]
    assert top["evidence"]["matched_terms"] and top["evidence"]["dense_model"] == "all-MiniLM-L6-v2-int8"
    assert _vector_parts(data_dir) == parts  # answering found every vector stored at ingest: nothing embedded

    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "kb-cli-new.md").write_text(
        "---\nid: kb-cli-new\ntitle: Impeller noise after winter storage\nauthor: emp-001\naudience: customer\n"
        "language: en\nconfidence: validated\n---\nDrain the pump before storage; replace the impeller if it "
        "grinds.\n"
    )
    added = _ok("ingest", "articles", str(articles))
    assert re.findall(r"(\d+) newly embedded", added) == ["1", "1"]
    again = _ok("ingest", "articles", str(articles))
    assert re.findall(r"(\d+) newly embedded", again) == ["0", "0"]
    found = json.loads(_ok("ask", "impeller grinds after storage", "--audience", "customer", "--json"))
    assert found["suggestions"][0]["id"] == "kb-cli-new"
    # An edit made in the console stands while the file is unchanged; a changed file replaces it, and says so.
    with open_store(get_settings()) as store:
        edit_article(store, "kb-cli-new", by="emp-002", body="Drain the pump before storage (edited).")
    assert "replaced an edit" not in _ok("ingest", "articles", str(articles))
    new = articles / "kb-cli-new.md"
    new.write_text(new.read_text().replace("if it grinds", "if it grinds or rattles"))
    replaced = _ok("ingest", "articles", str(articles))
    assert "kb-cli-new: its changed file replaced an edit made in the console" in replaced
    assert "kbcrm kcs history kb-cli-new" in replaced

    health = _ok("kcs", "health")
    assert "never_reused" in health and "duplicates" in health
    assert "emp-" in _ok("who-knows", "error E-1012")
    pruned = _ok("embed")
    assert re.findall(r"(\d+) newly embedded", pruned) == ["0", "0"] and "unused dropped" in pruned
    assert all(len(names) == 1 for names in _vector_parts(data_dir).values())  # compacted to one part per model


def test_ingest_catalog_from_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    _ok("demo-data", "--customers", "5", "--out", str(demo))
    products = len((demo / "catalog" / "products.csv").read_text().splitlines()) - 1
    first = _ok("ingest", "catalog", str(demo / "catalog"))
    assert "catalogue run" in first and re.search(rf"products\.csv\s*│\s*{products}\s*│\s*{products}\s*│", first)
    again = _ok("ingest", "catalog", str(demo / "catalog"))
    assert re.search(rf"products\.csv\s*│\s*{products}\s*│\s*0\s*│\s*0\s*│\s*{products}\s*│", again)
    wrong = CliRunner().invoke(app, ["ingest", "catalog", str(tmp_path)])
    assert wrong.exit_code == 1 and "none of the catalogue files" in wrong.output


def test_bad_arguments_get_one_line_errors(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["load-demo", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no manifest.json" in result.output
    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "x"), "--format", "xml"])
    assert result.exit_code == 1 and "turtle or json-ld" in result.output


def test_settings_command_lists_every_setting() -> None:
    out = _ok("settings")
    for name in type(get_settings()).model_fields:
        assert f"KBCRM_{name.upper()}" in out
